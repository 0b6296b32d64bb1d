/**
 * One CloudWatch dashboard: the alarms' status, then chat, circuit breakers, reports, satisfaction (CSAT), the response
 * cache (when on), API Gateway, Lambda and DynamoDB. The application graphs read the metric catalogue
 * (`config/metrics.ts`); the dashboard may search, so its per-endpoint totals also count the `none` and `degraded` model
 * values no alarm can name.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type { IRestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  type Alarm,
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type HorizontalAnnotation,
  type IMetric,
  type IWidget,
  LogQueryVisualizationType,
  LogQueryWidget,
  MathExpression,
  Stats,
  TextWidget,
  type YAxisProps,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Function as LambdaFunction, type IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { RATINGS } from '../../../config/contract';
import { BREAKER_STATE_VALUE, CANCEL_KINDS, METRICS, type MetricSpec } from '../../../config/metrics';
import { OUTPUT_ALARM_TOPIC_ARN } from '../../outputs';
import type { WatchedDeadLetterQueue } from './alarms';
import { type ApplicationMetrics, modelLabel, PERIOD } from './metrics';

export interface OperationsDashboardProps {
  /** The application metrics (namespace and service of the functions). */
  readonly metrics: ApplicationMetrics;
  /** The model chain, primary first: one line per model on the chat and breaker graphs. */
  readonly models: readonly string[];
  /** `endpoint` dimension of the streaming chat function; its TTFT graph shows the alarm threshold. */
  readonly streamingEndpoint: string;
  /** `endpoint` dimension of every chat function. */
  readonly chatEndpoints: readonly string[];
  /** `endpoint` dimension of the `Feedback` metric: one CSAT line each. */
  readonly ratedEndpoints: readonly string[];
  /** The TTFT alarm threshold, drawn on the streaming endpoint's graph. */
  readonly ttftAlarmMs: number;
  /** Shown in the status widget. */
  readonly alarms: readonly Alarm[];
  /** The public API; its deployment stage is graphed. */
  readonly restApi: IRestApi;
  /** Functions to graph, by label. */
  readonly functions: Readonly<Record<string, IFunction>>;
  /**
   * Dead-letter queues to graph.
   * @default - none
   */
  readonly deadLetterQueues?: readonly WatchedDeadLetterQueue[];
  /**
   * Work queues whose backlog is graphed, by label.
   * @default - none
   */
  readonly workQueues?: Readonly<Record<string, IQueue>>;
  /**
   * Tables whose throttles and capacity are graphed, by label; no DynamoDB section without any.
   * @default - none
   */
  readonly tables?: Readonly<Record<string, ITable>>;
  /**
   * Whether the response cache is on: a section with its hit rate by endpoint, tokens saved and fallbacks.
   * @default false
   */
  readonly responseCache?: boolean;
  /**
   * Dashboard names are unique per account across Regions, hence the Region in the default.
   * @default `<stack name>-<Region>`
   */
  readonly dashboardName?: string;
}

interface GraphOptions {
  readonly annotations?: HorizontalAnnotation[];
  readonly leftYAxis?: YAxisProps;
  readonly right?: IMetric[];
}

/** Widget grid: the dashboard is 24 units wide. */
const FULL = 24;
const HALF = 12;
const THIRD = 8;
const HEIGHT = 6;

export class OperationsDashboard extends Dashboard {
  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    const stack = Stack.of(scope);
    super(scope, id, {
      dashboardName: props.dashboardName ?? `${stack.stackName}-${stack.region}`,
      defaultInterval: Duration.hours(3),
    });
    const rows: IWidget[][] = [
      ...overviewRows(stack.stackName, props),
      ...chatRows(props),
      ...costRows(props),
      ...breakerRows(props),
      ...reportRows(props),
      ...satisfactionRows(props),
      ...(props.responseCache ? cacheRows(props) : []),
      ...cancellationRows(props),
      ...apiRows(props.restApi),
      ...lambdaRows(props.functions),
      ...tableRows(props.tables ?? {}),
    ];
    for (const row of rows) this.addWidgets(...row);
  }
}

