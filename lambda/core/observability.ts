/**
 * Powertools logger and metrics, configured from the environment the stack sets (`POWERTOOLS_SERVICE_NAME`,
 * `POWERTOOLS_METRICS_NAMESPACE`, `POWERTOOLS_LOG_LEVEL`). Created once per function, at module scope.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricResolution, Metrics } from '@aws-lambda-powertools/metrics';
import { DIMENSIONS, METRICS, type MetricSpec } from '../../config/metrics';
import type { ChatMetrics, ChatResult } from './chat';
import { type ApiError, toApiError } from './errors';
import type { RequestRecorder } from './feedback';
import { ClientGoneError } from './model-attempt';
import type { TokenUsage } from './model';

export function createLogger(): Logger {
  return new Logger();
}

export function createMetrics(): Metrics {
  return new Metrics();
}

/** The `model` dimension of the request metrics of an answer served from the response cache. */
export const CACHED_MODEL_DIMENSION = 'cache';

export interface ChatMeasurement {
  endpoint: string;
  model: string;
  metrics?: ChatMetrics;
  usage?: TokenUsage;
  /** `ok`, or the error code the client saw. */
  outcome: string;
}

/**
 * One EMF blob per request, dimensioned by endpoint and model. TTFT is high resolution (1 s) because it is the number
 * this API exists to keep low, and spikes shorter than a minute matter.
 */
export function recordChatMetrics(metrics: Metrics, m: ChatMeasurement): void {
  metrics.addDimensions({ [DIMENSIONS.endpoint]: m.endpoint, [DIMENSIONS.model]: m.model });
  addMetric(metrics, METRICS.requests, 1);
  if (m.outcome !== 'ok') addMetric(metrics, METRICS.errors, 1);
  if (m.metrics) {
    addMetric(metrics, METRICS.timeToFirstToken, m.metrics.ttftMs, MetricResolution.High);
    addMetric(metrics, METRICS.latency, m.metrics.latencyMs);
  }
  if (m.usage) {
    addMetric(metrics, METRICS.inputTokens, m.usage.inputTokens);
    addMetric(metrics, METRICS.outputTokens, m.usage.outputTokens);
    if (m.usage.cacheReadInputTokens !== undefined)
      addMetric(metrics, METRICS.cacheReadInputTokens, m.usage.cacheReadInputTokens);
    if (m.usage.cacheWriteInputTokens !== undefined)
      addMetric(metrics, METRICS.cacheWriteInputTokens, m.usage.cacheWriteInputTokens);
    if (m.metrics) {
      const generationMs = m.metrics.latencyMs - m.metrics.ttftMs;
      if (generationMs > 0 && m.usage.outputTokens > 0) {
        addMetric(metrics, METRICS.outputTokensPerSecond, (m.usage.outputTokens * 1000) / generationMs);
      }
    }
  }
}

/**
 * The `CostUsd` metric of one priced call, in its own EMF blob: its dimensions (model and plan) are not those of the
 * request's other metrics (endpoint and model).
 */
export function recordCost(metrics: Pick<Metrics, 'singleMetric'>, model: string, plan: string, costUsd: number): void {
  const single = metrics.singleMetric();
  single.addDimensions({ [DIMENSIONS.model]: model, [DIMENSIONS.plan]: plan });
  addMetric(single, METRICS.costUsd, costUsd);
}

/** Adds a metric of the catalogue (`config/metrics.ts`), with the name and unit the alarms and dashboard expect. */
export function addMetric(
  metrics: Pick<Metrics, 'addMetric'>,
  spec: MetricSpec,
  value: number,
  resolution: Parameters<Metrics['addMetric']>[3] = MetricResolution.Standard,
): void {
  metrics.addMetric(spec.name, spec.unit as Parameters<Metrics['addMetric']>[1], value, resolution);
}

export interface ChatRequestOutcome {
  endpoint: string;
  requestId: string;
  userId?: string;
  /** The caller's plan: the `plan` dimension of `CostUsd`. */
  plan?: string;
  model?: string;
  status: number;
  result?: ChatResult;
  /** The error code the client saw, if any. */
  errorCode?: string;
  /** The error behind it: its innermost cause (an upstream exception's name and message) is logged, never sent. */
  error?: unknown;
  /** The end user the client named (OpenAI's `user`): logged for the operator, never sent to the model. */
  clientUser?: string;
}

/** The innermost cause of an error, as `{name, message}`: what the upstream service said, for the operator. */
export function rootCauseOf(err: unknown): { name: string; message: string } | undefined {
  let current = err;
  for (let depth = 0; depth < 5 && current instanceof Error && current.cause !== undefined; depth++)
    current = current.cause;
  if (!(current instanceof Error) || current === err) return undefined;
  return { name: current.name, message: current.message.slice(0, 300) };
}

/**
 * The one log line and the metrics of a chat request, then the metrics flush. Never logs prompts, answers or keys.
 */
