/**
 * Errors in OpenAI's shape, `{"error":{"message","type","param","code"}}`, as the OpenAI SDKs read them: the status
 * picks the SDK's error class (400 BadRequestError, 401 AuthenticationError, 404 NotFoundError, 429 RateLimitError, …),
 * `param` names the request field at fault. Our own errors keep their classes (and their `code` in the request log);
 * this module only decides how an OpenAI client sees them.
 */
import {
  type ApiError,
  CancelledError,
  ConcurrencyLimitExceededError,
  CostBudgetExceededError,
  DeadlineExceededError,
  ForbiddenError,
  ModelQuotaExceededError,
  ModelStreamError,
  ModelUnavailableError,
  NotFoundError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  TokenBudgetExceededError,
  toApiError,
  ValidationError,
} from '../errors';
import { openAIRateLimitHeaders, rateLimitHeaders } from '../rate-limit-headers';
import type { OpenAIErrorBodyShape } from './schemas';

/** OpenAI's error object, as the contract's schema (./schemas.ts) describes it. */
export type OpenAIErrorBody = OpenAIErrorBodyShape;

/** A request field we cannot accept, named as OpenAI names it (`messages[1].content[0]`). */
export class OpenAIParamError extends ValidationError {
  constructor(
    message: string,
    readonly param: string | null,
    /** OpenAI's code for the problem: `invalid_type`, `invalid_value`, `missing_required_parameter`, … */
    readonly openaiCode: string | null,
  ) {
    super(message);
  }
}

/** The requested model is neither a configured model id nor an alias. */
export class ModelNotFoundError extends NotFoundError {
  constructor(readonly model: string) {
    super(`The model '${model}' does not exist or you do not have access to it.`);
  }
}

export interface OpenAIErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: OpenAIErrorBody;
}

const body = (message: string, type: string, param: string | null, code: string | null): OpenAIErrorBody => ({
  error: { message, type, param, code },
});

/** How an OpenAI client sees any error: status, headers (`Retry-After`, `x-should-retry`) and body. */
export function toOpenAIError(err: unknown): OpenAIErrorResponse {
  const apiErr: ApiError = toApiError(err);
  const headers: Record<string, string> = {};
  const retryAfter = apiErr.retryAfterWholeSeconds;
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  const answer = (status: number, b: OpenAIErrorBody) => ({ status, headers, body: b });

  if (apiErr instanceof OpenAIParamError)
    return answer(400, body(apiErr.message, 'invalid_request_error', apiErr.param, apiErr.openaiCode));
  if (apiErr instanceof ValidationError) return answer(400, body(apiErr.message, 'invalid_request_error', null, null));
  if (apiErr instanceof PayloadTooLargeError)
    return answer(413, body(apiErr.message, 'invalid_request_error', null, null));
  if (apiErr instanceof ForbiddenError)
    return answer(401, body(apiErr.message, 'invalid_request_error', null, 'invalid_api_key'));
  if (apiErr instanceof ModelNotFoundError)
    return answer(404, body(apiErr.message, 'invalid_request_error', 'model', 'model_not_found'));
  if (apiErr instanceof NotFoundError) return answer(404, body(apiErr.message, 'invalid_request_error', null, null));
  if (apiErr instanceof TokenBudgetExceededError) {
    // The budget is per day: the SDKs' automatic retries (seconds apart) cannot succeed, so they are told not to try.
    headers['x-should-retry'] = 'false';
    return answer(429, body(apiErr.message, 'tokens', null, 'rate_limit_exceeded'));
  }
  // A spent dollar budget is OpenAI's spending limit (`insufficient_quota`): a 429 that retrying seconds later cannot
  // fix, so the SDKs are told not to retry; `Retry-After` still says when the UTC day or month ends.
  if (apiErr instanceof CostBudgetExceededError) {
    headers['x-should-retry'] = 'false';
    return answer(429, body(apiErr.message, 'insufficient_quota', null, 'insufficient_quota'));
  }
  // A model's shared quota (`models.quotas`) has room again within `Retry-After`: the SDKs' own retries may succeed.
  if (apiErr instanceof ModelQuotaExceededError) {
    const type = apiErr.limit === 'tokensPerMinute' ? 'tokens' : 'requests';
    return answer(429, body(apiErr.message, type, null, 'rate_limit_exceeded'));
  }
  // Too many of the user's calls in flight: OpenAI's requests limit (a slot frees when a call ends, so the SDKs' own
  // retries after Retry-After may succeed), with the limits in the standard and OpenAI's rate-limit headers.
  if (apiErr instanceof ConcurrencyLimitExceededError) {
    Object.assign(headers, rateLimitHeaders(apiErr.limits), openAIRateLimitHeaders(apiErr.limits));
    return answer(429, body(apiErr.message, 'requests', null, 'rate_limit_exceeded'));
  }
  if (apiErr instanceof ModelUnavailableError)
    return answer(503, body(apiErr.message, 'server_error', null, 'model_unavailable'));
  if (apiErr instanceof ServiceUnavailableError)
    return answer(503, body(apiErr.message, 'server_error', null, 'service_unavailable'));
  if (apiErr instanceof DeadlineExceededError)
    return answer(504, body(apiErr.message, 'server_error', null, 'timeout'));
  if (apiErr instanceof ModelStreamError) return answer(502, body(apiErr.message, 'server_error', null, 'model_error'));
  // The owner cancelled it (`POST /chat/stream/{requestId}/cancel`): in a stream, the last chunk is this error and no
  // `[DONE]` follows; a non-streaming call still waiting is answered 499 with it. Retrying would only cancel again.
  if (apiErr instanceof CancelledError) {
    headers['x-should-retry'] = 'false';
    return answer(499, body(apiErr.message, 'invalid_request_error', null, 'cancelled'));
  }
  return answer(
    apiErr.status,
    body(apiErr.message, apiErr.status >= 500 ? 'server_error' : 'invalid_request_error', null, null),
  );
}
