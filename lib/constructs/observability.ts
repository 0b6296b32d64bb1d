/**
 * What an operator watches: one SNS topic for alarm notifications, the alarms a production team expects, and one
 * CloudWatch dashboard.
 *
 * Alarms (each notifies the topic when it fires and when it recovers):
 * - a message in a dead-letter queue (in one a function drains by itself: messages that stay too long);
 * - any `5XXError` on the API stage (the API answers 5xx only when a model or a backing service is down);
 * - errors and throttles of every function;
 * - p99 time to first token of `POST /chat/stream` above `observability.ttftAlarmMs`, per configured model;
 * - a circuit breaker open, per configured model.
 *
 * The application metrics are the ones the functions write as EMF with Powertools: every metric carries the default
 * `service` dimension; chat metrics add `endpoint` and `model` (`lambda/core/observability.ts`), the breaker gauge adds
 * `model` (`lambda/core/breaker.ts`), report and webhook counters add nothing. An alarm must name the exact dimension
 * set, and CloudWatch alarms cannot use SEARCH, so the per-model alarms are made for each model of the configured
 * chain. The dashboard may search, so its per-endpoint totals also count the `none` and `degraded` model values.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IRestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type HorizontalAnnotation,
  type IMetric,
  type IWidget,
  MathExpression,
  Metric,
  SearchExpression,
  Stats,
  TextWidget,
  TreatMissingData,
  type YAxisProps,
  type AlarmProps,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Function as LambdaFunction, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct, type IConstruct } from 'constructs';
import { type AppConfig, modelChain } from '../../config/schema';
import { BREAKER_STATE_VALUE } from '../../config/metrics';
import type { ReportsPipeline } from './reports-pipeline';

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

export interface ObservabilityProps {
  /** The validated configuration: `observability` (namespace, service, thresholds, email) and the model chain. */
  readonly config: AppConfig;
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
   * @default 'chat-stream'
   */
  readonly streamingEndpoint?: string;
  /**
   * Values of the `endpoint` dimension of every chat function's metrics, graphed on the dashboard.
   * @default ['chat-stream', 'chat']
   */
  readonly chatEndpoints?: readonly string[];
  /**
   * Name of the dashboard. Dashboard names are unique per account across Regions, hence the Region in the default.
   * @default `<stack name>-<Region>`
   */
  readonly dashboardName?: string;
}

interface GraphOptions {
  readonly annotations?: HorizontalAnnotation[];
  readonly leftYAxis?: YAxisProps;
  readonly right?: IMetric[];
}

/** Every alarm and graph aggregates over five minutes unless it says otherwise. */
const PERIOD = Duration.minutes(5);

/** Widget grid: the dashboard is 24 units wide. */
const FULL = 24;
const HALF = 12;
const THIRD = 8;
const HEIGHT = 6;

export class Observability extends Construct {
  /** Every alarm notifies this topic, on ALARM and on OK. */
  public readonly alarmTopic: Topic;
  /** Encrypts the alarm topic. Customer managed: CloudWatch cannot publish to a topic under the AWS managed `aws/sns` key. */
  public readonly alarmTopicKey: Key;
  public readonly dashboard: Dashboard;
  /** Every alarm created here. */
  public readonly alarms: Alarm[] = [];
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

  private readonly config: AppConfig;
  private readonly stackName: string;
  private readonly action: SnsAction;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { config } = props;
    this.config = config;
    const stack = Stack.of(this);
    this.stackName = stack.stackName;
    const models = modelChain(config);
    const streamingEndpoint = props.streamingEndpoint ?? 'chat-stream';
    const chatEndpoints = props.chatEndpoints ?? ['chat-stream', 'chat'];
    const otherEndpoints = chatEndpoints.filter((e) => e !== streamingEndpoint);
    const deadLetterQueues = props.deadLetterQueues ?? [];
    const workQueues = Object.entries(props.workQueues ?? {});
    assertSearchable(config.observability.metricsNamespace, 'observability.metricsNamespace');
    assertSearchable(config.observability.serviceName, 'observability.serviceName');