/**
 * The Logs Insights query of the top users by spend: the request log line of every chat call and the report worker's
 * line of every completed report carry `user_id` and `cost_usd` (lambda/core/observability.ts,
 * lambda/functions/report-worker/handler.ts). A query runs, and scans the log groups, only when the dashboard is viewed.
 */
export const TOP_SPENDERS_QUERY = [
  'filter ispresent(cost_usd) and ispresent(user_id)',
  'stats sum(cost_usd) as usd, count(*) as calls by user_id',
  'sort usd desc',
  'limit 10',
];

/** Spend: the `CostUsd` metric per model of the chain (all plans), and the top users from the request log lines. */
function costRows(props: OperationsDashboardProps): IWidget[][] {
  const { metrics, models } = props;
  const logGroupNames = Object.values(props.functions).flatMap((fn) =>
    fn instanceof LambdaFunction ? [fn.logGroup.logGroupName] : [],
  );
  return [
    section('Cost'),
    [
      graph('Spend per model (USD, from models.prices)', HALF, [
        ...models.map((model) => metrics.total(METRICS.costUsd, { model }, modelLabel(model))),
        metrics.total(METRICS.costUsd, {}, 'all models'),
      ]),
      new LogQueryWidget({
        title: 'Top users by spend (USD)',
        width: HALF,
        height: HEIGHT,
        logGroupNames,
        view: LogQueryVisualizationType.TABLE,
        queryLines: TOP_SPENDERS_QUERY,
      }),
    ],
  ];
}

function overviewRows(stackName: string, props: OperationsDashboardProps): IWidget[][] {
  const { metrics, alarms } = props;
  return [
    [
      new TextWidget({
        markdown:
          `# ${stackName}\nEvery alarm notifies the SNS topic of the stack output \`${OUTPUT_ALARM_TOPIC_ARN}\`. Chat, ` +
          'breaker and report metrics come from the functions (EMF, namespace ' +
          `\`${metrics.namespace}\`, service \`${metrics.service}\`).`,
        width: FULL,
        height: 2,
      }),
    ],
    [
      new AlarmStatusWidget({
        title: 'Alarms',
        alarms: [...alarms],
        width: FULL,
        height: Math.max(2, Math.ceil(alarms.length / 4) + 1),
      }),
    ],
  ];
}

function chatRows(props: OperationsDashboardProps): IWidget[][] {
  const { metrics, models, streamingEndpoint, chatEndpoints } = props;
  const otherEndpoints = chatEndpoints.filter((e) => e !== streamingEndpoint);
  const percentiles = (spec: MetricSpec, endpoint: string, prefix: string) =>
    models.flatMap((model) => [
      metrics.metric(spec, { endpoint, model }, Stats.p(50), `${prefix}${modelLabel(model)} p50`),
      metrics.metric(spec, { endpoint, model }, Stats.p(99), `${prefix}${modelLabel(model)} p99`),
    ]);
  const totals = (e: string, specs: [MetricSpec, string][]) =>
    specs.map(([spec, what]) => metrics.total(spec, { endpoint: e }, `${e} ${what}`));
  return [
    section('Chat'),
    [
      graph(
        `Time to first token, ${streamingEndpoint} (ms)`,
        HALF,
        percentiles(METRICS.timeToFirstToken, streamingEndpoint, ''),
        {
          annotations: [{ value: props.ttftAlarmMs, label: 'alarm (p99)' }],
        },
      ),
      ...otherEndpoints.map((e) =>
        graph(
          `Time to first token, ${e} (ms)`,
          Math.floor(HALF / otherEndpoints.length),
          percentiles(METRICS.timeToFirstToken, e, ''),
        ),
      ),
    ],
    [
      graph(
        'Latency (ms)',
        THIRD,
        chatEndpoints.flatMap((e) => percentiles(METRICS.latency, e, `${e} `)),
      ),
      graph(
        'Requests and errors',
        THIRD,
        chatEndpoints.flatMap((e) =>
          totals(e, [
            [METRICS.requests, 'requests'],
            [METRICS.errors, 'errors'],
          ]),
        ),
      ),
      graph(
        'Tokens',
        THIRD,
        chatEndpoints.flatMap((e) =>
          totals(e, [
            [METRICS.inputTokens, 'input'],
            [METRICS.outputTokens, 'output'],
          ]),
        ),
      ),
    ],
  ];
}

