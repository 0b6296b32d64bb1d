/**
 * The chat core's ports to its guards: admission to a model (the shared circuit breaker, `breaker/`) and the per-user
 * token budget (`token-budget.ts`). The core decides with them; how they keep their state is theirs.
 */

/** A caller's right to make one call to one model; exactly one of its methods is called, once. */
export interface ModelPermit {
  success(outcome: { ttftMs?: number }): Promise<void>;
  failure(err: unknown): Promise<unknown>;
  /** The outcome says nothing about the model (the client went away, our own limits). */
  release(): Promise<void>;
}

export type GuardDecision = { allowed: true; permit: ModelPermit } | { allowed: false; retryAfterSeconds: number };

/** Admission to a model: the circuit breaker. */
export interface ModelGuard {
  acquire(modelId: string): Promise<GuardDecision>;
}

/** The per-user token budget. */
export interface TokenBudgetGuard<R = unknown> {
  reserve(userId: string, plan: string, estimatedTokens: number): Promise<R>;
  settle(reservation: R, actualTokens: number): Promise<void>;
  release(reservation: R): Promise<void>;
}
