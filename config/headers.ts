/**
 * The headers every answer of the API carries, decided once for the stack (API Gateway's preflight methods and
 * gateway responses), the functions (`lambda/core/http.ts`) and the local gateway (`local/gateway.ts`):
 *
 * - `x-request-id`: the API Gateway request id of the call (`requestContext.requestId`), the id the chat bodies, the
 *   stream's `start` event and the logs carry, so a client can quote it (`POST /feedback`, a support ticket).
 * - CORS, from `api.cors` (`config/schema.ts`): off when `allowOrigins` is empty; otherwise a browser page on an allowed
 *   origin may call every route. Keys travel in a header (`x-api-key` or `Authorization: Bearer`), never in a cookie,
 *   so no answer ever allows credentials, and `"*"` (any origin) cannot lend a page someone else's session.
 */

/** Response header naming the request's id. */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * Response header of the chat routes with the response cache on (`cache.enabled`): `hit` (the answer came from the
 * cache), `miss` (looked up, not found: a model answered) or `bypass` (not looked up: `Cache-Control: no-cache` or
 * `no-store`, or sampling settings that make answers vary).
 */
export const CACHE_STATUS_HEADER = 'x-cache';

/** `allowOrigins: ["*"]`: any origin. */
export const ANY_ORIGIN = '*';

/**
 * Request headers a cross-origin page may send (the preflight's `Access-Control-Allow-Headers`): the body type, both
 * forms of the key, the report idempotency key, a stream resume position, `cache-control` (EventSource polyfills send
 * it), and the headers the official OpenAI SDKs add to every call, so that they work from a browser against the
 * OpenAI-compatible routes.
 */
export const CORS_ALLOW_HEADERS: readonly string[] = [
  'content-type',
  'x-api-key',
  'authorization',
  'idempotency-key',
  'last-event-id',
  'cache-control',
  'openai-organization',
  'openai-project',
  'x-stainless-arch',
  'x-stainless-lang',
  'x-stainless-os',
  'x-stainless-package-version',
  'x-stainless-retry-count',
  'x-stainless-runtime',
  'x-stainless-runtime-version',
  'x-stainless-timeout',
];

/**
 * The standard rate-limit headers (the IETF httpapi working group's draft-ietf-httpapi-ratelimit-headers-11):
 * `RateLimit-Policy` names each quota policy, `RateLimit` what is left of it. The model routes report the per-user
 * concurrency limit (`plans.<plan>.maxConcurrentRequests`) with them (lambda/core/rate-limit-headers.ts).
 */
export const RATE_LIMIT_HEADERS = { policy: 'ratelimit-policy', limit: 'ratelimit' } as const;

/**
 * OpenAI's rate-limit headers, sent on the OpenAI-compatible routes with the meaning OpenAI documents for them (the
 * limit, what remains, and the time until it is back to the limit); lambda/core/rate-limit-headers.ts says which of
 * our limits each reports.
 */
export const OPENAI_RATE_LIMIT_HEADERS = {
  limitRequests: 'x-ratelimit-limit-requests',
  remainingRequests: 'x-ratelimit-remaining-requests',
  resetRequests: 'x-ratelimit-reset-requests',
  limitTokens: 'x-ratelimit-limit-tokens',
  remainingTokens: 'x-ratelimit-remaining-tokens',
  resetTokens: 'x-ratelimit-reset-tokens',
} as const;

/**
 * Response headers a cross-origin page may read besides the CORS-safelisted ones (`Access-Control-Expose-Headers`):
 * the request id, `Retry-After` of 429s, 503s and unfinished reports, the `Location` of a new report, the replay
 * marker of an idempotent resubmission, OpenAI's retry hint on its routes, the response cache's status (`x-cache`),
 * and the rate-limit headers of the model routes (the standard ones and OpenAI's). API Gateway's own throttling answers
 * carry none (usage plans do not expose their counters).
 */
