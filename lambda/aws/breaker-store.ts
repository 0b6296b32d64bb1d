/**
 * The circuit breaker's store in the guard table (DynamoDB). Items (partition key `pk`):
 *
 * | `pk` | attributes | written by |
 * | --- | --- | --- |
 * | `breaker#<model>` | `state`, `generation`, `trips`, `openedAt`, `openUntil`, `forced`, `probeHolder`, `probeLeaseUntil`, `reason`, `updatedAt` (times in epoch ms) | conditional PutItem on `generation` |
 * | `breaker#<model>#w#<generation>#<bucketStart>` | `calls`, `failures`, `slow`, `expiresAt` (epoch s, TTL) | UpdateItem `ADD` |
 *
 * Every deployed instance shares these items, so their keys, attributes and conditions are a stored format: change
 * them only together with a migration.
 */
import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import {
  CLOSED_INITIAL,
  type BreakerStateName,
  type BreakerStore,
  type CallOutcome,
  type StateCondition,
  type StoredBreakerState,
  type WindowCounts,
} from '../core/breaker/store';
import { dynamoDocumentClient } from './clients';
import { isConditionalCheckFailed } from './dynamodb-errors';

/** BatchGetItem's limit of keys per request. */
const BATCH_GET_MAX_KEYS = 100;
/** Rounds of BatchGetItem for keys DynamoDB left unprocessed. */
const BATCH_GET_ATTEMPTS = 5;

export interface DynamoBreakerStoreOptions {
  /** The guard table. */
  readonly tableName: string;
  /** @default dynamoDocumentClient() from ./clients.ts */
  readonly documentClient?: DynamoDBDocumentClient;
}

export class DynamoBreakerStore implements BreakerStore {
  readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;

  constructor(options: DynamoBreakerStoreOptions) {
    this.tableName = options.tableName;
    this.client = options.documentClient ?? dynamoDocumentClient();
  }

  static stateKey(modelId: string): string {
    return `breaker#${modelId}`;
  }

  static counterKey(modelId: string, generation: number, bucketStartMs: number): string {
    return `breaker#${modelId}#w#${generation}#${Math.floor(bucketStartMs / 1000)}`;
  }

  async readState(modelId: string): Promise<StoredBreakerState> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: DynamoBreakerStore.stateKey(modelId) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? stateOf(out.Item) : CLOSED_INITIAL;
  }

  async writeState(modelId: string, next: StoredBreakerState, condition: StateCondition): Promise<boolean> {
    const expression = conditionExpression(condition);
    if (!expression) return false;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: compact({ pk: DynamoBreakerStore.stateKey(modelId), ...next }),
          ...expression,
        }),
      );
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }

  async addOutcome(
    modelId: string,
    generation: number,
    bucketStartMs: number,
    outcome: CallOutcome,
    expiresAt: number,
    returnCounts: boolean,
  ): Promise<WindowCounts | undefined> {
    const out = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: DynamoBreakerStore.counterKey(modelId, generation, bucketStartMs) },
        UpdateExpression: 'ADD #calls :one, #failures :failures, #slow :slow SET #expiresAt = :expiresAt',
        ExpressionAttributeNames: {
          '#calls': 'calls',
          '#failures': 'failures',
          '#slow': 'slow',
          '#expiresAt': 'expiresAt',
        },
        ExpressionAttributeValues: {
          ':one': 1,
          ':failures': outcome.failure ? 1 : 0,
          ':slow': outcome.slow ? 1 : 0,
          ':expiresAt': expiresAt,
        },
        ReturnValues: returnCounts ? 'ALL_NEW' : 'NONE',
      }),
    );
    return returnCounts ? countsOf(out.Attributes ?? {}) : undefined;
  }

  async readCounters(
    modelId: string,
    generation: number,
    bucketStarts: readonly number[],
  ): Promise<Map<number, WindowCounts>> {
    const result = new Map<number, WindowCounts>();
    const byKey = new Map(bucketStarts.map((b) => [DynamoBreakerStore.counterKey(modelId, generation, b), b]));
    const pks = [...byKey.keys()];
    for (let i = 0; i < pks.length; i += BATCH_GET_MAX_KEYS) {
      let keys: Record<string, unknown>[] | undefined = pks.slice(i, i + BATCH_GET_MAX_KEYS).map((pk) => ({ pk }));
      for (let attempt = 0; keys && keys.length > 0 && attempt < BATCH_GET_ATTEMPTS; attempt++) {
        const out = await this.client.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
        );
        for (const item of out.Responses?.[this.tableName] ?? []) {
          const bucket = byKey.get(String(item.pk));
          if (bucket !== undefined) result.set(bucket, countsOf(item));
        }
        keys = out.UnprocessedKeys?.[this.tableName]?.Keys as Record<string, unknown>[] | undefined;
      }
    }
    return result;
  }
}

