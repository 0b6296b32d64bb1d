/**
 * The SNS topic every alarm notifies, encrypted with a key of its own: CloudWatch cannot publish to a topic under the
 * AWS managed `aws/sns` key.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';

export interface AlarmTopicProps {
  /**
   * An address subscribed to the topic (it must confirm the subscription).
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * Name shown in notifications, and in the key's description.
   * @default - `<stack name> alarms`
   */
  readonly displayName?: string;
}

/**
 * A topic CloudWatch alarms of this account (and only these) may publish to. Its key is created beside it, in the
 * same scope, as `<id>Key`.
 */
export class AlarmTopic extends Topic {
  /** Encrypts the topic. Customer managed: CloudWatch cannot publish to a topic under the AWS managed `aws/sns` key. */
  public readonly key: Key;

  constructor(scope: Construct, id: string, props: AlarmTopicProps = {}) {
    const stack = Stack.of(scope);
    const key = new Key(scope, `${id}Key`, {
      description: `Encrypts the alarm notifications of ${stack.stackName}`,
      enableKeyRotation: true,
      // It protects notifications in transit through SNS only; nothing stored depends on it.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      displayName: props.displayName ?? `${stack.stackName} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    this.key = key;

    const cloudWatch = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    // Alarms publish as the CloudWatch service, so the topic policy must allow it; the conditions keep other accounts'
    // alarms (confused deputy) out.
    this.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowAlarmsOfThisAccount',
        principals: [cloudWatch],
        actions: ['sns:Publish'],
        resources: [this.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*` },
        },
      }),
    );
    // SNS encrypts what CloudWatch publishes with this key on CloudWatch's behalf. The key encrypts this topic only,
    // and the topic policy above decides who may publish, so the key statement needs no conditions of its own.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchToPublishEncrypted',
        principals: [cloudWatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    if (props.alarmEmail) this.addSubscription(new EmailSubscription(props.alarmEmail));
  }
}
