/**
 * The simulator's server: one TCP port that hands each connection to an HTTP/2 or an HTTP/1.1 server by its first
 * bytes, routes the requests of both to the same code, and keeps the counters tests read.
 */
import { createServer as createHttp1Server, type Server as Http1Server } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type Http2Session } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { answer } from './answer';
import { Call } from './call';
import { Http1Exchange, Http2Exchange, readBody, type Exchange } from './exchange';
import { sniffProtocol, type SimulatorProtocol } from './protocol';
import { PromptCache } from './prompt-cache';
import { applySettings, behaviourFor, initialState, type SimulatorState } from './settings';

export interface SimulatorStats {
  /** Converse and ConverseStream calls received. */
  calls: number;
  /** The same, per (decoded) model id. */
  byModel: Record<string, number>;
  /** Model calls (either operation) whose exchange (HTTP/2 stream or HTTP/1.1 response) is still open. */
  active: number;
  /** Calls whose client went away before the simulator finished answering. */
  cancelled: number;
  /** Calls refused with `ThrottlingException` because their model was past its `requestsPerMinute`. */
  throttled: number;
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

/** How long an idle HTTP/1.1 connection is kept open for the next request. */
const HTTP1_KEEP_ALIVE_MS = 60_000;
const MODEL_PATH = /^\/model\/([^/]+)\/(converse|converse-stream)$/;

export class BedrockSimulator {
  /** Base URL for `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` or a client's `endpoint`. */
  readonly url: string;
  readonly stats: SimulatorStats = {
    calls: 0,
    byModel: {},
    active: 0,
    cancelled: 0,
    throttled: 0,
    tokensSent: 0,
    connections: 0,
    connectionsByProtocol: { h2: 0, 'http/1.1': 0 },
  };

  private settings: SimulatorState = initialState();
  /** The prompt prefixes cached per model (Bedrock prompt caching), kept 5 minutes from their last use. */
  private readonly promptCache = new PromptCache();
  /** Per model id, when its calls that counted against `requestsPerMinute` arrived (the last 60 seconds of them). */
  private readonly recentCalls = new Map<string, number[]>();
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  /** Settles when each exchange still open has closed, whichever the protocol. */
  private readonly openExchanges = new Set<Promise<void>>();
  private readonly http2: Http2Server = createHttp2Server();
  private readonly http1: Http1Server = createHttp1Server({ keepAliveTimeout: HTTP1_KEEP_ALIVE_MS });
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
    this.settings = applySettings(this.settings, body);
    return this.state();
  }

  /** A copy of the current settings: the body of `GET /_local/model`. */
  state(): SimulatorState {
    return structuredClone(this.settings);
  }

  /** Default settings, no overrides, counters at zero (`active` keeps counting the streams still open). */
  reset(): void {
    this.settings = initialState();
    this.stats.calls = 0;
    this.stats.cancelled = 0;
    this.stats.throttled = 0;
    this.recentCalls.clear();
    this.promptCache.clear();
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

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // A client that vanishes before or between requests must not take the process down.
    socket.on('error', () => undefined);
    // Frames are small and go out one by one: none may wait for an acknowledgement (Nagle), on either protocol.
    socket.setNoDelay(true);
    sniffProtocol(socket, (protocol) => {
      this.stats.connections += 1;
      this.stats.connectionsByProtocol[protocol] += 1;
      // The HTTP/2 session reads the bytes put back itself; the HTTP/1.1 server reads from the socket once it flows.
      if (protocol === 'h2') {
        this.http2.emit('connection', socket);
      } else {
        this.http1.emit('connection', socket);
        socket.resume();
      }
    });
  }

  private route(exchange: Exchange): void {
    const closed = new Promise<void>((resolve) => exchange.onClose(resolve));
    this.openExchanges.add(closed);
    void closed.then(() => this.openExchanges.delete(closed));
    const { method } = exchange;
    const path = exchange.path.split('?')[0];
    const call = new Call(exchange);

    if (path === '/_local/model' && (method === 'GET' || method === 'POST')) return this.settingsCall(call, exchange);
    const match = MODEL_PATH.exec(path);
    if (method !== 'POST' || !match) {
      return call.error(404, 'UnknownOperationException', `No operation matches ${method} ${path}`);
    }
    let modelId: string;
    try {
      modelId = decodeURIComponent(match[1]);
    } catch {
      return call.error(400, 'ValidationException', 'The model identifier is not correctly URI-encoded.');
    }
    this.modelCall(call, exchange, modelId, match[2] === 'converse-stream');
  }

  /** `GET /_local/model` reads the settings, `POST` applies a body (400 naming the field when it is refused). */
  private settingsCall(call: Call, exchange: Exchange): void {
    if (exchange.method === 'GET') return call.json(200, this.state());
    void readBody(exchange.body).then(
      (raw) => {
        try {
          call.json(200, this.configure(JSON.parse(raw)));
        } catch (err) {
          call.json(400, { message: err instanceof Error ? err.message : String(err) });
        }
      },
      () => call.cancel(),
    );
  }

  private modelCall(call: Call, exchange: Exchange, modelId: string, streaming: boolean): void {
    this.stats.calls += 1;
    this.stats.byModel[modelId] = (this.stats.byModel[modelId] ?? 0) + 1;
    this.stats.active += 1;
    call.onClose((finished) => {
      this.stats.active -= 1;
      if (!finished) this.stats.cancelled += 1;
    });

    const behaviour = { ...behaviourFor(this.settings, modelId) };
    // Counted on arrival, as Bedrock counts a request against its quota when it receives it.
    const throttled = this.overQuota(modelId, behaviour.requestsPerMinute);
    if (throttled) this.stats.throttled += 1;
    const context = {
      random: this.random,
      onTokensSent: (count: number) => (this.stats.tokensSent += count),
      modelId,
      promptCache: this.promptCache,
    };
    readBody(exchange.body)
      .then((raw) =>
        throttled
          ? call.error(429, 'ThrottlingException', 'Too many requests, please wait before trying again.')
          : answer(call, streaming, behaviour, raw, context),
      )
      .catch(() => call.cancel());
  }

  /** Whether a call now would pass the model's `requestsPerMinute` (a sliding minute); if not, it is counted. */
  private overQuota(modelId: string, requestsPerMinute: number | undefined): boolean {
    if (requestsPerMinute === undefined) return false;
    const now = Date.now();
    const recent = (this.recentCalls.get(modelId) ?? []).filter((at) => at > now - 60_000);
    const over = recent.length >= requestsPerMinute;
    if (!over) recent.push(now);
    this.recentCalls.set(modelId, recent);
    return over;
  }
}