function breakerRows({ metrics, models }: OperationsDashboardProps): IWidget[][] {
  const { CLOSED, HALF_OPEN, OPEN } = BREAKER_STATE_VALUE;
  return [
    section('Circuit breakers'),
    [
      graph(
        `Breaker state (${CLOSED} closed, ${HALF_OPEN} half-open, ${OPEN} open)`,
        THIRD,
        models.map((model) =>
          metrics.metric(METRICS.breakerState, { model }, Stats.MAXIMUM).with({ label: modelLabel(model) }),
        ),
        { annotations: [{ value: OPEN, label: 'open' }], leftYAxis: { min: 0, max: OPEN } },
      ),
      graph('Breaker transitions', THIRD, [
        new MathExpression({
          expression: metrics.search(METRICS.breakerTransition, {}, Stats.SUM),
          label: "${PROP('Dim.model')} ${PROP('Dim.from')} → ${PROP('Dim.to')}",
          period: PERIOD,
        }),
      ]),
      // Calls a model's quota (`models.quotas`) turned away before calling it: steady refusals mean the quota, not
      // the model, limits the API (raise it in Service Quotas, then in the configuration).
      graph(
        'Model quota refusals',
        THIRD,
        models.map((model) =>
          metrics.metric(METRICS.modelQuotaRefusals, { model }, Stats.SUM).with({ label: modelLabel(model) }),
        ),
      ),
    ],
  ];
}

function reportRows(props: OperationsDashboardProps): IWidget[][] {
  const { metrics } = props;
  const sums = (specs: MetricSpec[]) => specs.map((spec) => metrics.metric(spec, {}, Stats.SUM, spec.name));
  const deadLetterQueues = props.deadLetterQueues ?? [];
  const workQueues = Object.entries(props.workQueues ?? {});
  const max = { period: PERIOD, statistic: Stats.MAXIMUM };
  return [
    section('Reports'),
    [
      graph(
        'Report outcomes',
        THIRD,
        sums([
          METRICS.reportsCompleted,
          METRICS.reportsFailed,
          METRICS.reportsExhausted,
          METRICS.reportRetries,
          METRICS.reportsPaced,
          METRICS.reportEventsRepublished,
        ]),
      ),
      graph('Report turnaround (ms)', THIRD, [
        metrics.metric(METRICS.reportTurnaround, {}, Stats.p(50), 'p50'),
        metrics.metric(METRICS.reportTurnaround, {}, Stats.p(99), 'p99'),
      ]),
      graph(
        'Webhooks',
        THIRD,
        sums([METRICS.webhooksDelivered, METRICS.webhooksDeadLettered, METRICS.webhookAttempts]),
      ),
    ],
    [
      graph(
        'Dead-letter queues (messages visible)',
        HALF,
        deadLetterQueues.map((d) => d.queue.metricApproximateNumberOfMessagesVisible({ ...max, label: d.name })),
      ),
      graph(
        'Work queues',
        HALF,
        workQueues.map(([label, q]) =>
          q.metricApproximateNumberOfMessagesVisible({ ...max, label: `${label} visible` }),
        ),
        {
          right: workQueues.map(([label, q]) =>
            q.metricApproximateAgeOfOldestMessage({ ...max, label: `${label} oldest (s)` }),
          ),
        },
      ),
    ],
  ];
}

