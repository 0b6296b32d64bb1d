/**
 * Which failures count against a model's circuit breaker. Pure: no I/O, no clock.
 *
 * The line is drawn at "would this failure happen to any request sent to this model right now?":
 *
 * | Kind | Examples | Counts |
 * | --- | --- | --- |
 * | `throttled` | `ThrottlingException`, `ServiceQuotaExceededException`, HTTP 429 | yes |
 * | `server` | `InternalServerException`, `ServiceUnavailableException`, `ModelNotReadyException`, HTTP 5xx, `$fault: 'server'` | yes |
 * | `timeout` | `ModelTimeoutException`, {@link TtftTimeoutError}, `TimeoutError`, HTTP 408 | yes |
 * | `stream` | `ModelStreamErrorException`, `ModelErrorException`, our `ModelStreamError` without a cause | yes |
 * | `unusable` | `AccessDeniedException`, `ResourceNotFoundException`, `UnrecognizedClientException`, `ExpiredTokenException` | yes |
 * | `network` | `ECONNRESET`, `ECONNREFUSED`, `ETIMEDOUT`, HTTP/2 session errors | yes |
 * | `invalid-request` | `ValidationException`, other HTTP 4xx, our `ValidationError` / `PayloadTooLargeError` | no |
 * | `aborted` | `AbortError` (the client went away) | no |
 * | `limit` | `TokenBudgetExceededError` and `ModelQuotaExceededError` (decided before any model call),
 *   `DeadlineExceededError` (the call outlived our own deadline: a healthy model can be slower than a synchronous
 *   request may wait) | no |
 * | `internal` | anything else, e.g. a `TypeError` in our code | no |
 *
 * `AccessDeniedException` counts: on Bedrock it means this account cannot use this model (access not granted, model
 * not offered in the region, credentials rejected). That is true for every request, exactly like an outage, so opening
 * the model's breaker sends traffic straight to the fallback instead of paying a doomed round trip per request. The
 * transition is logged and counted as a metric, so the misconfiguration stays visible.
 *
 * `ValidationException` does not count: it depends on the request (too many tokens, a bad parameter), and one user's
 * bad requests must not take the model away from everyone.
 *
 * Unknown errors do not count: a bug in our code is not the model's failure. Wrapped errors are judged by their `cause`
 * when they have one (an `AbortError` whose cause is a {@link TtftTimeoutError} is a timeout, not a client abort).
 */

import { errorFacts, NETWORK_ERROR_CODES } from './error-facts';

/** Why a call failed, as far as the breaker is concerned. */
export type OutcomeKind =
  | 'throttled'
  | 'server'
  | 'timeout'
  | 'stream'
  | 'unusable'
  | 'network'
  | 'invalid-request'
  | 'aborted'
  | 'limit'
  | 'internal';

export interface OutcomeClass {
  readonly kind: OutcomeKind;
  /** True when the failure counts toward the breaker's failure rate. */
  readonly counts: boolean;
  /** The error's name (or code) that decided the kind, for logs. */
  readonly name: string;
}

/**
 * Thrown (or used as the abort reason) by the chat core when a model's first token has not arrived within
 * `chat.ttftTimeoutMs`. Counts as a timeout.
 */
export class TtftTimeoutError extends Error {
  constructor(
    readonly modelId: string,
    readonly timeoutMs: number,
  ) {
    super(`No first token from ${modelId} within ${timeoutMs} ms`);
    this.name = 'TtftTimeoutError';
  }
}

const COUNTING_KINDS: ReadonlySet<OutcomeKind> = new Set([
  'throttled',
  'server',
  'timeout',
  'stream',
  'unusable',
  'network',
]);

const BY_NAME: Readonly<Record<string, OutcomeKind>> = {
  ThrottlingException: 'throttled',
  TooManyRequestsException: 'throttled',
  ServiceQuotaExceededException: 'throttled',
  InternalServerException: 'server',
  InternalServerError: 'server',
  ServiceUnavailableException: 'server',
  ServiceUnavailable: 'server',
  ModelNotReadyException: 'server',
  ModelTimeoutException: 'timeout',
  TimeoutError: 'timeout',
  TtftTimeoutError: 'timeout',
  RequestTimeout: 'timeout',
  RequestTimeoutException: 'timeout',
  ModelStreamErrorException: 'stream',
  ModelErrorException: 'stream',
  ModelStreamError: 'stream',
  StreamTruncatedError: 'stream',
  AccessDeniedException: 'unusable',
  ResourceNotFoundException: 'unusable',
  UnrecognizedClientException: 'unusable',
  ExpiredTokenException: 'unusable',
  ValidationException: 'invalid-request',
  SerializationException: 'invalid-request',
  ValidationError: 'invalid-request',
  PayloadTooLargeError: 'invalid-request',
  ForbiddenError: 'invalid-request',
  AbortError: 'aborted',
  TokenBudgetExceededError: 'limit',
  ModelQuotaExceededError: 'limit',
  DeadlineExceededError: 'limit',
  // Our own errors that carry a 5xx status but say nothing about the model.
  ModelUnavailableError: 'internal',
  InternalError: 'internal',
};

/** Error types whose cause, when present, says more than the wrapper does. */
const WRAPPERS: ReadonlySet<string> = new Set(['AbortError', 'ModelStreamError']);

function make(kind: OutcomeKind, name: string): OutcomeClass {
  return { kind, counts: COUNTING_KINDS.has(kind), name };
}

function byStatus(status: number, name: string): OutcomeClass | undefined {
  if (status === 429) return make('throttled', name);
  if (status === 408) return make('timeout', name);
  if (status >= 500 && status <= 599) return make('server', name);
  if (status >= 400 && status <= 499) return make('invalid-request', name);
  return undefined;
}

/**
 * Classifies an error raised by (or around) a model call.
 *
 * @example
 * ```ts
 * classifyOutcome(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
 * // { kind: 'throttled', counts: true, name: 'ThrottlingException' }
 * ```
 */
export function classifyOutcome(err: unknown, depth = 0): OutcomeClass {
  if (err === null || typeof err !== 'object') return make('internal', typeof err);
  const facts = errorFacts(err);
  const name = facts.name ?? 'Error';

  if (WRAPPERS.has(name) && depth < 5 && facts.cause !== undefined) {
    const inner = classifyOutcome(facts.cause, depth + 1);
    // A cause we know nothing about does not override what the wrapper itself says.
    if (inner.kind !== 'internal') return inner;
  }

  const named = BY_NAME[name];
  if (named) return make(named, name);

  if (facts.code && NETWORK_ERROR_CODES.has(facts.code)) return make('network', facts.code);
  if (facts.code === 'ABORT_ERR') return make('aborted', facts.code);

  if (facts.httpStatus !== undefined) {
    const fromStatus = byStatus(facts.httpStatus, name);
    if (fromStatus) return fromStatus;
  }

  // An AWS service exception we have no entry for: the SDK tells us whose fault it was.
  if (facts.fault === 'server') return make('server', name);
  if (facts.fault === 'client') return make('invalid-request', name);

  return make('internal', name);
}
