/**
 * The async reports pipeline:
 *
 * ```
 * POST /reports ─> SubmitReport ─> reports table (QUEUED) + job queue ──> ReportWorker ─> Bedrock ─> table (COMPLETED|FAILED)
 *                                        └─(maxReceiveCount)─> job DLQ ─> ReportDlq (fails what nobody finished)     │
 * GET /reports/{id} ─> GetReport ─> reports table                                     event bus <─ report.completed|failed
 *                                    rule "every finished report" ─> API destination per subscriber (retries, DLQ)
 *                                    rule "has a callbackUrl"      ─> WebhookSender ─> signed POST (retries, DLQ)
 * ```
 *
 * Every queue is encrypted (SSE-SQS) and refuses plain HTTP; the table is encrypted, on demand, with point-in-time
 * recovery and TTL. Each function gets exactly the resources it uses, each through a helper that sets the variable and
 * the grant together. The webhook signing secret is readable by the webhook sender only.
 */
import { CfnOutput, Duration, RemovalPolicy, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import {
  ApiDestination,
  Authorization,
  Connection,
  EventBus,
  HttpMethod,
  Rule,
  RuleTargetInput,
  type EventPattern,
} from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption, type IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  FINISHED_REPORTS_PATTERN,
  REPORT_CALLBACKS_PATTERN,
  REPORTS_TABLE,
  WEBHOOK_PAYLOAD_PATH,
  webhookSenderTimeoutSeconds,
  type EventPattern as ConfigEventPattern,
} from '../../config/reports';
import { ENV } from '../../config/runtime';
import { type AppConfig, modelChain } from '../../config/schema';
import type { RouteHandlers } from './api';
import { BaseFunction, type EnvName } from './base-function';

export interface ReportsPipelineProps {
  /** The validated configuration (`reports`, `webhooks`). */
  readonly config: AppConfig;
  /** API key id → user and plan: read by the two API functions to find the caller. */
  readonly usersTable: ITable;
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

/** The dead-letter backstop only reads, writes and publishes: a minute is plenty for a batch of ten. */
const BACKSTOP_TIMEOUT = Duration.seconds(60);

/** How long dead-letter queues keep messages: SQS's maximum, so an operator has two weeks to look and redrive. */
const DLQ_RETENTION = Duration.days(14);

export class ReportsPipeline extends Construct {
  /** Reports (`report#<id>`) and idempotency keys (`idem#<user>#<hash>`), TTL on `expiresAt`. */
  public readonly table: Table;
  /** One message per job: `{"reportId"}`. */
  public readonly jobQueue: Queue;
  /** Jobs delivered `maxReceiveCount` times; consumed by the backstop. */
  public readonly jobDeadLetterQueue: Queue;
  /** Per-report webhooks that could not be delivered (from the sender, its async invocations, and its rule target). */
  public readonly webhookDeadLetterQueue: Queue;
  /** Events a deploy-time subscriber did not accept within the retry policy. */
  public readonly subscriberDeadLetterQueue: Queue;
  public readonly eventBus: EventBus;
  /** The Standard Webhooks signing key (base64; receivers use it as `whsec_<value>`). */
  public readonly webhookSigningSecret: Secret;
  public readonly submitReport: BaseFunction;
  public readonly getReport: BaseFunction;
  public readonly worker: BaseFunction;
  public readonly deadLetterBackstop: BaseFunction;
  public readonly webhookSender: BaseFunction;
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
    const retryAttempts = props.eventRetryAttempts ?? 185;
    const maxEventAge = props.eventMaxAge ?? Duration.hours(24);

