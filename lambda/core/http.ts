/**
 * The one place that turns results and errors into API Gateway proxy responses, and that gives every response, buffered
 * or streamed, the headers each answer carries (`config/headers.ts`): its request id and CORS.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { corsResponseHeaders, REQUEST_ID_HEADER } from '../../config/headers';
import { type ApiError, ConcurrencyLimitExceededError, toApiError } from './errors';
import { rateLimitHeaders } from './rate-limit-headers';
import { runtimeConfig } from './runtime';

/** Headers of every JSON answer: never cached, as each names one caller's data. */
export const JSON_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  'cache-control': 'no-store',
};

export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** An answer without a body (`204 No Content`): no content type, and never cached, like the JSON answers. */
export function noContentResponse(headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode: 204, headers: { 'cache-control': 'no-store', ...headers }, body: '' };
}

/** `Retry-After` where known, and the rate-limit headers of a concurrency refusal (./rate-limit-headers.ts). */
export function errorHeaders(err: ApiError): Record<string, string> {
  const seconds = err.retryAfterWholeSeconds;
  return {
    ...(seconds === undefined ? {} : { 'retry-after': String(seconds) }),
    ...(err instanceof ConcurrencyLimitExceededError ? rateLimitHeaders(err.limits) : {}),
  };
}

export function errorResponse(err: unknown): APIGatewayProxyResult {
  const apiErr = toApiError(err);
  return jsonResponse(apiErr.status, apiErr.toBody(), errorHeaders(apiErr));
}

/** A request header, whatever its case (API Gateway passes names as the client spelled them). */
export function headerOf(
  headers: Readonly<Record<string, string | undefined>> | null | undefined,
  name: string,
): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

/**
 * The id of a call: API Gateway's request id (`$context.requestId`, also its `x-amzn-RequestId` header and the access
 * log's `requestId`), or the Lambda invocation's when the function was invoked without API Gateway.
 */
export function requestIdOf(
  event: Pick<APIGatewayProxyEvent, 'requestContext'>,
  context: Pick<Context, 'awsRequestId'>,
): string {
  return event.requestContext?.requestId ?? context.awsRequestId;
}

/**
 * The headers every response of a function carries: `x-request-id`, and CORS for the request's `Origin` per
 * `api.cors.allowOrigins` of the deployed configuration. API Gateway passes a proxy integration's headers through as
 * they are, so the function, not the gateway, has to send them.
 */
export function responseHeadersFor(
  event: Pick<APIGatewayProxyEvent, 'requestContext' | 'headers'>,
  context: Pick<Context, 'awsRequestId'>,
  allowOrigins: readonly string[] = runtimeConfig().api.cors.allowOrigins,
): Record<string, string> {
  return {
    ...corsResponseHeaders(headerOf(event.headers, 'origin'), allowOrigins),
    [REQUEST_ID_HEADER]: requestIdOf(event, context),
  };
}

export type BufferedHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** A buffered handler whose every answer, errors included, carries {@link responseHeadersFor}. */
export function withResponseHeaders(handler: BufferedHandler): BufferedHandler {
  return async (event, context) => {
    const result = await handler(event, context);
    return { ...result, headers: { ...result.headers, ...responseHeadersFor(event, context) } };
  };
}

/** The status and headers a streamed response starts with (its prelude). */
export type StreamPrelude = {
  readonly statusCode: number;
  readonly headers: Record<string, string | number | boolean>;
};

/**
 * The prelude builder of a streaming handler's request: whatever status and headers the handler answers with (a stream,
 * a JSON body, an error before the stream commits), the prelude also carries {@link responseHeadersFor}.
 */
export function streamPreludeFor(
  event: Pick<APIGatewayProxyEvent, 'requestContext' | 'headers'>,
  context: Pick<Context, 'awsRequestId'>,
): (statusCode: number, headers?: Readonly<Record<string, string | number | boolean>>) => StreamPrelude {
  const common = responseHeadersFor(event, context);
  return (statusCode, headers = {}) => ({ statusCode, headers: { ...headers, ...common } });
}