export function reportChatRequest(logger: Logger, metrics: Metrics, o: ChatRequestOutcome): void {
  logger.info('request completed', {
    endpoint: o.endpoint,
    requestId: o.requestId,
    user_id: o.userId,
    model: o.model,
    status: o.status,
    ttft: o.result?.metrics.ttftMs,
    latency: o.result?.metrics.latencyMs,
    input_tokens: o.result?.usage.inputTokens,
    output_tokens: o.result?.usage.outputTokens,
    cache_read_input_tokens: o.result?.usage.cacheReadInputTokens,
    cache_write_input_tokens: o.result?.usage.cacheWriteInputTokens,
    // The dashboard's top users by spend sum this field by `user_id` (CloudWatch Logs Insights).
    cost_usd: o.result?.costUsd,
    plan: o.plan,
    error: o.errorCode,
    error_cause: rootCauseOf(o.error),
    ...(o.result?.cached ? { cached: true } : {}),
    ...(o.clientUser === undefined ? {} : { client_user: o.clientUser }),
  });
  // An answer from the response cache called no model: it is counted under the model `cache`, so it neither flatters
  // a model's TTFT nor adds tokens no model used (the cache's own metrics count the tokens it saved).
  const cached = o.result?.cached === true;
  recordChatMetrics(metrics, {
    endpoint: o.endpoint,
    model: cached ? CACHED_MODEL_DIMENSION : (o.model ?? 'none'),
    metrics: o.result?.metrics,
    usage: cached ? undefined : o.result?.usage,
    outcome: o.errorCode ?? 'ok',
  });
  if (o.result?.costUsd !== undefined && o.model !== undefined)
    recordCost(metrics, o.model, o.plan ?? 'none', o.result.costUsd);
  metrics.publishStoredMetrics();
}

/**
 * What one chat request did, filled in as it goes, for its one log line and metrics, and for its request record (who
 * may rate it, `lambda/core/feedback.ts`): the same bookkeeping for every chat endpoint, whatever its wire format.
 */
export class ChatRequestRecord {
  userId?: string;
  /** The caller's plan (the `plan` dimension of `CostUsd`). */
  plan?: string;
  model?: string;
  status = 200;
  result?: ChatResult;
  errorCode?: string;
  /** OpenAI's `user`: the client's own end user, logged as `client_user`. */
  clientUser?: string;
  private failure: unknown;
  private recording?: Promise<unknown>;

  /**
   * @param requests where the request record is written; unset: none is (the request cannot be rated)
   */
  constructor(
    private readonly endpoint: string,
    private readonly requestId: string,
    private readonly requests?: Pick<RequestRecorder, 'record'>,
  ) {}

  /**
   * The model answered: the one that served. The request record is written from here on, beside the writes that
   * settle the call, and long after the first token.
   */
  answered(result: ChatResult): void {
    this.result = result;
    this.model = result.model;
    this.remember();
  }

  /**
   * Records how the request failed and returns the error to answer with; undefined when the client had gone (nothing
   * is answered, and the model is not blamed). A bug is logged with its stack.
   */
  failed(err: unknown, logger: Pick<Logger, 'error'>): ApiError | undefined {
    if (err instanceof ClientGoneError) {
      this.status = 499;
      this.errorCode = 'CLIENT_CLOSED';
      return undefined;
    }
    const apiErr = toApiError(err);
    this.errorCode = apiErr.code;
    this.failure = err;
    if (apiErr.code === 'INTERNAL_ERROR') logger.error('unexpected error', { error: err as Error });
    return apiErr;
  }

  /**
   * Waits for the request record, starting it if the request has an owner and a model by now (a request that reached a
   * model is recorded even when it failed: its owner may rate the failure). A streaming function awaits it before it
   * closes the stream, so a client that has read the end can rate the answer at once. Never throws: a record that
   * could not be written is logged and counted.
   */
  async recorded(): Promise<void> {
    this.remember();
    await this.recording;
  }

  /**
   * Waits for the request record ({@link recorded}), then writes the log line and the metrics. The function must await
   * it before it returns, or Lambda may freeze the write half-done.
   */
  async report(logger: Logger, metrics: Metrics): Promise<void> {
    await this.recorded();
    reportChatRequest(logger, metrics, {
      endpoint: this.endpoint,
      requestId: this.requestId,
      userId: this.userId,
      plan: this.plan,
      model: this.model,
      status: this.status,
      result: this.result,
      errorCode: this.errorCode,
      error: this.failure,
      clientUser: this.clientUser,
    });
  }

  /** Starts the request record once, as soon as the request has an owner and a model. */
  private remember(): void {
    if (this.recording || !this.requests || this.userId === undefined || this.model === undefined) return;
    const { requestId, endpoint, userId, model } = this;
    this.recording = this.requests.record({ requestId, userId, endpoint, model });
  }
}

/** Aborted when the client disconnects, where the platform says so (the local gateway does; Lambda does not). */
export function clientDisconnect(responseStream: NodeJS.EventEmitter): AbortSignal {
  const gone = new AbortController();
  responseStream.on('close', () => gone.abort());
  responseStream.on('error', () => gone.abort());
  return gone.signal;
}
