/**
 * The alarms a production team expects, each built by one function: a message in a dead-letter queue, a 5xx of the
 * API, errors and throttles of a function, a slow first token and an open breaker per model, the account's Lambda
 * concurrency near its quota. Every alarm is named
 * `<stack>-<name>` and notifies the topic when it fires and when it recovers.
 */
import { Duration } from 'aws-cdk-lib';
import type { IRestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  type AlarmProps,
  ComparisonOperator,
  Metric,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { BREAKER_STATE_VALUE, METRICS } from '../../../config/metrics';
import { type ApplicationMetrics, modelLabel, PERIOD } from './metrics';

/** A dead-letter queue to alarm on. */
export interface WatchedDeadLetterQueue {
  /** Short name, used in the alarm's name and construct id (letters, digits, dashes), e.g. `ReportJobs`. */
  readonly name: string;
  readonly queue: IQueue;
  /** What a message in the queue means and what to do about it: the alarm's description. */
  readonly runbook: string;
  /**
   * For a queue a function drains by itself: the longest a message may legitimately stay in it (visible or in
   * flight). A visible message is then normal for a moment, so the alarm counts messages in flight too and fires only
   * when the queue has not been empty for longer than this.
   * @default - nothing drains the queue: the alarm fires on the first visible message
   */
  readonly drainedWithin?: Duration;
}

/** What an alarm builder decides; the factory adds the name and the actions. */
export type AlarmDefinition = Omit<AlarmProps, 'alarmName' | 'actionsEnabled'>;

/** Creates alarms in one scope, named after the stack, each notifying the topic on ALARM and on OK. */
export class AlarmFactory {
  /** Every alarm created, in order. */
  public readonly alarms: Alarm[] = [];
  private readonly action: SnsAction;

  constructor(
    private readonly scope: Construct,
    private readonly stackName: string,
    topic: ITopic,
  ) {
    this.action = new SnsAction(topic);
  }

  public add(id: string, name: string, definition: AlarmDefinition): Alarm {
    const alarm = new Alarm(this.scope, id, {
      ...definition,
      // CloudWatch allows 255 characters.
      alarmName: `${this.stackName}-${name}`.slice(0, 255),
      actionsEnabled: true,
    });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.push(alarm);
    return alarm;
  }
}

export function deadLetterQueueAlarm(factory: AlarmFactory, dlq: WatchedDeadLetterQueue): Alarm {
  const base = { period: PERIOD, statistic: Stats.MAXIMUM };
  const drained = dlq.drainedWithin;
  return factory.add(`${dlq.name}-DeadLetters`, `dlq-${dlq.name}`, {
    // A drained queue shows a message as visible for only a moment; one its function keeps failing on stays in flight.
    metric: drained
      ? dlq.queue.metricApproximateNumberOfMessagesOutstanding({ ...base, label: 'visible + in flight' })
      : dlq.queue.metricApproximateNumberOfMessagesVisible(base),
    threshold: 0,
    comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: drained ? Math.ceil(drained.toSeconds() / PERIOD.toSeconds()) + 1 : 1,
    // SQS stops reporting an empty queue nobody uses; a queue holding messages always reports.
    treatMissingData: TreatMissingData.NOT_BREACHING,
    alarmDescription: dlq.runbook,
  });
}

export function apiServerErrorAlarm(factory: AlarmFactory, restApi: IRestApi): Alarm {
  return factory.add('ApiServerErrors', 'api-5xx', {
    metric: restApi.deploymentStage.metricServerError({ period: PERIOD, statistic: Stats.SUM }),
    threshold: 0,
    comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    // No requests, no 5xx.
    treatMissingData: TreatMissingData.NOT_BREACHING,
    alarmDescription:
      'The API answered 5xx, which it does only when something is down: 503 MODEL_UNAVAILABLE (every model ' +
      'failing or its breaker open: see the breaker and TTFT alarms), 503 SERVICE_UNAVAILABLE (DynamoDB or SQS), ' +
      '502 (a function crashed: see the function error alarms) or 504 (POST /chat ran past the gateway timeout). ' +
      'The API access log has the status, resource path and errorType of each request.',
  });
}

/** Errors (invocations that threw or timed out) and throttles of one function. */
export function functionAlarms(
  factory: AlarmFactory,
  label: string,
  fn: IFunction,
): { errors: Alarm; throttles: Alarm } {
  const errors = factory.add(`${label}-Errors`, `lambda-errors-${label}`, {
    metric: fn.metricErrors({ period: PERIOD, statistic: Stats.SUM }),
    threshold: 0,
    comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    // No invocations, no errors.
    treatMissingData: TreatMissingData.NOT_BREACHING,
    alarmDescription:
      `The ${label} function failed (threw or timed out) in the last 5 minutes. Handlers turn expected failures into ` +
      'responses or batch item failures, so this is a bug or an outage: read the ERROR lines of its log group and its ' +
      'X-Ray traces.',
  });
  const throttles = factory.add(`${label}-Throttles`, `lambda-throttles-${label}`, {
    metric: fn.metricThrottles({ period: PERIOD, statistic: Stats.SUM }),
    threshold: 0,
    comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
    alarmDescription:
      `Lambda throttled the ${label} function in the last 5 minutes: the Region's concurrency (or the function's ` +
      'reserved concurrency, functions.<name>.reservedConcurrency) is used up, and callers got errors or retries. ' +
      'Compare the concurrency graph with the account quota (see the account concurrency alarm); raise the quota or ' +
      'the reservation, or lower the stage throttle and usage plans.',
  });
  return { errors, throttles };
}

/** p99 time to first token of the streaming endpoint on one model above `ttftMs`, in 2 of 3 periods. */
export function ttftAlarm(
  factory: AlarmFactory,
  metrics: ApplicationMetrics,
  endpoint: string,
  model: string,
  ttftMs: number,
): Alarm {
  return factory.add(`Ttft-${constructIdPart(model)}`, `${endpoint}-ttft-p99-${modelLabel(model)}`, {
    metric: metrics.metric(METRICS.timeToFirstToken, { endpoint, model }, Stats.p(99)),
    threshold: ttftMs,
    comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    // At low traffic p99 is about the slowest call, so one slow first token must not page: 2 of 3 periods.
    evaluationPeriods: 3,
    datapointsToAlarm: 2,
    // Evaluated even with few samples: with "ignore", a quiet API could never alarm.
    evaluateLowSampleCountPercentile: 'evaluate',
    // No streams on this model (it is a fallback, or idle), no slow first tokens.
    treatMissingData: TreatMissingData.NOT_BREACHING,
    alarmDescription:
      `p99 time to first token of ${endpoint} on ${model} is above ${ttftMs} ms (observability.ttftAlarmMs) ` +
      'in 2 of the last 3 five-minute periods. Check Bedrock service health and throttling for the model, and the ' +
      'breaker state on the dashboard; slow first tokens count as slow calls and may open the breaker, which moves ' +
      'traffic to the fallbacks.',
  });
}

/** The `BreakerState` gauge of one model reached `OPEN` in the period. */
export function breakerOpenAlarm(factory: AlarmFactory, metrics: ApplicationMetrics, model: string): Alarm {
  return factory.add(`BreakerOpen-${constructIdPart(model)}`, `breaker-open-${modelLabel(model)}`, {
    metric: metrics.metric(METRICS.breakerState, { model }, Stats.MAXIMUM),
    threshold: BREAKER_STATE_VALUE.OPEN,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    // The gauge is written only when calls read the breaker; without calls nobody is affected.
    treatMissingData: TreatMissingData.NOT_BREACHING,
    alarmDescription:
      `The circuit breaker of ${model} was open in the last 5 minutes: calls skip it and go to the fallbacks ` +
      '(or get 503 MODEL_UNAVAILABLE when none is left). The chat functions log the reason ("breaker transition"). Check ' +
      'Bedrock health, quotas and model access; `npx genai breaker status --stack <name>` shows the state, and ' +
      '`npx genai breaker close` ends a forced open.',
  });
}

/**
 * Request records (who may rate a request) that could not be written, in 3 consecutive periods: answers are not
 * affected, but they cannot be rated. A lasting failure is a broken table or permission, not a blip.
 */
export function requestRecordsAlarm(factory: AlarmFactory, metrics: ApplicationMetrics): Alarm {
  return lastingWriteFailureAlarm(
    factory,
    'RequestRecordErrors',
    'request-records-not-written',
    metrics.metric(METRICS.requestRecordErrors, {}, Stats.SUM),
    'For 15 minutes the chat functions or the report worker could not record their requests in the requests table. ' +
      'Answers are not affected, but those requests cannot be rated (POST /feedback answers 404). The functions log ' +
      'why ("request record not written"): check the requests table (throttling, KMS key access), the ' +
      'REQUESTS_TABLE_NAME variable and the PutItem permission of the function.',
  );
}

/**
 * Stream log writes that failed, in 3 consecutive periods: the live streams are not affected, but those streams can be
 * neither resumed nor cancelled. A lasting failure is a broken table or permission, not a blip.
 */
export function streamLogAlarm(factory: AlarmFactory, metrics: ApplicationMetrics): Alarm {
  return lastingWriteFailureAlarm(
    factory,
    'StreamLogErrors',
    'stream-log-not-written',
    metrics.metric(METRICS.streamLogErrors, {}, Stats.SUM),
    'For 15 minutes the streaming functions could not write the stream log (streams table). Answers are not ' +
      'affected, but those streams cannot be resumed (GET /chat/stream/{requestId}) or cancelled (POST ' +
      '/chat/stream/{requestId}/cancel answers 404). The functions log why ("stream log write failed"): check the ' +
      'streams table (throttling, KMS key access), the STREAMS_TABLE_NAME variable and the PutItem and UpdateItem ' +
      'permissions of the function.',
  );
}

/**
 * A count of failed writes (emitted only on failure) above zero in 3 consecutive periods: answers go on without the
 * write, so one failure is a blip, and only a lasting one (a broken table or permission) pages.
 */
function lastingWriteFailureAlarm(
  factory: AlarmFactory,
  id: string,
  name: string,
  metric: Metric,
  description: string,
): Alarm {
  return factory.add(id, name, {
    metric,
    threshold: 0,
    comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 3,
    // Written only on failure: no data is the healthy state.
    treatMissingData: TreatMissingData.NOT_BREACHING,
    alarmDescription: description,
  });
}

/** Lambda's account-level concurrency metrics: no dimensions, every function of the account in the Region. */
export const ACCOUNT_CONCURRENCY_METRIC = { namespace: 'AWS/Lambda', metricName: 'ClaimedAccountConcurrency' } as const;

/**
 * The Region's claimed Lambda concurrency (reserved concurrency, provisioned concurrency and unreserved executions of
 * every function of the account, this stack's or not) reached `threshold` in a minute: past the quota, Lambda throttles
 * new invocations of every function without reserved concurrency.
 */
export function accountConcurrencyAlarm(factory: AlarmFactory, threshold: number): Alarm {
  return factory.add('AccountConcurrency', 'lambda-account-concurrency', {
    metric: new Metric({
      ...ACCOUNT_CONCURRENCY_METRIC,
      period: Duration.minutes(1),
      statistic: Stats.MAXIMUM,
    }),
    threshold,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    // Lambda reports nothing while no function of the account runs.
    treatMissingData: TreatMissingData.NOT_BREACHING,
    alarmDescription:
      `The account's claimed Lambda concurrency in this Region reached ${threshold} ` +
      '(observability.accountConcurrencyAlarm); at the quota, Lambda throttles every function without reserved ' +
      'concurrency, this API included. Check which functions hold it (ConcurrentExecutions per function: the ' +
      'streaming functions hold one execution per open stream, the report worker at most reports.maxConcurrency), ' +
      'the function throttle alarms, and the "Concurrent executions" quota in Service Quotas. Then raise the quota, ' +
      'lower the usage plans or the stage throttle, or cap a function with functions.<name>.reservedConcurrency.',
  });
}

/** Construct ids may not contain `/`; the id stays derived from the model, so reordering models replaces no alarm. */
function constructIdPart(model: string): string {
  return model.replace(/\//g, '_');
}
