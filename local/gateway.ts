/**
 * The local API Gateway: serves every route of `config/routes.ts` (the table the CDK stack builds the REST API from)
 * by invoking the unchanged Lambda handlers with REST API (v1) proxy events.
 *
 * What it reproduces, because clients and tests depend on it:
 * - The Lambda REQUEST authorizer and usage plans: every request runs the authorizer function (the deployed one,
 *   `lambda/functions/authorizer/handler.ts`, keys as `Authorization: Bearer` or `x-api-key`), its answer cached by
 *   identity source for the stack's TTL (`config/auth.ts`); its `context` reaches the function as
 *   `requestContext.authorizer`. A Deny is `403 {"message":"Forbidden"}`, an `Unauthorized` failure `401` in OpenAI's
 *   shape; then the key it returns (`usageIdentifierKey`) meets its usage plan: `403 {"message":"Forbidden"}` for a key
 *   in no plan, `429 {"message":"Too Many Requests"}` past the throttle, `429 {"message":"Limit Exceeded"}` past the
 *   daily quota. Unknown routes get `403 {"message":"Missing Authentication Token"}`, as on AWS.
 * - STREAM routes: the handler's prelude + 8 NUL bytes + body is split exactly as API Gateway does, and bytes are
 *   forwarded as they are written. BUFFERED routes: the proxy result is sent as one response.
 * - A client that disconnects destroys the response stream (Lambda itself does not tell the function; this is the
 *   "where the platform lets us know" case), unless {@link LocalGatewayOptions.signalDisconnect} is false: then, as on
 *   Lambda, the function never learns of it and its writes go on into the void until it ends the stream.
 * - Requests API Gateway would never pass to a function are answered by the gateway, in API Gateway's `{"message": …}`
 *   shape and never with a reset or a 5xx: an unparsable request target or request line, malformed headers (400),
 *   headers over API Gateway's 10,240-byte quota (431), oversized chunk extensions (413), an unmet `Expect` (417), and a
 *   request that does not arrive in time (408, see {@link GatewayTimeouts}).
 * - The headers of every answer (`config/headers.ts`): the gateway's own answers (its errors, the extra routes) carry
 *   `x-request-id` and, with {@link LocalGatewayOptions.cors}, CORS headers, as the stack's gateway responses do; a
 *   function's answer carries what the function sent, as on AWS, where a proxy integration's headers pass through.
 *   With CORS on, an `OPTIONS` request to a route's path is a preflight, answered without a key and without invoking
 *   the function, as the stack's mock `OPTIONS` methods answer it; so is one to a local-only `/_local/` path.
 */
import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  APIGatewayRequestAuthorizerEvent,
} from 'aws-lambda';
import { AUTHORIZER_RESULT_TTL_SECONDS, OPENAI_INVALID_API_KEY } from '../config/auth';
import {
  type CorsSettings,
  corsEnabled,
  corsResponseHeaders,
  preflightHeaders,
  REQUEST_ID_HEADER,
} from '../config/headers';
import { matchPath, ROUTES, type FunctionName, type RouteDefinition } from '../config/routes';
import { headerOf } from '../lambda/core/http';
import type { UsagePlans } from './api-keys';
import {
  createContext,
  invokeStreaming,
  isStreamingHandler,
  readPrelude,
  type BufferedHandler,
  type StreamingHandler,
} from './lambda-runtime';

/** API Gateway's payload limit. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** API Gateway's quota on the request line and headers together (REST APIs), in bytes. */
const MAX_HEADER_BYTES = 10_240;

/**
 * How long the gateway waits for a client to send its request. API Gateway documents no limit for a slow or incomplete
 * request (its quotas cover integrations and streams), so these follow its documented limits in spirit: what a client
 * has not finished sending within 30 s (the idle timeout of edge-optimized endpoints, and one second past the 29 s
 * integration timeout) is abandoned with `408 {"message":"Request Timeout"}`, as are headers that take longer than 10 s
 * and a body that stalls for 10 s. None of them runs once the request has arrived, so a stream that is silent between
 * keep-alives (`chat.keepAliveMs`) or runs for its whole 15 minutes is never cut by them.
 */