/**
 * CSAT: the share of `up` among the ratings of each endpoint's requests (`POST /feedback`), over every model, with the
 * count of each rating beside it; and the request records that could not be written (those requests cannot be rated).
 */
function satisfactionRows(props: OperationsDashboardProps): IWidget[][] {
  const { metrics, ratedEndpoints } = props;
  const csat = ratedEndpoints.map((endpoint, i) => {
    const [up, down] = RATINGS.map((rating) => metrics.total(METRICS.feedback, { endpoint, rating }, rating));
    return new MathExpression({
      expression: `100 * up${i} / (up${i} + down${i})`,
      usingMetrics: { [`up${i}`]: up, [`down${i}`]: down },
      label: `${endpoint} CSAT`,
      period: PERIOD,
    });
  });
  const ratings = RATINGS.map((rating) => metrics.total(METRICS.feedback, { rating }, `${rating} ratings`));
  return [
    section('Satisfaction'),
    [
      graph('CSAT: share of "up" ratings by endpoint (%, left) and ratings (right)', HALF, csat, {
        leftYAxis: { max: 100 },
        right: ratings,
      }),
      graph('Request records not written (those requests cannot be rated)', HALF, [
        metrics.metric(METRICS.requestRecordErrors, {}, Stats.SUM, METRICS.requestRecordErrors.name),
      ]),
    ],
  ];
}

/**
 * The response cache, by endpoint (the chat endpoints and `reports`): the share of lookups that were hits, the tokens
 * the served answers would have cost, lookups skipped, and answers it served when no model could answer.
 */
function cacheRows({ metrics, ratedEndpoints }: OperationsDashboardProps): IWidget[][] {
  const hitRate = ratedEndpoints.map((endpoint, i) => {
    const hits = metrics.metric(METRICS.cacheHits, { endpoint }, Stats.SUM, 'hits');
    const misses = metrics.metric(METRICS.cacheMisses, { endpoint }, Stats.SUM, 'misses');
    return new MathExpression({
      expression: `100 * FILL(h${i}, 0) / (FILL(h${i}, 0) + FILL(m${i}, 0))`,
      usingMetrics: { [`h${i}`]: hits, [`m${i}`]: misses },
      label: `${endpoint} hit rate`,
      period: PERIOD,
    });
  });
  const saved = ratedEndpoints.map((endpoint) =>
    metrics.metric(METRICS.cacheTokensSaved, { endpoint }, Stats.SUM, `tokens saved (${endpoint})`),
  );
  const dollarsSaved = ratedEndpoints.map((endpoint) =>
    metrics.metric(METRICS.cacheUsdSaved, { endpoint }, Stats.SUM, `USD saved (${endpoint})`),
  );
  const skipped = ratedEndpoints.flatMap((endpoint) => [
    metrics.metric(METRICS.cacheBypasses, { endpoint }, Stats.SUM, `bypassed (${endpoint})`),
    metrics.metric(METRICS.cacheFallbacks, { endpoint }, Stats.SUM, `served as fallback (${endpoint})`),
  ]);
  return [
    section('Response cache'),
    [
      graph('Cache hit rate by endpoint (%)', THIRD, hitRate, { leftYAxis: { min: 0, max: 100 } }),
      graph('Saved by hits and fallbacks: tokens (left), USD at models.prices (right)', THIRD, saved, {
        right: dollarsSaved,
      }),
      graph('Lookups bypassed (Cache-Control, sampling settings), answers served as a fallback, errors', THIRD, [
        ...skipped,
        metrics.metric(METRICS.cacheErrors, {}, Stats.SUM, METRICS.cacheErrors.name),
        metrics.metric(METRICS.cacheEntriesTooLarge, {}, Stats.SUM, 'answers too large to store'),
      ]),
    ],
  ];
}

