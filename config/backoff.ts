/**
 * The one retry backoff of the project: chat passes over the model chain, report jobs, webhook deliveries and the
 * local cloud's event bus all wait with it, each with its own base, cap and kind of jitter. Exponential from `baseMs`
 * (doubling per retry), at least what the other side asked for (`Retry-After`), at most `capMs`, then jittered so that
 * a burst of failures spreads out instead of retrying in lockstep.
 *
 * Plain TypeScript in `config/`: the functions, the stack (which sizes timeouts from the worst case) and the local
 * cloud all read it.
 */

/**
 * - `full`: a random share of the delay, from 0 (AWS Architecture Blog, "Exponential Backoff And Jitter").
 * - `equal`: between half the delay and all of it.
 * - `none`: the delay itself (the worst case, for sizing timeouts).
 */
export type JitterKind = 'full' | 'equal' | 'none';

export interface BackoffPolicy {
  /** Delay before the first retry. */
  readonly baseMs: number;
  /** Longest delay, whatever the retry number or a `Retry-After`. */
  readonly capMs: number;
  readonly jitter: JitterKind;
}

/**
 * The delay before retry number `retry` (1 for the first retry).
 *
 * @example
 * backoffMs({ baseMs: 1_000, capMs: 60_000, jitter: 'equal' }, 3); // between 2 000 and 4 000
 */
export function backoffMs(
  policy: BackoffPolicy,
  retry: number,
  options: { random?: () => number; atLeastMs?: number } = {},
): number {
  const exponential = policy.baseMs * 2 ** Math.max(0, retry - 1);
  const wanted = Math.min(policy.capMs, Math.max(exponential, options.atLeastMs ?? 0));
  const random = options.random ?? Math.random;
  const share = policy.jitter === 'full' ? random() : policy.jitter === 'equal' ? 0.5 + 0.5 * random() : 1;
  // A floor the other side asked for is kept whatever the jitter.
  return Math.round(Math.max(Math.min(wanted, options.atLeastMs ?? 0), wanted * share));
}

/** The longest `retries` waits can take together (no jitter), for sizing timeouts. */
export function worstCaseBackoffMs(policy: BackoffPolicy, retries: number): number {
  let total = 0;
  for (let retry = 1; retry <= retries; retry++) total += backoffMs({ ...policy, jitter: 'none' }, retry);
  return total;
}
