/**
 * The stream log on DynamoDB ({@link StreamLogStore}; config/tables.ts `streams`, key `requestId` + `part`):
 *
 * | `part` | attributes |
 * | --- | --- |
 * | `0`, the head | `userId`, `endpoint`, `model`, `status` (`STREAMING` → `COMPLETED`, `FAILED` or `CANCELLED`), `lastEventId` (N, last id written), `parts` (N, batches written), `cancelRequested` (BOOL), `cancelRequestedAt`?, `createdAt`, `updatedAt`, `finishedAt`?, `retainUntil` (epoch ms), `expiresAt` (epoch s: `retainUntil` plus a day) |
 * | `1`, `2`, … a batch | `firstEventId`, `lastEventId`, `sse` (the exact bytes of its SSE events, keep-alive comments excluded), `expiresAt` (epoch s: `retainUntil`) |
 *
 * The head outlives its batches by a day, so a request for an expired stream is told `410` for that day before its id
 * becomes unknown (`404`). TTL deletion can lag by days, so `retainUntil` is compared in the cancel's condition.
 *
 * The cancel is one conditional UpdateItem; when its condition fails, the head as it was (`ALL_OLD`) says why (an
 * unknown id has none, and is then read to be sure: one GetItem).
 *
 * Writes per stream: one head PutItem, then per flush one batch PutItem (when there are new events) and one head
 * UpdateItem, whose `ReturnValues: UPDATED_NEW` carries the cancel flag back; one last UpdateItem for the status.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '../../config/tables';
import type {
  CancelOutcome,
  StreamBatch,
  StreamFinalStatus,
  StreamHeadStart,
  StreamLogStore,
  StreamProgress,
  StreamStatus,
} from '../core/streams/log';
import { dynamoDocumentClient } from './clients';
import { isConditionalCheckFailed } from './dynamodb-errors';

const KEY = TABLES.streams.partitionKey;
const SORT = TABLES.streams.sortKey;
const TTL = TABLES.streams.ttlAttribute;

/** The head's sort key. */
export const HEAD_PART = 0;
/** How long the head outlives its retention, so that a late request is told `410`, not `404`. */
export const HEAD_GRACE_MS = 24 * 60 * 60 * 1000;

const seconds = (ms: number) => Math.ceil(ms / 1000);

/** The head item, as stored. */
export interface StreamHeadItem {
  requestId: string;
  part: 0;
  userId: string;
  endpoint: string;
  model: string;
  status: StreamStatus;
  lastEventId: number;
  parts: number;
  cancelRequested: boolean;
  cancelRequestedAt?: number;
  createdAt: number;
  updatedAt: number;
  finishedAt?: number;
  retainUntil: number;
  expiresAt: number;
}

export interface DynamoStreamLogStoreOptions {
  /** The streams table, or where to find its name when first used (the function's environment). */
  readonly tableName: string | (() => string);
  /** @default dynamoDocumentClient() from ./clients.ts */
  readonly documentClient?: DynamoDBDocumentClient;
}

