/**
 * The async reports pipeline:
 *
 * ```
 * POST /reports ─> SubmitReport ─> reports table (QUEUED) + job queue ──> ReportWorker ─> Bedrock ─> table (COMPLETED|FAILED)
 *                                        └─(maxReceiveCount)─> job DLQ ─> ReportDlq (fails what nobody finished)     │
 * GET /reports/{id} ─> GetReport ─> reports table                                     event bus <─ report.completed|failed
 * POST /reports/{id}/cancel ─> CancelReport ─> reports table (CANCELLED | cancelRequested) ─> event bus <─ report.cancelled
 *                                    rule "every finished report" ─> API destination per subscriber (retries, DLQ)
 *                                    rule "has a callbackUrl"      ─> WebhookSender ─> signed POST (retries, DLQ)
 * ```
 *
 * Each function gets exactly the resources it uses, each through a `BaseFunction` helper that sets the variable and
 * the grant together. The webhook signing secret is readable by the webhook sender only.
 *
 * - `storage.ts`: the table and the queues; `jobs.ts`: the worker and the dead-letter backstop;
 * - `events.ts`: the rules (webhook sender, subscribers); `webhooks.ts`: the signing secret and the sender;
 * - `outputs.ts`: the stack outputs.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { type ApiDestination, EventBus } from 'aws-cdk-lib/aws-events';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ENV } from '../../../config/runtime';
import type { AppConfig } from '../../../config/schema';
import type { RouteHandlers } from '../api';
import { BaseFunction } from '../base-function';
import { CallbackRule, SubscriberRule } from './events';
import { BACKSTOP_TIMEOUT, DeadLetterBackstop, ReportWorker } from './jobs';
import { addReportsOutputs } from './outputs';
import { DeadLetterQueue, JobQueue, ReportsTable } from './storage';
import { WebhookSender, WebhookSigningSecret } from './webhooks';

export {
  CallbackRule,
  cdkPattern,
  SubscriberRule,
  type CallbackRuleProps,
  type EventRetryProps,
  type SubscriberRuleProps,
} from './events';
export { DeadLetterBackstop, ReportWorker, type DeadLetterBackstopProps, type ReportWorkerProps } from './jobs';
export {
  DeadLetterQueue,
  JobQueue,
  ReportsTable,
  type DeadLetterQueueProps,
  type JobQueueProps,
  type ReportsTableProps,
} from './storage';
export { WebhookSender, WebhookSigningSecret, type WebhookSenderProps } from './webhooks';

export interface ReportsPipelineProps {
  /** The validated configuration (`reports`, `webhooks`; all of it reaches the functions). */
  readonly config: AppConfig;
  /** Breaker state and token budgets: the worker's model calls are guarded like chat calls. */
  readonly guardTable: ITable;
  /**
   * What happens to the reports table when it leaves the stack. It holds users' results until TTL removes them.
   * @default RemovalPolicy.RETAIN
   */
  readonly reportsTableRemovalPolicy?: RemovalPolicy;
  /**
   * Customer managed KMS key for the reports table.
   * @default - the AWS managed key for DynamoDB (`aws/dynamodb`)
   */
  readonly tableEncryptionKey?: IKey;
  /**
   * Retries of EventBridge deliveries (to a subscriber's API destination, to the webhook sender) before the event
   * goes to the target's dead-letter queue.
   * @default 185 (EventBridge's maximum)
   */
  readonly eventRetryAttempts?: number;
  /**
   * How long EventBridge keeps retrying an event.
   * @default Duration.hours(24) (EventBridge's maximum)
   */
  readonly eventMaxAge?: Duration;
}

const NOT_A_WORK_QUEUE =
  'This queue is itself a dead-letter queue (of EventBridge targets and the webhook sender), not a work queue.';

export class ReportsPipeline extends Construct {
  /** Reports (`report#<id>`) and idempotency keys (`idem#<user>#<hash>`), TTL on `expiresAt`. */
  public readonly table: ReportsTable;
  /** One message per job: `{"reportId"}`. */
  public readonly jobQueue: JobQueue;
  /** Jobs delivered `maxReceiveCount` times; consumed by the backstop. */
  public readonly jobDeadLetterQueue: DeadLetterQueue;
  /** Per-report webhooks that could not be delivered (from the sender, its async invocations, and its rule target). */
  public readonly webhookDeadLetterQueue: DeadLetterQueue;
  /** Events a deploy-time subscriber did not accept within the retry policy. */
  public readonly subscriberDeadLetterQueue: DeadLetterQueue;
  public readonly eventBus: EventBus;
  /** The Standard Webhooks signing key (base64; receivers use it as `whsec_<value>`). */
  public readonly webhookSigningSecret: WebhookSigningSecret;
  public readonly submitReport: BaseFunction;
  public readonly getReport: BaseFunction;
  /** `POST /reports/{id}/cancel`: reads the report, changes it by conditional updates only, publishes `report.cancelled`. */
  public readonly cancelReport: BaseFunction;
  public readonly worker: ReportWorker;
  public readonly deadLetterBackstop: DeadLetterBackstop;
  public readonly webhookSender: WebhookSender;
  /** Finished reports with a `callbackUrl` → the webhook sender. */
  public readonly callbackRule: CallbackRule;
  /**
   * Every finished report → the deploy-time subscribers.
   * @default - undefined when `webhooks.subscribers` is empty
   */
  public readonly subscriberRule?: SubscriberRule;
  /** Routes the two API functions serve, by the route table's `functionName`. */
  public readonly handlers: RouteHandlers;
  /** One rule → API destination per configured subscriber, by subscriber name. */
  public readonly subscriberDestinations: Readonly<Record<string, ApiDestination>> = {};