export const CORS_EXPOSE_HEADERS: readonly string[] = [
  REQUEST_ID_HEADER,
  'retry-after',
  'location',
  'idempotent-replayed',
  'x-should-retry',
  CACHE_STATUS_HEADER,
  ...Object.values(RATE_LIMIT_HEADERS),
  ...Object.values(OPENAI_RATE_LIMIT_HEADERS),
];

/** The `api.cors` settings (`config/schema.ts`). */
export interface CorsSettings {
  readonly allowOrigins: readonly string[];
  readonly maxAgeSeconds: number;
}

export function corsEnabled(allowOrigins: readonly string[]): boolean {
  return allowOrigins.length > 0;
}

/** Whether `allowOrigins` is `["*"]`. */
export function allowsAnyOrigin(allowOrigins: readonly string[]): boolean {
  return allowOrigins.includes(ANY_ORIGIN);
}

/**
 * The `Access-Control-Allow-Origin` value for a request from `origin`: `*` for any origin, the origin itself when it
 * is listed (compared exactly, as browsers send it: lowercase scheme and host, no default port), else none.
 */
export function allowedOrigin(origin: string | undefined, allowOrigins: readonly string[]): string | undefined {
  if (allowsAnyOrigin(allowOrigins)) return ANY_ORIGIN;
  return origin !== undefined && allowOrigins.includes(origin) ? origin : undefined;
}

/**
 * CORS headers of an answer (not a preflight) to a request from `origin`. With a list of origins the answer depends
 * on the request's `Origin`, so it always says `Vary: Origin`, allowed or not, and a shared cache never hands one
 * origin's answer to another.
 */
export function corsResponseHeaders(
  origin: string | undefined,
  allowOrigins: readonly string[],
): Record<string, string> {
  if (!corsEnabled(allowOrigins)) return {};
  const allowed = allowedOrigin(origin, allowOrigins);
  const vary: Record<string, string> = allowsAnyOrigin(allowOrigins) ? {} : { vary: 'Origin' };
  if (allowed === undefined) return vary;
  return {
    'access-control-allow-origin': allowed,
    'access-control-expose-headers': CORS_EXPOSE_HEADERS.join(','),
    ...vary,
  };
}

/**
 * The methods a preflight for one resource allows: `OPTIONS` and the methods of the routes on it, in the order the
 * route table lists them (the value API Gateway's preflight method and the local gateway both answer).
 */
export function preflightMethods(methods: readonly string[]): string[] {
  return ['OPTIONS', ...new Set(methods.filter((m) => m !== 'OPTIONS'))];
}

/**
 * Headers of a preflight answer (`204`, no body) for a resource whose routes take `methods`. A disallowed origin gets
 * no CORS header at all, so the browser refuses the call it asked about. (API Gateway's mock preflight, whose headers
 * are constants, answers it with the first configured origin instead, which the browser refuses just the same.)
 */
export function preflightHeaders(
  origin: string | undefined,
  settings: CorsSettings,
  methods: readonly string[],
): Record<string, string> {
  const allowed = allowedOrigin(origin, settings.allowOrigins);
  const vary: Record<string, string> = allowsAnyOrigin(settings.allowOrigins) ? {} : { vary: 'Origin' };
  if (allowed === undefined) return vary;
  return {
    'access-control-allow-origin': allowed,
    'access-control-allow-methods': preflightMethods(methods).join(','),
    'access-control-allow-headers': CORS_ALLOW_HEADERS.join(','),
    'access-control-max-age': String(settings.maxAgeSeconds),
    ...vary,
  };
}

/**
 * Whether `value` is an origin exactly as a browser sends it in `Origin`: `http` or `https`, a lowercase host, a port
 * only when it is not the scheme's default, and no path, query, fragment, user or trailing slash.
 */
export function isExactOrigin(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (
    (url.protocol === 'https:' || url.protocol === 'http:') &&
    url.origin === value &&
    // A DNS name (IDNs in their `xn--` form), an IPv4 address or a bracketed IPv6 one; no wildcard.
    /^(?:\[[0-9a-f:.]+\]|[a-z0-9-]+(?:\.[a-z0-9-]+)*)$/.test(url.hostname)
  );
}
