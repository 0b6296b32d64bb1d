/**
 * `GET /openapi.json`, and `/v1/openapi.json` under the stage prefix: the OpenAPI description of the API, generated
 * from the route table and the contract exactly as `npm run openapi` writes docs/openapi.json (local only). It needs no
 * API key and may be read from any origin: the description is public, and tools (Swagger UI, Postman, client
 * generators) fetch it by URL.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OPENAI_BASE_PATH } from '../config/routes';
import { buildOpenApiDocument, serializeOpenApi } from '../openapi/document';
import type { ExtraRoute } from './gateway';

export const OPENAPI_PATHS: readonly string[] = ['/openapi.json', `${OPENAI_BASE_PATH}/openapi.json`];

/** Serves the description, generated on the first request (the route table cannot change while the cloud runs). */
export function openApiRoute(): ExtraRoute {
  let body: string | undefined;
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    // A preflight goes on to the gateway, which answers every path's the same way.
    if (!OPENAPI_PATHS.includes(path) || req.method === 'OPTIONS') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' });
      res.end(JSON.stringify({ message: 'Method Not Allowed' }));
      return true;
    }
    body ??= serializeOpenApi(buildOpenApiDocument());
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      // Regenerated when the cloud restarts: a client checks again rather than keep an old copy.
      'cache-control': 'no-cache',
      'access-control-allow-origin': '*',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
