/**
 * The local cloud: the whole API on one machine, with the unchanged handlers, against wire-compatible stand-ins.
 *
 * Handlers find the stand-ins only through the SDK's own `AWS_ENDPOINT_URL_<SERVICE>` variables and the same
 * resource-name variables the stack sets, so nothing in `lambda/` knows it is running locally.
 *
 * @example
 * const cloud = await startLocalCloud({ port: 0, apiKeys: 'alice:free:alice-key-000000000000000' });
 * // POST `${cloud.url}/chat/stream` with header x-api-key: alice-key-000000000000000
 * await cloud.stop();
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { handlerEntry } from '../config/functions';
import { type FunctionName, OPENAI_BASE_PATH, type RouteDefinition } from '../config/routes';
import { ENV, runtimeConfigJson } from '../config/runtime';
import type { AppConfig, AppConfigInput } from '../config/schema';
import { TABLES } from '../config/tables';
import { registerApiKey } from '../lambda/aws/users-table';
import { parseApiKeys, UsagePlans, type LocalApiKey } from './api-keys';
import { SimulatorSettingsError } from './bedrock-simulator';
import { breakerRoute } from './breaker-route';
import { loadLocalConfig } from './config';
import { createTable, startLocalDynamo } from './dynamodb';
import { LocalGateway, type GatewayTimeouts } from './gateway';
import { keysRoute } from './keys-route';
import { installLambdaGlobals } from './lambda-runtime';
import { openApiRoute } from './openapi-route';
import { playgroundKey, playgroundRoute } from './playground-route';
import { startLocalReports, type LocalReports } from './reports';
import { SimulatorThread } from './simulator-thread';
import { Stoppers } from './stoppers';
import { LocalWebhookReceiver } from './webhook-receiver';

export interface LocalCloudOptions {
  /** Port of the API. @default 0 (a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Configuration overrides on top of `cdk.json` and the local defaults. */
  readonly config?: AppConfigInput;
  /** `userId:plan:key,…`; unset: one generated demo key per plan. */
  readonly apiKeys?: string;
  /** Standard Webhooks signing secret (`whsec_…`); unset: generated. */
  readonly webhookSecret?: string;
  /** Silences handler logs and metrics output (tests and benches). @default false */
  readonly quiet?: boolean;
  /**
   * Receives each line the functions that run in execution environments of their own (the report worker and the
   * dead-letter backstop) print: their structured logs and EMF metrics, which on AWS go to CloudWatch Logs.
   * @default - printed
   */
  readonly functionOutput?: (functionName: FunctionName, line: string) => void;
  /** Where `cdk.json` is. @default process.cwd() */
  readonly root?: string;
  /** How long the gateway waits for a client's request (tests shorten them). @default DEFAULT_GATEWAY_TIMEOUTS */
  readonly gatewayTimeouts?: GatewayTimeouts;
  /**
   * Whether a streaming function learns that its client disconnected. `false` behaves as Lambda does (no signal: only
   * `POST /chat/stream/{requestId}/cancel` stops the model), to prove the AWS path locally.
   * @default the environment variable LOCAL_SIGNAL_DISCONNECT (`true` or `false`), else true
   */
  readonly signalDisconnect?: boolean;
}

/** The environment variable that turns the local gateway's disconnect signal off (`false`), as on Lambda. */
export const SIGNAL_DISCONNECT_ENV = 'LOCAL_SIGNAL_DISCONNECT';

/** `signalDisconnect` from the option, else from {@link SIGNAL_DISCONNECT_ENV}; anything but `true`/`false` is refused. */
export function signalDisconnectFrom(option: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (option !== undefined) return option;
  const raw = env[SIGNAL_DISCONNECT_ENV]?.trim().toLowerCase();
  if (raw === undefined || raw === '' || raw === 'true') return true;
  if (raw === 'false') return false;
  throw new Error(`${SIGNAL_DISCONNECT_ENV} must be true or false, not ${JSON.stringify(env[SIGNAL_DISCONNECT_ENV])}`);
}

