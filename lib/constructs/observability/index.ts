/**
 * What an operator watches: one SNS topic for alarm notifications, the alarms a production team expects, and one
 * CloudWatch dashboard.
 *
 * Alarms (each notifies the topic when it fires and when it recovers):
 * - a message in a dead-letter queue (in one a function drains by itself: messages that stay too long);
 * - any `5XXError` on the API stage (the API answers 5xx only when a model or a backing service is down);
 * - errors and throttles of every function;
 * - p99 time to first token of `POST /chat/stream` above `observability.ttftAlarmMs`, per configured model;
 * - a circuit breaker open, per configured model;
 * - request records (who may rate a request) failing to be written for 15 minutes;
 * - the account's claimed Lambda concurrency in the Region at `observability.accountConcurrencyAlarm` or above.
 *
 * The application metrics are the ones the functions write as EMF with Powertools, as catalogued in
 * `config/metrics.ts`: every metric carries the default `service` dimension; chat metrics add `endpoint` and `model`,
 * the breaker gauge adds `model`, report and webhook counters add nothing. An alarm must name the exact dimension set,
 * and CloudWatch alarms cannot use SEARCH, so the per-model alarms are made for each model of the configured chain.
 *
 * - `alarm-topic.ts`: the encrypted topic; `alarms.ts`: one builder per alarm; `dashboard.ts`: the dashboard;
 * - `metrics.ts`: metrics from the catalogue; `sources.ts`: what the stack hands in (functions, dead-letter queues).
 */
import { Stack } from 'aws-cdk-lib';
import type { IRestApi } from 'aws-cdk-lib/aws-apigateway';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENDPOINTS, RATED_ENDPOINTS } from '../../../config/metrics';
import type { AppConfig } from '../../../config/schema';
import { AlarmTopic } from './alarm-topic';
import {
  AlarmFactory,
  accountConcurrencyAlarm,
  apiServerErrorAlarm,
  breakerOpenAlarm,
  deadLetterQueueAlarm,
  functionAlarms,
  requestRecordsAlarm,
  streamLogAlarm,
  ttftAlarm,
  type WatchedDeadLetterQueue,
} from './alarms';
import { OperationsDashboard } from './dashboard';
import { ApplicationMetrics } from './metrics';

export { AlarmTopic, type AlarmTopicProps } from './alarm-topic';
export { AlarmFactory, type AlarmDefinition, type WatchedDeadLetterQueue } from './alarms';
export { OperationsDashboard, type OperationsDashboardProps } from './dashboard';
export { ApplicationMetrics, type ApplicationMetricsProps, modelLabel } from './metrics';
export { lambdaFunctionsIn, reportsDeadLetterQueues } from './sources';

export interface ObservabilityProps {
  /** `observability` of the configuration: namespace, service, thresholds, alarm e-mail. */
  readonly observability: AppConfig['observability'];
  /** The model chain, primary first (`modelChain(config)`): TTFT and breaker alarms are made for each. */
  readonly models: readonly string[];
  /** The public API; its deployment stage is watched. */
  readonly restApi: IRestApi;
  /** Every function to alarm on (errors, throttles) and graph, by a short label. See `lambdaFunctionsIn`. */
  readonly functions: Readonly<Record<string, IFunction>>;
  /**
   * Dead-letter queues: one alarm each.
   * @default - none
   */
  readonly deadLetterQueues?: readonly WatchedDeadLetterQueue[];
  /**
   * Work queues whose backlog (messages visible, age of the oldest) is graphed, by label. No alarms.
   * @default - none
   */
  readonly workQueues?: Readonly<Record<string, IQueue>>;
  /**
   * Tables whose throttled requests and consumed capacity are graphed, by label. No alarms.
   * @default - none
   */
  readonly tables?: Readonly<Record<string, ITable>>;
  /**
   * Value of the `endpoint` dimension of the streaming chat function's metrics: its TTFT is alarmed on.
   * @default ENDPOINTS.chatStream ('chat-stream')
   */
  readonly streamingEndpoint?: string;
  /**
   * Values of the `endpoint` dimension of every chat function's metrics, graphed on the dashboard.
   * @default - every value of ENDPOINTS (['chat-stream', 'chat'])
   */
  readonly chatEndpoints?: readonly string[];
  /**
   * Values of the `endpoint` dimension of the `Feedback` metric: the satisfaction (CSAT) graph has one line each.
   * @default - every value of RATED_ENDPOINTS (the chat endpoints and `reports`)
   */
  readonly ratedEndpoints?: readonly string[];
  /**
   * Whether the response cache is on (`cache.enabled`): the dashboard then has a cache section (hit rate by endpoint,
   * tokens saved, answers served as a fallback).
   * @default false
   */
  readonly responseCache?: boolean;
  /**
   * Name of the dashboard. Dashboard names are unique per account across Regions, hence the Region in the default.
   * @default `<stack name>-<Region>`
   */
  readonly dashboardName?: string;
}

