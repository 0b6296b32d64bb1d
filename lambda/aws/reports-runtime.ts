/**
 * The reports pipeline's adapters on the real AWS clients, built lazily once per execution environment: what the report
 * and webhook functions wire into the core. Resource names come from the environment variables the stack sets (`ENV`
 * in config/runtime.ts); each is read when first needed, so a function that never uses a resource needs no variable
 * (nor permission) for it.
 */
import { readRuntimeConfig, ENV, requireEnv } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { checkCallbackUrl, type CallbackUrlCheck } from '../core/callback-url';
import type { DeadLetterSink, WebhookSecretSource } from '../core/webhooks';
import { dynamoDocumentClient, eventBridgeClient, secretsManagerClient, sqsClient } from './clients';
import { EventBridgeReportPublisher } from './report-events';
import { SqsReportQueue } from './report-queue';
import { DynamoReportRepository } from './reports-repository';
import { sqsDeadLetter } from './webhook-dead-letter';
import { secretsManagerSecret } from './webhook-secret';

let config: AppConfig | undefined;
let repo: DynamoReportRepository | undefined;
let queue: SqsReportQueue | undefined;
let publisher: EventBridgeReportPublisher | undefined;
let secret: WebhookSecretSource | undefined;
let deadLetter: DeadLetterSink | undefined;

export function reportsConfig(): AppConfig {
  config ??= readRuntimeConfig();
  return config;
}

export function reportRepository(): DynamoReportRepository {
  repo ??= new DynamoReportRepository({
    documentClient: dynamoDocumentClient(),
    tableName: requireEnv(ENV.reportsTable),
    retentionDays: reportsConfig().reports.retentionDays,
  });
  return repo;
}

/** The job queue (`REPORTS_QUEUE_URL`): enqueued by submit, its visibility shortened by the worker. */
export function reportQueue(): SqsReportQueue {
  queue ??= new SqsReportQueue(sqsClient(), requireEnv(ENV.reportsQueueUrl));
  return queue;
}

export function reportEventPublisher(): EventBridgeReportPublisher {
  publisher ??= new EventBridgeReportPublisher(eventBridgeClient(), requireEnv(ENV.eventBusName));
  return publisher;
}

/** The callback check with the deployment's setting (the loopback exception exists only in the local cloud). */
export function checkReportCallbackUrl(url: string): Promise<CallbackUrlCheck> {
  return checkCallbackUrl(url, { allowLoopbackHttp: reportsConfig().webhooks.allowLoopbackCallbacks });
}

/** The webhook signing secret, from Secrets Manager (`WEBHOOK_SECRET_ARN`), cached for a few minutes. */
export function webhookSecret(): WebhookSecretSource {
  secret ??= secretsManagerSecret(secretsManagerClient, () => requireEnv(ENV.webhookSecretArn));
  return secret;
}

export function webhookDeadLetter(): DeadLetterSink {
  deadLetter ??= sqsDeadLetter(sqsClient, () => requireEnv(ENV.webhookDlqUrl));
  return deadLetter;
}
