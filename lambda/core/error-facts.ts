/**
 * What an error thrown by an AWS SDK client or the network says about itself, read in one place. The HTTP mapping
 * (`errors.ts`: is a backing service down?) and the breaker taxonomy (`breaker-taxonomy.ts`: is the model failing?)
 * both judge errors from these facts, so they cannot drift apart on what, say, a reset connection is.
 */

export interface ErrorFacts {
  /** `err.name`, when it is a string: the SDK's exception name (`ThrottlingException`) or ours. */
  readonly name?: string;
  /** `err.code`, when it is a string: Node's system and HTTP/2 error codes (`ECONNRESET`, `ERR_HTTP2_STREAM_ERROR`). */
  readonly code?: string;
  /** The HTTP status the service answered with (`$metadata.httpStatusCode`, or `statusCode` / `status`). */
  readonly httpStatus?: number;
  /** Whose fault the SDK says it was (`$fault`). */
  readonly fault?: 'client' | 'server';
  readonly cause?: unknown;
}

/** Connection-level failures: the request may never have reached the service, or its answer never came back. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_HTTP2_GOAWAY_SESSION',
  'ERR_HTTP2_ERROR',
]);

/** Exception names AWS services use for "slow down". */
export const THROTTLING_NAMES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ServiceQuotaExceededException',
]);

export function errorFacts(err: unknown): ErrorFacts {
  if (typeof err !== 'object' || err === null) return {};
  const e = err as {
    name?: unknown;
    code?: unknown;
    cause?: unknown;
    $fault?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    statusCode?: unknown;
    status?: unknown;
  };
  const status = [e.$metadata?.httpStatusCode, e.statusCode, e.status].find((s): s is number => typeof s === 'number');
  return {
    name: typeof e.name === 'string' ? e.name : undefined,
    code: typeof e.code === 'string' ? e.code : undefined,
    httpStatus: status,
    fault: e.$fault === 'client' || e.$fault === 'server' ? e.$fault : undefined,
    cause: e.cause,
  };
}
