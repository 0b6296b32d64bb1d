/**
 * The shared circuit breaker: admission per call, outcome recording, and the transitions that follow, over a
 * {@link BreakerStore}. See `index.ts` for the states, the stored items and the cost model.
 */
import { randomUUID } from 'node:crypto';
import type { OutcomeClass } from '../breaker-taxonomy';
import { forceState, readStatus, type AdminContext, type BreakerStatus } from './admin';
import { BreakerObserver, type BreakerLogger, type BreakerMetrics } from './metrics';
import { createPermit, untrackedPermit, type BreakerDecision, type BreakerPermit } from './permit';
import { StateCache } from './state-cache';
import * as machine from './state-machine';
import type { BreakerSettings, Transition } from './state-machine';
import type { BreakerStore, StoredBreakerState, WindowCounts } from './store';
import { BreakerWindow, sumCounts } from './window';

export interface CircuitBreakerOptions {
  /** Where the state and the counters are shared, e.g. `DynamoBreakerStore` from lambda/aws/breaker-store.ts. */
  readonly store: BreakerStore;
  /** `config.breaker`. */
  readonly settings: BreakerSettings;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Emits `BreakerTransition` and `BreakerState` as single metrics. @default none */
  readonly metrics?: BreakerMetrics;
  /** One structured line per transition, warnings when the store fails. @default none */
  readonly logger?: BreakerLogger;
}

/**
 * The shared circuit breaker. Create one per execution environment (module scope) and reuse it: its cache is what
 * keeps reads far below one per call.
 */
export class CircuitBreaker {
  readonly store: BreakerStore;
  private readonly settings: BreakerSettings;
  private readonly now: () => number;
  private readonly window: BreakerWindow;
  private readonly observer: BreakerObserver;
  private readonly cache: StateCache;
  private readonly admin: AdminContext;

  constructor(options: CircuitBreakerOptions) {
    this.store = options.store;
    this.settings = options.settings;
    this.now = options.now ?? Date.now;
    this.window = new BreakerWindow(this.settings.windowSeconds);
    this.observer = new BreakerObserver(options.metrics, options.logger);
    this.cache = new StateCache(this.store, this.settings.cacheMs, this.now, (modelId, previous, state, now) =>
      this.observer.learned(modelId, previous?.state, state.state, now),
    );
    this.admin = {
      store: this.store,
      settings: this.settings,
      window: this.window,
      cache: this.cache,
      observer: this.observer,
      now: this.now,
    };
  }

  /** Asks to call `modelId` now. Not allowed means: skip to the next model in the chain. */
  async acquire(modelId: string): Promise<BreakerDecision> {
    let state: StoredBreakerState;
    try {
      state = await this.cache.current(modelId);
    } catch (err) {
      // Fail open: the guard table never takes the models down with it.
      const stale = this.cache.stale(modelId);
      this.observer.warn('breaker state unreadable', modelId, err, { usingCachedState: Boolean(stale) });
      if (!stale || stale.state === 'CLOSED') return { allowed: true, permit: untrackedPermit(modelId) };
      state = stale;
    }
    return this.decide(modelId, state, true);
  }

  /** The stored state, read fresh, with the current window's counts. */
  status(modelId: string): Promise<BreakerStatus> {
    return readStatus(this.admin, modelId);
  }

