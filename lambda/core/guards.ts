/**
 * The chat core's ports to its guards: admission to a model (the shared circuit breaker, `breaker/`) and the per-user
 * token budget and concurrency limit (`token-budget.ts`). The core decides with them; how they keep their state is
 * theirs.
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

/**
 * A call's claim on one of its user's concurrent slots (`plans.<plan>.maxConcurrentRequests`): a lease that ends when
 * the call settles or releases its reservation, or at `expiresAt` if the function never does (it crashed).
 */
export interface LeaseRequest {
  /** The request id of the call. */
  readonly holder: string;
  /** Epoch ms: the call's deadline. */
  readonly expiresAt: number;
}

/** A user's limits right after a reservation (or at its refusal), as the response headers report them. */
export interface CallLimits {
  /**
   * The daily token budget: its size, what is left once this call's estimate is held (unknown on a refusal), and the
   * seconds until the UTC day ends and it starts again.
   */
  readonly tokens: { readonly limit: number; readonly remaining?: number; readonly resetsInSeconds: number };
  /**
   * The concurrency limit, when the call took a slot: the slots, those still free with this call's taken, and the
   * seconds until the last lease held now expires (every slot is free by then at the latest).
   */
  readonly concurrency?: { readonly limit: number; readonly remaining: number; readonly resetsInSeconds: number };
}

/**
 * The per-user token budget and concurrency limit, reserved together. A reservation that carries `limits`
 * ({@link CallLimits}) has them reported in the call's rate-limit headers.
 */
export interface TokenBudgetGuard<R = unknown> {
  /** `estimatedMicroUsd`: the most the call may cost (micro-dollars), for a plan's dollar budget; unset: unpriced. */
  reserve(
    userId: string,
    plan: string,
    estimatedTokens: number,
    lease?: LeaseRequest,
    estimatedMicroUsd?: number,
  ): Promise<R>;
  /** `actualMicroUsd`: the call's cost; unset: unknown (the estimate stays spent). */
  settle(reservation: R, actualTokens: number, actualMicroUsd?: number): Promise<void>;
  release(reservation: R): Promise<void>;
}