    this.table = new Table(this, 'Table', {
      partitionKey: { name: REPORTS_TABLE.partitionKey, type: AttributeType.STRING },
      timeToLiveAttribute: REPORTS_TABLE.ttlAttribute,
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(props.tableEncryptionKey
        ? { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.tableEncryptionKey }
        : { encryption: TableEncryption.AWS_MANAGED }),
      removalPolicy: props.reportsTableRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    const queueDefaults = { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true };
    this.jobDeadLetterQueue = new Queue(this, 'JobDeadLetterQueue', {
      ...queueDefaults,
      retentionPeriod: DLQ_RETENTION,
      visibilityTimeout: BACKSTOP_TIMEOUT.plus(Duration.seconds(30)),
    });
    this.jobQueue = new Queue(this, 'JobQueue', {
      ...queueDefaults,
      // Longer than the worker's timeout (and so its lease): a message reappears only after its worker is gone.
      visibilityTimeout: Duration.seconds(reports.visibilityTimeoutSeconds),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.jobDeadLetterQueue, maxReceiveCount: reports.maxReceiveCount },
    });
    this.webhookDeadLetterQueue = new Queue(this, 'WebhookDeadLetterQueue', { ...queueDefaults, retentionPeriod: DLQ_RETENTION });
    this.subscriberDeadLetterQueue = new Queue(this, 'SubscriberDeadLetterQueue', { ...queueDefaults, retentionPeriod: DLQ_RETENTION });
    for (const dlq of [this.webhookDeadLetterQueue, this.subscriberDeadLetterQueue]) {
      Validations.of(dlq).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: 'This queue is itself a dead-letter queue (of EventBridge targets and the webhook sender), not a work queue.',
      });
    }

    this.eventBus = new EventBus(this, 'EventBus', { description: 'report.completed and report.failed events of the reports API' });

