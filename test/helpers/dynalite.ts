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
export interface RequestCounts {
  reads: number;
  writes: number;
  byOperation: Record<string, number>;
  reset(): void;
}

const READ_OPERATIONS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
const WRITE_OPERATIONS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

/**
 * Counts every HTTP request the client sends (retries included), from its `X-Amz-Target` header. Document clients
 * built on the client share its middleware stack, so their requests are counted too.
 */
export function countRequests(client: DynamoDBClient): RequestCounts {
  const counts: RequestCounts = {
    reads: 0,
    writes: 0,
    byOperation: {},
    reset() {
      counts.reads = 0;
      counts.writes = 0;
      counts.byOperation = {};
    },
  };
  client.middlewareStack.add(
    (next) => async (args) => {
      const headers = (args.request as { headers?: Record<string, string> } | undefined)?.headers ?? {};
      const target = headers['x-amz-target'] ?? headers['X-Amz-Target'] ?? '';
      const operation = target.slice(target.indexOf('.') + 1);
      counts.byOperation[operation] = (counts.byOperation[operation] ?? 0) + 1;
      if (READ_OPERATIONS.has(operation)) counts.reads++;
      if (WRITE_OPERATIONS.has(operation)) counts.writes++;
      return next(args);
    },
    { step: 'finalizeRequest', name: 'countDynamoRequests' },
  );
  return counts;
}

export interface GuardTableFixture {
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
    state = { client, doc: documentClient(client), requests: countRequests(client) };
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
