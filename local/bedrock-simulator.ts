/**
 * A local stand-in for Amazon Bedrock Runtime that the unchanged `@aws-sdk/client-bedrock-runtime` talks to when
 * `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` points at it. It speaks the real wire format (`Converse` as restJson1,
 * `ConverseStream` as binary event-stream frames) and makes latency and failures scriptable, so the breaker, the
 * fallbacks and the streaming path can be exercised deterministically on one machine.
 *
 * One port, two protocols: cleartext HTTP/2 with prior knowledge (the SDK's default request handler for this service,
 * which fails against an HTTP/1 server) and HTTP/1.1 with keep-alive (the handler `lambda/aws/clients.ts` gives the
 * client). Each connection is dispatched on its first bytes, and both protocols answer through the same code.
 *
 * @example
 * const sim = await BedrockSimulator.start();
 * process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = sim.url;
 * sim.configure({ mode: 'throttle', model: 'us.anthropic.claude-sonnet-4-20250514-v1:0' });
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttp1Server, type IncomingMessage, type Server as Http1Server, type ServerResponse } from 'node:http';
import {
  constants as h2,
  createServer as createHttp2Server,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { z } from 'zod';

export type SimulatorMode = 'normal' | 'throttle' | 'error' | 'slow' | 'midstream-error';

export interface ModelBehaviour {
  mode: SimulatorMode;
  /** Delay before the first token (or, in failing modes, before the failure). */
  ttftMs: number;
  /** Pace of the generated tokens after the first one. */
  tokensPerSecond: number;
  /** Share (0..1) of calls that fail in `throttle`, `error` and `midstream-error` modes; the rest answer normally. */
  failRate: number;
}

export interface SimulatorState {
  /** Behaviour of every model without an override. */
  default: ModelBehaviour;
  /** Per-model-id overrides. */
  models: Record<string, ModelBehaviour>;
}

export type SimulatorProtocol = 'h2' | 'http/1.1';

export interface SimulatorStats {
  /** Converse and ConverseStream calls received. */
  calls: number;
  /** The same, per (decoded) model id. */
  byModel: Record<string, number>;
  /** Model calls (either operation) whose exchange (HTTP/2 stream or HTTP/1.1 response) is still open. */
  active: number;
  /** Calls whose client went away before the simulator finished answering. */
  cancelled: number;
  /** `contentBlockDelta` frames written, across all streams; stops growing when generation stops. */
  tokensSent: number;
  /** TCP connections accepted, either protocol; a client that reuses its connections keeps this still. */
  connections: number;
  /** The same, per protocol spoken on the connection. */
  connectionsByProtocol: Record<SimulatorProtocol, number>;
}

export interface BedrockSimulatorOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0 (a free port) */
  port?: number;
  /** Source of randomness for `failRate`; inject a seeded one for reproducible tests. @default Math.random */
  random?: () => number;
}

/** A `POST /_local/model` body was rejected; the message names the field. */
export class SimulatorSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatorSettingsError';
  }
}

const MODES = ['normal', 'throttle', 'error', 'slow', 'midstream-error'] as const satisfies readonly SimulatorMode[];

const settingsSchema = z
  .object({
    mode: z.enum(MODES, {
      error: (issue) => (issue.input === undefined ? `required, one of ${MODES.join(', ')}` : undefined),
    }),
    ttftMs: z.number().nonnegative().optional(),
    tokensPerSecond: z.number().positive().optional(),
    failRate: z.number().min(0).max(1).optional(),
    model: z.string().min(1).optional(),
  })
  .strict();

const NORMAL_PACE = { ttftMs: 20, tokensPerSecond: 2000 };
const SLOW_PACE = { ttftMs: 3000, tokensPerSecond: 20 };

function defaultBehaviour(): ModelBehaviour {
  return { mode: 'normal', ...NORMAL_PACE, failRate: 1 };
}

const THROTTLE_MESSAGE = 'Too many requests, please wait before trying again.';
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const EVENT_STREAM = 'application/vnd.amazon.eventstream';
/** What an HTTP/2 client with prior knowledge sends first (RFC 9113, section 3.4); no HTTP/1.1 request starts so. */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** How long an idle HTTP/1.1 connection is kept open for the next request. */
const HTTP1_KEEP_ALIVE_MS = 60_000;

