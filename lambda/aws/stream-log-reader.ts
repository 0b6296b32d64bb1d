/**
 * Reads of the stream log on DynamoDB for resuming a stream ({@link StreamLogReader}; the table's format is in
 * ./stream-log-store.ts). Every read is strongly consistent: the reader follows a writer in another function, and an
 * eventually consistent read could show a finished head before the batches written ahead of it.
 *
 * Reads per resume: one GetItem of the head per poll while the stream runs (it is under 1 KB: one read unit at most),
 * and one Query only when the head says new batches were written.
 */
import { GetCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '../../config/tables';
import type { StreamStatus } from '../core/streams/log';
import type { LoggedBatch, StreamHead, StreamLogReader } from '../core/streams/resume';
import { dynamoDocumentClient } from './clients';

const KEY = TABLES.streams.partitionKey;
const SORT = TABLES.streams.sortKey;
const HEAD_PART = 0;
const STATUSES: ReadonlySet<string> = new Set<StreamStatus>(['STREAMING', 'COMPLETED', 'FAILED', 'CANCELLED']);

export interface DynamoStreamLogReaderOptions {
  /** The streams table, or where to find its name when first read (the function's environment). */
  readonly tableName: string | (() => string);
  /** @default dynamoDocumentClient() from ./clients.ts */
  readonly documentClient?: DynamoDBDocumentClient;
}

export class DynamoStreamLogReader implements StreamLogReader {
  private readonly client: DynamoDBDocumentClient;
  private readonly table: () => string;

  constructor(options: DynamoStreamLogReaderOptions) {
    this.client = options.documentClient ?? dynamoDocumentClient();
    const { tableName } = options;
    this.table = typeof tableName === 'string' ? () => tableName : tableName;
  }

  async head(requestId: string): Promise<StreamHead | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.table(), Key: { [KEY]: requestId, [SORT]: HEAD_PART }, ConsistentRead: true }),
    );
    return Item ? headOf(Item) : undefined;
  }

  async batchesAfter(requestId: string, afterPart: number): Promise<LoggedBatch[]> {
    const batches: LoggedBatch[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table(),
          KeyConditionExpression: '#key = :key AND #part > :after',
          ExpressionAttributeNames: { '#key': KEY, '#part': SORT, '#sse': 'sse' },
          ExpressionAttributeValues: { ':key': requestId, ':after': afterPart },
          ProjectionExpression: '#part, #sse',
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        if (typeof item.part === 'number' && typeof item.sse === 'string')
          batches.push({ part: item.part, sse: item.sse });
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return batches;
  }
}

/**
 * The head as the reader needs it. An item that is not a head of this format (written by hand, or by another version)
 * is treated as no stream at all rather than trusted.
 */
function headOf(item: Record<string, unknown>): StreamHead | undefined {
  const { requestId, userId, endpoint, status, lastEventId, parts, createdAt, updatedAt, retainUntil } = item;
  if (
    typeof requestId !== 'string' ||
    typeof userId !== 'string' ||
    typeof endpoint !== 'string' ||
    typeof status !== 'string' ||
    !STATUSES.has(status) ||
    typeof lastEventId !== 'number' ||
    typeof parts !== 'number' ||
    typeof createdAt !== 'number' ||
    typeof retainUntil !== 'number'
  ) {
    return undefined;
  }
  return {
    requestId,
    userId,
    endpoint,
    status: status as StreamStatus,
    lastEventId,
    parts,
    createdAtMs: createdAt,
    updatedAtMs: typeof updatedAt === 'number' ? updatedAt : createdAt,
    retainUntil,
  };
}
