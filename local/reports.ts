/**
 * The reports pipeline of the local cloud: everything the stack's `ReportsPipeline` construct deploys, as local
 * stand-ins the unchanged functions reach through `AWS_ENDPOINT_URL_*` and the same resource variables.
 *
 * | On AWS                                         | Here                                                        |
 * | ---------------------------------------------- | ----------------------------------------------------------- |
 * | reports table                                   | a dynalite table                                            |
 * | job queue + DLQ (redrive `maxReceiveCount`)     | fauxqs queues with the same attributes                      |
 * | SQS event source → worker, DLQ → backstop       | `SqsPoller`s running the worker and backstop handlers       |
 * | EventBridge bus, rules                          | `LocalEventBus` with the same patterns (`config/reports.ts`) |
 * | API destinations (connection API-key header)   | HTTP targets with the header, retries, an SQS DLQ           |
 * | webhook sender Lambda target (+ its DLQ)        | the handler invoked in-process, retried, an SQS DLQ          |
 * | signing secret, subscriber keys (Secrets Mgr)  | a local `GetSecretValue` endpoint                            |
 *
 * Retry windows are shorter than on AWS (seconds, not hours) so a test or a demo sees the whole story.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import type { BackoffPolicy } from '../config/backoff';
import {
  FINISHED_REPORTS_PATTERN,
  REPORT_CALLBACKS_PATTERN,
  REPORTS_TABLE,
  WEBHOOK_PAYLOAD_PATH,
  webhookSenderTimeoutSeconds,
} from '../config/reports';
import { handlerEntry } from '../config/functions';
import type { FunctionName } from '../config/routes';
import { ENV } from '../config/runtime';
import type { AppConfig } from '../config/schema';
import { createTable } from './dynamodb';
import { apiDestinationTarget, LocalEventBus, type BusEvent, type BusRule, type BusTarget } from './event-bus';
import { createContext } from './lambda-runtime';
import { startLocalSecretsManager, type LocalSecretsManager } from './secrets-manager';
import { Stoppers } from './stoppers';
import { startLocalSqs, type LocalQueue, type LocalSqs } from './sqs';
import { LambdaSandbox } from './lambda-sandbox';
import { SqsPoller } from './sqs-poller';

export interface LocalReportsOptions {
  /** The configuration the functions run with (the local cloud's). */
  readonly config: AppConfig;
  /** A client of the local DynamoDB, to create the reports table. */
  readonly dynamo: DynamoDBClient;
  /** Loads `lambda/functions/<name>/handler.ts`'s `handler` in this process (the webhook sender runs here). */
  readonly loadHandler: (name: FunctionName) => Promise<unknown>;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** Standard Webhooks signing secret (`whsec_…`). @default - generated (and printed unless `quiet`) */
  readonly webhookSecret?: string;
  /** @default false */
  readonly quiet?: boolean;
  /**
   * Receives each line the functions in execution environments of their own (report worker, dead-letter backstop)
   * print: logs and EMF metrics. @default - printed
   */
  readonly functionOutput?: (functionName: FunctionName, line: string) => void;
  /** Prefix of the local resource names. @default 'genai-local' */
  readonly namePrefix?: string;
  /** Retries of a deploy-time subscriber delivery after the first attempt (AWS: up to 185 over 24 h). @default 5 */
  readonly subscriberRetryAttempts?: number;
}

export interface LocalReports {
  /** Variables the functions need (merge into `process.env`; already applied). */
  readonly env: Readonly<Record<string, string>>;
  readonly webhookSecret: string;
  /** Subscriber name → the API key its local connection sends (from the local Secrets Manager). */
  readonly subscriberApiKeys: Readonly<Record<string, string>>;
  readonly sqs: LocalSqs;
  readonly queues: {
    readonly jobs: LocalQueue;
    readonly jobsDeadLetter: LocalQueue;
    readonly webhookDeadLetter: LocalQueue;
    readonly subscriberDeadLetter: LocalQueue;
  };
  /** The worker's event source mapping. `kill()` it to crash the worker mid-job, `start()` it to bring one back. */
  readonly worker: SqsPoller;
  /** The dead-letter backstop's event source mapping. */
  readonly backstop: SqsPoller;
  readonly bus: LocalEventBus;
  stop(): Promise<void>;
}

/** Lambda retries a failed asynchronous invocation twice (after about 1 and 2 minutes; seconds here). */
const ASYNC_INVOKE_RETRIES = 2;
/** Waits between deliveries to a deploy-time subscriber: shorter than EventBridge's, so a test sees the retries. */
const SUBSCRIBER_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 30_000, jitter: 'equal' };
/** Waits between the webhook sender's asynchronous invocations. */
const WEBHOOK_SENDER_INVOKE_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 2_000, jitter: 'equal' };

