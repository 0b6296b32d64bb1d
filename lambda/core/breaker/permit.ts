/** What `acquire` hands out: a decision, and with an allowed one a permit that reports the call's outcome once. */
import { classifyOutcome, type OutcomeClass } from '../breaker-taxonomy';

/** Permission to call a model once. Report exactly one outcome; later reports are ignored. */
export interface BreakerPermit {
  readonly modelId: string;
  /** The breaker generation the permit was granted in (-1 when the store could not be read). */
  readonly generation: number;
  /** True for the one half-open probe: its outcome closes or re-opens the breaker. */
  readonly probe: boolean;
  /** The model answered. `ttftMs` over `slowCallTtftMs` counts as a slow call. */
  success(outcome?: { ttftMs?: number }): Promise<void>;
  /** The call failed; counted only when {@link classifyOutcome} says so (returned for logging). */
  failure(err: unknown): Promise<OutcomeClass>;
  /** The outcome says nothing about the model (client abort, our own limit): nothing is counted. */
  release(): Promise<void>;
}

export type BreakerDecision =
  | { readonly allowed: true; readonly permit: BreakerPermit }
  | {
      readonly allowed: false;
      readonly state: 'OPEN' | 'HALF_OPEN';
      /** When trying this model again may help (for `Retry-After`); at least 1. */
      readonly retryAfterSeconds: number;
    };

/** What a permit does with the first outcome reported on it. */
export interface PermitHandlers {
  success(ttftMs: number | undefined): Promise<void>;
  failure(c: OutcomeClass): Promise<void>;
  release(): Promise<void>;
}

export function createPermit(modelId: string, generation: number, probe: boolean, on: PermitHandlers): BreakerPermit {
  let reported = false;
  const first = () => {
    if (reported) return false;
    reported = true;
    return true;
  };
  return {
    modelId,
    generation,
    probe,
    success: async (outcome) => {
      if (first()) await on.success(outcome?.ttftMs);
    },
    failure: async (err) => {
      const c = classifyOutcome(err);
      if (first()) await on.failure(c);
      return c;
    },
    release: async () => {
      if (first()) await on.release();
    },
  };
}

/** A permit whose outcome is not recorded: granted when the state could not be read. */
export function untrackedPermit(modelId: string): BreakerPermit {
  const none = () => Promise.resolve();
  return createPermit(modelId, -1, false, { success: none, failure: none, release: none });
}