export interface LocalCloud {
  /** Base URL of the API, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  readonly keys: readonly LocalApiKey[];
  /** The Bedrock simulator (on a worker thread of its own): its settings and counters. */
  readonly simulator: SimulatorThread;
  readonly config: AppConfig;
  /** Endpoint of the local DynamoDB, for tests that inspect state. */
  readonly dynamoEndpoint: string;
  /** Resource names, as the functions see them. */
  readonly env: Readonly<Record<string, string>>;
  /** The reports pipeline: queues, worker poller, event bus, webhook secret (see `local/reports.ts`). */
  readonly reports: LocalReports;
  /** Bearer token of the local admin routes (`POST /_local/keys`); `npm start` puts it in its owner-only state file. */
  readonly adminToken: string;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';

/** Serves `GET`/`POST /_local/model` from the simulator's settings (local only, never deployed). */
function simulatorControl(simulator: SimulatorThread) {
  return async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<boolean> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/_local/model') return false;
    const reply = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.method === 'GET') {
      // The settings, and the counters that show what the model did: calls, tokens sent, streams still open, and
      // calls whose caller went away (a cancelled stream stops `tokensSent` growing), calls throttled by a quota.
      const { calls, byModel, tokensSent, active, cancelled, throttled } = simulator.stats;
      reply(200, {
        ...simulator.state(),
        stats: { calls, byModel: { ...byModel }, tokensSent, active, cancelled, throttled },
      });
    } else if (req.method === 'POST') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8') || 'null');
      } catch {
        reply(400, { error: { code: 'VALIDATION_ERROR', message: 'body: is not valid JSON', retryable: false } });
        return true;
      }
      try {
        reply(200, simulator.configure(parsed));
      } catch (err) {
        if (!(err instanceof SimulatorSettingsError)) throw err;
        reply(400, { error: { code: 'VALIDATION_ERROR', message: err.message, retryable: false } });
      }
    } else {
      reply(405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'use GET or POST', retryable: false } });
    }
    return true;
  };
}

export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const config = loadLocalConfig(options.config ?? {}, options.root);
  const signalDisconnect = signalDisconnectFrom(options.signalDisconnect);
  const keys = parseApiKeys(options.apiKeys, config.plans);
  const stoppers = new Stoppers();

  try {
    const host = options.host ?? '127.0.0.1';
    // Started side by side: each comes up on a thread or in a process of its own.
    const [dynamo, simulator] = await allStarted([
      stoppers.started(startLocalDynamo(host), (d) => d.close()),
      stoppers.started(SimulatorThread.start({ host }), (s) => s.close()),
    ] as const);

    const env = functionEnvironment(config, dynamo.endpoint, simulator.url, options.quiet);
    // The functions read these at cold start, exactly as they read the variables the stack sets on AWS.
    delete process.env.AWS_PROFILE;
    Object.assign(process.env, env);

    const db = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    stoppers.add(async () => db.destroy());
    await createGuardTables(db, env, keys);
    await createTable(db, env[ENV.requestsTable], TABLES.requests);
    await createTable(db, env[ENV.streamsTable], TABLES.streams);
    // As in the stack: the response cache's table exists only with the cache on.
    if (config.cache.enabled) await createTable(db, env[ENV.cacheTable], TABLES.cache);

    installLambdaGlobals();
    const loadHandler = handlerLoader();
    const plans = new UsagePlans(keys, config.plans);
    const adminToken = randomBytes(32).toString('base64url');
    // Verifies against the signing secret once the reports pipeline below has it.
    const webhookReceiver = new LocalWebhookReceiver();
    const gateway = await LocalGateway.start({
      host,
      port: options.port ?? 0,
      plans,
      loadHandler,
      timeoutMs: (route: RouteDefinition) =>
        (route.transferMode === 'STREAM' ? config.chat.streamTimeoutSeconds : config.chat.syncTimeoutSeconds + 1) *
        1000,
      timeouts: options.gatewayTimeouts,
      // The deployed stage URL ends in `/v1`, which OpenAI clients take as their base URL; locally the same routes
      // answer both at `/` and under `/v1/`, as the stage.
      stagePrefix: OPENAI_BASE_PATH,
      // Preflights and the CORS headers of the gateway's own answers, as the stack configures API Gateway's.
      cors: config.api.cors,
      signalDisconnect,
      extraRoutes: [
        simulatorControl(simulator),
        openApiRoute(),
        keysRoute({
          plans,
          adminToken,
          register: (k) =>
            registerApiKey(k, { documentClient: DynamoDBDocumentClient.from(db), tableName: env[ENV.usersTable] }),
        }),
        webhookReceiver.route,
        breakerRoute({ config, tableName: env[ENV.guardTable], documentClient: DynamoDBDocumentClient.from(db) }),
        playgroundRoute({ apiKey: playgroundKey(keys, config.plans)?.key }),
      ],
      onGatewayError: (err) => console.error('[local] gateway error:', err),
      onHandlerError: (err, route) => {
        if (!options.quiet) console.error(`[local] ${route.functionName} failed:`, err);
      },
    });
    stoppers.add(() => gateway.close());

    const reports = await startLocalReports({
      config,
      dynamo: db,
      loadHandler,
      host,
      region: REGION,
      webhookSecret: options.webhookSecret,
      quiet: options.quiet,
      functionOutput: options.functionOutput,
    });
    // Stopped after the gateway (no new submissions) and before the tables and the simulator its jobs use.
    stoppers.addBeforeLast(1, () => reports.stop());
    Object.assign(env, reports.env);
    webhookReceiver.useSecret(reports.webhookSecret);

    const stop = () => stoppers.stopAll();
    return {
      url: gateway.url,
      keys,
      simulator,
      config,
      dynamoEndpoint: dynamo.endpoint,
      env,
      reports,
      adminToken,
      stop,
    };
  } catch (err) {
    await stoppers.stopAll();
    throw err;
  }
}

