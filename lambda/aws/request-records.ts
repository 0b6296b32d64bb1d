/**
 * The requests table on DynamoDB ({@link RequestRecordStore}). One item per answered request, keyed by its id
 * (config/tables.ts `requests`):
 *
 * | `requestId` | attributes |
 * | --- | --- |
 * | a chat `requestId` or a `reportId` | `userId`, `endpoint`, `model`, `createdAt`, `expiresAt` (epoch s, TTL); once rated `rating`, `comment`?, `ratedAt` |
 *
 * Both writes are conditional: a record is created once and never overwritten, and a rating lands only on the caller's
 * own record while it has not expired (TTL deletion can lag by days, so expiry is compared in the condition).
 */
import { PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '../../config/tables';
import type { FeedbackEntry, RequestRecord, RequestRecordStore } from '../core/feedback';
import { dynamoDocumentClient } from './clients';
import { isConditionalCheckFailed } from './dynamodb-errors';

const KEY = TABLES.requests.partitionKey;
const TTL = TABLES.requests.ttlAttribute;

export interface DynamoRequestRecordStoreOptions {
  /**
   * The requests table, or where to find its name when first written (the function's environment): a function whose
   * variable is missing then fails that write, which the recorder logs and counts, instead of failing at start.
   */
  readonly tableName: string | (() => string);
  /** @default dynamoDocumentClient() from ./clients.ts */
  readonly documentClient?: DynamoDBDocumentClient;
}

export class DynamoRequestRecordStore implements RequestRecordStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly table: () => string;

  constructor(options: DynamoRequestRecordStoreOptions) {
    this.client = options.documentClient ?? dynamoDocumentClient();
    const { tableName } = options;
    this.table = typeof tableName === 'string' ? () => tableName : tableName;
  }

  async put(record: RequestRecord): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table(),
          Item: record,
          ConditionExpression: 'attribute_not_exists(#key)',
          ExpressionAttributeNames: { '#key': KEY },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }

  async rate(
    requestId: string,
    userId: string,
    feedback: FeedbackEntry,
    nowSeconds: number,
  ): Promise<RequestRecord | undefined> {
    // A rating replaces the previous one whole: a new rating without a comment drops the old comment.
    const update =
      feedback.comment === undefined
        ? 'SET #rating = :rating, #ratedAt = :ratedAt REMOVE #comment'
        : 'SET #rating = :rating, #ratedAt = :ratedAt, #comment = :comment';
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.table(),
          Key: { [KEY]: requestId },
          UpdateExpression: update,
          // An absent item has no userId, so the owner check also refuses unknown ids (UpdateItem would create one).
          ConditionExpression: '#userId = :userId AND #expiresAt > :now',
          ExpressionAttributeNames: {
            '#rating': 'rating',
            '#ratedAt': 'ratedAt',
            '#comment': 'comment',
            '#userId': 'userId',
            '#expiresAt': TTL,
          },
          ExpressionAttributeValues: {
            ':rating': feedback.rating,
            ':ratedAt': feedback.ratedAt,
            ':userId': userId,
            ':now': nowSeconds,
            ...(feedback.comment === undefined ? {} : { ':comment': feedback.comment }),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes as RequestRecord;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return undefined;
      throw err;
    }
  }
}
