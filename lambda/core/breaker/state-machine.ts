/**
 * The breaker's transitions as pure functions of the stored state, the settings and the time: what the next state
 * is, and what the stored state must still be for the change to apply. No I/O; `breaker.ts` writes the results.
 */
import type { AppConfig } from '../../../config/schema';
import type { BreakerStateName, StateCondition, StoredBreakerState, WindowCounts } from './store';

export type BreakerSettings = AppConfig['breaker'];

/** `openUntil` of a breaker forced open with no end. */
export const OPEN_UNTIL_FORCE_CLOSE = 8_640_000_000_000_000;

/** An OPEN breaker whose wait is over reads as HALF_OPEN: the next caller may probe. */
export function effectiveState(s: StoredBreakerState, now: number): BreakerStateName {
  return s.state === 'OPEN' && (s.openUntil ?? 0) <= now ? 'HALF_OPEN' : s.state;
}

/** When the open wait (OPEN) or the probe lease (HALF_OPEN) ends; 0 when CLOSED. */
export function waitEnd(s: StoredBreakerState): number {
  return (s.state === 'OPEN' ? s.openUntil : s.state === 'HALF_OPEN' ? s.probeLeaseUntil : 0) ?? 0;
}

/** Seconds until trying the model again may help; at least 1. */
export function retryAfterSeconds(s: StoredBreakerState, now: number, settings: BreakerSettings): number {
  if (s.state === 'OPEN' && (s.openUntil ?? 0) >= OPEN_UNTIL_FORCE_CLOSE) return settings.maxOpenSeconds;
  // A probe usually answers well before its lease ends; never suggest waiting longer than a first open wait.
  const end =
    s.state === 'OPEN' ? (s.openUntil ?? now) : Math.min(s.probeLeaseUntil ?? now, now + settings.openSeconds * 1000);
  return Math.max(1, Math.ceil((end - now) / 1000));
}

/** The open wait after `trips` consecutive trips: doubled per trip, capped at `maxOpenSeconds`. */
export function openWaitMs(trips: number, settings: BreakerSettings): number {
  const seconds = Math.min(settings.openSeconds * 2 ** Math.max(0, trips - 1), settings.maxOpenSeconds);
  return seconds * 1000;
}

export function isSlow(ttftMs: number | undefined, settings: BreakerSettings): boolean {
  return ttftMs !== undefined && ttftMs > settings.slowCallTtftMs;
}

/** Why a window's counts trip the breaker, or undefined when they do not. */
export function tripReason(w: WindowCounts, settings: BreakerSettings): string | undefined {
  if (w.calls < settings.minimumCalls) return undefined;
  const failureRate = w.failures / w.calls;
  const slowRate = w.slow / w.calls;
  if (failureRate >= settings.failureRateThreshold) {
    return `failure rate ${pct(failureRate)} over ${w.calls} calls (threshold ${pct(settings.failureRateThreshold)})`;
  }
  if (slowRate >= settings.slowCallRateThreshold) {
    return `slow-call rate ${pct(slowRate)} over ${w.calls} calls (threshold ${pct(settings.slowCallRateThreshold)})`;
  }
  return undefined;
}

/** A transition: the state to write and what the stored state must still be. */
export interface Transition {
  readonly next: StoredBreakerState;
  readonly condition: StateCondition;
}

/** CLOSED → OPEN. Only the generation that is still CLOSED can trip. */
export function trip(generation: number, now: number, settings: BreakerSettings, reason: string): Transition {
  return {
    next: {
      state: 'OPEN',
      generation: generation + 1,
      trips: 1,
      openedAt: now,
      openUntil: now + openWaitMs(1, settings),
      reason,
      updatedAt: now,
    },
    condition: { generation, state: 'CLOSED' },
  };
}

/**
 * OPEN (wait over) or HALF_OPEN (lease over) → HALF_OPEN with a new probe lease for `holder`. Expiry is part of the
 * condition, so it is judged by the store at write time, not trusted from an earlier read.
 */
export function leaseProbe(s: StoredBreakerState, now: number, settings: BreakerSettings, holder: string): Transition {
  return {
    next: {
      state: 'HALF_OPEN',
      generation: s.generation + 1,
      trips: s.trips,
      openedAt: s.openedAt,
      forced: s.forced,
      probeHolder: holder,
      probeLeaseUntil: now + settings.probeLeaseSeconds * 1000,
      reason: s.reason,
      updatedAt: now,
    },
    condition: { generation: s.generation, probeAvailableAt: now },
  };
}

/** Only the current probe holder, in the probe's own generation, can decide. */
export function probeCondition(leased: StoredBreakerState): StateCondition {
  return { generation: leased.generation, state: 'HALF_OPEN', probeHolder: leased.probeHolder };
}

/** HALF_OPEN → CLOSED: the probe succeeded; the trip count resets. */
export function closeAfterProbe(leased: StoredBreakerState, now: number): Transition {
  return {
    next: { state: 'CLOSED', generation: leased.generation + 1, trips: 0, reason: 'probe succeeded', updatedAt: now },
    condition: probeCondition(leased),
  };
}

/** HALF_OPEN → OPEN: the probe failed or was slow; the wait doubles. */
export function reopenAfterProbe(
  leased: StoredBreakerState,
  now: number,
  settings: BreakerSettings,
  reason: string,
): Transition {
  const trips = leased.trips + 1;
  return {
    next: {
      state: 'OPEN',
      generation: leased.generation + 1,
      trips,
      openedAt: now,
      openUntil: now + openWaitMs(trips, settings),
      reason,
      updatedAt: now,
    },
    condition: probeCondition(leased),
  };
}

/** The probe gives its lease back without a verdict, so the next caller may probe at once. Not a state change. */
export function releaseProbe(leased: StoredBreakerState, now: number): Transition {
  return {
    next: { ...leased, probeHolder: undefined, probeLeaseUntil: now, updatedAt: now },
    condition: probeCondition(leased),
  };
}

/** Operator: OPEN for `seconds`, or until force-close without them. No probe runs before then. */
export function forcedOpen(s: StoredBreakerState, now: number, seconds?: number): StoredBreakerState {
  return {
    state: 'OPEN',
    generation: s.generation + 1,
    trips: s.trips,
    openedAt: now,
    openUntil: seconds === undefined ? OPEN_UNTIL_FORCE_CLOSE : now + Math.round(seconds * 1000),
    forced: true,
    reason: seconds === undefined ? 'forced open until force-close' : `forced open for ${seconds} s`,
    updatedAt: now,
  };
}

/** Operator: CLOSED now, trip count reset; any probe in flight loses its right to report. */
export function forcedClosed(s: StoredBreakerState, now: number): StoredBreakerState {
  return { state: 'CLOSED', generation: s.generation + 1, trips: 0, reason: 'forced close', updatedAt: now };
}

function pct(rate: number): string {
  return `${Math.round(rate * 1000) / 10}%`;
}
