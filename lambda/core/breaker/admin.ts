/**
 * Operator views and controls: a breaker's status with its current window, and forcing it open or closed. Forcing is
 * a conditional write on the generation read, retried while other writers keep moving the breaker on.
 */
import type { BreakerObserver } from './metrics';
import { iso } from './metrics';
import type { StateCache } from './state-cache';
import {
  effectiveState,
  OPEN_UNTIL_FORCE_CLOSE,
  retryAfterSeconds,
  waitEnd,
  type BreakerSettings,
} from './state-machine';
import {
  ZERO_COUNTS,
  type BreakerStateName,
  type BreakerStore,
  type StoredBreakerState,
  type WindowCounts,
} from './store';
import { sumCounts, type BreakerWindow } from './window';

const FORCE_ATTEMPTS = 10;

export interface BreakerStatus {
  readonly modelId: string;
  /** OPEN whose wait is over reads as HALF_OPEN: the next caller may probe. */
  readonly state: BreakerStateName;
  readonly storedState: BreakerStateName;
  readonly generation: number;
  readonly trips: number;
  readonly forced: boolean;
  readonly reason?: string;
  readonly openedAt?: string;
  /** null when forced open until `forceClose`. */
  readonly openUntil?: string | null;
  readonly retryAfterSeconds?: number;
  readonly probe?: { readonly holder: string; readonly leaseUntil: string; readonly leaseActive: boolean };
  /** Counted calls in the current window (CLOSED only; a new generation starts an empty window). */
  readonly window: WindowCounts & {
    readonly failureRate: number;
    readonly slowCallRate: number;
    readonly seconds: number;
  };
  readonly updatedAt?: string;
}

/** What the operator controls share with the breaker that runs them. */
export interface AdminContext {
  readonly store: BreakerStore;
  readonly settings: BreakerSettings;
  readonly window: BreakerWindow;
  readonly cache: StateCache;
  readonly observer: BreakerObserver;
  readonly now: () => number;
}

/** The stored state, read fresh, with the current window's counts. */
export async function readStatus(ctx: AdminContext, modelId: string): Promise<BreakerStatus> {
  const s = await ctx.store.readState(modelId);
  const now = ctx.now();
  ctx.cache.remember(modelId, s, now);
  let window: WindowCounts = ZERO_COUNTS;
  if (s.state === 'CLOSED') {
    const current = ctx.window.bucketStart(now);
    const counts = await ctx.store.readCounters(modelId, s.generation, [
      current,
      ...ctx.window.pastBucketStarts(current),
    ]);
    window = sumCounts([...counts.values()]);
  }
  const end = s.state === 'CLOSED' ? undefined : waitEnd(s);
  return {
    modelId,
    state: effectiveState(s, now),
    storedState: s.state,
    generation: s.generation,
    trips: s.trips,
    forced: s.forced === true,
    reason: s.reason,
    openedAt: iso(s.openedAt),
    openUntil: s.openUntil === undefined ? undefined : s.openUntil >= OPEN_UNTIL_FORCE_CLOSE ? null : iso(s.openUntil),
    retryAfterSeconds: end !== undefined && end > now ? retryAfterSeconds(s, now, ctx.settings) : undefined,
    probe:
      s.state === 'HALF_OPEN' && s.probeHolder && s.probeLeaseUntil !== undefined
        ? { holder: s.probeHolder, leaseUntil: iso(s.probeLeaseUntil)!, leaseActive: s.probeLeaseUntil > now }
        : undefined,
    window: {
      ...window,
      failureRate: window.calls ? window.failures / window.calls : 0,
      slowCallRate: window.calls ? window.slow / window.calls : 0,
      seconds: ctx.settings.windowSeconds,
    },
    updatedAt: iso(s.updatedAt),
  };
}

/** Writes `build(current)` over whatever the breaker is in, on the generation just read. */
export async function forceState(
  ctx: AdminContext,
  modelId: string,
  build: (current: StoredBreakerState, now: number) => StoredBreakerState,
): Promise<void> {
  for (let attempt = 0; attempt < FORCE_ATTEMPTS; attempt++) {
    const s = await ctx.store.readState(modelId);
    const now = ctx.now();
    const next = build(s, now);
    if (await ctx.store.writeState(modelId, next, { generation: s.generation })) {
      ctx.cache.remember(modelId, next, now);
      ctx.observer.transitioned(modelId, s, next, next.reason ?? 'forced');
      return;
    }
  }
  throw new Error(`Breaker for ${modelId} kept changing; gave up after ${FORCE_ATTEMPTS} attempts`);
}