/** What cancels stopped (streams, reports) and the output tokens they spared; stream log writes that failed. */
function cancellationRows({ metrics }: OperationsDashboardProps): IWidget[][] {
  const kinds = Object.values(CANCEL_KINDS);
  return [
    section('Cancellation and the stream log'),
    [
      graph(
        'Cancelled, by kind (left), and output tokens spared by cancels (right)',
        HALF,
        kinds.map((kind) => metrics.metric(METRICS.cancelled, { kind }, Stats.SUM, `${kind}s cancelled`)),
        {
          right: kinds.map((kind) =>
            metrics.metric(METRICS.tokensSavedByCancel, { kind }, Stats.SUM, `tokens saved (${kind})`),
          ),
        },
      ),
      graph('Stream log writes failed (those streams cannot be resumed or cancelled)', HALF, [
        metrics.metric(METRICS.streamLogErrors, {}, Stats.SUM, METRICS.streamLogErrors.name),
      ]),
    ],
  ];
}

function apiRows(restApi: IRestApi): IWidget[][] {
  const stage = restApi.deploymentStage;
  return [
    section('API Gateway'),
    [
      graph('Requests and errors', HALF, [
        stage.metricCount({ period: PERIOD, statistic: Stats.SUM, label: 'requests' }),
        stage.metricClientError({ period: PERIOD, statistic: Stats.SUM, label: '4xx' }),
        stage.metricServerError({ period: PERIOD, statistic: Stats.SUM, label: '5xx' }),
      ]),
      graph('Latency (ms; a stream counts until its end)', HALF, [
        stage.metricLatency({ period: PERIOD, statistic: Stats.p(50), label: 'p50' }),
        stage.metricLatency({ period: PERIOD, statistic: Stats.p(99), label: 'p99' }),
        stage.metricIntegrationLatency({ period: PERIOD, statistic: Stats.p(99), label: 'integration p99' }),
      ]),
    ],
  ];
}

function lambdaRows(functions: Readonly<Record<string, IFunction>>): IWidget[][] {
  const entries = Object.entries(functions);
  return [
    section('Lambda'),
    [
      graph(
        'Errors and throttles',
        THIRD,
        entries.flatMap(([label, fn]) => [
          fn.metricErrors({ period: PERIOD, statistic: Stats.SUM, label: `${label} errors` }),
          fn.metricThrottles({ period: PERIOD, statistic: Stats.SUM, label: `${label} throttles` }),
        ]),
      ),
      graph(
        'Duration p99 (ms)',
        THIRD,
        entries.map(([label, fn]) => fn.metricDuration({ period: PERIOD, statistic: Stats.p(99), label })),
      ),
      graph(
        'Concurrent executions (max)',
        THIRD,
        entries.map(([label, fn]) =>
          fn.metric('ConcurrentExecutions', { period: PERIOD, statistic: Stats.MAXIMUM, label }),
        ),
      ),
    ],
  ];
}

function tableRows(tables: Readonly<Record<string, ITable>>): IWidget[][] {
  const entries = Object.entries(tables);
  if (entries.length === 0) return [];
  return [
    section('DynamoDB'),
    [
      graph(
        'Throttled requests',
        HALF,
        entries.map(([label, t], i) => throttledRequests(t, `t${i}`, label)),
      ),
      graph(
        'Consumed capacity',
        HALF,
        entries.flatMap(([label, t]) => [
          t.metricConsumedReadCapacityUnits({ period: PERIOD, statistic: Stats.SUM, label: `${label} read` }),
          t.metricConsumedWriteCapacityUnits({ period: PERIOD, statistic: Stats.SUM, label: `${label} write` }),
        ]),
      ),
    ],
  ];
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

function graph(title: string, width: number, left: IMetric[], options: GraphOptions = {}): GraphWidget {
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

function section(title: string): IWidget[] {
  return [new TextWidget({ markdown: `## ${title}`, width: FULL, height: 1 })];
}