export interface GatewayTimeouts {
  /** Request line and headers must arrive within this. At most `requestMs`. @default 10_000 */
  readonly headersMs?: number;
  /** The whole request, body included, must arrive within this. @default 30_000 */
  readonly requestMs?: number;
  /** Longest pause between two chunks of a request body. @default 10_000 */
  readonly bodyIdleMs?: number;
}

export const DEFAULT_GATEWAY_TIMEOUTS: Required<GatewayTimeouts> = {
  headersMs: 10_000,
  requestMs: 30_000,
  bodyIdleMs: 10_000,
};

/** The methods a preflight to a local-only `/_local/` path allows: those endpoints take GET and POST. */
const LOCAL_ROUTE_METHODS: readonly string[] = ['GET', 'POST'];

/** How long a rejected connection may linger half-closed so the client can read the answer before it is destroyed. */
const REJECT_LINGER_MS = 1_000;

export type HandlerLoader = (name: FunctionName) => Promise<unknown>;

/** A local-only endpoint outside the route table (the simulator controls). Returns false to fall through. */
export type ExtraRoute = (req: IncomingMessage, res: ServerResponse, body: Buffer) => Promise<boolean>;

export interface LocalGatewayOptions {
  readonly plans: UsagePlans;
  readonly loadHandler: HandlerLoader;
  /** Function timeout per route, in ms (mirrors the stack's Lambda timeouts). */
  readonly timeoutMs: (route: RouteDefinition) => number;
  readonly extraRoutes?: readonly ExtraRoute[];
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Called for errors a handler should never produce (an uncaught throw). */
  readonly onHandlerError?: (err: unknown, route: RouteDefinition) => void;
  /** Called for failures of the gateway itself (answered with 502). */
  readonly onGatewayError?: (err: unknown) => void;
  /** @default ROUTES */
  readonly routes?: readonly RouteDefinition[];
  /**
   * A path prefix that names the stage, as the deployed URL's `/v1` does: a request under it is served by the same
   * routes, with `resource` and `path` relative to the stage and `requestContext.path` the full path, as on AWS.
   * Requests without it are served too (the local URL has no stage). @default none
   */
  readonly stagePrefix?: string;
  /** @default DEFAULT_GATEWAY_TIMEOUTS */
  readonly timeouts?: GatewayTimeouts;
  /** The authorizer's result cache, as the stack configures it. @default the stack's (`config/auth.ts`) */
  readonly authorizerCache?: AuthorizerCacheSettings;
  /** CORS, as `api.cors` configures the stack. @default off (no origin allowed) */
  readonly cors?: CorsSettings;
  /**
   * Whether a streaming function learns that its client disconnected (its response stream is destroyed). `false`
   * behaves as Lambda response streaming does: nothing reaches the function, which generates until it ends the stream;
   * only `POST /chat/stream/{requestId}/cancel` stops it. @default true
   */
  readonly signalDisconnect?: boolean;
}

/**
 * API Gateway's authorizer result cache. With a TTL above 0 every identity source must be present (else `401` without
 * calling the function) and answers are cached by their values; with 0 the function runs on every request.
 */
export interface AuthorizerCacheSettings {
  readonly ttlSeconds: number;
  /** Header names whose values form the cache key. */
  readonly identityHeaders: readonly string[];
}

const STAGE = 'local';

export class LocalGateway {
  private readonly server: Server;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly timeouts: Required<GatewayTimeouts>;
  private readonly authorizerCache = new Map<string, { result: AuthorizerOutcome; expires: number }>();

  private constructor(
    private readonly options: LocalGatewayOptions,
    readonly url: string,
    server: Server,
  ) {
    this.server = server;
    this.timeouts = resolveTimeouts(options.timeouts);
  }

