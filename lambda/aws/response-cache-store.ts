/**
 * The response cache on DynamoDB ({@link ResponseCacheStore}). One item per cache key (config/tables.ts `cache`):
 *
 * | `key` | attributes |
 * | --- | --- |
 * | `user#<userId>#<sha256>` or `global#<sha256>` (lambda/core/response-cache.ts) | `text`, `model`, `stopReason`, `usage` (map), `createdAt` (epoch ms), `expiresAt` (epoch s, TTL) |
 *
 * Reads are GetItem and writes PutItem, nothing else (the functions are granted exactly these two). A write replaces
 * the entry under its key: two answers to the same request are both complete, so the later one may win. TTL deletion
 * can lag by days, so a read compares `expiresAt` itself.
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '../../config/tables';
import type { CacheEntry, ResponseCacheStore } from '../core/response-cache';
import { dynamoDocumentClient } from './clients';

const KEY = TABLES.cache.partitionKey;
const TTL = TABLES.cache.ttlAttribute;

export interface DynamoResponseCacheStoreOptions {
  readonly tableName: string;
  /** @default dynamoDocumentClient() from ./clients.ts */
  readonly documentClient?: DynamoDBDocumentClient;
}

export class DynamoResponseCacheStore implements ResponseCacheStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(options: DynamoResponseCacheStoreOptions) {
    this.client = options.documentClient ?? dynamoDocumentClient();
    this.tableName = options.tableName;
  }

  async get(key: string, nowSeconds: number): Promise<CacheEntry | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { [KEY]: key } }));
    if (!Item || typeof Item[TTL] !== 'number' || Item[TTL] <= nowSeconds) return undefined;
    const { text, model, stopReason, usage, createdAt } = Item;
    if (typeof text !== 'string' || typeof model !== 'string' || typeof stopReason !== 'string') return undefined;
    return { text, model, stopReason, usage: usage as CacheEntry['usage'], createdAt: Number(createdAt) };
  }

  async put(key: string, entry: CacheEntry, expiresAt: number): Promise<void> {
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { ...entry, [KEY]: key, [TTL]: expiresAt } }),
    );
  }
}
