/**
 * The breaker's port to its shared store: the state item per model and the outcome counters per window bucket. The
 * DynamoDB implementation is `lambda/aws/breaker-store.ts`; tests use an in-memory one.
 */

export type BreakerStateName = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

/** The breaker state item, as stored. Times are epoch milliseconds. */
export interface StoredBreakerState {
  readonly state: BreakerStateName;
  /** Incremented by every state change; 0 for a model never seen (no item). */
  readonly generation: number;
  /** Consecutive trips since the last close; sets the open wait. */
  readonly trips: number;
  readonly openedAt?: number;
  /** OPEN only: when a probe may start. */
  readonly openUntil?: number;
  /** Opened by an operator rather than by the failure rate. */
  readonly forced?: boolean;
  /** HALF_OPEN only: the probe's holder id and the end of its lease. */
  readonly probeHolder?: string;
  readonly probeLeaseUntil?: number;
  readonly reason?: string;
  readonly updatedAt?: number;
}

export interface WindowCounts {
  readonly calls: number;
  readonly failures: number;
  readonly slow: number;
}

/** What a conditional state write requires of the stored item; see {@link conditionHolds}. */
export interface StateCondition {
  /** The generation the writer read. */
  readonly generation: number;
  readonly state?: BreakerStateName;
  readonly probeHolder?: string;
  /** The open wait (OPEN) or the probe lease (HALF_OPEN) must have ended by this time. */
  readonly probeAvailableAt?: number;
}

/** One call's outcome, as the counters see it. */
export interface CallOutcome {
  readonly failure: boolean;
  readonly slow: boolean;
}

/**
 * Where breakers keep what every instance must agree on. Every state change goes through {@link writeState}, which
 * must be atomic with its condition: it is what lets exactly one instance trip, probe or close.
 */
export interface BreakerStore {
  /** Strongly consistent read; a model never seen is {@link CLOSED_INITIAL}. */
  readState(modelId: string): Promise<StoredBreakerState>;
  /** Replaces the state if it still satisfies `condition` ({@link conditionHolds}); false when it does not. */
  writeState(modelId: string, next: StoredBreakerState, condition: StateCondition): Promise<boolean>;
  /**
   * Adds one call to a bucket's counters atomically (concurrent adds are never lost); returns the bucket's new totals
   * when `returnCounts`. `expiresAt` (epoch seconds) is when the store may forget the bucket.
   */
  addOutcome(
    modelId: string,
    generation: number,
    bucketStartMs: number,
    outcome: CallOutcome,
    expiresAt: number,
    returnCounts: boolean,
  ): Promise<WindowCounts | undefined>;
  /** Strongly consistent read of buckets; buckets with no calls are absent from the result. */
  readCounters(
    modelId: string,
    generation: number,
    bucketStarts: readonly number[],
  ): Promise<Map<number, WindowCounts>>;
}

/** The state of a model with no stored item. */
export const CLOSED_INITIAL: StoredBreakerState = { state: 'CLOSED', generation: 0, trips: 0 };
export const ZERO_COUNTS: WindowCounts = { calls: 0, failures: 0, slow: 0 };

/**
 * The meaning of a {@link StateCondition} against the stored state (`undefined`: no item). Generation 0 is the
 * implicit CLOSED state of a missing item, so nothing but "no item" matches it. Every store implements exactly this.
 */
export function conditionHolds(stored: StoredBreakerState | undefined, c: StateCondition): boolean {
  if (c.generation === 0) {
    return (
      stored === undefined && (!c.state || c.state === 'CLOSED') && !c.probeHolder && c.probeAvailableAt === undefined
    );
  }
  if (!stored || stored.generation !== c.generation) return false;
  if (c.state && stored.state !== c.state) return false;
  if (c.probeHolder && stored.probeHolder !== c.probeHolder) return false;
  if (c.probeAvailableAt !== undefined) {
    const end =
      stored.state === 'OPEN' ? stored.openUntil : stored.state === 'HALF_OPEN' ? stored.probeLeaseUntil : undefined;
    if (end === undefined || end > c.probeAvailableAt) return false;
  }
  return true;
}