type Expression = Pick<
  PutCommand['input'],
  'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
>;

/**
 * The condition of a state write, as DynamoDB evaluates it (the semantics of `conditionHolds` in
 * lambda/core/breaker/store.ts). Undefined when nothing can match, so no request is sent.
 */
function conditionExpression(condition: StateCondition): Expression | undefined {
  if (condition.generation === 0) {
    // Generation 0 is the implicit CLOSED state of a missing item; nothing else can match it.
    if (
      (condition.state && condition.state !== 'CLOSED') ||
      condition.probeHolder ||
      condition.probeAvailableAt !== undefined
    ) {
      return undefined;
    }
    return { ConditionExpression: 'attribute_not_exists(pk)' };
  }
  const parts = ['#gen = :gen'];
  const names: Record<string, string> = { '#gen': 'generation' };
  const values: Record<string, unknown> = { ':gen': condition.generation };
  if (condition.state) {
    parts.push('#state = :state');
    names['#state'] = 'state';
    values[':state'] = condition.state;
  }
  if (condition.probeHolder) {
    parts.push('#holder = :holder');
    names['#holder'] = 'probeHolder';
    values[':holder'] = condition.probeHolder;
  }
  if (condition.probeAvailableAt !== undefined) {
    // Expiry is compared here, in the write, not trusted from an earlier read.
    parts.push('((#state = :open AND #openUntil <= :at) OR (#state = :half AND #lease <= :at))');
    Object.assign(names, { '#state': 'state', '#openUntil': 'openUntil', '#lease': 'probeLeaseUntil' });
    Object.assign(values, { ':open': 'OPEN', ':half': 'HALF_OPEN', ':at': condition.probeAvailableAt });
  }
  return {
    ConditionExpression: parts.join(' AND '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

function stateOf(item: Record<string, unknown>): StoredBreakerState {
  const state: BreakerStateName =
    item.state === 'OPEN' || item.state === 'HALF_OPEN' || item.state === 'CLOSED' ? item.state : 'CLOSED';
  return {
    state,
    generation: num(item.generation),
    trips: num(item.trips),
    openedAt: optionalNum(item.openedAt),
    openUntil: optionalNum(item.openUntil),
    forced: item.forced === true ? true : undefined,
    probeHolder: typeof item.probeHolder === 'string' ? item.probeHolder : undefined,
    probeLeaseUntil: optionalNum(item.probeLeaseUntil),
    reason: typeof item.reason === 'string' ? item.reason : undefined,
    updatedAt: optionalNum(item.updatedAt),
  };
}

function countsOf(item: Record<string, unknown>): WindowCounts {
  return { calls: num(item.calls), failures: num(item.failures), slow: num(item.slow) };
}

function num(v: unknown, fallback = 0): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

function optionalNum(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/** Drops undefined fields, so the write does not depend on the client's `removeUndefinedValues`. */
function compact<T extends object>(item: T): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined));
}