export class DynamoStreamLogStore implements StreamLogStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly table: () => string;

  constructor(options: DynamoStreamLogStoreOptions) {
    this.client = options.documentClient ?? dynamoDocumentClient();
    const { tableName } = options;
    this.table = typeof tableName === 'string' ? () => tableName : tableName;
  }

  async start(head: StreamHeadStart): Promise<void> {
    const item: StreamHeadItem = {
      ...head,
      part: HEAD_PART,
      status: 'STREAMING',
      lastEventId: 0,
      parts: 0,
      cancelRequested: false,
      updatedAt: head.createdAt,
      expiresAt: seconds(head.retainUntil + HEAD_GRACE_MS),
    };
    await this.client.send(
      new PutCommand({
        TableName: this.table(),
        Item: item,
        ConditionExpression: 'attribute_not_exists(#key)',
        ExpressionAttributeNames: { '#key': KEY },
      }),
    );
  }

  async append(batch: StreamBatch): Promise<void> {
    const { retainUntil, ...rest } = batch;
    await this.client.send(new PutCommand({ TableName: this.table(), Item: { ...rest, [TTL]: seconds(retainUntil) } }));
  }

  async progress(requestId: string, progress: StreamProgress): Promise<{ cancelRequested: boolean }> {
    const { Attributes } = await this.client.send(
      new UpdateCommand({
        TableName: this.table(),
        Key: { [KEY]: requestId, [SORT]: HEAD_PART },
        UpdateExpression:
          'SET #lastEventId = :lastEventId, #parts = :parts, #updatedAt = :updatedAt, ' +
          '#cancelRequested = if_not_exists(#cancelRequested, :false)',
        // The head was written first; without it the update would create a headless item.
        ConditionExpression: 'attribute_exists(#key)',
        ExpressionAttributeNames: {
          '#key': KEY,
          '#lastEventId': 'lastEventId',
          '#parts': 'parts',
          '#updatedAt': 'updatedAt',
          '#cancelRequested': 'cancelRequested',
        },
        ExpressionAttributeValues: {
          ':lastEventId': progress.lastEventId,
          ':parts': progress.parts,
          ':updatedAt': progress.updatedAt,
          ':false': false,
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return { cancelRequested: Attributes?.cancelRequested === true };
  }

  async finish(requestId: string, status: StreamFinalStatus, progress: StreamProgress): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.table(),
        Key: { [KEY]: requestId, [SORT]: HEAD_PART },
        UpdateExpression:
          'SET #status = :status, #finishedAt = :finishedAt, #updatedAt = :finishedAt, ' +
          '#lastEventId = :lastEventId, #parts = :parts',
        ConditionExpression: 'attribute_exists(#key)',
        ExpressionAttributeNames: {
          '#key': KEY,
          '#status': 'status',
          '#finishedAt': 'finishedAt',
          '#updatedAt': 'updatedAt',
          '#lastEventId': 'lastEventId',
          '#parts': 'parts',
        },
        ExpressionAttributeValues: {
          ':status': status,
          ':finishedAt': progress.updatedAt,
          ':lastEventId': progress.lastEventId,
          ':parts': progress.parts,
        },
      }),
    );
  }

  /** The head, read consistently (only to explain a refused cancel). */
  private async head(requestId: string): Promise<Partial<StreamHeadItem> | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.table(), Key: { [KEY]: requestId, [SORT]: HEAD_PART }, ConsistentRead: true }),
    );
    return Item as Partial<StreamHeadItem> | undefined;
  }

  async requestCancel(requestId: string, userId: string, now: number): Promise<CancelOutcome> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.table(),
          Key: { [KEY]: requestId, [SORT]: HEAD_PART },
          // Idempotent while running: a second cancel sets the flag again and keeps the first request's time.
          UpdateExpression:
            'SET #cancelRequested = :true, #cancelRequestedAt = if_not_exists(#cancelRequestedAt, :now)',
          // An absent head has no userId, so the owner check also refuses unknown ids (UpdateItem would create one).
          ConditionExpression: '#userId = :userId AND #status = :streaming AND #retainUntil > :now',
          ExpressionAttributeNames: {
            '#cancelRequested': 'cancelRequested',
            '#cancelRequestedAt': 'cancelRequestedAt',
            '#userId': 'userId',
            '#status': 'status',
            '#retainUntil': 'retainUntil',
          },
          ExpressionAttributeValues: { ':true': true, ':now': now, ':userId': userId, ':streaming': 'STREAMING' },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'requested' };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      // The document client does not unmarshall the item an error carries. No item: the head does not exist, or the
      // store does not return it (dynalite); a consistent read of the head tells.
      const old = (err as { Item?: Record<string, AttributeValue> }).Item;
      return refusal(old ? headFacts(old) : await this.head(requestId), userId, now);
    }
  }
}

/** The head's owner, status and retention from the raw item a failed condition returns. */
function headFacts(item: Record<string, AttributeValue>): Partial<StreamHeadItem> {
  const retainUntil = item.retainUntil?.N;
  return {
    userId: item.userId?.S,
    status: item.status?.S as StreamStatus | undefined,
    retainUntil: retainUntil === undefined ? undefined : Number(retainUntil),
  };
}

/** Why a cancel's condition failed, from the head as it was (unknown ids and other users' ids alike are `notFound`). */
function refusal(head: Partial<StreamHeadItem> | undefined, userId: string, now: number): CancelOutcome {
  if (!head || head.userId !== userId) return { kind: 'notFound' };
  if (head.retainUntil === undefined || head.retainUntil <= now) return { kind: 'expired' };
  if (head.status === 'COMPLETED' || head.status === 'FAILED' || head.status === 'CANCELLED')
    return { kind: 'finished', status: head.status };
  // Not a head this route knows how to cancel.
  return { kind: 'notFound' };
}
