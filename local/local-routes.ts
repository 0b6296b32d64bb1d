/**
 * What the local-only endpoints under `/_local/` share: their JSON answers (the contract's error shape, never cached)
 * and the method check. None of them exists on AWS.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The request's path as sent, without the query. Dot segments are not resolved (API Gateway does not resolve them
 * either), so `/reports/..` is never taken for `/`.
 */
export function pathOf(req: IncomingMessage): string {
  // An absolute-form target (`GET http://host/path`) loses its scheme and authority.
  const target = (req.url ?? '/').replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '') || '/';
  const query = target.search(/[?#]/);
  return query === -1 ? target : target.slice(0, query);
}

export function replyJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(value));
}

export function replyError(res: ServerResponse, status: number, code: string, message: string): void {
  replyJson(res, status, { error: { code, message, retryable: status >= 500 } });
}

/** `405` naming the methods the endpoint takes (also in `Allow`). */
export function replyMethodNotAllowed(res: ServerResponse, methods: readonly string[]): void {
  res.setHeader('allow', methods.join(', '));
  replyError(res, 405, 'METHOD_NOT_ALLOWED', `use ${methods.join(' or ')}`);
}
