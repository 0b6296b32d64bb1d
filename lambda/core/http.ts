/** The one place that turns results and errors into API Gateway proxy responses. */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { type ApiError, toApiError } from './errors';

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

export function errorHeaders(err: ApiError): Record<string, string> {
  const seconds = err.retryAfterWholeSeconds;
  return seconds === undefined ? {} : { 'retry-after': String(seconds) };
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