export class BedrockSimulator {
  /** Base URL for `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` or a client's `endpoint`. */
  readonly url: string;
  readonly stats: SimulatorStats = {
    calls: 0,
    byModel: {},
    active: 0,
    cancelled: 0,
    tokensSent: 0,
    connections: 0,
    connectionsByProtocol: { h2: 0, 'http/1.1': 0 },
  };

  private settings: SimulatorState = { default: defaultBehaviour(), models: {} };
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  /** Settles when each exchange still open has closed, whichever the protocol. */
  private readonly openExchanges = new Set<Promise<void>>();
  private readonly http2: Http2Server = createHttp2Server();
  private readonly http1: Http1Server = createHttp1Server({ keepAliveTimeout: HTTP1_KEEP_ALIVE_MS });
  private readonly codec = new EventStreamCodec(toUtf8, fromUtf8);
  private closing?: Promise<void>;

  private constructor(
    private readonly server: NetServer,
    private readonly random: () => number,
  ) {
    const { address, port } = server.address() as AddressInfo;
    this.url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
    server.on('connection', (socket) => this.accept(socket));
    this.http2.on('session', (session) => {
      this.sessions.add(session);
      // A client that vanishes mid-session must not take the process down.
      session.on('error', () => undefined);
      session.once('close', () => this.sessions.delete(session));
    });
    this.http2.on('stream', (stream, headers) => this.route(new Http2Exchange(stream, headers)));
    this.http1.on('request', (req, res) => this.route(new Http1Exchange(req, res)));
  }

  static async start(options: BedrockSimulatorOptions = {}): Promise<BedrockSimulator> {
    const server = createNetServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new BedrockSimulator(server, options.random ?? Math.random);
  }

