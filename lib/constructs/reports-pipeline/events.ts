/**
 * Where finished-report events go: every `report.completed|failed|cancelled` on the bus to each deploy-time subscriber (an API
 * destination), and those with a `callbackUrl` to the webhook sender. Patterns come from `config/reports.ts`, which
 * the local event bus matches too.
 */
import { Duration, SecretValue, Validations } from 'aws-cdk-lib';
import {
  ApiDestination,
  Authorization,
  Connection,
  HttpMethod,
  type IEventBus,
  Rule,
  RuleTargetInput,
  type EventPattern,
} from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import {
  FINISHED_REPORTS_PATTERN,
  REPORT_CALLBACKS_PATTERN,
  WEBHOOK_PAYLOAD_PATH,
  type EventPattern as ConfigEventPattern,
} from '../../../config/reports';
import type { AppConfig } from '../../../config/schema';

/** Retries of an EventBridge target before the event goes to its dead-letter queue. */
export interface EventRetryProps {
  /**
   * Retries of a delivery before the event goes to the target's dead-letter queue.
   * @default 185 (EventBridge's maximum)
   */
  readonly retryAttempts?: number;
  /**
   * How long EventBridge keeps retrying an event.
   * @default Duration.hours(24) (EventBridge's maximum)
   */
  readonly maxEventAge?: Duration;
}

export interface CallbackRuleProps extends EventRetryProps {
  readonly eventBus: IEventBus;
  /** The webhook sender. */
  readonly target: IFunction;
  /** Events the sender could not be invoked with. */
  readonly deadLetterQueue: IQueue;
}

/** Finished reports with a `callbackUrl` → the webhook sender. */
export class CallbackRule extends Rule {
  constructor(scope: Construct, id: string, props: CallbackRuleProps) {
    super(scope, id, {
      eventBus: props.eventBus,
      description: 'Finished reports with a callbackUrl → the webhook sender',
      eventPattern: cdkPattern(REPORT_CALLBACKS_PATTERN),
      targets: [
        new targets.LambdaFunction(props.target, {
          deadLetterQueue: props.deadLetterQueue,
          retryAttempts: props.retryAttempts ?? 185,
          maxEventAge: props.maxEventAge ?? Duration.hours(24),
        }),
      ],
    });
  }
}

export interface SubscriberRuleProps extends EventRetryProps {
  readonly eventBus: IEventBus;
  /** `webhooks.subscribers` of the configuration: one API destination each. */
  readonly subscribers: AppConfig['webhooks']['subscribers'];
  /** Events a subscriber did not accept within the retry policy. */
  readonly deadLetterQueue: IQueue;
}

/**
 * Every finished report → each deploy-time subscriber's API destination, with the webhook body as input. Each
 * subscriber's connection and destination are created beside the rule, in the same scope, as `Connection<name>` and
 * `Destination<name>`.
 */
export class SubscriberRule extends Rule {
  /** By subscriber name. */
  public readonly destinations: Readonly<Record<string, ApiDestination>>;

  constructor(scope: Construct, id: string, props: SubscriberRuleProps) {
    super(scope, id, {
      eventBus: props.eventBus,
      description: 'Every finished report → the deploy-time subscribers',
      eventPattern: cdkPattern(FINISHED_REPORTS_PATTERN),
    });
    const destinations: Record<string, ApiDestination> = {};
    for (const subscriber of props.subscribers) {
      destinations[subscriber.name] = subscriberDestination(scope, subscriber);
      this.addTarget(
        new targets.ApiDestination(destinations[subscriber.name], {
          event: RuleTargetInput.fromEventPath(WEBHOOK_PAYLOAD_PATH),
          deadLetterQueue: props.deadLetterQueue,
          retryAttempts: props.retryAttempts ?? 185,
          maxEventAge: props.maxEventAge ?? Duration.hours(24),
        }),
      );
    }
    this.destinations = destinations;
  }
}

function subscriberDestination(
  scope: Construct,
  subscriber: AppConfig['webhooks']['subscribers'][number],
): ApiDestination {
  const connection = new Connection(scope, `Connection${subscriber.name}`, {
    description: `Authentication of subscriber ${subscriber.name}`,
    authorization: Authorization.apiKey(
      subscriber.apiKeyHeader,
      SecretValue.secretsManager(subscriber.apiKeySecretName),
    ),
  });
  Validations.of(connection).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason:
      'EventBridge creates and owns the connection secret from the subscriber key in Secrets Manager; rotate that ' +
      'key with the subscriber and redeploy.',
  });
  return new ApiDestination(scope, `Destination${subscriber.name}`, {
    description: `Subscriber ${subscriber.name}`,
    connection,
    endpoint: subscriber.endpoint,
    httpMethod: HttpMethod.POST,
    rateLimitPerSecond: subscriber.rateLimitPerSecond,
  });
}

/** A shared pattern (EventBridge's JSON form, as the local bus matches it) in CDK's shape. */
export function cdkPattern(pattern: ConfigEventPattern): EventPattern {
  const { source, 'detail-type': detailType, detail, ...rest } = pattern;
  if (Object.keys(rest).length) throw new Error(`Unsupported pattern fields: ${Object.keys(rest).join(', ')}`);
  return {
    source: source as string[] | undefined,
    detailType: detailType as string[] | undefined,
    detail: detail as Record<string, unknown> | undefined,
  };
}
