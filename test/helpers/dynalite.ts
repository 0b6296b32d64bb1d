/**
 * DynamoDB for tests and benches: dynalite, in-process, on a free loopback port. No network beyond 127.0.0.1.
 *
 * @example
 * ```ts
 * const db = await startDynalite();
 * const client = dynamoClient(db.endpoint);
 * await createGuardTable(client, 'guard-test');
 * // ... use DynamoDBDocumentClient.from(client) ...
 * client.destroy();
 * await db.close();
 * ```
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '../../config/tables';
import { createTable, startLocalDynamo, type LocalDynamo } from '../../local/dynamodb';
import { storeRequests, type StoreRequests } from '../suites/breaker.suite';

/** Creates a table from a shared definition, as the local cloud does. */
export { createTable };

export type DynaliteHandle = LocalDynamo;

/** Starts an in-memory dynalite on 127.0.0.1 with a port chosen by the OS (the local cloud's own). */
export function startDynalite(): Promise<DynaliteHandle> {
  return startLocalDynamo();
}

/** A low-level client for a local endpoint: dummy credentials, us-east-1, no retries hiding failures. */
export function dynamoClient(endpoint: string, options: { maxAttempts?: number } = {}): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: options.maxAttempts ?? 1,
  });
}

/** The document client the runtime code uses, over {@link dynamoClient}. */
export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/**
 * The guard table (circuit breaker state, breaker counters, token budgets): partition key `pk`. Its TTL attribute
 * (`expiresAt`) is set only in CDK; dynalite has no TTL, and the code never relies on TTL for correctness.
 */
export function createGuardTable(client: DynamoDBClient, name: string): Promise<void> {
  return createTable(client, name, TABLES.guard);
}

/** DynamoDB requests seen by a client, by operation and as read/write totals. */
export type RequestCounts = StoreRequests;

/**
 * Counts every HTTP request the client sends (retries included), from its `X-Amz-Target` header. Document clients
 * built on the client share its middleware stack, so their requests are counted too.
 */
export function countRequests(client: DynamoDBClient): RequestCounts {
  const counts = storeRequests();
  client.middlewareStack.add(
    (next) => async (args) => {
      const headers = (args.request as { headers?: Record<string, string> } | undefined)?.headers ?? {};
      const target = headers['x-amz-target'] ?? headers['X-Amz-Target'] ?? '';
      counts.record(target.slice(target.indexOf('.') + 1));
      return next(args);
    },
    { step: 'finalizeRequest', name: 'countDynamoRequests' },
  );
  return counts;
}

/** A document client for a port nothing listens on (127.0.0.1:1), as an unreachable table; `close` destroys it. */
export function unreachableDocumentClient(): { doc: DynamoDBDocumentClient; close(): void } {
  const client = dynamoClient('http://127.0.0.1:1');
  return { doc: documentClient(client), close: () => client.destroy() };
}

export interface GuardTableFixture {
  /** dynalite's URL, for clients of their own (one per simulated instance). */
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  /** Reads and writes the clients sent, for cost assertions. */
  readonly requests: RequestCounts;
}

/**
 * Registers `beforeAll`/`afterAll` hooks that start dynalite with a guard table named `table` and stop it again; the
 * returned fixture's clients are usable inside tests.
 */
export function useGuardTable(table: string): GuardTableFixture {
  let db: DynaliteHandle | undefined;
  let state: GuardTableFixture | undefined;
  beforeAll(async () => {
    db = await startDynalite();
    const client = dynamoClient(db.endpoint);
    state = { endpoint: db.endpoint, client, doc: documentClient(client), requests: countRequests(client) };
    await createGuardTable(client, table);
  });
  afterAll(async () => {
    state?.client.destroy();
    await db?.close();
  });
  const current = () => {
    if (!state) throw new Error('the guard table fixture is only available inside tests');
    return state;
  };
  return {
    get endpoint() {
      return current().endpoint;
    },
    get client() {
      return current().client;
    },
    get doc() {
      return current().doc;
    },
    get requests() {
      return current().requests;
    },
  };
}
