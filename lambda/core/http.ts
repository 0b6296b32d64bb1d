/** The one place that turns results and errors into API Gateway proxy responses. */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { type ApiError, toApiError } from './errors';

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' } as const;

export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function errorHeaders(err: ApiError): Record<string, string> {
  const seconds = err.retryAfterWholeSeconds;
  return seconds === undefined ? {} : { 'retry-after': String(seconds) };
}

export function errorResponse(err: unknown): APIGatewayProxyResult {
  const apiErr = toApiError(err);
  return jsonResponse(apiErr.status, apiErr.toBody(), errorHeaders(apiErr));
}
