/**
 * The functions that run report jobs: the worker (from the job queue) and the dead-letter backstop (from the job
 * dead-letter queue), each with exactly the resources it uses, each through a `BaseFunction` helper.
 */
import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { ENV } from '../../../config/runtime';
import { type AppConfig, modelChain } from '../../../config/schema';
import { BaseFunction } from '../base-function';

/** The dead-letter backstop only reads, writes and publishes: a minute is plenty for a batch of ten. */
export const BACKSTOP_TIMEOUT = Duration.seconds(60);

export interface ReportWorkerProps {
  /**
   * The validated configuration: `reports` sizes the function and its event source (batch size, maximum concurrency);
   * the rest reaches the function.
   */
  readonly config: AppConfig;
  readonly reportsTable: ITable;
  /** Breaker state and token budgets: the worker's model calls are guarded like chat calls. */
  readonly guardTable: ITable;
  /** Its event source; the worker also changes visibility on it to delay a redelivery. */
  readonly jobQueue: IQueue;
  /** Where it publishes `report.completed|failed|cancelled`. */
  readonly eventBus: IEventBus;
}

/** Runs report jobs: the reports and guard tables, the model chain, the bus; its own queue for redelivery delays. */
export class ReportWorker extends BaseFunction {
  constructor(scope: Construct, id: string, props: ReportWorkerProps) {
    const { config } = props;
    super(scope, id, {
      functionName: 'report-worker',
      config,
      timeout: Duration.seconds(config.reports.workerTimeoutSeconds),
    });
    this.useTable(ENV.reportsTable, props.reportsTable, 'readWrite')
      .useTable(ENV.guardTable, props.guardTable, 'readWrite')
      .useBedrockModels(modelChain(config), config.bedrockRegion)
      .useEventBus(ENV.eventBusName, props.eventBus)
      .useQueue(ENV.reportsQueueUrl, props.jobQueue, 'changeVisibility');
    this.function.addEventSource(
      new SqsEventSource(props.jobQueue, {
        batchSize: config.reports.batchSize,
        reportBatchItemFailures: true,
        // A burst of reports waits in the queue rather than taking the account's concurrency from the API.
        maxConcurrency: config.reports.maxConcurrency,
      }),
    );
  }
}

export interface DeadLetterBackstopProps {
  /** The validated configuration, passed to the function. */
  readonly config: AppConfig;
  readonly reportsTable: ITable;
  /** Its event source: jobs delivered `maxReceiveCount` times. */
  readonly jobDeadLetterQueue: IQueue;
  /** Where it publishes the events of the jobs it fails. */
  readonly eventBus: IEventBus;
}

/** Fails exhausted jobs and publishes their events; no model access. */
export class DeadLetterBackstop extends BaseFunction {
  constructor(scope: Construct, id: string, props: DeadLetterBackstopProps) {
    super(scope, id, { functionName: 'report-dlq', config: props.config, timeout: BACKSTOP_TIMEOUT });
    this.useTable(ENV.reportsTable, props.reportsTable, 'readWrite').useEventBus(ENV.eventBusName, props.eventBus);
    this.function.addEventSource(
      new SqsEventSource(props.jobDeadLetterQueue, { batchSize: 10, reportBatchItemFailures: true }),
    );
  }
}
