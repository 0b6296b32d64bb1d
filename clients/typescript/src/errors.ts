/**
 * Every failure the client reports is a {@link GenAIError}: a non-2xx answer, a network failure, a stream that ended
 * without `end` or `error`, a wait that ran out of time. Aborts are the one exception: they reject with the signal's
 * own reason (a `DOMException` named `AbortError`), as `fetch` does.
 */

/**
 * The error codes a client can meet. The API's own (README.md, "Errors"; `lambda/core/errors.ts`), the ones this client
 * gives API Gateway's `{"message": …}` answers, and the ones the client raises itself. Any other string may appear
 * too: a newer API can add codes.
 */
export type GenAIErrorCode =
  // The API's error bodies.
  | 'VALIDATION_ERROR'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'TOKEN_BUDGET_EXCEEDED'
  | 'COST_BUDGET_EXCEEDED'
  | 'CONCURRENCY_LIMIT_EXCEEDED'
  | 'MODEL_QUOTA_EXCEEDED'
  | 'SERVICE_UNAVAILABLE'
  | 'MODEL_UNAVAILABLE'
  | 'MODEL_STREAM_ERROR'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED'
  | 'ALREADY_FINISHED'
  | 'STREAM_EXPIRED'
  | 'INTERNAL_ERROR'
  // API Gateway's own answers (`{"message": …}`): 401, 403, 429, and any other status.
  | 'UNAUTHORIZED'
  | 'THROTTLED'
  | 'GATEWAY_ERROR'
  // Raised by the client.
  | 'NETWORK_ERROR'
  | 'TIMEOUT'
  // Raised by the client, and sent by the API when a resumed stream's writer stopped.
  | 'STREAM_INTERRUPTED'
  | 'INVALID_RESPONSE'
  | (string & {});

export interface GenAIErrorOptions {
  /** HTTP status; 0 when no answer arrived. */
  status: number;
  code: GenAIErrorCode;
  retryable: boolean;
  retryAfterSeconds?: number;
  requestId?: string;
  finalStatus?: string;
  cause?: unknown;
}

export class GenAIError extends Error {
  /** HTTP status of the answer; 0 when none arrived (a network failure, a wait that timed out). */
  readonly status: number;
  /** The contract's error code, e.g. `VALIDATION_ERROR`, `TOKEN_BUDGET_EXCEEDED`, `MODEL_UNAVAILABLE`. */
  readonly code: GenAIErrorCode;
  /** Whether the same request may succeed later. */
  readonly retryable: boolean;
  /** When a retry may succeed, from `Retry-After` (seconds or an HTTP date). */
  readonly retryAfterSeconds?: number;
  /** The API's id of the request (`x-request-id`, or a stream's `start` event), for support and `feedback()`. */
  readonly requestId?: string;
  /**
   * On `ALREADY_FINISHED` (409): the state the stream or report had already reached, e.g. `COMPLETED`, `FAILED`,
   * `CANCELLED` (the error body's `status`).
   */
  readonly finalStatus?: string;

  constructor(message: string, options: GenAIErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GenAIError';
    this.status = options.status;
    this.code = options.code;
    this.retryable = options.retryable;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.requestId = options.requestId;
    if (options.finalStatus !== undefined) this.finalStatus = options.finalStatus;
  }
}

/**
 * `Retry-After` in seconds: delta-seconds, or an HTTP date counted from `now` (never negative). Undefined when the
 * header is absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  if (!/[a-z]/i.test(text)) return undefined; // a bare number in another form is no date either
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The longest part of a non-JSON error body quoted in a message. */
const QUOTED_BODY_CHARS = 200;

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * OpenAI's error codes (`GET /models`, `POST /chat/completions`) as this client's codes. The OpenAI routes answer
 * `{"error":{"message","type","param","code"}}`; the client speaks one vocabulary whichever route answered.
 */
