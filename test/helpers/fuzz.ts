/**
 * A raw HTTP/1.1 client over node:net, for requests fetch refuses to send: unparsable targets, malformed request lines
 * and headers, odd methods, bodies shorter than their Content-Length, duplicated headers.
 */
import { connect } from 'node:net';

export interface RawResponse {
  /** Status of the final response; undefined when none arrived. */
  readonly status?: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The body, de-chunked. */
  readonly body: Buffer;
  /** The server closed the connection (after answering, or without answering). */
  readonly closed: boolean;
  /** Nothing ended the exchange within `waitMs`: the server held the connection open. */
  readonly hung: boolean;
  /** A socket error (a reset, for one), if any. */
  readonly error?: string;
  /** Milliseconds from connecting to the end of the exchange. */
  readonly elapsedMs: number;
}

export interface RawRequestOptions {
  /** Give up (and report `hung`) after this long. @default 5_000 */
  readonly waitMs?: number;
  /** Bytes to send after the first part, each after `dripMs` (a slow client). */
  readonly drip?: readonly (string | Buffer)[];
  /** @default 100 */
  readonly dripMs?: number;
  /** Keep reading after a complete answer until the server closes the connection (or `waitMs` passes). @default false */
  readonly untilClosed?: boolean;
}

/**
 * Sends `request` as is and reads until the server closes the connection, answers completely (by Content-Length or a
 * final chunk), or `waitMs` passes. Interim 1xx responses are skipped.
 */
export function rawRequest(baseUrl: string, request: string | Buffer, options: RawRequestOptions = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const socket = connect(Number(port), hostname);
    const finish = (closed: boolean, hung: boolean) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      socket.destroy();
      resolve({ ...parseResponse(Buffer.concat(chunks)), closed, hung, error, elapsedMs: Date.now() - started });
    };
    socket.once('connect', () => {
      socket.write(request);
      (options.drip ?? []).forEach((part, i) => {
        timers.push(setTimeout(() => socket.writable && socket.write(part), (i + 1) * (options.dripMs ?? 100)));
      });
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (!options.untilClosed && parseResponse(Buffer.concat(chunks)).complete) finish(false, false);
    });
    socket.on('error', (err) => {
      error = (err as NodeJS.ErrnoException).code ?? err.message;
    });
    socket.once('close', () => finish(true, false));
    timers.push(setTimeout(() => finish(false, !(options.untilClosed && parseResponse(Buffer.concat(chunks)).complete)), options.waitMs ?? 5_000));
  });
}

function parseResponse(data: Buffer): { status?: number; headers: Record<string, string>; body: Buffer; complete: boolean } {
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return { headers: {}, body: Buffer.alloc(0), complete: false };
    const lines = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(lines[0])?.[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const after = rest.subarray(end + 4);
    if (status >= 100 && status < 200) {
      rest = after;
      continue;
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const { body, complete } = dechunk(after);
      return { status, headers, body, complete };
    }
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      return { status, headers, body: after.subarray(0, length), complete: after.length >= length };
    }
    // Neither: the body runs until the server closes the connection.
    return { status, headers, body: after, complete: false };
  }
}

function dechunk(data: Buffer): { body: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return { body: Buffer.concat(parts), complete: false };
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), complete: false };
    if (size === 0) return { body: Buffer.concat(parts), complete: data.indexOf('\r\n', lineEnd + 2) >= 0 };
    if (data.length < lineEnd + 2 + size) {
      parts.push(data.subarray(lineEnd + 2));
      return { body: Buffer.concat(parts), complete: false };
    }
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/** The body as JSON, or undefined when it is not JSON. */
export function jsonOf(res: RawResponse): unknown {
  try {
    return JSON.parse(res.body.toString('utf8'));
  } catch {
    return undefined;
  }
}