  constructor(scope: Construct, id: string, props: ReportsPipelineProps) {
    super(scope, id);
    const { config } = props;
    const { reports, webhooks } = config;
    if (webhooks.allowLoopbackCallbacks) {
      throw new Error(
        'webhooks.allowLoopbackCallbacks: local cloud only (it lets callbacks reach http://127.0.0.1); remove it from the deployed configuration',
      );
    }
    const retry = { retryAttempts: props.eventRetryAttempts, maxEventAge: props.eventMaxAge };

    this.table = new ReportsTable(this, 'Table', {
      removalPolicy: props.reportsTableRemovalPolicy,
      encryptionKey: props.tableEncryptionKey,
    });
    this.jobDeadLetterQueue = new DeadLetterQueue(this, 'JobDeadLetterQueue', {
      visibilityTimeout: BACKSTOP_TIMEOUT.plus(Duration.seconds(30)),
    });
    this.jobQueue = new JobQueue(this, 'JobQueue', {
      deadLetterQueue: this.jobDeadLetterQueue,
      maxReceiveCount: reports.maxReceiveCount,
      visibilityTimeout: Duration.seconds(reports.visibilityTimeoutSeconds),
    });
    this.webhookDeadLetterQueue = new DeadLetterQueue(this, 'WebhookDeadLetterQueue', {
      noDeadLetterQueueReason: NOT_A_WORK_QUEUE,
    });
    this.subscriberDeadLetterQueue = new DeadLetterQueue(this, 'SubscriberDeadLetterQueue', {
      noDeadLetterQueueReason: NOT_A_WORK_QUEUE,
    });
    this.eventBus = new EventBus(this, 'EventBus', {
      description: 'report.completed, report.failed and report.cancelled events of the reports API',
    });
    this.webhookSigningSecret = new WebhookSigningSecret(this, 'WebhookSigningSecret');

    // API: submit (reports write, enqueue) and status (reports read). The caller comes from the API key authorizer.
    this.submitReport = new BaseFunction(this, 'SubmitReport', {
      functionName: 'submit-report',
      config,
      timeout: Duration.seconds(10),
    })
      .useTable(ENV.reportsTable, this.table, 'readWrite')
      .useQueue(ENV.reportsQueueUrl, this.jobQueue, 'send');
    this.getReport = new BaseFunction(this, 'GetReport', {
      functionName: 'get-report',
      config,
      timeout: Duration.seconds(10),
    }).useTable(ENV.reportsTable, this.table, 'read');
    this.cancelReport = new BaseFunction(this, 'CancelReport', {
      functionName: 'cancel-report',
      config,
      timeout: Duration.seconds(10),
    })
      .useTable(ENV.reportsTable, this.table, 'read')
      .useTable(ENV.reportsTable, this.table, 'updateItem')
      .useEventBus(ENV.eventBusName, this.eventBus);

    const bus = { eventBus: this.eventBus, reportsTable: this.table };
    this.worker = new ReportWorker(this, 'Worker', {
      config,
      ...bus,
      guardTable: props.guardTable,
      jobQueue: this.jobQueue,
    });
    this.deadLetterBackstop = new DeadLetterBackstop(this, 'DeadLetterBackstop', {
      config,
      ...bus,
      jobDeadLetterQueue: this.jobDeadLetterQueue,
    });
    this.webhookSender = new WebhookSender(this, 'WebhookSender', {
      config,
      signingSecret: this.webhookSigningSecret,
      deadLetterQueue: this.webhookDeadLetterQueue,
    });

    this.callbackRule = new CallbackRule(this, 'CallbackRule', {
      ...retry,
      eventBus: this.eventBus,
      target: this.webhookSender.function,
      deadLetterQueue: this.webhookDeadLetterQueue,
    });
    if (webhooks.subscribers.length > 0) {
      this.subscriberRule = new SubscriberRule(this, 'SubscriberRule', {
        ...retry,
        eventBus: this.eventBus,
        subscribers: webhooks.subscribers,
        deadLetterQueue: this.subscriberDeadLetterQueue,
      });
      this.subscriberDestinations = this.subscriberRule.destinations;
    }

    this.handlers = {
      'submit-report': this.submitReport.function,
      'get-report': this.getReport.function,
      'cancel-report': this.cancelReport.function,
    };
    addReportsOutputs(this);
  }
}