type ReportQueues = LocalReports['queues'];

export async function startLocalReports(options: LocalReportsOptions): Promise<LocalReports> {
  const { config } = options;
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const prefix = options.namePrefix ?? 'genai-local';
  const log = options.quiet ? () => undefined : (line: string) => console.log(line);
  const onError = options.quiet ? () => undefined : (err: unknown) => console.error('[local reports]', err);
  const stoppers = new Stoppers();

  try {
    const webhookSecret = options.webhookSecret ?? `whsec_${randomBytes(32).toString('base64')}`;
    assertWebhookSecret(webhookSecret);
    if (!options.webhookSecret)
      log(`Webhook signing secret (set LOCAL_WEBHOOK_SECRET to choose your own): ${webhookSecret}`);

    const tableName = `${prefix}-reports`;
    await createTable(options.dynamo, tableName, { partitionKey: REPORTS_TABLE.partitionKey });
    const sqs = await startLocalSqs({ host, region });
    stoppers.add(() => sqs.stop());
    const queues = await createQueues(sqs, prefix, config.reports);
    const secrets = await startLocalSecretsManager({ host, region });
    stoppers.add(() => secrets.close());
    const signing = secrets.put(`${prefix}-webhook-signing-secret`, webhookSecret);
    const subscriberApiKeys = storeSubscriberKeys(secrets, config, log);

    const busName = `${prefix}-reports`;
    const rules = busRules({ options, sqs, queues, subscriberApiKeys });
    const bus = await LocalEventBus.start({ busName, rules, host, region, onError });
    stoppers.add(() => bus.close());

    const env: Record<string, string> = {
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: bus.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      [ENV.reportsTable]: tableName,
      [ENV.reportsQueueUrl]: queues.jobs.url,
      [ENV.eventBusName]: busName,
      [ENV.webhookSecretArn]: signing.arn,
      [ENV.webhookDlqUrl]: queues.webhookDeadLetter.url,
    };
    // The functions read these when they first need them, as they read what the stack sets on AWS.
    Object.assign(process.env, env);

    const { worker, backstop } = startEventSourceMappings({ options, sqs, queues, stoppers, region, onError });
    return {
      env,
      webhookSecret,
      subscriberApiKeys,
      sqs,
      queues,
      worker,
      backstop,
      bus,
      stop: () => stoppers.stopAll(),
    };
  } catch (err) {
    await stoppers.stopAll();
    throw err;
  }
}

/** The job queue with its redrive to a DLQ, and the dead-letter queues of the webhook sender and the subscribers. */
async function createQueues(sqs: LocalSqs, prefix: string, reports: AppConfig['reports']): Promise<ReportQueues> {
  const retention = { MessageRetentionPeriod: '1209600' };
  const jobsDeadLetter = await sqs.createQueue(`${prefix}-report-jobs-dlq`, retention);
  const jobs = await sqs.createQueue(`${prefix}-report-jobs`, {
    VisibilityTimeout: String(reports.visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: jobsDeadLetter.arn,
      maxReceiveCount: reports.maxReceiveCount,
    }),
  });
  const webhookDeadLetter = await sqs.createQueue(`${prefix}-webhook-dlq`, retention);
  const subscriberDeadLetter = await sqs.createQueue(`${prefix}-subscriber-dlq`, retention);
  return { jobs, jobsDeadLetter, webhookDeadLetter, subscriberDeadLetter };
}

/** Each deploy-time subscriber's API key, in the local Secrets Manager as its connection would hold it on AWS. */
function storeSubscriberKeys(
  secrets: LocalSecretsManager,
  config: AppConfig,
  log: (line: string) => void,
): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const s of config.webhooks.subscribers) {
    keys[s.name] = `local-${s.apiKeySecretName}`;
    secrets.put(s.apiKeySecretName, keys[s.name]);
    log(`Subscriber ${s.name}: ${s.endpoint} receives every finished report with ${s.apiKeyHeader}: ${keys[s.name]}`);
  }
  return keys;
}