const OPENAI_CODES: Readonly<Record<string, GenAIErrorCode>> = {
  invalid_api_key: 'UNAUTHORIZED',
  rate_limit_exceeded: 'TOKEN_BUDGET_EXCEEDED',
  insufficient_quota: 'COST_BUDGET_EXCEEDED',
  model_unavailable: 'MODEL_UNAVAILABLE',
  service_unavailable: 'SERVICE_UNAVAILABLE',
  model_not_found: 'NOT_FOUND',
  timeout: 'DEADLINE_EXCEEDED',
};

/** The code of an answer that carries no code of ours (API Gateway's own, a proxy's, an OpenAI body without one). */
function codeOfStatus(status: number): GenAIErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 429) return 'THROTTLED';
  return 'GATEWAY_ERROR';
}

/** Whether retrying can help after an answer with this status and no `retryable` of its own. */
const retryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500;

/**
 * The {@link GenAIError} of a non-2xx answer. Reads the body once, and never throws anything else: a body that is not
 * JSON, or JSON of another shape, still gives a code from the status.
 */
export async function errorFromResponse(response: Response): Promise<GenAIError> {
  const { status } = response;
  const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'));
  const requestId = response.headers.get('x-request-id') ?? undefined;
  let text = '';
  try {
    text = await response.text();
  } catch {
    // The body could not be read (the connection dropped): the status still says what happened.
  }
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  const make = (message: string, code: GenAIErrorCode, retryable: boolean) =>
    new GenAIError(message, { status, code, retryable, retryAfterSeconds, requestId });

  const error = isObject(body) ? body.error : undefined;
  if (isObject(error) && typeof error.code === 'string' && typeof error.retryable === 'boolean') {
    // The contract's own body: {"error":{"code","message","retryable"}}; a 409 adds the state already reached.
    const made = make(String(error.message ?? `HTTP ${status}`), error.code, error.retryable);
    if (typeof error.status !== 'string') return made;
    return new GenAIError(made.message, {
      status,
      code: made.code,
      retryable: made.retryable,
      retryAfterSeconds,
      requestId,
      finalStatus: error.status,
    });
  }
  if (isObject(error) && typeof error.message === 'string') {
    // OpenAI's shape, from the OpenAI-compatible routes.
    const openaiCode = typeof error.code === 'string' ? error.code : undefined;
    const code = (openaiCode && OPENAI_CODES[openaiCode]) ?? openaiCodeOfStatus(status);
    const retryable =
      code === 'TOKEN_BUDGET_EXCEEDED' || code === 'COST_BUDGET_EXCEEDED' ? true : retryableStatus(status);
    return make(error.message, code, retryable);
  }
  if (isObject(body) && 'message' in body) {
    // API Gateway's own answer: {"message": "Forbidden"}, {"message": "Too Many Requests"}, {"message": null}, …
    const message = typeof body.message === 'string' && body.message !== '' ? body.message : `HTTP ${status}`;
    return make(message, codeOfStatus(status), retryableStatus(status));
  }
  const quoted = text.trim().slice(0, QUOTED_BODY_CHARS);
  const message = `HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}${quoted ? `: ${quoted}` : ''}`;
  return make(message, codeOfStatus(status), retryableStatus(status));
}

function openaiCodeOfStatus(status: number): GenAIErrorCode {
  switch (status) {
    case 400:
      return 'VALIDATION_ERROR';
    case 404:
      return 'NOT_FOUND';
    case 413:
      return 'PAYLOAD_TOO_LARGE';
    case 500:
      return 'INTERNAL_ERROR';
    default:
      return codeOfStatus(status);
  }
}

/** A request that got no answer: refused connection, DNS failure, reset, CORS refusal in a browser. */
export function networkError(cause: unknown, what: string): GenAIError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new GenAIError(`${what} failed: ${reason}`, { status: 0, code: 'NETWORK_ERROR', retryable: true, cause });
}

/** A 2xx answer whose body is not what the contract says. */
export function invalidResponse(message: string, status: number, requestId?: string, cause?: unknown): GenAIError {
  return new GenAIError(message, { status, code: 'INVALID_RESPONSE', retryable: false, requestId, cause });
}
