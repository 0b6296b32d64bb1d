/**
 * The rate-limit headers of the answers of the routes that call a model (`/chat/stream`, `/chat`, `/chat/completions`),
 * from the limits the call's reservation found ({@link CallLimits}), on success and on a concurrency refusal alike. A
 * stream sends them in its prelude, as they are known before it commits.
 *
 * Standard headers, per draft-ietf-httpapi-ratelimit-headers-11 (the IETF httpapi working group's draft), which the
 * `RateLimit-Policy` / `RateLimit` pair follows exactly: a List of Items whose value is the policy's name as a String,
 * with the quota `q` and its unit `qu`, and what is available `r`. They report the concurrency limit only: its unit,
 * `concurrent-requests`, is one the draft registers, while the draft has no unit for model tokens; a concurrency
 * limit has no time window, so neither `w` nor `t` is sent.
 *
 * ```http
 * RateLimit-Policy: "concurrency";q=20;qu="concurrent-requests"
 * RateLimit: "concurrency";r=19
 * ```
 */
import { OPENAI_RATE_LIMIT_HEADERS, RATE_LIMIT_HEADERS } from '../../config/headers';
import type { CallLimits } from './guards';

/** The name of the concurrency policy in `RateLimit-Policy` and `RateLimit`. */
export const CONCURRENCY_POLICY = 'concurrency';

/** `RateLimit-Policy` and `RateLimit` of a call that took a slot; none without one. */
export function rateLimitHeaders(limits: CallLimits | undefined): Record<string, string> {
  const concurrency = limits?.concurrency;
  if (!concurrency) return {};
  return {
    [RATE_LIMIT_HEADERS.policy]: `"${CONCURRENCY_POLICY}";q=${concurrency.limit};qu="concurrent-requests"`,
    [RATE_LIMIT_HEADERS.limit]: `"${CONCURRENCY_POLICY}";r=${concurrency.remaining}`,
  };
}

/**
 * OpenAI's `x-ratelimit-*` headers, with the meaning OpenAI documents (the most allowed, what remains, and how long until
 * it is back to the most), reporting:
 *
 * - `…-requests`: the concurrency limit (`plans.<plan>.maxConcurrentRequests`), the only limit on requests we count
 *   ourselves (the usage plan's rate and daily quota are API Gateway's, whose counters are not exposed): the slots,
 *   the free slots with this call's taken, and the time until the last lease held now expires (when every slot is free
 *   at the latest).
 * - `…-tokens`: the daily token budget (`plans.<plan>.tokensPerDay`): its size, what is left once this call's estimate
 *   is held (omitted on a refusal, where it is not known), and the time until the UTC day ends.
 *
 * Durations are written as OpenAI writes them (`1s`, `6m0s`, `5h30m0s`).
 */
export function openAIRateLimitHeaders(limits: CallLimits | undefined): Record<string, string> {
  if (!limits) return {};
  const h = OPENAI_RATE_LIMIT_HEADERS;
  const { tokens, concurrency } = limits;
  return {
    ...(concurrency
      ? {
          [h.limitRequests]: String(concurrency.limit),
          [h.remainingRequests]: String(concurrency.remaining),
          [h.resetRequests]: openAIDuration(concurrency.resetsInSeconds),
        }
      : {}),
    [h.limitTokens]: String(tokens.limit),
    ...(tokens.remaining === undefined ? {} : { [h.remainingTokens]: String(tokens.remaining) }),
    [h.resetTokens]: openAIDuration(tokens.resetsInSeconds),
  };
}

/** Whole seconds as OpenAI's reset headers write a duration: `45s`, `1m30s`, `5h30m0s`. */
export function openAIDuration(seconds: number): string {
  const total = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