/** The stack's rules: per-report callbacks to the webhook sender, every finished report to the subscribers. */
function busRules(ctx: {
  options: LocalReportsOptions;
  sqs: LocalSqs;
  queues: ReportQueues;
  subscriberApiKeys: Record<string, string>;
}): BusRule[] {
  const { options, sqs, queues } = ctx;
  const { config } = options;
  const toDeadLetterQueue = (queue: LocalQueue) => async (_input: unknown, event: BusEvent, reason: string) => {
    // As EventBridge does: the event is the body, the reason travels in message attributes.
    await sqs.client.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: JSON.stringify(event),
        MessageAttributes: { ERROR_MESSAGE: { DataType: 'String', StringValue: reason.slice(0, 1000) } },
      }),
    );
  };
  const subscriberTargets: BusTarget[] = config.webhooks.subscribers.map((s) =>
    apiDestinationTarget({
      id: `subscriber-${s.name}`,
      endpoint: s.endpoint,
      apiKeyHeader: s.apiKeyHeader,
      apiKeyValue: ctx.subscriberApiKeys[s.name],
      inputPath: WEBHOOK_PAYLOAD_PATH,
      retryAttempts: options.subscriberRetryAttempts ?? 5,
      backoff: SUBSCRIBER_BACKOFF,
      deadLetter: toDeadLetterQueue(queues.subscriberDeadLetter),
    }),
  );
  const senderTimeoutMs = webhookSenderTimeoutSeconds(config.webhooks) * 1000;
  const webhookSenderTarget: BusTarget = {
    id: 'webhook-sender',
    retryAttempts: ASYNC_INVOKE_RETRIES,
    backoff: WEBHOOK_SENDER_INVOKE_BACKOFF,
    deadLetter: toDeadLetterQueue(queues.webhookDeadLetter),
    async deliver(input) {
      const handler = (await options.loadHandler('webhook-sender')) as (
        event: unknown,
        context: Context,
      ) => Promise<unknown>;
      await handler(input, createContext('webhook-sender', senderTimeoutMs));
    },
  };
  const rules: BusRule[] = [
    { name: 'report-callbacks', pattern: REPORT_CALLBACKS_PATTERN, targets: [webhookSenderTarget] },
  ];
  if (subscriberTargets.length)
    rules.push({ name: 'report-subscribers', pattern: FINISHED_REPORTS_PATTERN, targets: subscriberTargets });
  return rules;
}

/**
 * The worker's and the backstop's event source mappings. Both functions run in execution environments of their own
 * (child processes), so a worker can be killed mid-job for real; they inherit the variables set in `process.env`.
 */
function startEventSourceMappings(ctx: {
  options: LocalReportsOptions;
  sqs: LocalSqs;
  queues: ReportQueues;
  stoppers: Stoppers;
  region: string;
  onError: (err: unknown) => void;
}): { worker: SqsPoller; backstop: SqsPoller } {
  const { options, sqs, queues, stoppers, region, onError } = ctx;
  const { reports } = options.config;
  const sandbox = (name: FunctionName) => {
    const onOutput = options.functionOutput && ((line: string) => options.functionOutput!(name, line));
    const environment = new LambdaSandbox({
      functionName: name,
      handlerPath: handlerEntry(name),
      quiet: options.quiet,
      onOutput,
    });
    stoppers.add(() => environment.close());
    return environment;
  };
  const worker = new SqsPoller({
    client: sqs.client,
    queue: queues.jobs,
    invoker: sandbox('report-worker'),
    batchSize: reports.batchSize,
    timeoutMs: reports.workerTimeoutSeconds * 1000,
    // The event source mapping's MaximumConcurrency, as the stack sets it: one environment per invocation at most.
    concurrency: reports.maxConcurrency,
    region,
    onError,
  }).start();
  const backstop = new SqsPoller({
    client: sqs.client,
    queue: queues.jobsDeadLetter,
    invoker: sandbox('report-dlq'),
    batchSize: 10,
    timeoutMs: 60_000,
    concurrency: 1,
    region,
    onError,
  }).start();
  stoppers.add(async () => {
    await Promise.all([shutDown(worker), shutDown(backstop)]);
  });
  return { worker, backstop };
}

/** Lets running invocations finish for a moment, then kills them (their messages would come back on AWS too). */
async function shutDown(poller: SqsPoller): Promise<void> {
  // The queues stop right after: nothing polls them again, so no abandoned long poll needs outlasting.
  const stopped = await Promise.race([
    poller.stop({ queueClosing: true }).then(() => true),
    sleep(3_000, false, { ref: false }),
  ]);
  if (!stopped) await poller.kill();
}

/** Fails at start, naming the variable, for a secret Standard Webhooks cannot use. */
function assertWebhookSecret(secret: string): void {
  try {
    if (!secret.startsWith('whsec_')) throw new Error('missing prefix');
    new Webhook(secret);
  } catch {
    throw new Error(
      'LOCAL_WEBHOOK_SECRET: must be "whsec_" followed by base64 (e.g. whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw)',
    );
  }
}
