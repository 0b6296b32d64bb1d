/**
 * What the test files that start a local cloud (local/cloud.ts) give it and read from it: usage plans named by what a
 * test does with them, the secret it signs webhooks with, and the circuit breaker its functions share.
 *
 * @example
 * ```ts
 * cloud = await startLocalCloud({
 *   quiet: true,
 *   apiKeys: `alice:pro:${KEY},tina:tiny:${TINY}`,
 *   config: { plans: { pro: ROOMY_PLAN, tiny: TINY_BUDGET_PLAN } },
 * });
 * ({ breaker, db } = cloudBreaker(cloud));
 * ```
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ENV } from '../../config/runtime';
import { MAX_CONCURRENT_REQUESTS, type PlanConfig } from '../../config/schema';
import { DynamoBreakerStore } from '../../lambda/aws/breaker-store';
import { CircuitBreaker } from '../../lambda/core/breaker';
import type { LocalCloud } from '../../local/cloud';
import { documentClient, dynamoClient } from './dynalite';

/** Never in a test's way: no throttle, no daily quota, tokens enough for a whole test file, every call at once. */
export const ROOMY_PLAN: PlanConfig = {
  rateLimit: 10_000,
  burstLimit: 10_000,
  requestsPerDay: 1_000_000,
  tokensPerDay: 5_000_000,
  maxConcurrentRequests: MAX_CONCURRENT_REQUESTS,
};

/** 300 tokens a day: an answer or two, then the token budget's 429 (before any model call). */
export const TINY_BUDGET_PLAN: PlanConfig = { ...ROOMY_PLAN, tokensPerDay: 300 };

/** One request a second and no burst: a few calls in a row meet the usage plan's 429 (API Gateway's own). */
export const TRICKLE_PLAN: PlanConfig = { ...ROOMY_PLAN, rateLimit: 1, burstLimit: 1 };

/**
 * A Standard Webhooks signing secret (`whsec_` and base64) for `webhookSecret`, made from `seed` so that each test
 * file signs with its own.
 */
export function webhookSigningSecret(seed: string): string {
  return 'whsec_' + Buffer.from(seed).toString('base64');
}

export interface CloudBreaker {
  /** The breaker on the cloud's guard table, with the cloud's breaker settings. */
  readonly breaker: CircuitBreaker;
  /** The DynamoDB client under it: destroy it once the test file is done. */
  readonly db: DynamoDBClient;
}

/**
 * The circuit breaker the cloud's functions share, read and forced as an operator would (`genai breaker`): a state
 * forced here is what the next request sees (at once with `breaker.cacheMs: 0`).
 */
export function cloudBreaker(cloud: LocalCloud): CloudBreaker {
  const db = dynamoClient(cloud.dynamoEndpoint);
  const store = new DynamoBreakerStore({ tableName: cloud.env[ENV.guardTable], documentClient: documentClient(db) });
  return { breaker: new CircuitBreaker({ store, settings: cloud.config.breaker }), db };
}
