/**
 * What the test files that start a local cloud (local/cloud.ts) give it: usage plans named by what a test does with
 * them.
 *
 * @example
 * ```ts
 * cloud = await startLocalCloud({
 *   quiet: true,
 *   apiKeys: `alice:pro:${KEY},tina:tiny:${TINY}`,
 *   config: { plans: { pro: ROOMY_PLAN, tiny: TINY_BUDGET_PLAN } },
 * });
 * ```
 */
import type { PlanConfig } from '../../config/schema';

/** Never in a test's way: no throttle, no daily quota, tokens enough for a whole test file. */
export const ROOMY_PLAN: PlanConfig = {
  rateLimit: 10_000,
  burstLimit: 10_000,
  requestsPerDay: 1_000_000,
  tokensPerDay: 5_000_000,
};

/** 300 tokens a day: an answer or two, then the token budget's 429 (before any model call). */
export const TINY_BUDGET_PLAN: PlanConfig = { ...ROOMY_PLAN, tokensPerDay: 300 };

/** One request a second and no burst: a few calls in a row meet the usage plan's 429 (API Gateway's own). */
export const TRICKLE_PLAN: PlanConfig = { ...ROOMY_PLAN, rateLimit: 1, burstLimit: 1 };