  /**
   * Applies a `POST /_local/model` body. Without `model` it replaces the behaviour of every model and clears the
   * overrides; with `model` it sets that model's override only. Omitted numbers take the mode's defaults
   * (`slow`: 3000 ms / 20 tokens/s; otherwise 20 ms / 2000 tokens/s; `failRate` 1), not the current values.
   * @throws SimulatorSettingsError naming the offending field; the state is then unchanged.
   */
  configure(body: unknown): SimulatorState {
    const parsed = settingsSchema.safeParse(body);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => {
        const field =
          issue.path.length > 0 ? issue.path.join('.') : issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : 'body';
        return `${field}: ${issue.message}`;
      });
      throw new SimulatorSettingsError(`Invalid simulator settings: ${problems.join('; ')}`);
    }
    const { model, mode, ttftMs, tokensPerSecond, failRate } = parsed.data;
    const pace = mode === 'slow' ? SLOW_PACE : NORMAL_PACE;
    const behaviour: ModelBehaviour = {
      mode,
      ttftMs: ttftMs ?? pace.ttftMs,
      tokensPerSecond: tokensPerSecond ?? pace.tokensPerSecond,
      failRate: failRate ?? 1,
    };
    if (model === undefined) {
      this.settings = { default: behaviour, models: {} };
    } else {
      this.settings.models[model] = behaviour;
    }
    return this.state();
  }

  /** A copy of the current settings: the body of `GET /_local/model`. */
  state(): SimulatorState {
    return structuredClone(this.settings);
  }

  /** Default settings, no overrides, counters at zero (`active` keeps counting the streams still open). */
  reset(): void {
    this.settings = { default: defaultBehaviour(), models: {} };
    this.stats.calls = 0;
    this.stats.cancelled = 0;
    this.stats.tokensSent = 0;
    this.stats.connections = 0;
    this.stats.connectionsByProtocol.h2 = 0;
    this.stats.connectionsByProtocol['http/1.1'] = 0;
    for (const key of Object.keys(this.stats.byModel)) delete this.stats.byModel[key];
  }

  /**
   * Stops accepting connections and destroys open ones (HTTP/2 sessions, HTTP/1.1 connections, idle keep-alive ones
   * included), so in-flight streams end at once rather than hang.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const session of this.sessions) session.destroy();
      for (const socket of this.sockets) socket.destroy();
      // An HTTP/1.1 response reports its close a little after its socket's; `stats` are final once close() resolves.
      await Promise.all([closed, ...this.openExchanges]);
    })();
    return this.closing;
  }

  /**
   * Reads a new connection's first bytes: the HTTP/2 connection preface goes to the HTTP/2 server, anything else to
   * the HTTP/1.1 server. The bytes read are put back, so the chosen server parses the connection from its start.
   */
  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // A client that vanishes before or between requests must not take the process down.
    socket.on('error', () => undefined);
    // Frames are small and go out one by one: none may wait for an acknowledgement (Nagle), on either protocol.
    socket.setNoDelay(true);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const compared = Math.min(head.length, HTTP2_PREFACE.length);
      const isHttp2 = head.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
      if (isHttp2 && head.length < HTTP2_PREFACE.length) return; // a prefix so far: wait for more
      socket.off('data', onData);
      socket.pause();
      socket.unshift(head);
      const protocol: SimulatorProtocol = isHttp2 ? 'h2' : 'http/1.1';
      this.stats.connections += 1;
      this.stats.connectionsByProtocol[protocol] += 1;
      // The HTTP/2 session reads the bytes put back itself; the HTTP/1.1 server reads from the socket once it flows.
      if (isHttp2) {
        this.http2.emit('connection', socket);
      } else {
        this.http1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  }

  private behaviourFor(modelId: string): ModelBehaviour {
    return this.settings.models[modelId] ?? this.settings.default;
  }

  private route(exchange: Exchange): void {
    const closed = new Promise<void>((resolve) => exchange.onClose(resolve));
    this.openExchanges.add(closed);
    void closed.then(() => this.openExchanges.delete(closed));
    const { method } = exchange;
    const path = exchange.path.split('?')[0];
    const call = new Call(exchange);

    if (path === '/_local/model') {
      if (method === 'GET') return call.json(200, this.state());
      if (method === 'POST') {
        void readBody(exchange.body).then((raw) => {
          try {
            call.json(200, this.configure(JSON.parse(raw)));
          } catch (err) {
            call.json(400, { message: err instanceof Error ? err.message : String(err) });
          }
        }, () => call.cancel());
        return;
      }
    }

    const match = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(path);
    if (method !== 'POST' || !match) {
      return call.error(404, 'UnknownOperationException', `No operation matches ${method} ${path}`);
    }
    let modelId: string;
    try {
      modelId = decodeURIComponent(match[1]);
    } catch {
      return call.error(400, 'ValidationException', 'The model identifier is not correctly URI-encoded.');
    }

    this.stats.calls += 1;
    this.stats.byModel[modelId] = (this.stats.byModel[modelId] ?? 0) + 1;
    this.stats.active += 1;
    call.onClose((finished) => {
      this.stats.active -= 1;
      if (!finished) this.stats.cancelled += 1;
    });

    const behaviour = { ...this.behaviourFor(modelId) };
    readBody(exchange.body)
      .then((raw) => this.answer(call, match[2] === 'converse-stream', behaviour, raw))
      .catch(() => call.cancel());
  }

  private async answer(call: Call, streaming: boolean, behaviour: ModelBehaviour, raw: string): Promise<void> {
    const request = parseRequest(raw);
    if ('error' in request) return call.error(400, 'ValidationException', request.error);

    const { mode, ttftMs, tokensPerSecond } = behaviour;
    const failing = mode === 'throttle' || mode === 'error' || mode === 'midstream-error';
    // Draw only in failing modes, so a seeded sequence maps one-to-one onto the calls that could fail.
    const fails = failing && this.random() < behaviour.failRate;

    if (fails && (mode === 'throttle' || mode === 'error')) {
      if (!(await call.wait(ttftMs))) return;
      return mode === 'throttle'
        ? call.error(429, 'ThrottlingException', THROTTLE_MESSAGE)
        : call.error(500, 'InternalServerException', 'The model encountered an internal error. Try your request again.');
    }

    const all = generateTokens(request.seedText);
    const tokens = request.maxTokens !== undefined ? all.slice(0, request.maxTokens) : all;
    const stopReason = tokens.length < all.length ? 'max_tokens' : 'end_turn';
    // Mid-stream failures show some content first, never all of it.
    const failAfter = fails
      ? Math.max(0, Math.min(Math.max(3, Math.floor(tokens.length / 2)), tokens.length - 1))
      : undefined;
    const interval = 1000 / tokensPerSecond;
    const usage = {
      inputTokens: request.inputTokens,
      outputTokens: tokens.length,
      totalTokens: request.inputTokens + tokens.length,
    };

    if (!streaming) {
      const produced = failAfter ?? tokens.length;
      if (!(await call.wait(ttftMs + Math.max(0, produced - 1) * interval))) return;
      if (failAfter !== undefined) {
        return call.error(500, 'InternalServerException', 'The model stream failed while generating the response.');
      }
      return call.json(200, {
        output: { message: { role: 'assistant', content: [{ text: tokens.join('') }] } },
        stopReason,
        usage,
        metrics: { latencyMs: call.elapsedMs() },
      });
    }

    call.respond(200, EVENT_STREAM);
    call.write(this.event('messageStart', { role: 'assistant' }));
    if (!(await call.wait(ttftMs))) return;

    const limit = failAfter ?? tokens.length;
    const firstAt = performance.now();
    let sent = 0;
    while (sent < limit) {
      // Timers are coarser than fast token intervals: send every token that is due, one frame each, per tick.
      const due = Math.min(limit, Math.floor((performance.now() - firstAt) / interval) + 1);
      const frames: Uint8Array[] = [];
      for (; sent < due; sent++) {
        frames.push(this.event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: tokens[sent] } }));
      }
      this.stats.tokensSent += frames.length;
      call.write(Buffer.concat(frames));
      if (sent < limit && !(await call.wait(firstAt + sent * interval - performance.now()))) return;
    }

    if (failAfter !== undefined) {
      call.write(
        this.exception('modelStreamErrorException', {
          message: 'The model stream failed while generating the response.',
          originalStatusCode: 500,
          originalMessage: 'Internal server error in the model.',
        }),
      );
      return call.end();
    }
    call.write(this.event('contentBlockStop', { contentBlockIndex: 0 }));
    call.write(this.event('messageStop', { stopReason }));
    call.write(this.event('metadata', { usage, metrics: { latencyMs: call.elapsedMs() } }));
    call.end();
  }

  private event(type: string, body: object): Uint8Array {
    return this.frame({ ':message-type': 'event', ':event-type': type, ':content-type': 'application/json' }, body);
  }

  private exception(type: string, body: object): Uint8Array {
    return this.frame({ ':message-type': 'exception', ':exception-type': type, ':content-type': 'application/json' }, body);
  }

  private frame(headers: Record<string, string>, body: object): Uint8Array {
    const tagged = Object.fromEntries(Object.entries(headers).map(([k, value]) => [k, { type: 'string' as const, value }]));
    return this.codec.encode({ headers: tagged, body: fromUtf8(JSON.stringify(body)) });
  }
}