  /**
   * Opens the breaker now, for `seconds` or (without it) until {@link forceClose}. No probe runs before then.
   * Afterwards the breaker half-opens as usual.
   */
  async forceOpen(modelId: string, seconds?: number): Promise<BreakerStatus> {
    if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0)) {
      throw new RangeError(`seconds must be a positive number, got ${seconds}`);
    }
    await forceState(this.admin, modelId, (s, now) => machine.forcedOpen(s, now, seconds));
    return this.status(modelId);
  }

  /** Closes the breaker now and resets its trip count; any probe in flight loses its right to report. */
  async forceClose(modelId: string): Promise<BreakerStatus> {
    await forceState(this.admin, modelId, machine.forcedClosed);
    return this.status(modelId);
  }

  // --- admission -----------------------------------------------------------------------------------------------

  private async decide(modelId: string, s: StoredBreakerState, mayRetry: boolean): Promise<BreakerDecision> {
    const now = this.now();
    if (s.state === 'CLOSED') return { allowed: true, permit: this.callPermit(modelId, s.generation) };
    if (machine.waitEnd(s) > now) return this.refuse(s, now);

    // The open wait, or an abandoned probe's lease, is over: try to become the one probe.
    const lease = machine.leaseProbe(s, now, this.settings, randomUUID());
    let won: boolean;
    try {
      won = await this.store.writeState(modelId, lease.next, lease.condition);
    } catch (err) {
      this.observer.warn('breaker probe lease write failed', modelId, err);
      return this.refuse(s, now);
    }
    if (won) {
      this.cache.remember(modelId, lease.next, now);
      if (s.state === 'OPEN') this.observer.transitioned(modelId, s, lease.next, 'open wait over, probing');
      else this.observer.info('breaker probe lease re-granted', { modelId, generation: lease.next.generation });
      return { allowed: true, permit: this.probePermit(modelId, lease.next) };
    }
    if (!mayRetry) return this.refuse(s, now);
    // Someone else changed the item since we read it: look again, once.
    let fresh: StoredBreakerState;
    try {
      fresh = await this.cache.refresh(modelId);
    } catch (err) {
      this.observer.warn('breaker state unreadable', modelId, err);
      return this.refuse(s, now);
    }
    return this.decide(modelId, fresh, false);
  }

  private refuse(s: StoredBreakerState, now: number): BreakerDecision {
    const state = s.state === 'OPEN' ? 'OPEN' : 'HALF_OPEN';
    return { allowed: false, state, retryAfterSeconds: machine.retryAfterSeconds(s, now, this.settings) };
  }

  private callPermit(modelId: string, generation: number): BreakerPermit {
    return createPermit(modelId, generation, false, {
      success: (ttftMs) => this.recordCall(modelId, generation, false, machine.isSlow(ttftMs, this.settings)),
      failure: (c) => (c.counts ? this.recordCall(modelId, generation, true, false) : Promise.resolve()),
      release: () => Promise.resolve(),
    });
  }

  private probePermit(modelId: string, leased: StoredBreakerState): BreakerPermit {
    const reopen = (reason: string) =>
      this.change(modelId, leased, machine.reopenAfterProbe(leased, this.now(), this.settings, reason), reason);
    return createPermit(modelId, leased.generation, true, {
      success: (ttftMs) =>
        machine.isSlow(ttftMs, this.settings)
          ? reopen(`probe slow (first token after ${ttftMs} ms)`)
          : this.change(modelId, leased, machine.closeAfterProbe(leased, this.now()), 'probe succeeded'),
      failure: (c: OutcomeClass) =>
        c.counts ? reopen(`probe failed: ${c.kind} (${c.name})`) : this.releaseProbe(modelId, leased),
      release: () => this.releaseProbe(modelId, leased),
    });
  }

  // --- outcomes ------------------------------------------------------------------------------------------------

  private async recordCall(modelId: string, generation: number, failure: boolean, slow: boolean): Promise<void> {
    const now = this.now();
    const bucket = this.window.bucketStart(now);
    const mayTrip = failure || slow;
    let current: WindowCounts | undefined;
    try {
      current = await this.store.addOutcome(
        modelId,
        generation,
        bucket,
        { failure, slow },
        this.window.expiresAt(bucket),
        mayTrip,
      );
    } catch (err) {
      this.observer.warn('breaker outcome not recorded', modelId, err);
      return;
    }
    if (!mayTrip || !current) return;

    // Only the generation that is still CLOSED can trip; skip the reads when we already know it is not.
    const cached = this.cache.peek(modelId);
    if (cached && (cached.generation > generation || (cached.generation === generation && cached.state !== 'CLOSED')))
      return;

    let window: WindowCounts;
    try {
      window = sumCounts([
        current,
        ...(await this.window.completedCounts(this.store, modelId, generation, bucket, now)),
      ]);
    } catch (err) {
      this.observer.warn('breaker window unreadable', modelId, err);
      return;
    }
    const reason = machine.tripReason(window, this.settings);
    if (!reason) return;
    const from: StoredBreakerState = { state: 'CLOSED', generation, trips: 0 };
    await this.change(modelId, from, machine.trip(generation, this.now(), this.settings, reason), reason);
  }

  private async releaseProbe(modelId: string, leased: StoredBreakerState): Promise<void> {
    const now = this.now();
    const { next, condition } = machine.releaseProbe(leased, now);
    try {
      if (await this.store.writeState(modelId, next, condition)) this.cache.remember(modelId, next, now);
    } catch (err) {
      this.observer.warn('breaker probe release failed', modelId, err);
    }
  }

  private async change(
    modelId: string,
    from: StoredBreakerState,
    { next, condition }: Transition,
    reason: string,
  ): Promise<void> {
    let won: boolean;
    try {
      won = await this.store.writeState(modelId, next, condition);
    } catch (err) {
      this.observer.warn('breaker transition write failed', modelId, err, { from: from.state, to: next.state });
      return;
    }
    if (won) {
      this.cache.remember(modelId, next, this.now());
      this.observer.transitioned(modelId, from, next, reason);
    } else {
      // Stale (someone else moved the breaker on): our view is out of date too.
      this.cache.forget(modelId);
    }
  }
}
