/**
 * One request and its response over either protocol the simulator serves, behind one interface, so the model and
 * settings calls answer through the same code on HTTP/2 and HTTP/1.1.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as h2, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Readable } from 'node:stream';

const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** One request and its response, whichever the protocol. `Call` guards it: no write once it is gone. */
export interface Exchange {
  readonly method: string;
  /** The request target, query included. */
  readonly path: string;
  /** The request body. */
  readonly body: Readable;
  readonly headersSent: boolean;
  /** True as soon as the exchange can no longer be written to (before `onClose` listeners run). */
  readonly destroyed: boolean;
  /** Sends the status and headers now; the body follows through `write` and `end`. */
  respond(status: number, headers: Record<string, string>): void;
  /** Sends a whole response at once. */
  respondWith(status: number, headers: Record<string, string>, body: string): void;
  write(chunk: Uint8Array): void;
  end(): void;
  /** Abandons the exchange without a proper end, so the client sees a failure rather than a short answer. */
  abort(): void;
  /** Runs `listener` once, when the exchange is over: finished or abandoned by either side. */
  onClose(listener: () => void): void;
}

export class Http2Exchange implements Exchange {
  readonly method: string;
  readonly path: string;

  constructor(
    private readonly stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
  ) {
    stream.on('error', () => undefined);
    this.method = String(headers[h2.HTTP2_HEADER_METHOD] ?? '');
    this.path = String(headers[h2.HTTP2_HEADER_PATH] ?? '/');
  }

  get body(): Readable {
    return this.stream;
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  respond(status: number, headers: Record<string, string>): void {
    this.stream.respond({ [h2.HTTP2_HEADER_STATUS]: status, ...headers });
  }

  respondWith(status: number, headers: Record<string, string>, body: string): void {
    this.respond(status, headers);
    this.stream.end(body);
  }

  write(chunk: Uint8Array): void {
    this.stream.write(chunk);
  }

  end(): void {
    this.stream.end();
  }

  abort(): void {
    this.stream.close(h2.NGHTTP2_INTERNAL_ERROR);
  }

  onClose(listener: () => void): void {
    this.stream.once('close', listener);
  }
}

/**
 * HTTP/1.1: a streamed body goes out chunked, each `write` as it is made (headers flushed first, no compression). A
 * client that goes away closes the connection, which closes the response before it finished.
 */
export class Http1Exchange implements Exchange {
  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
  }

  get method(): string {
    return this.req.method ?? '';
  }

  get path(): string {
    return this.req.url ?? '/';
  }

  get body(): Readable {
    return this.req;
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  get destroyed(): boolean {
    return this.res.destroyed || this.req.socket.destroyed;
  }

  respond(status: number, headers: Record<string, string>): void {
    this.res.writeHead(status, headers);
    this.res.flushHeaders();
  }

  respondWith(status: number, headers: Record<string, string>, body: string): void {
    this.res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
    this.res.end(body);
  }

  write(chunk: Uint8Array): void {
    this.res.write(chunk);
  }

  end(): void {
    this.res.end();
  }

  /** HTTP/1.1 has no way to cancel one response: the connection goes, as a server failing mid-response would do. */
  abort(): void {
    this.res.destroy();
  }

  onClose(listener: () => void): void {
    this.res.once('close', listener);
  }
}

export function readBody(body: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return reject(new Error('request body too large'));
      chunks.push(chunk);
    });
    body.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    body.once('close', () => reject(new Error('stream closed before the body was read')));
  });
}
