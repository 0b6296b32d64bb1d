/**
 * How callers authenticate, shared by the stack (the API Gateway Lambda REQUEST authorizer), the authorizer function
 * and the local gateway, so the three cannot disagree.
 *
 * A caller sends its API key either as `x-api-key: <key>` or as `Authorization: Bearer <key>` (the form OpenAI's
 * clients send). A REQUEST authorizer with caching enabled requires every identity source to be present and answers
 * 401 without invoking the function when one is missing (API Gateway API reference, Authorizer `identitySource`: "For
 * the REQUEST authorizer, this is required when authorization caching is enabled … verifying all of the
 * identity-related request parameters are present, not null and non-empty … otherwise, it returns a 401 Unauthorized
 * response without calling the Lambda function … When the authorization caching is not enabled, this property is
 * optional"). No single header carries both forms, so API Gateway's result cache is off (TTL 0, no identity source)
 * and the authorizer caches instead: the key-hash → user lookup, for `AUTHORIZER_LOOKUP_CACHE_SECONDS`.
 */

/** API Gateway's authorizer result cache, in seconds: 0 (off), see above. The local gateway honours the same value. */
export const AUTHORIZER_RESULT_TTL_SECONDS = 0;

/** How long the authorizer function keeps a key's user and plan in memory, in seconds. */
export const AUTHORIZER_LOOKUP_CACHE_SECONDS = 300;

/** The headers a key may arrive in (lower case, as the authorizer compares them). */
export const API_KEY_HEADER = 'x-api-key';
export const AUTHORIZATION_HEADER = 'authorization';

/** What the authorizer puts in `requestContext.authorizer` for the functions (API Gateway allows string values). */
export interface AuthorizerContext {
  readonly userId: string;
  readonly plan: string;
  readonly apiKeyId: string;
}

/**
 * OpenAI's answer to a missing or wrong key (`401`, code `invalid_api_key`) on `errorStyle: 'openai'` routes: the API
 * Gateway UNAUTHORIZED gateway response on AWS, the local gateway's body locally.
 */
export const OPENAI_INVALID_API_KEY = {
  error: {
    message: 'Missing or invalid API key. Send it as "Authorization: Bearer <api key>".',
    type: 'invalid_request_error',
    param: null,
    code: 'invalid_api_key',
  },
} as const;
