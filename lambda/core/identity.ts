/**
 * Who is calling. The API Gateway Lambda REQUEST authorizer (`lambda/functions/authorizer/handler.ts`) has already
 * mapped the caller's API key to a user and plan and put them in `requestContext.authorizer`, so the functions read
 * them from there and look nothing up. The authorizer's decision is made here: which header holds the key, what the
 * users table says about its hash, and what API Gateway must answer when the key is missing or unknown.
 *
 * Keys are stored only as SHA-256 hashes: the users table is `keyHash → {userId, plan, apiKeyId}`, written when a key
 * is issued (`genai keys create`, cli/admin/aws-keys.ts). A leaked table does not leak usable keys.
 */
import { createHash } from 'node:crypto';
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { API_KEY_HEADER, AUTHORIZATION_HEADER, type AuthorizerContext } from '../../config/auth';
import type { RouteDefinition } from '../../config/routes';
import { ForbiddenError } from './errors';
import { headerOf } from './http';

export type Caller = AuthorizerContext;

export interface UserRecord {
  /** SHA-256 of the key value, lower-case hex (see {@link hashApiKey}). */
  keyHash: string;
  /** The API Gateway API key id, for the usage plan and the access log. */
  apiKeyId: string;
  userId: string;
  plan: string;
  createdAt: string;
}

/** The users table, read by key hash. A record may be malformed (written by hand): it is checked here. */
export interface UsersLookup {
  get(keyHash: string): Promise<Partial<Record<keyof UserRecord, unknown>> | undefined>;
}

/** The only form the users table holds a key in. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The caller the authorizer identified. Throws 403 if the request did not pass the authorizer (a misdeployed method). */
export function resolveCaller(event: Pick<APIGatewayProxyEvent, 'requestContext'>): Caller {
  const context = event.requestContext?.authorizer as Record<string, unknown> | null | undefined;
  const userId = context?.userId;
  const plan = context?.plan;
  const apiKeyId = context?.apiKeyId;
  if (typeof userId !== 'string' || !userId || typeof plan !== 'string' || !plan || typeof apiKeyId !== 'string') {
    throw new ForbiddenError('This API requires an API key');
  }
  return { userId, plan, apiKeyId };
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

export type KeyFromHeaders = { readonly key: string } | { readonly key?: undefined; readonly reason: string };

/**
 * The API key of a request: `Authorization: Bearer <key>` or `x-api-key: <key>`. Both may be sent (a client library
 * adding one to a proxy's other) when they agree; two different keys are refused rather than guessed between.
 */
export function apiKeyFromHeaders(
  headers: Readonly<Record<string, string | undefined>> | null | undefined,
): KeyFromHeaders {
  const authorization = headerOf(headers, AUTHORIZATION_HEADER);
  const bearer = authorization ? BEARER.exec(authorization)?.[1] : undefined;
  const xApiKey = headerOf(headers, API_KEY_HEADER)?.trim() || undefined;
  if (bearer && xApiKey && bearer !== xApiKey) return { reason: 'Authorization and x-api-key hold different keys' };
  const key = bearer ?? xApiKey;
  if (key) return { key };
  if (authorization) return { reason: 'Authorization is not "Bearer <api key>"' };
  return { reason: 'No API key (Authorization: Bearer <key> or x-api-key)' };
}

export type AuthorizerDecision =
  | { readonly allow: true; readonly key: string; readonly caller: Caller }
  | { readonly allow: false; readonly reason: string };

interface CacheEntry {
  readonly caller: Caller;
  readonly expires: number;
}

/**
 * Maps keys to callers through the users table, keeping answers for `ttlMs`: a key is re-issued, not edited, so a
 * mapping changes rarely, and a revoked key is refused by its usage plan anyway. Unknown keys are not cached, so a key
 * works the moment it is issued.
 */
export class KeyAuthority {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly users: UsersLookup,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  async decide(
    headers: Readonly<Record<string, string | undefined>> | null | undefined,
    now = Date.now(),
  ): Promise<AuthorizerDecision> {
    const found = apiKeyFromHeaders(headers);
    if (found.key === undefined) return { allow: false, reason: found.reason };
    const keyHash = hashApiKey(found.key);
    const hit = this.cache.get(keyHash);
    if (hit && hit.expires > now) return { allow: true, key: found.key, caller: hit.caller };

    const item = await this.users.get(keyHash);
    if (
      !item ||
      typeof item.userId !== 'string' ||
      typeof item.plan !== 'string' ||
      typeof item.apiKeyId !== 'string'
    ) {
      return { allow: false, reason: 'Unknown API key' };
    }
    const caller: Caller = { userId: item.userId, plan: item.plan, apiKeyId: item.apiKeyId };
    this.cache.delete(keyHash);
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(keyHash, { caller, expires: now + this.ttlMs });
    return { allow: true, key: found.key, caller };
  }
}

/** The failure message API Gateway answers `401` (gateway response UNAUTHORIZED); any other failure is a `500`. */
export const UNAUTHORIZED = 'Unauthorized';

/**
 * The authorizer's answer, in the shape "Output from an API Gateway Lambda authorizer" (API Gateway developer guide)
 * describes: a policy allowing the method, `context` with the user and plan (read back by {@link resolveCaller}), and,
 * as the API's `apiKeySource` is `AUTHORIZER`, the key itself as `usageIdentifierKey`, which API Gateway matches against
 * the usage plans' keys to throttle and meter it ("Choose an API key source in API Gateway").
 *
 * A missing or unknown key: on routes with `errorStyle: 'openai'` it throws {@link UNAUTHORIZED}, which API Gateway
 * answers `401` (gateway response UNAUTHORIZED, OpenAI's error shape); elsewhere it returns a Deny policy, answered
 * `403` (gateway response ACCESS_DENIED, `{"message":"Forbidden"}`, API Gateway's body for a missing key).
 */
export async function authorizeRequest(
  event: Pick<APIGatewayRequestAuthorizerEvent, 'headers' | 'methodArn' | 'httpMethod' | 'resource'>,
  authority: KeyAuthority,
  routes: readonly RouteDefinition[],
): Promise<APIGatewayAuthorizerResult & { readonly refusal?: string }> {
  const decision = await authority.decide(event.headers);
  if (decision.allow) {
    const { caller } = decision;
    return {
      principalId: caller.userId,
      policyDocument: policy('Allow', event.methodArn),
      context: { userId: caller.userId, plan: caller.plan, apiKeyId: caller.apiKeyId },
      usageIdentifierKey: decision.key,
    };
  }
  const route = routes.find((r) => r.method === event.httpMethod && r.path === event.resource);
  if (route?.errorStyle === 'openai') throw new UnauthorizedKeyError(decision.reason);
  return { principalId: 'anonymous', policyDocument: policy('Deny', event.methodArn), refusal: decision.reason };
}

/** Thrown for a refused key on an OpenAI-style route; its message is what API Gateway turns into a 401. */
export class UnauthorizedKeyError extends Error {
  constructor(readonly reason: string) {
    super(UNAUTHORIZED);
    this.name = 'UnauthorizedKeyError';
  }
}

function policy(effect: 'Allow' | 'Deny', methodArn: string): APIGatewayAuthorizerResult['policyDocument'] {
  return { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: methodArn }] };
}
