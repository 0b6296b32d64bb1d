/**
 * A circuit breaker per model id, shared by every Lambda instance through a {@link BreakerStore} (in AWS, the guard
 * table: `lambda/aws/breaker-store.ts`).
 *
 * States: `CLOSED` (calls flow) → `OPEN` (calls skip this model) → `HALF_OPEN` (one probe call) → `CLOSED` or `OPEN`.
 *
 * - **Trip.** CLOSED → OPEN when, over the last `windowSeconds`, there were at least `minimumCalls` counted calls and
 *   the failure share reached `failureRateThreshold`, or the share of calls whose first token took longer than
 *   `slowCallTtftMs` reached `slowCallRateThreshold`. Which failures count is decided by `classifyOutcome`
 *   (`../breaker-taxonomy.ts`).
 * - **Wait.** OPEN lasts `openSeconds`, doubled for every consecutive trip without a successful probe in between, up
 *   to `maxOpenSeconds`.
 * - **Probe.** Once the wait is over, the first caller to win a conditional write takes a probe lease of
 *   `probeLeaseSeconds`; every other caller, on every instance, is refused until the probe reports or its lease runs
 *   out (then the next caller may probe). Probe success (and not slow) closes the breaker and resets the trip count;
 *   probe failure re-opens it with the doubled wait. A probe that outlives its lease may still report, as long as no
 *   other caller has taken the probe since; once one has, only the new holder decides. A probe released without a
 *   verdict (client abort, a failure that does not count) frees the lease at once.
 * - **Generations.** Every state change is a conditional write that requires the generation it read and writes the
 *   next one. A permit carries the generation it was granted in, so an outcome from a call that started before a
 *   transition can neither trip the breaker again nor close it: only the current probe holder, in the probe's own
 *   generation, can close it. Outcome counters are keyed by generation too, so a closed breaker starts a fresh window.
 * - **Forced.** `forceOpen` holds the breaker open until `forceClose` or the given number of seconds; no probe is let
 *   through before then.
 *
 * Where each concern lives: `state-machine.ts` (transitions, pure), `window.ts` (buckets and their cache),
 * `state-cache.ts` (each instance's view of the state), `permit.ts`, `admin.ts` (status, force-open/close),
 * `metrics.ts` (log lines and metrics), `store.ts` (the port), `breaker.ts` (the breaker that ties them together).
 *
 * **Cost model**, per model and instance, in store requests (DynamoDB requests in AWS):
 * - `acquire`: 0 while the cached state is younger than `cacheMs`; otherwise 1 strongly consistent read
 *   (concurrent acquires on one instance share it). An instance that serves `n` calls per `cacheMs` reads
 *   `1 / n` times per call, at most once per call. When an open wait ends: 1 conditional write per instance that tries
 *   to probe, plus 1 read for each that loses.
 * - `success` (not slow): 1 counter add, no read. This is the steady state: 1 write per call.
 * - counted `failure` or slow `success`: the same 1 counter add, returning the current bucket (no extra read units),
 *   plus a read of past buckets this instance has not cached (completed buckets never change, so after the
 *   first failure in a generation that is about 1 item per bucket period), plus 1 conditional write when the rate
 *   crosses a threshold (only one instance wins it).
 * - `release` and non-counting failures: 0. Probe outcomes: 1 conditional write.
 *
 * **If the store fails**, the breaker fails open: `acquire` uses the last state it knew (or allows the call when it
 * knew none) and outcome writes are dropped with a warning. The guard table never takes the models down with it.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ store: new DynamoBreakerStore({ tableName }), settings: config.breaker, metrics, logger });
 * const decision = await breaker.acquire(modelId);
 * if (!decision.allowed) return tryNextModel(decision.retryAfterSeconds);
 * try {
 *   const answer = await callModel(modelId);
 *   await decision.permit.success({ ttftMs: answer.ttftMs });
 * } catch (err) {
 *   if (clientWentAway) await decision.permit.release();
 *   else await decision.permit.failure(err); // counted only if classifyOutcome(err).counts
 *   throw err;
 * }
 * ```
 */
export type { BreakerStatus } from './admin';
export { CircuitBreaker, type CircuitBreakerOptions } from './breaker';
export type { BreakerLogger, BreakerMetrics } from './metrics';
export type { BreakerDecision, BreakerPermit } from './permit';
export { OPEN_UNTIL_FORCE_CLOSE, type BreakerSettings } from './state-machine';
export {
  CLOSED_INITIAL,
  conditionHolds,
  ZERO_COUNTS,
  type BreakerStateName,
  type BreakerStore,
  type CallOutcome,
  type StateCondition,
  type StoredBreakerState,
  type WindowCounts,
} from './store';
