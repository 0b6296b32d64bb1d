/**
 * The token budget's store in the guard table (DynamoDB). One item per user and day (partition key `pk`):
 *
 * | `pk` | attributes |
 * | --- | --- |
 * | `budget#<userId>#<yyyy-mm-dd>` | `used` (tokens), `userId`, `window`, `expiresAt` (epoch s, TTL) |
 *
 * Every deployed instance shares these items, so their keys and attributes are a stored format.
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { BudgetCounter, TokenBudgetStore } from '../core/token-budget';
import { dynamoDocumentClient } from './clients';
import { isConditionalCheckFailed } from './dynamodb-errors';

export interface DynamoTokenBudgetStoreOptions {
  /** The guard table. */
  readonly tableName: string;
  /** @default dynamoDocumentClient() from ./clients.ts */
  readonly documentClient?: DynamoDBDocumentClient;
}

export class DynamoTokenBudgetStore implements TokenBudgetStore {
  readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;

  constructor(options: DynamoTokenBudgetStoreOptions) {
    this.tableName = options.tableName;
    this.client = options.documentClient ?? dynamoDocumentClient();
  }

  static key(userId: string, window: string): string {
    return `budget#${userId}#${window}`;
  }

  /** One conditional `ADD`: refused by DynamoDB itself when the total would pass the limit, so no race can. */
  async reserve(counter: BudgetCounter, tokens: number, limit: number, expiresAt: number): Promise<number | undefined> {
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: DynamoTokenBudgetStore.key(counter.userId, counter.window) },
          UpdateExpression: 'ADD #used :estimate SET #expiresAt = :expiresAt, #userId = :userId, #window = :window',
          ConditionExpression: 'attribute_not_exists(#used) OR #used <= :room',
          ExpressionAttributeNames: {
            '#used': 'used',
            '#expiresAt': 'expiresAt',
            '#userId': 'userId',
            '#window': 'window',
          },
          ExpressionAttributeValues: {
            ':estimate': tokens,
            ':room': limit - tokens,
            ':expiresAt': expiresAt,
            ':userId': counter.userId,
            ':window': counter.window,
          },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return typeof out.Attributes?.used === 'number' ? out.Attributes.used : tokens;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return undefined;
      throw err;
    }
  }

  async adjust(counter: BudgetCounter, delta: number): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: DynamoTokenBudgetStore.key(counter.userId, counter.window) },
        UpdateExpression: 'ADD #used :delta',
        ExpressionAttributeNames: { '#used': 'used' },
        ExpressionAttributeValues: { ':delta': delta },
      }),
    );
  }

  async used(counter: BudgetCounter): Promise<number> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: DynamoTokenBudgetStore.key(counter.userId, counter.window) },
        ConsistentRead: true,
      }),
    );
    return typeof out.Item?.used === 'number' ? out.Item.used : 0;
  }
}