    this.webhookSigningSecret = new Secret(this, 'WebhookSigningSecret', {
      description:
        'Standard Webhooks signing key of per-report callbacks (base64; receivers verify with whsec_<value>). Only the webhook sender reads it.',
      // Letters and digits only: a valid base64 string (48 characters → a 36-byte HMAC key).
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
    });
    Validations.of(this.webhookSigningSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Receivers verify signatures with this key, so rotating it is coordinated with them (see docs/reports.md); an ' +
        'automatic rotation would break every receiver at once.',
    });

    // API: submit (users read, reports write, enqueue) and status (users read, reports read).
    this.submitReport = new BaseFunction(this, 'SubmitReport', { functionName: 'submit-report', config, timeout: Duration.seconds(10) })
      .useTable(ENV.usersTable, props.usersTable, 'read')
      .useTable(ENV.reportsTable, this.table, 'readWrite');
    useQueue(this.submitReport, ENV.reportsQueueUrl, this.jobQueue, 'send');
    this.getReport = new BaseFunction(this, 'GetReport', { functionName: 'get-report', config, timeout: Duration.seconds(10) })
      .useTable(ENV.usersTable, props.usersTable, 'read')
      .useTable(ENV.reportsTable, this.table, 'read');

    // Worker: reports, guard (breaker, budget), the model chain, the bus; its own queue for redelivery delays.
    this.worker = new BaseFunction(this, 'Worker', {
      functionName: 'report-worker',
      config,
      timeout: Duration.seconds(reports.workerTimeoutSeconds),
    })
      .useTable(ENV.reportsTable, this.table, 'readWrite')
      .useTable(ENV.guardTable, props.guardTable, 'readWrite')
      .useBedrockModels(modelChain(config), config.bedrockRegion);
    useEventBus(this.worker, this.eventBus);
    useQueue(this.worker, ENV.reportsQueueUrl, this.jobQueue, 'changeVisibility');
    this.worker.function.addEventSource(
      new SqsEventSource(this.jobQueue, { batchSize: reports.batchSize, reportBatchItemFailures: true }),
    );

    // Backstop: fails exhausted jobs and publishes their events; no model access.
    this.deadLetterBackstop = new BaseFunction(this, 'DeadLetterBackstop', {
      functionName: 'report-dlq',
      config,
      timeout: BACKSTOP_TIMEOUT,
    }).useTable(ENV.reportsTable, this.table, 'readWrite');
    useEventBus(this.deadLetterBackstop, this.eventBus);
    this.deadLetterBackstop.function.addEventSource(
      new SqsEventSource(this.jobDeadLetterQueue, { batchSize: 10, reportBatchItemFailures: true }),
    );

    // Webhook sender: the signing secret (it alone), its dead-letter queue; no table, no model.
    this.webhookSender = new BaseFunction(this, 'WebhookSender', {
      functionName: 'webhook-sender',
      config,
      timeout: Duration.seconds(webhookSenderTimeoutSeconds(webhooks)),
    });
    this.webhookSender.function.addEnvironment(ENV.webhookSecretArn, this.webhookSigningSecret.secretArn);
    this.webhookSigningSecret.grantRead(this.webhookSender.role);
    useQueue(this.webhookSender, ENV.webhookDlqUrl, this.webhookDeadLetterQueue, 'send');
    // The sender dead-letters by itself; these catch an invocation that fails outright (it could not even do that).
    this.webhookSender.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new SqsDestination(this.webhookDeadLetterQueue),
    });

    new Rule(this, 'CallbackRule', {
      eventBus: this.eventBus,
      description: 'Finished reports with a callbackUrl → the webhook sender',
      eventPattern: cdkPattern(REPORT_CALLBACKS_PATTERN),
      targets: [
        new targets.LambdaFunction(this.webhookSender.function, {
          deadLetterQueue: this.webhookDeadLetterQueue,
          retryAttempts,
          maxEventAge,
        }),
      ],
    });

    if (webhooks.subscribers.length > 0) {
      const subscriberRule = new Rule(this, 'SubscriberRule', {
        eventBus: this.eventBus,
        description: 'Every finished report → the deploy-time subscribers',
        eventPattern: cdkPattern(FINISHED_REPORTS_PATTERN),
      });
      const destinations: Record<string, ApiDestination> = {};
      for (const subscriber of webhooks.subscribers) {
        const connection = new Connection(this, `Connection${subscriber.name}`, {
          description: `Authentication of subscriber ${subscriber.name}`,
          authorization: Authorization.apiKey(subscriber.apiKeyHeader, SecretValue.secretsManager(subscriber.apiKeySecretName)),
        });
        Validations.of(connection).acknowledge({
          id: 'AwsSolutions-SMG4',
          reason:
            'EventBridge creates and owns the connection secret from the subscriber key in Secrets Manager; rotate that ' +
            'key with the subscriber and redeploy.',
        });
        destinations[subscriber.name] = new ApiDestination(this, `Destination${subscriber.name}`, {
          description: `Subscriber ${subscriber.name}`,
          connection,
          endpoint: subscriber.endpoint,
          httpMethod: HttpMethod.POST,
          rateLimitPerSecond: subscriber.rateLimitPerSecond,
        });
        subscriberRule.addTarget(
          new targets.ApiDestination(destinations[subscriber.name], {
            event: RuleTargetInput.fromEventPath(WEBHOOK_PAYLOAD_PATH),
            deadLetterQueue: this.subscriberDeadLetterQueue,
            retryAttempts,
            maxEventAge,
          }),
        );
      }
      this.subscriberDestinations = destinations;
    }

    this.handlers = { 'submit-report': this.submitReport.function, 'get-report': this.getReport.function };

    const stack = Stack.of(this);
    new CfnOutput(stack, 'ReportsTableName', { value: this.table.tableName, description: 'Reports and idempotency keys' });
    new CfnOutput(stack, 'ReportsEventBusName', { value: this.eventBus.eventBusName, description: 'report.completed|failed events' });
    new CfnOutput(stack, 'WebhookSigningSecretArn', {
      value: this.webhookSigningSecret.secretArn,
      description: 'Standard Webhooks signing key of per-report callbacks (receivers use whsec_<value>)',
    });
    new CfnOutput(stack, 'WebhookDeadLetterQueueUrl', { value: this.webhookDeadLetterQueue.queueUrl, description: 'Undeliverable callbacks' });
    new CfnOutput(stack, 'SubscriberDeadLetterQueueUrl', {
      value: this.subscriberDeadLetterQueue.queueUrl,
      description: 'Events deploy-time subscribers did not accept',
    });
    new CfnOutput(stack, 'ReportJobDeadLetterQueueUrl', { value: this.jobDeadLetterQueue.queueUrl, description: 'Exhausted report jobs' });
  }
}

/** Passes a queue's URL in `envName` and grants exactly what the function does with it. */
function useQueue(fn: BaseFunction, envName: EnvName, queue: IQueue, access: 'send' | 'changeVisibility'): void {
  fn.function.addEnvironment(envName, queue.queueUrl);
  if (access === 'send') queue.grantSendMessages(fn.role);
  else queue.grant(fn.role, 'sqs:ChangeMessageVisibility');
}

/** Passes the bus name in `EVENT_BUS_NAME` and allows `events:PutEvents` on that bus only. */
function useEventBus(fn: BaseFunction, bus: EventBus): void {
  fn.function.addEnvironment(ENV.eventBusName, bus.eventBusName);
  bus.grantPutEventsTo(fn.role);
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