/** One request and its response, whichever the protocol. {@link Call} guards it: no write once it is gone. */
interface Exchange {
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

class Http2Exchange implements Exchange {
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
class Http1Exchange implements Exchange {
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

/** One model or settings call: pacing timers that die with the exchange, and writes that are no-ops once it is gone. */
class Call {
  private readonly startedAt = performance.now();
  private readonly requestId = randomUUID();
  private timer?: NodeJS.Timeout;
  private wake?: (alive: boolean) => void;
  private finished = false;
  private gone = false;

  constructor(private readonly exchange: Exchange) {
    exchange.onClose(() => {
      this.gone = true;
      this.stopWaiting();
    });
  }

  /** `listener(finished)` runs once when the exchange closes; `finished` is false if the client left first. */
  onClose(listener: (finished: boolean) => void): void {
    if (this.gone) return listener(this.finished);
    this.exchange.onClose(() => listener(this.finished));
  }

  /** Resolves true after `ms`, or false as soon as the client goes away (the timer is cleared). */
  wait(ms: number): Promise<boolean> {
    if (this.gone) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.wake = undefined;
        resolve(!this.gone);
      }, Math.max(0, ms));
    });
  }

  elapsedMs(): number {
    return Math.round(performance.now() - this.startedAt);
  }

  /** Starts a streamed response: status and headers go out now. */
  respond(status: number, contentType: string): void {
    if (!this.alive || this.exchange.headersSent) return;
    this.exchange.respond(status, this.headers(contentType));
  }

  write(chunk: Uint8Array): void {
    if (this.alive) this.exchange.write(chunk);
  }

  end(): void {
    if (!this.alive) return;
    this.finished = true;
    this.exchange.end();
  }

  json(status: number, body: unknown, extra: Record<string, string> = {}): void {
    if (!this.alive || this.exchange.headersSent) return;
    this.finished = true;
    this.exchange.respondWith(status, this.headers('application/json', extra), JSON.stringify(body));
  }

  /** A restJson1 error: the SDK names the thrown exception after `x-amzn-errortype`. */
  error(status: number, type: string, message: string): void {
    this.json(status, { message }, { 'x-amzn-errortype': type });
  }

  cancel(): void {
    if (this.alive) this.exchange.abort();
  }

  private headers(contentType: string, extra: Record<string, string> = {}): Record<string, string> {
    return { 'content-type': contentType, 'x-amzn-requestid': this.requestId, ...extra };
  }

  // `close` is emitted a tick after the exchange is destroyed; writing in between would throw.
  private get alive(): boolean {
    return !this.gone && !this.exchange.destroyed;
  }

  private stopWaiting(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wake?.(false);
    this.wake = undefined;
  }
}

