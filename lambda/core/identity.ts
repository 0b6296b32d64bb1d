/**
 * Who is calling. API Gateway has already checked the `x-api-key` header against a usage plan; the key id it puts in
 * `requestContext.identity.apiKeyId` is mapped to a user and plan through the users table, written when the key is
 * issued (`scripts/create-api-key.ts`). The body never names the user.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV, requireEnv } from '../../config/runtime';
import { dynamoDocumentClient } from '../aws/clients';
import { ForbiddenError } from './errors';

export interface Caller {
  readonly userId: string;
  readonly plan: string;
  readonly apiKeyId: string;
}

export interface UserRecord {
  apiKeyId: string;
  userId: string;
  plan: string;
  createdAt: string;
}

/** Key-to-user mappings change rarely (a key is re-issued, not edited), so they are cached for a few minutes. */
const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX = 10_000;
const cache = new Map<string, { caller: Caller; expires: number }>();

export async function resolveCaller(
  event: Pick<APIGatewayProxyEvent, 'requestContext'>,
  deps: { documentClient?: DynamoDBDocumentClient; tableName?: string; now?: number } = {},
): Promise<Caller> {
  const apiKeyId = event.requestContext?.identity?.apiKeyId;
  // Only reachable if a method is deployed without apiKeyRequired: refuse rather than guess a user.
  if (!apiKeyId) throw new ForbiddenError('This API requires an API key');

  const now = deps.now ?? Date.now();
  const hit = cache.get(apiKeyId);
  if (hit && hit.expires > now) return hit.caller;

  const { Item } = await (deps.documentClient ?? dynamoDocumentClient()).send(
    new GetCommand({ TableName: deps.tableName ?? requireEnv(ENV.usersTable), Key: { apiKeyId } }),
  );
  if (!Item || typeof Item.userId !== 'string' || typeof Item.plan !== 'string') {
    throw new ForbiddenError('This API key is not registered to a user');
  }
  const caller: Caller = { userId: Item.userId, plan: Item.plan, apiKeyId };
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(apiKeyId, { caller, expires: now + CACHE_TTL_MS });
  return caller;
}

/** Registers an API key id to a user and plan. Conditional: a key id is registered once. */
export async function registerApiKey(
  record: Omit<UserRecord, 'createdAt'>,
  deps: { documentClient?: DynamoDBDocumentClient; tableName: string; now?: Date },
): Promise<UserRecord> {
  const item: UserRecord = { ...record, createdAt: (deps.now ?? new Date()).toISOString() };
  await (deps.documentClient ?? dynamoDocumentClient()).send(
    new PutCommand({ TableName: deps.tableName, Item: item, ConditionExpression: 'attribute_not_exists(apiKeyId)' }),
  );
  return item;
}
