/**
 * Web sites for the browser tests, each on an origin of its own (127.0.0.1, a free port), other than the API's: a
 * directory served as S3 or any static web server would serve a build, or one blank page for the scripts a test runs
 * in it. The API sees a page on such a site as a cross-origin caller, through CORS.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';

export interface StaticSite {
  /** `http://127.0.0.1:<port>`: the origin its pages run on (the `Origin` their requests carry). */
  readonly origin: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The files under `root`, `index.html` at `/`; nothing outside it (403), 404 for what is not there. */
export function serveDirectory(root: string): Promise<StaticSite> {
  return startSite(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root)) return void res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
}

/** One empty HTML page, at every path. */
export function serveBlankPage(): Promise<StaticSite> {
  return startSite((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html><head><title>client</title></head><body></body></html>');
  });
}

async function startSite(listener: RequestListener): Promise<StaticSite> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