function readBody(body: Readable): Promise<string> {
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

interface ParsedRequest {
  /** What the answer is derived from: system prompt and last user message. */
  seedText: string;
  inputTokens: number;
  maxTokens?: number;
}

/** Just enough of Bedrock's request validation for clients to see realistic `ValidationException`s. */
function parseRequest(raw: string): ParsedRequest | { error: string } {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return { error: 'The request body is not valid JSON.' };
  }
  if (!isRecord(body)) return { error: 'The request body must be a JSON object.' };
  const { messages, system, inferenceConfig } = body;
  if (!Array.isArray(messages) || messages.length === 0) {
    return { error: 'The messages field is required and must contain at least one message.' };
  }
  let maxTokens: number | undefined;
  if (isRecord(inferenceConfig) && inferenceConfig.maxTokens !== undefined) {
    const value = inferenceConfig.maxTokens;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      return { error: 'inferenceConfig.maxTokens must be an integer of at least 1.' };
    }
    maxTokens = value;
  }

  const systemText = blockText(system);
  const turns = messages.map((m) =>
    isRecord(m) ? { role: m.role, text: blockText(m.content) } : { role: undefined, text: '' },
  );
  const lastUser = [...turns].reverse().find((t) => t.role === 'user')?.text ?? '';
  const chars = systemText.length + turns.reduce((sum, t) => sum + t.text.length, 0);
  return { seedText: `${systemText}\u0000${lastUser}`, inputTokens: Math.max(1, Math.ceil(chars / 4)), maxTokens };
}

function blockText(blocks: unknown): string {
  if (!Array.isArray(blocks)) return '';
  return blocks.map((b) => (isRecord(b) && typeof b.text === 'string' ? b.text : '')).join('\n');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const WORDS = (
  'the a model answer stream token latency first byte user request response cloud serverless function queue table ' +
  'event retry breaker budget limit fallback metric trace client server gateway webhook report job result signal ' +
  'fast steady simple careful clear useful reliable shared local regional quiet bright small large each every ' +
  'builds sends reads writes checks keeps returns counts waits starts ends measures delivers handles protects'
).split(' ');

/**
 * A deterministic answer of 20 to 60 tokens, each a word plus the space after it (the last has none), so the same
 * prompt always streams the same text and tests can compare runs.
 */
export function generateTokens(seedText: string): string[] {
  const next = mulberry32(fnv1a(seedText));
  const count = 20 + Math.floor(next() * 41);
  const tokens: string[] = [];
  let sentenceStart = true;
  for (let i = 0; i < count; i++) {
    let word = WORDS[Math.floor(next() * WORDS.length)];
    if (sentenceStart) word = word[0].toUpperCase() + word.slice(1);
    const last = i === count - 1;
    sentenceStart = last || next() < 0.12;
    tokens.push(sentenceStart ? `${word}.${last ? '' : ' '}` : `${word} `);
  }
  return tokens;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A small seeded PRNG (mulberry32): the simulator's texts, and reproducible `random` sources for tests. */
export function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