  static async start(options: LocalGatewayOptions): Promise<LocalGateway> {
    let gateway: LocalGateway | undefined;
    const timeouts = resolveTimeouts(options.timeouts);
    // The response a socket is serving, so that a late parse error or timeout never writes over one already started.
    const responses = new WeakMap<Socket | Duplex, ServerResponse>();
    const server = createServer(
      {
        // Node enforces both only while a request is arriving (never while its response streams), and checks them
        // every `connectionsCheckingInterval`, which must be well below them to answer in time.
        headersTimeout: timeouts.headersMs,
        requestTimeout: timeouts.requestMs,
        connectionsCheckingInterval: Math.max(25, Math.min(1_000, Math.floor(timeouts.headersMs / 4))),
        maxHeaderSize: MAX_HEADER_BYTES,
        // Node would answer a missing Host with an empty 400; `serve` answers it with a body.
        requireHostHeader: false,
      },
      (req, res) => {
        responses.set(req.socket, res);
        res.once('close', () => {
          if (responses.get(req.socket) === res) responses.delete(req.socket);
        });
        void gateway?.handle(req, res);
      },
    );
    server.on('clientError', (err: Error & { code?: string; reason?: string }, socket: Duplex) => {
      // Node's parser reports every later chunk of a rejected request again; the answer is already on its way.
      if (rejected.has(socket)) return;
      if (responses.get(socket)?.headersSent || err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') reject(socket, 408, 'Request Timeout');
      else if (err.code === 'HPE_HEADER_OVERFLOW') reject(socket, 431, 'Request Header Fields Too Large');
      else if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') reject(socket, 413, 'Request Too Long');
      else reject(socket, 400, err.reason ? `Bad Request: ${err.reason}` : 'Bad Request');
    });
    // A CONNECT target is host:port, not a path: nothing to route.
    server.on('connect', (_req: IncomingMessage, socket: Duplex) =>
      reject(socket, 400, 'Bad Request: CONNECT is not supported'),
    );
    server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) =>
      send(res, 417, { message: 'Expectation Failed' }, { [REQUEST_ID_HEADER]: randomUUID() }),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    const { address, port } = server.address() as AddressInfo;
    gateway = new LocalGateway(options, `http://${address}:${port}`, server);
    return gateway;
  }

  /** Stops accepting, ends open connections, and waits for running invocations to settle. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    await Promise.allSettled([...this.inFlight]);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const own = this.ownHeaders(req, requestId);
    const work = this.serve(req, res, requestId, own).catch((err) => {
      this.options.onGatewayError?.(err);
      if (res.destroyed || res.writableEnded) return;
      if (!res.headersSent) send(res, 502, { message: 'Internal server error' }, own);
      else res.destroy(err as Error);
    });
    this.inFlight.add(work);
    await work;
    this.inFlight.delete(work);
  }

  /** The headers of the gateway's own answers: the request id, and CORS for the request's origin. */
  private ownHeaders(req: IncomingMessage, requestId: string): Record<string, string> {
    const origin = headerOf(req.headers as Record<string, string | undefined>, 'origin');
    return { [REQUEST_ID_HEADER]: requestId, ...corsResponseHeaders(origin, this.options.cors?.allowOrigins ?? []) };
  }

  /**
   * The methods a preflight to `stagePath` allows, or undefined when it is not a preflight the gateway answers: those of
   * the routes on the resource the path names (a literal segment wins over a `{parameter}`, as in API Gateway), or a
   * local-only endpoint's.
   */
  private preflightMethodsAt(stagePath: string, path: string): readonly string[] | undefined {
    const matching = (this.options.routes ?? ROUTES).filter((r) => matchPath(r.path, stagePath));
    const parameters = (routePath: string) => routePath.split('/').filter((p) => p.startsWith('{')).length;
    const resource = matching.map((r) => r.path).sort((a, b) => parameters(a) - parameters(b))[0];
    if (resource !== undefined) return matching.filter((r) => r.path === resource).map((r) => r.method);
    return path.startsWith('/_local/') ? LOCAL_ROUTE_METHODS : undefined;
  }