/**
 * Waits for every start, failed or not (so that each one that did start has registered its teardown), then fails with
 * the first failure.
 */
async function allStarted<T extends readonly unknown[]>(starting: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(starting);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** What the stack sets on every function, pointed at the stand-ins, plus the SDK's endpoint and credential variables. */
function functionEnvironment(
  config: AppConfig,
  dynamoEndpoint: string,
  bedrockUrl: string,
  quiet?: boolean,
): Record<string, string> {
  return {
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrockUrl,
    [ENV.config]: runtimeConfigJson(config),
    [ENV.usersTable]: 'genai-local-users',
    [ENV.guardTable]: 'genai-local-guard',
    [ENV.requestsTable]: 'genai-local-requests',
    [ENV.streamsTable]: 'genai-local-streams',
    ...(config.cache.enabled ? { [ENV.cacheTable]: 'genai-local-cache' } : {}),
    [ENV.bedrockRegion]: REGION,
    // The gateway listens on plain http; the functions build their absolute URLs with it.
    [ENV.apiUrlScheme]: 'http',
    POWERTOOLS_SERVICE_NAME: config.observability.serviceName,
    POWERTOOLS_METRICS_NAMESPACE: config.observability.metricsNamespace,
    POWERTOOLS_LOG_LEVEL: quiet ? 'SILENT' : config.observability.logLevel,
    ...(quiet ? { POWERTOOLS_METRICS_DISABLED: 'true' } : {}),
  };
}

/** The users and guard tables, with every local API key registered to its user and plan. */
async function createGuardTables(
  db: DynamoDBClient,
  env: Record<string, string>,
  keys: readonly LocalApiKey[],
): Promise<void> {
  await createTable(db, env[ENV.usersTable], TABLES.users);
  await createTable(db, env[ENV.guardTable], TABLES.guard);
  const documentClient = DynamoDBDocumentClient.from(db);
  for (const k of keys) {
    await registerApiKey(
      { key: k.key, apiKeyId: k.apiKeyId, userId: k.userId, plan: k.plan },
      { documentClient, tableName: env[ENV.usersTable] },
    );
  }
}

/** Loads each function's handler once, as an execution environment does, from where the stack bundles it. */
function handlerLoader(): (name: FunctionName) => Promise<unknown> {
  const handlers = new Map<FunctionName, Promise<unknown>>();
  return (name) => {
    if (!handlers.has(name))
      handlers.set(
        name,
        import(handlerEntry(name)).then((m: { handler: unknown }) => m.handler),
      );
    return handlers.get(name)!;
  };
}
