/**
 * Per-report webhook delivery: the Standard Webhooks signing secret and the function that signs and POSTs each
 * callback, the only reader of that secret.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { webhookSenderTimeoutSeconds } from '../../../config/reports';
import { ENV } from '../../../config/runtime';
import type { AppConfig } from '../../../config/schema';
import { BaseFunction } from '../base-function';

/** The Standard Webhooks signing key (base64; receivers use it as `whsec_<value>`). */
export class WebhookSigningSecret extends Secret {
  constructor(scope: Construct, id: string) {
    super(scope, id, {
      description:
        'Standard Webhooks signing key of per-report callbacks (base64; receivers verify with whsec_<value>). Only the webhook sender reads it.',
      // Letters and digits only: a valid base64 string (48 characters → a 36-byte HMAC key).
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Receivers verify signatures with this key, so rotating it is coordinated with them (see docs/reports.md); an ' +
        'automatic rotation would break every receiver at once.',
    });
  }
}

export interface WebhookSenderProps {
  /** The validated configuration: `webhooks` sizes the timeout; the rest reaches the function. */
  readonly config: AppConfig;
  readonly signingSecret: ISecret;
  /** Callbacks it could not deliver, and invocations that failed outright. */
  readonly deadLetterQueue: IQueue;
}

/** Signs and POSTs one callback, with retries: the signing secret (it alone) and its dead-letter queue; no table, no model. */
export class WebhookSender extends BaseFunction {
  constructor(scope: Construct, id: string, props: WebhookSenderProps) {
    const { config } = props;
    super(scope, id, {
      functionName: 'webhook-sender',
      config,
      timeout: Duration.seconds(webhookSenderTimeoutSeconds(config.webhooks)),
    });
    this.useSecret(ENV.webhookSecretArn, props.signingSecret).useQueue(
      ENV.webhookDlqUrl,
      props.deadLetterQueue,
      'send',
    );
    // The sender dead-letters by itself; these catch an invocation that fails outright (it could not even do that).
    this.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new SqsDestination(props.deadLetterQueue),
    });
  }
}