  private async serve(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    own: Record<string, string>,
  ): Promise<void> {
    res.setHeader('x-amzn-requestid', requestId);
    // Every answer of the gateway itself carries them; a function's answer carries its own (removed below).
    for (const [name, value] of Object.entries(own)) res.setHeader(name, value);
    const read = await readBody(req, this.timeouts.bodyIdleMs);
    if (read.outcome === 'aborted') return void res.destroy();
    if (read.outcome === 'idle') {
      // The rest of the body is not coming; the connection cannot carry another request.
      res.setHeader('connection', 'close');
      return send(res, 408, { message: 'Request Timeout' });
    }
    if (read.outcome === 'too-large') return send(res, 413, { message: 'Request Too Long' });
    const body = read.body;

    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return send(res, 400, { message: 'Bad Request: the request target is not a valid URL' });
    }
    if (req.httpVersion === '1.1' && req.headers.host === undefined)
      return send(res, 400, { message: 'Bad Request: missing Host header' });

    const method = (req.method ?? 'GET').toUpperCase();
    const prefix = this.options.stagePrefix;
    const stagePath =
      prefix && url.pathname.startsWith(`${prefix}/`) ? url.pathname.slice(prefix.length) : url.pathname;
    const cors = this.options.cors;
    if (method === 'OPTIONS' && cors && corsEnabled(cors.allowOrigins)) {
      const methods = this.preflightMethodsAt(stagePath, url.pathname);
      if (methods) {
        const origin = headerOf(req.headers as Record<string, string | undefined>, 'origin');
        res.writeHead(204, preflightHeaders(origin, cors, methods));
        return void res.end();
      }
    }

    for (const extra of this.options.extraRoutes ?? []) {
      if (await extra(req, res, body)) return;
    }
    let route: RouteDefinition | undefined;
    let pathParameters: Record<string, string> | undefined;
    for (const candidate of this.options.routes ?? ROUTES) {
      const params = candidate.method === method ? matchPath(candidate.path, stagePath) : undefined;
      if (params) {
        route = candidate;
        pathParameters = params;
        break;
      }
    }
    if (!route || !pathParameters) return send(res, 403, { message: 'Missing Authentication Token' });

    const event = toProxyEvent(req, url, stagePath, body, route, pathParameters, requestId, this.url);
    const authorized = await this.authorize(event, route);
    if (authorized.outcome !== 'allowed') {
      // UNAUTHORIZED, ACCESS_DENIED (both rendered by the stack's gateway responses) and AUTHORIZER_FAILURE.
      if (authorized.outcome === 'unauthorized') return send(res, 401, OPENAI_INVALID_API_KEY);
      if (authorized.outcome === 'denied') return send(res, 403, { message: 'Forbidden' });
      return send(res, 500, { message: null });
    }
    const admission = this.options.plans.admit(authorized.usageIdentifierKey);
    if (!admission.allowed) {
      if (admission.reason === 'forbidden') return send(res, 403, { message: 'Forbidden' });
      // API Gateway sends no Retry-After on usage-plan rejections; clients back off on 429.
      return send(res, 429, { message: admission.reason === 'quota' ? 'Limit Exceeded' : 'Too Many Requests' });
    }

