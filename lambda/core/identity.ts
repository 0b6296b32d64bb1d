/**
 * Who is calling. API Gateway has already checked the `x-api-key` header against a usage plan; the key id it puts in
 * `requestContext.identity.apiKeyId` is mapped to a user and plan through the users table (a {@link UsersLookup}, on
 * DynamoDB in `lambda/aws/users-table.ts`), written when the key is issued (`scripts/create-api-key.ts`). The body
 * never names the user.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
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

/** The users table, read by API key id. A record may be malformed (written by hand): it is checked here. */
export interface UsersLookup {
  get(apiKeyId: string): Promise<Partial<Record<keyof UserRecord, unknown>> | undefined>;
}

/** Key-to-user mappings change rarely (a key is re-issued, not edited), so they are cached for a few minutes. */
const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX = 10_000;
const cache = new Map<string, { caller: Caller; expires: number }>();

export async function resolveCaller(
  event: Pick<APIGatewayProxyEvent, 'requestContext'>,
  users: UsersLookup,
  now: number = Date.now(),
): Promise<Caller> {
  const apiKeyId = event.requestContext?.identity?.apiKeyId;
  // Only reachable if a method is deployed without apiKeyRequired: refuse rather than guess a user.
  if (!apiKeyId) throw new ForbiddenError('This API requires an API key');

  const hit = cache.get(apiKeyId);
  if (hit && hit.expires > now) return hit.caller;

  const item = await users.get(apiKeyId);
  if (!item || typeof item.userId !== 'string' || typeof item.plan !== 'string') {
    throw new ForbiddenError('This API key is not registered to a user');
  }
  const caller: Caller = { userId: item.userId, plan: item.plan, apiKeyId };
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(apiKeyId, { caller, expires: now + CACHE_TTL_MS });
  return caller;
}
