/**
 * Errors as types. Every error a client can see is an {@link ApiError}: it knows its HTTP status, its stable `code`,
 * whether retrying can help, and (where known) when to retry. The mapping to HTTP, SSE and queue outcomes lives in
 * `http.ts` and the handlers; nothing else formats error bodies.
 */

import type { z } from 'zod';
import type { errorBodySchema } from '../../config/responses';
import { errorFacts, NETWORK_ERROR_CODES, THROTTLING_NAMES } from './error-facts';
import type { CallLimits } from './guards';

/** `{"error":{"code","message","retryable"}}`, as the contract's schema (config/responses.ts) describes it. */
export type ErrorBody = z.infer<typeof errorBodySchema>;

export abstract class ApiError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  abstract readonly retryable: boolean;
  /** Seconds after which a retry may succeed; sent as `Retry-After`. */
  readonly retryAfterSeconds?: number;

  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  /** {@link retryAfterSeconds} as whole seconds, at least 1, as `Retry-After` (and an SSE `error` event) carries it. */
  get retryAfterWholeSeconds(): number | undefined {
    return this.retryAfterSeconds === undefined ? undefined : Math.max(1, Math.ceil(this.retryAfterSeconds));
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, retryable: this.retryable } };
  }
}

/** The request is malformed; the message names the field. */
export class ValidationError extends ApiError {
  readonly status = 400;
  readonly code = 'VALIDATION_ERROR';
  readonly retryable = false;
}

/** The API key is valid at the gateway but belongs to no registered user. */
export class ForbiddenError extends ApiError {
  readonly status = 403;
  readonly code = 'FORBIDDEN';
  readonly retryable = false;
}

export class NotFoundError extends ApiError {
  readonly status = 404;
  readonly code = 'NOT_FOUND';
  readonly retryable = false;
}

/** The request body is larger than the configured limits allow. */
export class PayloadTooLargeError extends ApiError {
  readonly status = 413;
  readonly code = 'PAYLOAD_TOO_LARGE';
  readonly retryable = false;
}

/** The user's token budget for the current window is spent. */
export class TokenBudgetExceededError extends ApiError {
  readonly status = 429;
  readonly code = 'TOKEN_BUDGET_EXCEEDED';
  readonly retryable = true;
}

/**
 * The user's dollar budget (`plans.<plan>.usdPerDay` or `usdPerMonth`) has no room for the call's cost estimate:
 * refused before the model is called, never counted against a model's breaker. `Retry-After` is when the UTC day or
 * month ends; none when the call alone would cost more than the budget.
 */
export class CostBudgetExceededError extends ApiError {
  readonly status = 429;
  readonly code = 'COST_BUDGET_EXCEEDED';
  readonly retryable = true;
}

/** No model can serve right now (breakers open, or every model failed before producing content). */
export class ModelUnavailableError extends ApiError {
  readonly status = 503;
  readonly code = 'MODEL_UNAVAILABLE';
  readonly retryable = true;
}

/** A dependency of ours (the job queue, a table) failed; nothing was changed, and the same request may be retried. */
export class ServiceUnavailableError extends ApiError {
  readonly status = 503;
  readonly code = 'SERVICE_UNAVAILABLE';
  readonly retryable = true;
}

/** The model failed after it had produced content; only reported in-band (SSE `error`) or as a failed report. */
export class ModelStreamError extends ApiError {
  readonly status = 502;
  readonly code = 'MODEL_STREAM_ERROR';
  readonly retryable = true;
}

/** The call ran out of time (the function's deadline or the stream's maximum duration). */
export class DeadlineExceededError extends ApiError {
  readonly status = 504;
  readonly code = 'DEADLINE_EXCEEDED';
  readonly retryable = true;
}

/** A bug: never expected, always logged. Clients see a generic message. */
export class InternalError extends ApiError {
  readonly status = 500;
  readonly code = 'INTERNAL_ERROR';
  readonly retryable = true;
}

/**
 * Whether an error is an outage of a service we depend on (DynamoDB, SQS, EventBridge, Secrets Manager): the SDK marks
 * server faults with `$fault: 'server'`; throttling and network errors are outages too. Retrying later can succeed.
 */
export function isDependencyOutage(err: unknown): boolean {
  const { name, code, fault } = errorFacts(err);
  return (
    fault === 'server' ||
    (name !== undefined && (THROTTLING_NAMES.has(name) || name === 'TimeoutError')) ||
    (code !== undefined && NETWORK_ERROR_CODES.has(code))
  );
}