    this.alarmTopicKey = new Key(this, 'AlarmTopicKey', {
      description: `Encrypts the alarm notifications of ${this.stackName}`,
      enableKeyRotation: true,
      // It protects notifications in transit through SNS only; nothing stored depends on it.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.alarmTopic = new Topic(this, 'AlarmTopic', {
      displayName: `${this.stackName} alarms`,
      masterKey: this.alarmTopicKey,
      enforceSSL: true,
    });
    const cloudWatch = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    // Alarms publish as the CloudWatch service, so the topic policy must allow it; the conditions keep other accounts'
    // alarms (confused deputy) out.
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowAlarmsOfThisAccount',
        principals: [cloudWatch],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*` },
        },
      }),
    );
    // SNS encrypts what CloudWatch publishes with this key on CloudWatch's behalf. The key encrypts this topic only,
    // and the topic policy above decides who may publish, so the key statement needs no conditions of its own.
    this.alarmTopicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchToPublishEncrypted',
        principals: [cloudWatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    if (config.observability.alarmEmail) {
      this.alarmTopic.addSubscription(new EmailSubscription(config.observability.alarmEmail));
    }
    this.action = new SnsAction(this.alarmTopic);

    // --- alarms ---------------------------------------------------------------------------------------------------

    for (const dlq of deadLetterQueues) this.addDeadLetterQueueAlarm(dlq);

    this.apiServerErrorAlarm = this.addAlarm('ApiServerErrors', 'api-5xx', {
      metric: props.restApi.deploymentStage.metricServerError({ period: PERIOD, statistic: Stats.SUM }),
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

    for (const [label, fn] of Object.entries(props.functions)) this.addFunctionAlarms(label, fn);

    const ttftMs = config.observability.ttftAlarmMs;
    for (const model of models) {
      this.ttftAlarms[model] = this.addAlarm(`Ttft-${constructIdPart(model)}`, `${streamingEndpoint}-ttft-p99-${modelLabel(model)}`, {
        metric: this.chatMetric('TimeToFirstToken', streamingEndpoint, model, Stats.p(99)),
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
          `p99 time to first token of ${streamingEndpoint} on ${model} is above ${ttftMs} ms (observability.ttftAlarmMs) ` +
          'in 2 of the last 3 five-minute periods. Check Bedrock service health and throttling for the model, and the ' +
          'breaker state on the dashboard; slow first tokens count as slow calls and may open the breaker, which moves ' +
          'traffic to the fallbacks.',
      });
    }

    for (const model of models) {
      this.breakerOpenAlarms[model] = this.addAlarm(`BreakerOpen-${constructIdPart(model)}`, `breaker-open-${modelLabel(model)}`, {
        metric: this.breakerState(model),
        threshold: BREAKER_STATE_VALUE.OPEN,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        // The gauge is written only when calls read the breaker; without calls nobody is affected.
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription:
          `The circuit breaker of ${model} was open in the last 5 minutes: calls skip it and go to the fallbacks ` +
          '(or get 503 MODEL_UNAVAILABLE when none is left). The chat functions log the reason ("breaker transition"). Check ' +
          'Bedrock health, quotas and model access; `scripts/breaker-admin.ts status` shows the state, and ' +
          'force-close ends a forced open.',
      });
    }

    // --- dashboard ------------------------------------------------------------------------------------------------

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? `${this.stackName}-${stack.region}`,
      defaultInterval: Duration.hours(3),
    });
    const rows: IWidget[][] = [
      [
        new TextWidget({
          markdown:
            `# ${this.stackName}\nEvery alarm notifies the SNS topic of the stack output \`AlarmTopicArn\`. Chat, ` +
            'breaker and report metrics come from the functions (EMF, namespace ' +
            `\`${config.observability.metricsNamespace}\`, service \`${config.observability.serviceName}\`).`,
          width: FULL,
          height: 2,
        }),
      ],
      [
        new AlarmStatusWidget({
          title: 'Alarms',
          alarms: this.alarms,
          width: FULL,
          height: Math.max(2, Math.ceil(this.alarms.length / 4) + 1),
        }),
      ],
      section('Chat'),
      [
        this.graph(`Time to first token, ${streamingEndpoint} (ms)`, HALF, this.ttftByModel(streamingEndpoint, models), {
          annotations: [{ value: ttftMs, label: 'alarm (p99)' }],
        }),
        ...otherEndpoints.map((e) =>
          this.graph(`Time to first token, ${e} (ms)`, Math.floor(HALF / otherEndpoints.length), this.ttftByModel(e, models)),
        ),
      ],
      [
        this.graph(
          'Latency (ms)',
          THIRD,
          chatEndpoints.flatMap((e) =>
            models.flatMap((m) => [
              this.chatMetric('Latency', e, m, Stats.p(50), `${e} ${modelLabel(m)} p50`),
              this.chatMetric('Latency', e, m, Stats.p(99), `${e} ${modelLabel(m)} p99`),
            ]),
          ),
        ),
        this.graph(
          'Requests and errors',
          THIRD,
          chatEndpoints.flatMap((e) => [
            this.endpointTotal('Requests', e, `${e} requests`),
            this.endpointTotal('Errors', e, `${e} errors`),
          ]),
        ),
        this.graph(
          'Tokens',
          THIRD,
          chatEndpoints.flatMap((e) => [
            this.endpointTotal('InputTokens', e, `${e} input`),
            this.endpointTotal('OutputTokens', e, `${e} output`),
          ]),
        ),
      ],
      section('Circuit breakers'),
      [
        this.graph(
          'Breaker state (0 closed, 1 half-open, 2 open)',
          HALF,
          models.map((m) => this.breakerState(m).with({ label: modelLabel(m) })),
          { annotations: [{ value: BREAKER_STATE_VALUE.OPEN, label: 'open' }], leftYAxis: { min: 0, max: BREAKER_STATE_VALUE.OPEN } },
        ),
        this.graph('Breaker transitions', HALF, [
          new SearchExpression({
            expression: this.search(['model', 'from', 'to'], 'BreakerTransition', {}, Stats.SUM),
            label: "${PROP('Dim.model')} ${PROP('Dim.from')} → ${PROP('Dim.to')}",
            period: PERIOD,
          }),
        ]),
      ],
      section('Reports'),
      [
        this.graph(
          'Report outcomes',
          THIRD,
          ['ReportsCompleted', 'ReportsFailed', 'ReportsExhausted', 'ReportRetries', 'ReportEventsRepublished'].map((name) =>
            this.serviceMetric(name, Stats.SUM),
          ),
        ),
        this.graph('Report turnaround (ms)', THIRD, [
          this.serviceMetric('ReportTurnaround', Stats.p(50), 'p50'),
          this.serviceMetric('ReportTurnaround', Stats.p(99), 'p99'),
        ]),
        this.graph(
          'Webhooks',
          THIRD,
          ['WebhooksDelivered', 'WebhooksDeadLettered', 'WebhookAttempts'].map((name) => this.serviceMetric(name, Stats.SUM)),
        ),
      ],
      [
        this.graph(
          'Dead-letter queues (messages visible)',
          HALF,
          deadLetterQueues.map((d) =>
            d.queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: Stats.MAXIMUM, label: d.name }),
          ),
        ),
        this.graph(
          'Work queues',
          HALF,
          workQueues.map(([label, q]) =>
            q.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: Stats.MAXIMUM, label: `${label} visible` }),
          ),
          {
            right: workQueues.map(([label, q]) =>
              q.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: Stats.MAXIMUM, label: `${label} oldest (s)` }),
            ),
          },
        ),
      ],
      section('API Gateway'),
      [
        this.graph('Requests and errors', HALF, [
          props.restApi.deploymentStage.metricCount({ period: PERIOD, statistic: Stats.SUM, label: 'requests' }),
          props.restApi.deploymentStage.metricClientError({ period: PERIOD, statistic: Stats.SUM, label: '4xx' }),
          props.restApi.deploymentStage.metricServerError({ period: PERIOD, statistic: Stats.SUM, label: '5xx' }),
        ]),
        this.graph('Latency (ms; a stream counts until its end)', HALF, [
          props.restApi.deploymentStage.metricLatency({ period: PERIOD, statistic: Stats.p(50), label: 'p50' }),
          props.restApi.deploymentStage.metricLatency({ period: PERIOD, statistic: Stats.p(99), label: 'p99' }),
          props.restApi.deploymentStage.metricIntegrationLatency({ period: PERIOD, statistic: Stats.p(99), label: 'integration p99' }),
        ]),
      ],
      section('Lambda'),
      [
        this.graph(
          'Errors and throttles',
          THIRD,
          Object.entries(props.functions).flatMap(([label, fn]) => [
            fn.metricErrors({ period: PERIOD, statistic: Stats.SUM, label: `${label} errors` }),
            fn.metricThrottles({ period: PERIOD, statistic: Stats.SUM, label: `${label} throttles` }),
          ]),
        ),
        this.graph(
          'Duration p99 (ms)',
          THIRD,
          Object.entries(props.functions).map(([label, fn]) => fn.metricDuration({ period: PERIOD, statistic: Stats.p(99), label })),
        ),
        this.graph(
          'Concurrent executions (max)',
          THIRD,
          Object.entries(props.functions).map(([label, fn]) =>
            fn.metric('ConcurrentExecutions', { period: PERIOD, statistic: Stats.MAXIMUM, label }),
          ),
        ),
      ],
    ];
    const tables = Object.entries(props.tables ?? {});
    if (tables.length > 0) {
      rows.push(section('DynamoDB'), [
        this.graph(
          'Throttled requests',
          HALF,
          tables.map(([label, t], i) => throttledRequests(t, `t${i}`, label)),
        ),
        this.graph(
          'Consumed capacity',
          HALF,
          tables.flatMap(([label, t]) => [
            t.metricConsumedReadCapacityUnits({ period: PERIOD, statistic: Stats.SUM, label: `${label} read` }),
            t.metricConsumedWriteCapacityUnits({ period: PERIOD, statistic: Stats.SUM, label: `${label} write` }),
          ]),
        ),
      ]);
    }
    for (const row of rows) this.dashboard.addWidgets(...row);
  }

  /** Errors (invocations that threw or timed out) and throttles of one function. */
  public addFunctionAlarms(label: string, fn: IFunction): void {
    this.functionErrorAlarms[label] = this.addAlarm(`${label}-Errors`, `lambda-errors-${label}`, {
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
    this.functionThrottleAlarms[label] = this.addAlarm(`${label}-Throttles`, `lambda-throttles-${label}`, {
      metric: fn.metricThrottles({ period: PERIOD, statistic: Stats.SUM }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription:
        `Lambda throttled the ${label} function in the last 5 minutes: the Region's concurrency (or the function's ` +
        'reserved concurrency) is used up, and callers got errors or retries. Compare the concurrency graph with the ' +
        'account quota; raise the quota or lower the stage throttle and usage plans.',
    });
  }

  private addDeadLetterQueueAlarm(dlq: WatchedDeadLetterQueue): void {
    const base = { period: PERIOD, statistic: Stats.MAXIMUM };
    const drained = dlq.drainedWithin;
    this.deadLetterQueueAlarms[dlq.name] = this.addAlarm(`${dlq.name}-DeadLetters`, `dlq-${dlq.name}`, {
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

  private addAlarm(id: string, name: string, props: Omit<AlarmProps, 'alarmName' | 'actionsEnabled'>): Alarm {
    const alarm = new Alarm(this, id, { ...props, alarmName: alarmName(this.stackName, name), actionsEnabled: true });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.push(alarm);
    return alarm;
  }

  /** A chat metric with the exact dimension set `recordChatMetrics` writes. */
  private chatMetric(name: string, endpoint: string, model: string, statistic: string, label?: string): Metric {
    const { metricsNamespace: namespace, serviceName: service } = this.config.observability;
    return new Metric({ namespace, metricName: name, dimensionsMap: { service, endpoint, model }, statistic, period: PERIOD, label });
  }

  /** The `BreakerState` gauge of one model, as the breaker writes it (dimensions `service`, `model`). */
  private breakerState(model: string): Metric {
    const { metricsNamespace: namespace, serviceName: service } = this.config.observability;
    return new Metric({
      namespace,
      metricName: 'BreakerState',
      dimensionsMap: { service, model },
      statistic: Stats.MAXIMUM,
      period: PERIOD,
    });
  }

  /** A metric written with the `service` dimension only (reports, webhooks). */
  private serviceMetric(name: string, statistic: string, label?: string): Metric {
    const { metricsNamespace: namespace, serviceName: service } = this.config.observability;
    return new Metric({ namespace, metricName: name, dimensionsMap: { service }, statistic, period: PERIOD, label: label ?? name });
  }

  private ttftByModel(endpoint: string, models: readonly string[]): IMetric[] {
    return models.flatMap((m) => [
      this.chatMetric('TimeToFirstToken', endpoint, m, Stats.p(50), `${modelLabel(m)} p50`),
      this.chatMetric('TimeToFirstToken', endpoint, m, Stats.p(99), `${modelLabel(m)} p99`),
    ]);
  }

  /** Sum of a chat counter over every `model` value of one endpoint, including `none` (no model answered) and `degraded`. */
  private endpointTotal(name: string, endpoint: string, label: string): MathExpression {
    return new MathExpression({
      expression: `SUM(${this.search(['endpoint', 'model'], name, { endpoint }, Stats.SUM)})`,
      usingMetrics: {},
      label,
      period: PERIOD,
    });
  }

  /** `SEARCH` over the namespace with the given dimensions besides `service`, for this service. */
  private search(dimensions: readonly string[], metricName: string, equals: Record<string, string>, statistic: string): string {
    const { metricsNamespace, serviceName } = this.config.observability;
    const schema = [searchName(metricsNamespace), 'service', ...dimensions].join(',');
    const terms = [`MetricName="${metricName}"`, `service="${serviceName}"`, ...Object.entries(equals).map(([k, v]) => `${k}="${v}"`)];
    return `SEARCH('{${schema}} ${terms.join(' ')}', '${statistic}', ${PERIOD.toSeconds()})`;
  }

  private graph(title: string, width: number, left: IMetric[], options: GraphOptions = {}): GraphWidget {
    return new GraphWidget({
      title,
      width,
      height: HEIGHT,
      left,
      right: options.right,
      leftAnnotations: options.annotations,
      leftYAxis: { min: 0, ...options.leftYAxis },
      rightYAxis: options.right ? { min: 0 } : undefined,
    });
  }
}

/**
 * Every Lambda function under `scope`, by a label made of its construct path below the stack (`Chat-ChatStream`,
 * `Reports-Worker`; a trailing `Function` segment, as in `BaseFunction`, is left out). Call it once every function
 * exists, so functions added to the stack later are covered without a list to keep up to date.
 */
export function lambdaFunctionsIn(scope: IConstruct): Record<string, IFunction> {
  const depth = Stack.of(scope).node.scopes.length;
  const found: Record<string, IFunction> = {};
  for (const c of scope.node.findAll()) {
    if (!(c instanceof LambdaFunction)) continue;
    const segments = c.node.scopes.slice(depth).map((s) => s.node.id);
    if (segments.length > 1 && segments[segments.length - 1] === 'Function') segments.pop();
    found[segments.join('-')] = c;
  }
  return found;
}

/** The reports pipeline's dead-letter queues, each with what its messages mean and what to do. */
export function reportsDeadLetterQueues(reports: ReportsPipeline, config: AppConfig): WatchedDeadLetterQueue[] {
  return [
    {
      name: 'ReportJobs',
      queue: reports.jobDeadLetterQueue,
      runbook:
        'Report jobs that exhausted their deliveries have stayed in the job dead-letter queue: the backstop function ' +
        '(which marks them FAILED and publishes their event) is failing or not polling. Check the backstop\'s errors ' +
        'and logs ("exhausted report job") and its SQS event source mapping; once it works it drains the queue by itself.',
      // The backstop waits out a live worker's lease (at most the worker timeout), retrying every 90 s.
      drainedWithin: Duration.seconds(config.reports.workerTimeoutSeconds).plus(Duration.minutes(2)),
    },
    {
      name: 'Webhooks',
      queue: reports.webhookDeadLetterQueue,
      runbook:
        'Per-report callbacks could not be delivered (webhooks.maxAttempts attempts, a receiver answering 4xx, or a ' +
        'failed sender invocation). Each message names the url and the reason (docs/reports.md). Fix the receiver or ' +
        'tell the client, then purge or replay the messages; they are kept 14 days (stack output WebhookDeadLetterQueueUrl).',
    },
    {
      name: 'Subscribers',
      queue: reports.subscriberDeadLetterQueue,
      runbook:
        'A deploy-time subscriber did not accept report events within EventBridge\'s retry policy. The message is the ' +
        'event, the reason is in its attributes. Fix the subscriber endpoint or its key secret, then replay the ' +
        'messages; they are kept 14 days (stack output SubscriberDeadLetterQueueUrl).',
    },
  ];
}

/** `<stack>-<name>`, within CloudWatch's 255 characters. */
function alarmName(stackName: string, name: string): string {
  return `${stackName}-${name}`.slice(0, 255);
}

/** A model id as shown in alarm names and legends: the resource part of an ARN, the id itself otherwise. */
export function modelLabel(model: string): string {
  return model.startsWith('arn:') ? model.split(':').slice(5).join(':') : model;
}

/** Construct ids may not contain `/`; the id stays derived from the model, so reordering models replaces no alarm. */
function constructIdPart(model: string): string {
  return model.replace(/\//g, '_');
}

/** A namespace or dimension name in a SEARCH schema: quoted when it has characters beyond the plain ones. */
function searchName(name: string): string {
  return /^[A-Za-z0-9._\-/#]+$/.test(name) ? name : `"${name}"`;
}

/** SEARCH expressions quote names and values; refuse the characters that would end a quoted string. */
function assertSearchable(value: string, field: string): void {
  if (/["'\\]/.test(value)) {
    throw new Error(`${field}: must not contain quotes or backslashes (it is used in CloudWatch search expressions)`);
  }
}

/** Operations the functions call on their tables. */
const TABLE_OPERATIONS = ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'BatchGetItem', 'BatchWriteItem'];

/**
 * Throttled requests of one table over the operations the functions use. Like `metricThrottledRequestsForOperations`,
 * but with ids of its own, so that several tables fit in one graph.
 */
function throttledRequests(table: ITable, idPrefix: string, label: string): MathExpression {
  const usingMetrics = Object.fromEntries(
    TABLE_OPERATIONS.map((op) => [
      `${idPrefix}${op.toLowerCase()}`,
      table.metric('ThrottledRequests', {
        dimensionsMap: { TableName: table.tableName, Operation: op },
        period: PERIOD,
        statistic: Stats.SUM,
      }),
    ]),
  );
  return new MathExpression({ expression: Object.keys(usingMetrics).join(' + '), usingMetrics, label, period: PERIOD });
}

function section(title: string): IWidget[] {
  return [new TextWidget({ markdown: `## ${title}`, width: FULL, height: 1 })];
}
