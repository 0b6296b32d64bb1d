/** HTTP-side helpers of the report endpoints: headers, and the absolute status URL a `202` points at. */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { ENV } from '../../../config/runtime';

/** A request header, whatever its case. */
export function headerOf(event: Pick<APIGatewayProxyEvent, 'headers'>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

/** The scheme of the API's public URL: API Gateway serves only https; the local cloud says `http` in the environment. */
export function apiUrlScheme(env: NodeJS.ProcessEnv = process.env): 'http' | 'https' {
  return env[ENV.apiUrlScheme] === 'http' ? 'http' : 'https';
}

/** A host name or address, with an optional port: what API Gateway (or the local gateway) puts in `domainName`. */
const DOMAIN_NAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
/** Zero or more plain path segments, such as a stage (`/v1`) or a custom domain's base path (`/api/v2`). */
const PATH_PREFIX = /^(?:\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*$/;

/**
 * The absolute URL of `GET /reports/{id}` on this API, built from what API Gateway says about the stage, never from
 * request headers: the host is `requestContext.domainName` (the execute-api domain or the custom domain), the base path
 * is the path the client called (`requestContext.path`) minus the resource path (the stage on the execute-api domain, the
 * base path mapping on a custom domain), and the scheme is {@link apiUrlScheme}.
 */
export function statusUrlOf(
  event: Pick<APIGatewayProxyEvent, 'resource' | 'requestContext'>,
  reportId: string,
  scheme: 'http' | 'https' = apiUrlScheme(),
): string {
  const ctx = event.requestContext;
  const path = `${basePathOf(event)}/reports/${encodeURIComponent(reportId)}`;
  const host = ctx?.domainName;
  // Without a domain name (never the case behind API Gateway) a relative URL is still right.
  return host && DOMAIN_NAME.test(host) ? `${scheme}://${host}${path}` : path;
}

function basePathOf(event: Pick<APIGatewayProxyEvent, 'resource' | 'requestContext'>): string {
  const ctx = event.requestContext;
  const called = ctx?.path;
  const resource = ctx?.resourcePath ?? event.resource;
  if (called && resource && !resource.includes('{') && called.endsWith(resource)) {
    const prefix = called.slice(0, called.length - resource.length);
    if (PATH_PREFIX.test(prefix)) return prefix;
  }
  const stagePath = `/${ctx?.stage ?? ''}`;
  if (ctx?.stage && ctx.stage !== '$default' && ctx.domainName?.includes('.execute-api.') && PATH_PREFIX.test(stagePath)) {
    return stagePath;
  }
  return '';
}