/**
 * Normalises anything thrown into an {@link ApiError}. An outage of a backing service becomes a retryable
 * {@link ServiceUnavailableError} (503); anything else unknown is a bug, {@link InternalError}.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isDependencyOutage(err)) {
    return new ServiceUnavailableError('A backing service is unavailable; retry shortly', {
      cause: err,
      retryAfterSeconds: 1,
    });
  }
  return new InternalError('An unexpected error occurred', { cause: err });
}

/** An `Idempotency-Key` was reused, within its validity, for a different request body. */
export class IdempotencyKeyReusedError extends ApiError {
  readonly status = 422;
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  readonly retryable = false;
}

/**
 * The owner cancelled the request (`POST /chat/stream/{requestId}/cancel`): the model call was stopped and the budget
 * settled with the tokens used. Only ever reported in-band (SSE `error`, OpenAI's error chunk) or to a non-streaming
 * OpenAI call still waiting, with 499 (the client's own request ended it, as nginx's "client closed request").
 */
export class CancelledError extends ApiError {
  readonly status = 499;
  readonly code = 'CANCELLED';
  readonly retryable = false;
}

/** What a finished stream or report ended as, in an {@link AlreadyFinishedError}. */
export type FinishedStatus = 'COMPLETED' | 'FAILED' | 'CANCELLED';

/** A cancel reached a stream or report that had already ended: `409`, with the final `status` in the body. */
export class AlreadyFinishedError extends ApiError {
  readonly status = 409;
  readonly code = 'ALREADY_FINISHED';
  readonly retryable = false;

  constructor(
    message: string,
    readonly finalStatus: FinishedStatus,
  ) {
    super(message);
  }

  override toBody(): ErrorBody {
    const body = super.toBody();
    return { error: { ...body.error, status: this.finalStatus } } as ErrorBody;
  }
}

/** The stream is past its retention (`streams.retentionMinutes`): it can no longer be resumed or cancelled. */
export class StreamExpiredError extends ApiError {
  readonly status = 410;
  readonly code = 'STREAM_EXPIRED';
  readonly retryable = false;
}

/**
 * A resumed stream could not be followed to its end: its writer stopped updating the stream log before it finished
 * (the function died, or the log could not be written), or the resuming function ran out of time. Only ever in-band
 * (an SSE `error` event of `GET /chat/stream/{requestId}`), as the resumed stream has committed to `200`. Retryable: a
 * later resume with the last event id continues where this one stopped. Not retryable when the log is final but holds
 * no `end` or `error` (the writer stopped generating without a last event, as when the platform reported its client
 * gone): a later resume would read the same.
 */
export class StreamInterruptedError extends ApiError {
  readonly status = 503;
  readonly code = 'STREAM_INTERRUPTED';
  readonly retryable: boolean;

  constructor(message: string, options: { retryable?: boolean } = {}) {
    super(message);
    this.retryable = options.retryable ?? true;
  }
}

/**
 * Every model the call may use is over its shared per-model quota (`models.quotas`): our own limit, taken before the
 * model is called so that Bedrock never has to throttle. `Retry-After` is when the quota has room again. Never counts
 * against a model's circuit breaker.
 */
export class ModelQuotaExceededError extends ApiError {
  readonly status = 429;
  readonly code = 'MODEL_QUOTA_EXCEEDED';
  readonly retryable = true;
  /** The quota that will have room soonest is one of requests or of tokens per minute. */
  readonly limit?: 'requestsPerMinute' | 'tokensPerMinute';

  constructor(
    message: string,
    options: { retryAfterSeconds?: number; limit?: 'requestsPerMinute' | 'tokensPerMinute' } = {},
  ) {
    super(message, { retryAfterSeconds: options.retryAfterSeconds });
    this.limit = options.limit;
  }
}

/**
 * The user already has `plans.<plan>.maxConcurrentRequests` model calls in flight: refused before anything committed
 * (no stream, no model call, no budget held). Retryable: a slot frees as soon as one of those calls ends.
 */
export class ConcurrencyLimitExceededError extends ApiError {
  readonly status = 429;
  readonly code = 'CONCURRENCY_LIMIT_EXCEEDED';
  readonly retryable = true;
  /** The user's limits at the refusal, for the rate-limit headers of the answer. */
  readonly limits?: CallLimits;

  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number; limits?: CallLimits }) {
    super(message, options);
    this.limits = options?.limits;
  }
}