    event.requestContext.authorizer = authorized.context;
    event.requestContext.identity.apiKey = admission.apiKey!.key;
    event.requestContext.identity.apiKeyId = admission.apiKey!.apiKeyId;
    for (const name of Object.keys(own)) res.removeHeader(name);
    const handler = await this.options.loadHandler(route.functionName);
    const context = createContext(route.functionName, this.options.timeoutMs(route));
    if (route.transferMode === 'STREAM') {
      if (!isStreamingHandler(handler))
        throw new Error(`${route.functionName} is not wrapped in awslambda.streamifyResponse`);
      await this.stream(handler, event, context, res, route, own);
    } else {
      await this.buffered(handler as BufferedHandler, event, context, res, route, own);
    }
  }

  /** Runs the authorizer as API Gateway does, through its result cache. */
  private async authorize(event: APIGatewayProxyEvent, route: RouteDefinition): Promise<AuthorizerOutcome> {
    const settings = this.options.authorizerCache ?? { ttlSeconds: AUTHORIZER_RESULT_TTL_SECONDS, identityHeaders: [] };
    let cacheKey: string | undefined;
    if (settings.ttlSeconds > 0) {
      const values = settings.identityHeaders.map((h) => headerOf(event.headers, h));
      if (values.some((v) => !v)) return { outcome: 'unauthorized' };
      cacheKey = JSON.stringify(values);
      const hit = this.authorizerCache.get(cacheKey);
      if (hit && hit.expires > Date.now()) return hit.result;
    }
    const handler = (await this.options.loadHandler('authorizer')) as (
      event: APIGatewayRequestAuthorizerEvent,
    ) => Promise<APIGatewayAuthorizerResult>;
    const methodArn = `arn:aws:execute-api:us-east-1:000000000000:local/${STAGE}/${route.method}${event.path}`;
    let outcome: AuthorizerOutcome;
    try {
      const result = await handler(toAuthorizerEvent(event, methodArn));
      outcome = evaluateAuthorizerResult(result, methodArn);
    } catch (err) {
      // "Unauthorized" is the authorizer's documented way to have API Gateway answer 401; anything else is a 500.
      if ((err as Error)?.message === 'Unauthorized') outcome = { outcome: 'unauthorized' };
      else {
        this.options.onHandlerError?.(err, route);
        return { outcome: 'failed' };
      }
    }
    if (cacheKey)
      this.authorizerCache.set(cacheKey, { result: outcome, expires: Date.now() + settings.ttlSeconds * 1000 });
    return outcome;
  }

  private async buffered(
    handler: BufferedHandler,
    event: APIGatewayProxyEvent,
    context: ReturnType<typeof createContext>,
    res: ServerResponse,
    route: RouteDefinition,
    own: Record<string, string>,
  ): Promise<void> {
    let result: APIGatewayProxyResult;
    try {
      result = (await withTimeout(
        handler(event, context),
        context.getRemainingTimeInMillis(),
      )) as APIGatewayProxyResult;
    } catch (err) {
      this.options.onHandlerError?.(err, route);
      // What API Gateway answers when the integration fails or times out.
      return err instanceof IntegrationTimeout
        ? send(res, 504, { message: 'Endpoint request timed out' }, own)
        : send(res, 502, { message: 'Internal server error' }, own);
    }
    if (!result || typeof result.statusCode !== 'number')
      return send(res, 502, { message: 'Internal server error' }, own);
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
    for (const [k, v] of Object.entries(result.multiValueHeaders ?? {})) headers[k] = v.map(String);
    res.writeHead(result.statusCode, headers);
    res.end(
      result.body === undefined ? undefined : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8'),
    );
  }

  private async stream(
    handler: StreamingHandler,
    event: APIGatewayProxyEvent,
    context: ReturnType<typeof createContext>,
    res: ServerResponse,
    route: RouteDefinition,
    own: Record<string, string>,
  ): Promise<void> {
    const { responseStream, done } = invokeStreaming(handler, event, context);
    const clientGone = () => {
      if (this.options.signalDisconnect !== false && !responseStream.writableEnded) responseStream.destroy();
    };
    res.on('close', clientGone);
    const timer = setTimeout(() => responseStream.destroy(), context.getRemainingTimeInMillis());
    let handlerFailed = false;
    const failed = done.catch((err) => {
      handlerFailed = true;
      this.options.onHandlerError?.(err, route);
    });

    // Resolves at the prelude's delimiter, or when the stream ends (a handler that threw ends it too).
    const first = await readPrelude(responseStream);
    if (responseStream.readableEnded || responseStream.destroyed) await failed;
    if (handlerFailed && first.prelude.statusCode === undefined && first.rest.length === 0) {
      clearTimeout(timer);
      if (!res.headersSent) send(res, 502, { message: 'Internal server error' }, own);
      return;
    }
    const { prelude, rest } = first;
    res.writeHead(prelude.statusCode ?? 200, prelude.headers ?? { 'content-type': 'application/octet-stream' });
    res.flushHeaders();
    if (rest.length) res.write(rest);
    if (responseStream.readableEnded) {
      res.end();
    } else {
      // A client that left without the function being told (signalDisconnect: false) gets nothing more.
      // The events a function writes in one turn of the event loop (a token's `delta` and what follows it) leave in one
      // write to the socket, not one each: corked until the turn's callbacks and promise jobs have run.
      let corked = false;
      const uncork = () => {
        corked = false;
        res.uncork();
      };
      responseStream.on('data', (chunk: Buffer) => {
        if (res.destroyed) return;
        if (!corked) {
          corked = true;
          res.cork();
          process.nextTick(uncork);
        }
        res.write(chunk);
      });
      responseStream.once('end', () => res.end());
      responseStream.once('close', () => {
        if (!res.writableEnded) res.end();
      });
      responseStream.resume();
    }
    await failed;
    clearTimeout(timer);
    if (!res.writableEnded && responseStream.destroyed) res.end();
  }
}

class IntegrationTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new IntegrationTimeout()), ms);
    }),
  ]);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function resolveTimeouts(timeouts: GatewayTimeouts = {}): Required<GatewayTimeouts> {
  const { headersMs, requestMs, bodyIdleMs } = { ...DEFAULT_GATEWAY_TIMEOUTS, ...timeouts };
  for (const [name, value] of Object.entries({ headersMs, requestMs, bodyIdleMs })) {
    if (!Number.isInteger(value) || value <= 0)
      throw new RangeError(`timeouts.${name}: must be a positive integer of ms`);
  }
  // Node refuses a headers timeout longer than the request timeout.
  return { headersMs: Math.min(headersMs, requestMs), requestMs, bodyIdleMs };
}

/** Sockets answered by {@link reject}, which only wait for the client to read the answer. */
const rejected = new WeakSet<Duplex>();

/**
 * Answers on a socket Node's parser gave up on (no `ServerResponse` exists), then closes it. Without a parsed request
 * there is no `Origin` to answer CORS for; browsers never send what the parser refuses.
 */
function reject(socket: Duplex, status: number, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  rejected.add(socket);
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json\r\n` +
      `${REQUEST_ID_HEADER}: ${randomUUID()}\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  // Half-closed until the client has read the answer and closed its side, or until it lingers too long.
  const timer = setTimeout(() => socket.destroy(), REJECT_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.resume();
}

type BodyRead =
  | { readonly outcome: 'complete'; readonly body: Buffer }
  | { readonly outcome: 'too-large' }
  | { readonly outcome: 'idle' }
  | { readonly outcome: 'aborted' };

/** Reads the request body, up to API Gateway's payload limit, giving up when it stalls for `idleMs`. */
function readBody(req: IncomingMessage, idleMs: number): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (read: BodyRead) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onAborted).off('close', onAborted);
      // The rest of an oversized body is read and dropped (bounded by the request timeout), so the client, still
      // sending, gets to read the 413 instead of a reset.
      if (read.outcome === 'too-large') req.resume();
      resolve(read);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish({ outcome: 'idle' }), idleMs);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return finish({ outcome: 'too-large' });
      chunks.push(chunk);
      arm();
    };
    const onEnd = () => finish({ outcome: 'complete', body: Buffer.concat(chunks) });
    const onAborted = () => finish({ outcome: 'aborted' });
    req.on('data', onData).once('end', onEnd).once('error', onAborted).once('close', onAborted);
    arm();
  });
}

