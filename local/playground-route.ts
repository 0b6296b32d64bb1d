/**
 * Serves the web playground (playground/) at `GET /` of the local cloud, with its assets under `/assets/`. The bundle
 * is built in memory by esbuild (playground/build.ts) at the first request and kept; the static build
 * (`npm run build:playground`) is the same page for hosting next to a deployed API.
 *
 * The page starts with its own origin as the API URL. It also starts with one of the local cloud's API keys, but
 * only for a page this machine opened through a loopback name ({@link mayCarryKey}): the request must come from a
 * loopback address, name a loopback host (`127.0.0.1`, `localhost`, `[::1]`), so a web page elsewhere that resolves
 * its own name to 127.0.0.1 (DNS rebinding) gets a page without it, and be no other page's cross-origin request. The
 * page is never cached, may not be framed, and carries no CORS header whatever `api.cors` allows.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { PlanConfig } from '../config/schema';
import { buildPlayground, type PlaygroundBundle } from '../playground/build';
import type { LocalApiKey } from './api-keys';
import type { ExtraRoute } from './gateway';
import { pathOf, replyError } from './local-routes';

export interface PlaygroundRouteOptions {
  /** The key a page opened on this machine starts with. @default none: the page asks for one */
  readonly apiKey?: string;
  /** Told when the bundle cannot be built (the request is answered `503`). @default console.error */
  readonly onBuildError?: (err: unknown) => void;
}

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  // The page may carry an API key.
  'cache-control': 'no-store',
  // index.html carries the rest of the policy in a <meta> element, which cannot say this.
  'content-security-policy': "frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

/** The key of the most generous plan (highest rate), so the page's parallel requests and polling stay within it. */
export function playgroundKey(
  keys: readonly LocalApiKey[],
  plans: Readonly<Record<string, Pick<PlanConfig, 'rateLimit'>>>,
): LocalApiKey | undefined {
  let best: LocalApiKey | undefined;
  for (const k of keys) {
    if (!best || (plans[k.plan]?.rateLimit ?? 0) > (plans[best.plan]?.rateLimit ?? 0)) best = k;
  }
  return best;
}

export function playgroundRoute(options: PlaygroundRouteOptions = {}): ExtraRoute {
  let bundle: Promise<PlaygroundBundle> | undefined;
  const load = () => {
    bundle ??= buildPlayground().catch((err: unknown) => {
      bundle = undefined; // the next request tries again
      throw err;
    });
    return bundle;
  };
  const onBuildError =
    options.onBuildError ?? ((err: unknown) => console.error('[local] playground build failed:', err));

  return async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = pathOf(req);
    const isPage = path === '/' || path === '/index.html';
    if (!isPage && !path.startsWith('/assets/')) return false;

    let built: PlaygroundBundle;
    try {
      built = await load();
    } catch (err) {
      onBuildError(err);
      replyError(res, 503, 'SERVICE_UNAVAILABLE', 'the playground could not be built; see the local cloud output');
      return true;
    }
    if (isPage) {
      const apiKey = options.apiKey && mayCarryKey(req) ? options.apiKey : undefined;
      // The page is no API answer: no other origin may read it (it may carry a key).
      for (const name of res.getHeaderNames()) if (name.startsWith('access-control-')) res.removeHeader(name);
      res.writeHead(200, PAGE_HEADERS);
      res.end(built.renderIndex(apiKey ? { apiKey } : {}));
      return true;
    }
    const asset = built.assets.get(path.slice(1));
    if (!asset) {
      replyError(res, 404, 'NOT_FOUND', `no playground asset at ${path}`);
      return true;
    }
    res.writeHead(200, {
      'content-type': asset.contentType,
      'content-length': String(asset.contents.byteLength),
      // Content-hashed names: a changed file has a new name.
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
    });
    res.end(asset.contents);
    return true;
  };
}

/**
 * A request the page may answer with a key: from this machine ({@link isFromThisMachine}) and not a script of another
 * page reading it (browsers mark those with `Sec-Fetch-Mode` other than `navigate`, and send their `Origin`).
 */
export function mayCarryKey(req: IncomingMessage): boolean {
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined && mode !== 'navigate') return false;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host}`) return false;
  return isFromThisMachine(req);
}

/** A loopback peer that named a loopback host: a browser on this machine that opened the local cloud's own address. */
export function isFromThisMachine(req: IncomingMessage): boolean {
  const peer = req.socket.remoteAddress ?? '';
  if (!isLoopbackAddress(peer.startsWith('::ffff:') ? peer.slice(7) : peer)) return false;
  const host = req.headers.host;
  if (!host) return false;
  let hostname: string;
  try {
    hostname = new URL(`http://${host}`).hostname;
  } catch {
    return false;
  }
  if (hostname.startsWith('[')) hostname = hostname.slice(1, -1);
  return hostname === 'localhost' || isLoopbackAddress(hostname);
}

function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith('127.');
  return isIP(address) === 6 && address === '::1';
}