export class Observability extends Construct {
  /** Every alarm notifies this topic, on ALARM and on OK. */
  public readonly alarmTopic: AlarmTopic;
  /** Encrypts the alarm topic. Customer managed: CloudWatch cannot publish to a topic under the AWS managed `aws/sns` key. */
  public readonly alarmTopicKey: AlarmTopic['key'];
  public readonly dashboard: OperationsDashboard;
  /** Every alarm created here. */
  public readonly alarms: Alarm[];
  /** By dead-letter queue name. */
  public readonly deadLetterQueueAlarms: Record<string, Alarm> = {};
  /** `5XXError` of the API stage. */
  public readonly apiServerErrorAlarm: Alarm;
  /** By function label. */
  public readonly functionErrorAlarms: Record<string, Alarm> = {};
  /** By function label. */
  public readonly functionThrottleAlarms: Record<string, Alarm> = {};
  /** p99 time to first token of the streaming endpoint, by model id. */
  public readonly ttftAlarms: Record<string, Alarm> = {};
  /** Breaker open, by model id. */
  public readonly breakerOpenAlarms: Record<string, Alarm> = {};
  /** Request records that could not be written (their requests cannot be rated). */
  public readonly requestRecordsAlarm: Alarm;
  /** Stream log writes that failed (those streams can be neither resumed nor cancelled). */
  public readonly streamLogAlarm: Alarm;
  /** The account's claimed Lambda concurrency in the Region at `observability.accountConcurrencyAlarm` or above. */
  public readonly accountConcurrencyAlarm: Alarm;

  private readonly factory: AlarmFactory;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { observability, models } = props;
    const metrics = new ApplicationMetrics({
      namespace: observability.metricsNamespace,
      service: observability.serviceName,
    });
    const streamingEndpoint = props.streamingEndpoint ?? ENDPOINTS.chatStream;

    this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', { alarmEmail: observability.alarmEmail });
    this.alarmTopicKey = this.alarmTopic.key;
    this.factory = new AlarmFactory(this, Stack.of(this).stackName, this.alarmTopic);
    this.alarms = this.factory.alarms;

    for (const dlq of props.deadLetterQueues ?? [])
      this.deadLetterQueueAlarms[dlq.name] = deadLetterQueueAlarm(this.factory, dlq);
    this.apiServerErrorAlarm = apiServerErrorAlarm(this.factory, props.restApi);
    for (const [label, fn] of Object.entries(props.functions)) this.addFunctionAlarms(label, fn);
    for (const model of models) {
      this.ttftAlarms[model] = ttftAlarm(this.factory, metrics, streamingEndpoint, model, observability.ttftAlarmMs);
    }
    for (const model of models) this.breakerOpenAlarms[model] = breakerOpenAlarm(this.factory, metrics, model);
    this.requestRecordsAlarm = requestRecordsAlarm(this.factory, metrics);
    this.streamLogAlarm = streamLogAlarm(this.factory, metrics);
    this.accountConcurrencyAlarm = accountConcurrencyAlarm(this.factory, observability.accountConcurrencyAlarm);

    this.dashboard = new OperationsDashboard(this, 'Dashboard', {
      metrics,
      models,
      streamingEndpoint,
      chatEndpoints: props.chatEndpoints ?? Object.values(ENDPOINTS),
      ratedEndpoints: props.ratedEndpoints ?? Object.values(RATED_ENDPOINTS),
      ttftAlarmMs: observability.ttftAlarmMs,
      alarms: this.alarms,
      restApi: props.restApi,
      functions: props.functions,
      deadLetterQueues: props.deadLetterQueues,
      workQueues: props.workQueues,
      tables: props.tables,
      responseCache: props.responseCache,
      dashboardName: props.dashboardName,
    });
  }

  /** Errors (invocations that threw or timed out) and throttles of one function. */
  public addFunctionAlarms(label: string, fn: IFunction): void {
    const { errors, throttles } = functionAlarms(this.factory, label, fn);
    this.functionErrorAlarms[label] = errors;
    this.functionThrottleAlarms[label] = throttles;
  }
}
