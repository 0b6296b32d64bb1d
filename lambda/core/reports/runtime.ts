/**
 * The reports pipeline wired to the real AWS clients, built lazily once per execution environment. Resource names come
 * from the environment variables the stack sets (`ENV` in config/runtime.ts); each is read when first needed, so a
 * function that never uses a resource needs no variable (nor permission) for it.
 */
import { readRuntimeConfig, ENV, requireEnv } from '../../../config/runtime';
import type { AppConfig } from '../../../config/schema';
import { dynamoDocumentClient, eventBridgeClient, secretsManagerClient, sqsClient } from '../../aws/clients';
import { checkCallbackUrl, type CallbackUrlCheck } from '../callback-url';
import { secretsManagerSecret, sqsDeadLetter } from '../webhooks';
import { EventBridgeReportPublisher, type ReportEventPublisher } from './events';
import { ReportRepository } from './repository';
import { SqsReportQueue, type ReportQueue } from './submit';

let config: AppConfig | undefined;
let repo: ReportRepository | undefined;
let queue: ReportQueue | undefined;
let publisher: ReportEventPublisher | undefined;
let secret: (() => Promise<string>) | undefined;

export function reportsConfig(): AppConfig {
  config ??= readRuntimeConfig();
  return config;
}

export function reportRepository(): ReportRepository {
  repo ??= new ReportRepository({
    documentClient: dynamoDocumentClient(),
    tableName: requireEnv(ENV.reportsTable),
    retentionDays: reportsConfig().reports.retentionDays,
  });
  return repo;
}

export function reportQueue(): ReportQueue {
  queue ??= new SqsReportQueue(sqsClient(), requireEnv(ENV.reportsQueueUrl));
  return queue;
}

export function reportEventPublisher(): ReportEventPublisher {
  publisher ??= new EventBridgeReportPublisher(eventBridgeClient(), requireEnv(ENV.eventBusName));
  return publisher;
}

/** The callback check with the deployment's setting (the loopback exception exists only in the local cloud). */
export function checkReportCallbackUrl(url: string): Promise<CallbackUrlCheck> {
  return checkCallbackUrl(url, { allowLoopbackHttp: reportsConfig().webhooks.allowLoopbackCallbacks });
}

/** The webhook signing secret, from Secrets Manager (`WEBHOOK_SECRET_ARN`), cached for a few minutes. */
export function webhookSecret(): () => Promise<string> {
  secret ??= secretsManagerSecret(secretsManagerClient, () => requireEnv(ENV.webhookSecretArn));
  return secret;
}

export const webhookDeadLetter = sqsDeadLetter(sqsClient, () => requireEnv(ENV.webhookDlqUrl));
