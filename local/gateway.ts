/**
 * The local API Gateway: serves every route of `config/routes.ts` (the table the CDK stack builds the REST API from)
 * by invoking the unchanged Lambda handlers with REST API (v1) proxy events.
 *
 * What it reproduces, because clients and tests depend on it:
 * - API keys (`x-api-key`) and usage plans: `403 {"message":"Forbidden"}` without a valid key, `429
 *   {"message":"Too Many Requests"}` past the throttle, `429 {"message":"Limit Exceeded"}` past the daily quota;
 *   unknown routes get `403 {"message":"Missing Authentication Token"}`, as on AWS.
 * - STREAM routes: the handler's prelude + 8 NUL bytes + body is split exactly as API Gateway does, and bytes are
 *   forwarded as they are written. BUFFERED routes: the proxy result is sent as one response.
 * - A client that disconnects destroys the response stream (Lambda itself does not tell the function; this is the
 *   "where the platform lets us know" case).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { matchPath, ROUTES, type FunctionName, type RouteDefinition } from '../config/routes';
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
}

const STAGE = 'local';

export class LocalGateway {
  private readonly server: Server;
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(
    private readonly options: LocalGatewayOptions,
    readonly url: string,
    server: Server,
  ) {
    this.server = server;
  }

  static async start(options: LocalGatewayOptions): Promise<LocalGateway> {
    let gateway: LocalGateway | undefined;
    const server = createServer((req, res) => {
      void gateway?.handle(req, res);
    });
    // Streams can legitimately run for minutes; API Gateway's own limit is enforced by the function timeout.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
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
    const work = this.serve(req, res).catch((err) => {
      this.options.onGatewayError?.(err);
      if (!res.headersSent) send(res, 502, { message: 'Internal server error' });
      else res.destroy(err as Error);
    });
    this.inFlight.add(work);
    await work;
    this.inFlight.delete(work);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    res.setHeader('x-amzn-requestid', requestId);
    const body = await readBody(req);
    if (body === undefined) return send(res, 413, { message: 'Request Too Long' });

    for (const extra of this.options.extraRoutes ?? []) {
      if (await extra(req, res, body)) return;
    }

    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    let route: RouteDefinition | undefined;
    let pathParameters: Record<string, string> | undefined;
    for (const candidate of this.options.routes ?? ROUTES) {
      const params = candidate.method === method ? matchPath(candidate.path, url.pathname) : undefined;
      if (params) {
        route = candidate;
        pathParameters = params;
        break;
      }
    }
    if (!route || !pathParameters) return send(res, 403, { message: 'Missing Authentication Token' });

    const apiKeyHeader = headerValue(req, 'x-api-key');
    const admission = this.options.plans.admit(apiKeyHeader);
    if (!admission.allowed) {
      if (admission.reason === 'forbidden') return send(res, 403, { message: 'Forbidden' });
      // API Gateway sends no Retry-After on usage-plan rejections; clients back off on 429.
      return send(res, 429, { message: admission.reason === 'quota' ? 'Limit Exceeded' : 'Too Many Requests' });
    }

    const event = toProxyEvent(req, url, body, route, pathParameters, requestId, admission.apiKey!, this.url);
    const handler = await this.options.loadHandler(route.functionName);
    const context = createContext(route.functionName, this.options.timeoutMs(route));
    if (route.transferMode === 'STREAM') {
      if (!isStreamingHandler(handler)) throw new Error(`${route.functionName} is not wrapped in awslambda.streamifyResponse`);
      await this.stream(handler, event, context, res, route);
    } else {
      await this.buffered(handler as BufferedHandler, event, context, res, route);
    }
  }

  private async buffered(
    handler: BufferedHandler,
    event: APIGatewayProxyEvent,
    context: ReturnType<typeof createContext>,
    res: ServerResponse,
    route: RouteDefinition,
  ): Promise<void> {
    let result: APIGatewayProxyResult;
    try {
      result = (await withTimeout(handler(event, context), context.getRemainingTimeInMillis())) as APIGatewayProxyResult;
    } catch (err) {
      this.options.onHandlerError?.(err, route);
      // What API Gateway answers when the integration fails or times out.
      return err instanceof IntegrationTimeout
        ? send(res, 504, { message: 'Endpoint request timed out' })
        : send(res, 502, { message: 'Internal server error' });
    }
    if (!result || typeof result.statusCode !== 'number') return send(res, 502, { message: 'Internal server error' });
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
    for (const [k, v] of Object.entries(result.multiValueHeaders ?? {})) headers[k] = v.map(String);
    res.writeHead(result.statusCode, headers);
    res.end(result.body === undefined ? undefined : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8'));
  }

  private async stream(
    handler: StreamingHandler,
    event: APIGatewayProxyEvent,
    context: ReturnType<typeof createContext>,
    res: ServerResponse,
    route: RouteDefinition,
  ): Promise<void> {
    const { responseStream, done } = invokeStreaming(handler, event, context);
    const clientGone = () => {
      if (!responseStream.writableEnded) responseStream.destroy();
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
      if (!res.headersSent) send(res, 502, { message: 'Internal server error' });
      return;
    }
    const { prelude, rest } = first;
    res.writeHead(prelude.statusCode ?? 200, prelude.headers ?? { 'content-type': 'application/octet-stream' });
    res.flushHeaders();
    if (rest.length) res.write(rest);
    if (responseStream.readableEnded) {
      res.end();
    } else {
      responseStream.on('data', (chunk: Buffer) => res.write(chunk));
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

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function toProxyEvent(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  route: RouteDefinition,
  pathParameters: Record<string, string>,
  requestId: string,
  apiKey: { key: string; apiKeyId: string },
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
    path: url.pathname,
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
      // No stage prefix: the local URL has none, so handlers can build absolute URLs from domainName + path.
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
        apiKey: apiKey.key,
        apiKeyId: apiKey.apiKeyId,
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
