/** HTTP-side helpers of the report endpoints: headers, and the absolute status URL a `202` points at. */
import type { APIGatewayProxyEvent } from 'aws-lambda';

/** A request header, whatever its case. */
export function headerOf(event: Pick<APIGatewayProxyEvent, 'headers'>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

/**
 * The absolute URL of `GET /reports/{id}` as this client reached the API: same scheme and host, and the same base path
 * (the stage on the execute-api domain, the base path mapping on a custom domain), taken from the difference between
 * the path the client called (`requestContext.path`) and the resource path (`path`).
 */
export function statusUrlOf(event: Pick<APIGatewayProxyEvent, 'headers' | 'path' | 'requestContext'>, reportId: string): string {
  const ctx = event.requestContext;
  const host = ctx?.domainName ?? headerOf(event, 'host') ?? 'localhost';
  const scheme = (headerOf(event, 'x-forwarded-proto') ?? 'https').split(',')[0].trim();
  let basePath = '';
  const calledPath = ctx?.path;
  if (calledPath && event.path && calledPath.endsWith(event.path)) {
    basePath = calledPath.slice(0, calledPath.length - event.path.length);
  } else if (ctx?.stage && ctx.stage !== '$default' && host.includes('.execute-api.')) {
    basePath = `/${ctx.stage}`;
  }
  return `${scheme}://${host}${basePath.replace(/\/$/, '')}/reports/${encodeURIComponent(reportId)}`;
}