function toProxyEvent(
  req: IncomingMessage,
  url: URL,
  stagePath: string,
  body: Buffer,
  route: RouteDefinition,
  pathParameters: Record<string, string>,
  requestId: string,
  baseUrl: string,
): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    const value = req.rawHeaders[i + 1];
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }
  // API Gateway adds these; handlers building absolute URLs rely on them.
  if (!Object.keys(headers).some((h) => h.toLowerCase() === 'x-forwarded-proto')) {
    headers['X-Forwarded-Proto'] = 'http';
    multiValueHeaders['X-Forwarded-Proto'] = ['http'];
  }
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  url.searchParams.forEach((value, name) => {
    query[name] = value;
    (multiQuery[name] ??= []).push(value);
  });
  const host = new URL(baseUrl).host;
  const sourceIp = req.socket.remoteAddress ?? '127.0.0.1';
  const hasBody = body.length > 0;
  return {
    resource: route.path,
    path: stagePath,
    httpMethod: route.method,
    headers,
    multiValueHeaders,
    queryStringParameters: Object.keys(query).length ? query : null,
    multiValueQueryStringParameters: Object.keys(multiQuery).length ? multiQuery : null,
    pathParameters: Object.keys(pathParameters).length ? pathParameters : null,
    stageVariables: null,
    body: hasBody ? body.toString('utf8') : null,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      domainName: host,
      domainPrefix: 'local',
      httpMethod: route.method,
      // The path the client called, stage prefix included when it used one, so handlers build absolute URLs from
      // domainName + path as they do on AWS.
      path: url.pathname,
      protocol: `HTTP/${req.httpVersion}`,
      requestId,
      requestTime: new Date().toUTCString(),
      requestTimeEpoch: Date.now(),
      resourceId: route.id,
      resourcePath: route.path,
      stage: STAGE,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp,
        user: null,
        userAgent: req.headers['user-agent'] ?? null,
        userArn: null,
      },
    },
  };
}

type AuthorizerOutcome =
  | {
      readonly outcome: 'allowed';
      readonly usageIdentifierKey: string | undefined;
      readonly context: Record<string, string | number | boolean | null>;
    }
  | { readonly outcome: 'denied' | 'unauthorized' | 'failed' };

/** The REQUEST authorizer's input: the request's parameters, as API Gateway passes them. */
function toAuthorizerEvent(event: APIGatewayProxyEvent, methodArn: string): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn,
    resource: event.resource,
    path: event.path,
    httpMethod: event.httpMethod,
    headers: event.headers,
    multiValueHeaders: event.multiValueHeaders,
    pathParameters: event.pathParameters,
    queryStringParameters: event.queryStringParameters,
    multiValueQueryStringParameters: event.multiValueQueryStringParameters,
    stageVariables: event.stageVariables,
    requestContext: event.requestContext,
  } as APIGatewayRequestAuthorizerEvent;
}

/** Whether a policy resource (`*` matches anything) covers the method ARN. */
function resourceMatches(pattern: string, arn: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(arn);
}

/** Allowed when an Allow statement covers the method and no Deny does, as IAM evaluates the authorizer's policy. */
function evaluateAuthorizerResult(
  result: APIGatewayAuthorizerResult | undefined,
  methodArn: string,
): AuthorizerOutcome {
  const statements = (result?.policyDocument?.Statement ?? []) as {
    Effect?: string;
    Action?: string | string[];
    Resource?: string | string[];
  }[];
  const covers = (effect: string) =>
    statements.some((st) => {
      if (st.Effect !== effect) return false;
      const actions = ([] as string[]).concat(st.Action ?? []);
      const resources = ([] as string[]).concat(st.Resource ?? []);
      return (
        actions.some((a) => a === '*' || a === 'execute-api:Invoke' || a === 'execute-api:*') &&
        resources.some((r) => resourceMatches(r, methodArn))
      );
    });
  if (!result || covers('Deny') || !covers('Allow')) return { outcome: 'denied' };
  const context: Record<string, string | number | boolean | null> = { principalId: result.principalId ?? null };
  for (const [k, v] of Object.entries(result.context ?? {})) context[k] = v ?? null;
  return { outcome: 'allowed', usageIdentifierKey: result.usageIdentifierKey ?? undefined, context };
}
