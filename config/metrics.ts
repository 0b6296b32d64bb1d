/**
 * The catalogue of the metrics the functions emit (Powertools EMF) and the alarms and dashboard read: names, units and
 * dimensions in one place, so renaming a metric in a function cannot silently leave an alarm watching nothing.
 *
 * Plain TypeScript: the functions, the CDK app and the tests import it; it imports nothing.
 */

/** Endpoint ids: the `endpoint` dimension of the chat metrics and the `endpoint` field of the request log line. */
export const ENDPOINTS = { chatStream: 'chat-stream', chat: 'chat', openaiChat: 'openai-chat' } as const;
export type EndpointId = (typeof ENDPOINTS)[keyof typeof ENDPOINTS];

/**
 * Endpoint ids of the requests a user can rate (`POST /feedback`): the chat endpoints and reports. The `endpoint` of a
 * request record (config/tables.ts `requests`) and the `endpoint` dimension of the `Feedback` metric.
 */
export const RATED_ENDPOINTS = { ...ENDPOINTS, reports: 'reports' } as const;
export type RatedEndpointId = (typeof RATED_ENDPOINTS)[keyof typeof RATED_ENDPOINTS];

/** Dimension names. Every metric also carries Powertools' `service` dimension. */
export const DIMENSIONS = {
  endpoint: 'endpoint',
  model: 'model',
  from: 'from',
  to: 'to',
  rating: 'rating',
  kind: 'kind',
  plan: 'plan',
} as const;

/** Values of the `kind` dimension of `Cancelled`: what was cancelled. */
export const CANCEL_KINDS = { stream: 'stream', report: 'report' } as const;

/** CloudWatch units, spelled as Powertools' `MetricUnit` values (which are these strings). */
export type MetricUnitName = 'Count' | 'Milliseconds' | 'Count/Second' | 'None';

export interface MetricSpec {
  readonly name: string;
  readonly unit: MetricUnitName;
  /** Dimensions besides `service`. */
  readonly dimensions: readonly (keyof typeof DIMENSIONS)[];
}

const spec = (name: string, unit: MetricUnitName, dimensions: MetricSpec['dimensions'] = []): MetricSpec => ({
  name,
  unit,
  dimensions,
});

export const METRICS = {
  // One per chat request, dimensioned by endpoint and model (`lambda/core/observability.ts`).
  requests: spec('Requests', 'Count', ['endpoint', 'model']),
  errors: spec('Errors', 'Count', ['endpoint', 'model']),
  timeToFirstToken: spec('TimeToFirstToken', 'Milliseconds', ['endpoint', 'model']),
  latency: spec('Latency', 'Milliseconds', ['endpoint', 'model']),
  inputTokens: spec('InputTokens', 'Count', ['endpoint', 'model']),
  outputTokens: spec('OutputTokens', 'Count', ['endpoint', 'model']),
  outputTokensPerSecond: spec('OutputTokensPerSecond', 'Count/Second', ['endpoint', 'model']),
  // Bedrock prompt caching (`models.promptCaching`): input tokens read from and written to the prompt cache.
  cacheReadInputTokens: spec('CacheReadInputTokens', 'Count', ['endpoint', 'model']),
  cacheWriteInputTokens: spec('CacheWriteInputTokens', 'Count', ['endpoint', 'model']),
  // What each priced call cost, in US dollars (`models.prices`), by serving model and the caller's plan: a handful of
  // each, so the metric stays a few series (users are in the request log line, never a dimension). Reports included.
  costUsd: spec('CostUsd', 'None', ['model', 'plan']),
  // The shared circuit breaker, per model.
  breakerTransition: spec('BreakerTransition', 'Count', ['model', 'from', 'to']),
  breakerState: spec('BreakerState', 'None', ['model']),
  // Per-model quotas (`models.quotas`): one per call refused by a model's quota (it then tries the next model).
  modelQuotaRefusals: spec('ModelQuotaRefusals', 'Count', ['model']),
  // Reports and webhooks, per function.
  reportsCompleted: spec('ReportsCompleted', 'Count'),
  reportsFailed: spec('ReportsFailed', 'Count'),
  reportTurnaround: spec('ReportTurnaround', 'Milliseconds'),
  reportEventsRepublished: spec('ReportEventsRepublished', 'Count'),
  reportRetries: spec('ReportRetries', 'Count'),
  // A report job sent back to the queue to wait for room in the model quotas (not a retry: no delivery is used up).
  reportsPaced: spec('ReportsPaced', 'Count'),
  reportsExhausted: spec('ReportsExhausted', 'Count'),
  webhooksDelivered: spec('WebhooksDelivered', 'Count'),
  webhooksDeadLettered: spec('WebhooksDeadLettered', 'Count'),
  webhookAttempts: spec('WebhookAttempts', 'Count'),
  // Satisfaction: one per rating a user gives (`POST /feedback`), by the rated request's endpoint and serving model.
  feedback: spec('Feedback', 'Count', ['rating', 'model', 'endpoint']),
  // A request record (who may rate a request) that could not be written; the answer itself was not affected.
  requestRecordErrors: spec('RequestRecordErrors', 'Count'),
  // Cancellation (`POST /chat/stream/{requestId}/cancel`, `POST /reports/{id}/cancel`): one per request that stopped
  // because its owner cancelled it, by what was cancelled.
  cancelled: spec('Cancelled', 'Count', ['kind']),
  // Output tokens a cancel spared: the call's `maxTokens` reservation less the output tokens it had used.
  tokensSavedByCancel: spec('TokensSavedByCancel', 'Count', ['kind']),
  // A stream log write that failed: the live stream went on, but the log stopped for it (no resume, no cancel).
  streamLogErrors: spec('StreamLogErrors', 'Count'),
  // One per stream resumed from the stream log (`GET /chat/stream/{requestId}` answered 200).
  resumed: spec('Resumed', 'Count'),
  // The response cache (`cache.enabled`), by endpoint (a report worker's is `reports`): one of hits, misses and bypasses
  // per request that looked the cache up or skipped it; answers served from the cache when no model could answer; the
  // tokens the served answers would have cost (their stored usage, input plus output), and the dollars (that usage at
  // the producing model's `models.prices`, when it has one).
  cacheHits: spec('CacheHits', 'Count', ['endpoint']),
  cacheMisses: spec('CacheMisses', 'Count', ['endpoint']),
  cacheBypasses: spec('CacheBypasses', 'Count', ['endpoint']),
  cacheFallbacks: spec('CacheFallbacks', 'Count', ['endpoint']),
  cacheTokensSaved: spec('CacheTokensSaved', 'Count', ['endpoint']),
  cacheUsdSaved: spec('CacheUsdSaved', 'None', ['endpoint']),
  // A cache read or write that failed (the request went on: a failed read is a miss), and answers too large to store.
  cacheErrors: spec('CacheErrors', 'Count'),
  cacheEntriesTooLarge: spec('CacheEntriesTooLarge', 'Count'),
} as const satisfies Record<string, MetricSpec>;

/** Values of the `BreakerState` gauge. */
export const BREAKER_STATE_VALUE = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 } as const;
