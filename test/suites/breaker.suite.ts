/**
 * The circuit breaker's behaviour, whatever its store: when it trips, refuses, probes and closes, what each call costs
 * the store, how it fails open, the operator controls and what it reports. Run by test/unit/breaker.test.ts (the
 * in-memory store) and test/integration/breaker-store.test.ts (DynamoBreakerStore against dynalite), each with an
 * injected clock. A module, not a test file: Jest runs only files ending in .test.ts.
 */
import {
  CircuitBreaker,
  type BreakerDecision,
  type BreakerLogger,
  type BreakerMetrics,
  type BreakerPermit,
  type BreakerSettings,
  type BreakerStore,
} from '../../lambda/core/breaker';

/**
 * Requests a store sent, named after the DynamoDB operations they are (or, for an in-memory store, would be), as
 * read/write totals and per operation, for cost assertions.
 */
export interface StoreRequests {
  reads: number;
  writes: number;
  byOperation: Record<string, number>;
  reset(): void;
}

const READ_OPERATIONS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
const WRITE_OPERATIONS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

/** Empty {@link StoreRequests} with `record`, which counts one request by its DynamoDB operation name. */
export function storeRequests(): StoreRequests & { record(operation: string): void } {
  const counts = {
    reads: 0,
    writes: 0,
    byOperation: {} as Record<string, number>,
    reset() {
      counts.reads = 0;
      counts.writes = 0;
      counts.byOperation = {};
    },
    record(operation: string) {
      counts.byOperation[operation] = (counts.byOperation[operation] ?? 0) + 1;
      if (READ_OPERATIONS.has(operation)) counts.reads++;
      if (WRITE_OPERATIONS.has(operation)) counts.writes++;
    },
  };
  return counts;
}

/**
 * A breaker store to run the suite against. `makeHarness` is called while the suite's `describe` is collected, so it
 * may register hooks (a fresh store per test, a request reset); its members are used inside tests only.
 */
export interface BreakerHarness {
  /** A store over the state every breaker in the test shares (one per instance, or the same one). */
  store(): BreakerStore;
  /** The requests the stores have sent since the test began. */
  readonly requests: StoreRequests;
  /** A store whose every call fails as an unreachable table does; `close` frees what it holds. */
  unreachable(): { store: BreakerStore; close(): void };
}

/** The settings the suite's numbers assume. */
export const settings: BreakerSettings = {
  windowSeconds: 10,
  minimumCalls: 4,
  failureRateThreshold: 0.5,
  slowCallRateThreshold: 0.5,
  slowCallTtftMs: 1_000,
  openSeconds: 5,
  maxOpenSeconds: 20,
  probeLeaseSeconds: 10,
  cacheMs: 1_000,
};

export const throttled = () =>
  Object.assign(new Error('slow down'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 429 } });
export const badRequest = () =>
  Object.assign(new Error('bad'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });

export function permitOf(decision: BreakerDecision): BreakerPermit {
  if (!decision.allowed) throw new Error(`expected a permit, breaker is ${decision.state}`);
  return decision.permit;
}

/** The clock, the model under test and the steps tests take, reset before each test. */
export interface BreakerFixture {
  /** The injected clock, epoch ms. */
  readonly t: number;
  /** A model no earlier test has used. */
  readonly model: string;
  now(): number;
  advance(ms: number): void;
  newBreaker(extra?: {
    metrics?: BreakerMetrics;
    logger?: BreakerLogger;
    settings?: Partial<BreakerSettings>;
  }): CircuitBreaker;
  fail(breaker: CircuitBreaker, times: number, err?: () => unknown): Promise<void>;
  succeed(breaker: CircuitBreaker, times: number, ttftMs?: number): Promise<void>;
  /** Trips the breaker with minimumCalls failures; returns with the clock unchanged. */
  tripOpen(breaker: CircuitBreaker): Promise<void>;
}

/**
 * Registers a `beforeEach` that builds a fresh value with `make`; the returned function gives the current test's.
 * For the clock, the ids under test and in-memory stores, which no test may inherit from another.
 */
export function perTest<T>(make: () => T): () => T {
  let value: T | undefined;
  beforeEach(() => {
    value = make();
  });
  return () => {
    if (value === undefined) throw new Error('only available inside tests');
    return value;
  };
}

let modelSeq = 0;

/** Registers a `beforeEach` that resets the clock and picks a fresh model; breakers get their stores from `harness`. */
export function useBreakerFixture(harness: BreakerHarness): BreakerFixture {
  const current = perTest(() => ({ t: Date.UTC(2026, 0, 15, 12, 0, 0), model: `test.model-${++modelSeq}` }));
  const now = () => current().t;
  const fixture: BreakerFixture = {
    get t() {
      return current().t;
    },
    get model() {
      return current().model;
    },
    now,
    advance(ms) {
      current().t += ms;
    },
    newBreaker(extra = {}) {
      return new CircuitBreaker({
        store: harness.store(),
        settings: { ...settings, ...extra.settings },
        now,
        metrics: extra.metrics,
        logger: extra.logger,
      });
    },
    async fail(breaker, times, err = throttled) {
      for (let i = 0; i < times; i++) await permitOf(await breaker.acquire(current().model)).failure(err());
    },
    async succeed(breaker, times, ttftMs = 100) {
      for (let i = 0; i < times; i++) await permitOf(await breaker.acquire(current().model)).success({ ttftMs });
    },
    async tripOpen(breaker) {
      await fixture.fail(breaker, settings.minimumCalls);
      expect((await breaker.status(current().model)).storedState).toBe('OPEN');
    },
  };
  return fixture;
}

/** Registers the breaker's tests under `describe(name)`, against the store `makeHarness` builds. */
export function breakerSuite(name: string, makeHarness: () => BreakerHarness): void {
  describe(name, () => {
    const harness = makeHarness();
    const f = useBreakerFixture(harness);
    const { now, advance, newBreaker, fail, succeed, tripOpen } = f;

    describe('CLOSED → OPEN', () => {
      it('stays closed below minimumCalls even when every call fails', async () => {
        const breaker = newBreaker();
        await fail(breaker, settings.minimumCalls - 1);
        expect((await breaker.status(f.model)).state).toBe('CLOSED');
        expect((await breaker.acquire(f.model)).allowed).toBe(true);
      });

      it('opens when the failure rate reaches the threshold once minimumCalls is reached', async () => {
        const breaker = newBreaker();
        await succeed(breaker, 3);
        await fail(breaker, 2);
        expect((await breaker.status(f.model)).state).toBe('CLOSED'); // 2 of 5 = 40 %
        await fail(breaker, 1); // 3 of 6 = 50 %
        const status = await breaker.status(f.model);
        expect(status).toMatchObject({ state: 'OPEN', trips: 1, generation: 1 });
        expect(status.reason).toMatch(/failure rate 50%/);
      });

      it('stays closed while the failure rate is below the threshold', async () => {
        const breaker = newBreaker();
        await succeed(breaker, 6);
        await fail(breaker, 5); // 5 of 11 = 45 %
        expect((await breaker.status(f.model)).state).toBe('CLOSED');
      });

      it('opens on the slow-call rate when first tokens arrive after slowCallTtftMs', async () => {
        const breaker = newBreaker();
        await succeed(breaker, 2, 100);
        await succeed(breaker, 2, settings.slowCallTtftMs + 1);
        const status = await breaker.status(f.model);
        expect(status.state).toBe('OPEN');
        expect(status.reason).toMatch(/slow-call rate 50%/);
      });

      it('does not count a call whose first token arrives exactly at slowCallTtftMs as slow', async () => {
        const breaker = newBreaker();
        await succeed(breaker, 6, settings.slowCallTtftMs);
        expect((await breaker.status(f.model)).state).toBe('CLOSED');
      });

      it('forgets failures that have left the window', async () => {
        const breaker = newBreaker();
        await fail(breaker, 3);
        advance((settings.windowSeconds + 2) * 1000);
        await fail(breaker, 1);
        await succeed(breaker, 3);
        expect((await breaker.status(f.model)).state).toBe('CLOSED');
      });

      it('counts failures spread over several buckets of the window', async () => {
        const breaker = newBreaker();
        for (let i = 0; i < settings.minimumCalls; i++) {
          await fail(breaker, 1);
          advance(2_000);
        }
        expect((await breaker.status(f.model)).storedState).toBe('OPEN');
      });

      it('never trips on failures that do not count (bad requests, aborts, budget rejections)', async () => {
        const breaker = newBreaker();
        await fail(breaker, 5, badRequest);
        await fail(breaker, 5, () => Object.assign(new Error('gone'), { name: 'AbortError' }));
        await fail(breaker, 5, () => Object.assign(new Error('spent'), { name: 'TokenBudgetExceededError' }));
        for (let i = 0; i < 5; i++) await permitOf(await breaker.acquire(f.model)).release();
        const status = await breaker.status(f.model);
        expect(status.state).toBe('CLOSED');
        expect(status.window.calls).toBe(0);
      });

      it('counts an outcome reported twice on the same permit only once', async () => {
        const breaker = newBreaker();
        const permit = permitOf(await breaker.acquire(f.model));
        await permit.failure(throttled());
        await permit.failure(throttled());
        await permit.success({ ttftMs: 10 });
        expect((await breaker.status(f.model)).window).toMatchObject({ calls: 1, failures: 1 });
      });
    });

    describe('OPEN', () => {
      it('refuses calls with Retry-After counting down to the end of the open wait', async () => {
        const breaker = newBreaker();
        await tripOpen(breaker);
        expect(await breaker.acquire(f.model)).toEqual({ allowed: false, state: 'OPEN', retryAfterSeconds: 5 });
        advance(2_500);
        expect(await breaker.acquire(f.model)).toEqual({ allowed: false, state: 'OPEN', retryAfterSeconds: 3 });
      });

      it('reports HALF_OPEN in status once the open wait is over', async () => {
        const breaker = newBreaker();
        await tripOpen(breaker);
        advance(settings.openSeconds * 1000);
        expect((await breaker.status(f.model)).state).toBe('HALF_OPEN');
      });
    });

    describe('HALF_OPEN', () => {
      it('lets exactly one probe in after the open wait, on this and on other instances', async () => {
        const breaker = newBreaker();
        const other = newBreaker();
        await tripOpen(breaker);
        advance(settings.openSeconds * 1000);

        const probe = permitOf(await breaker.acquire(f.model));
        expect(probe.probe).toBe(true);
        expect(await breaker.acquire(f.model)).toMatchObject({ allowed: false, state: 'HALF_OPEN' });
        expect(await other.acquire(f.model)).toMatchObject({ allowed: false, state: 'HALF_OPEN' });
      });

      it('closes on probe success, resets the trip count, and starts an empty window', async () => {
        const breaker = newBreaker();
        await tripOpen(breaker);
        advance(settings.openSeconds * 1000);
        await permitOf(await breaker.acquire(f.model)).success({ ttftMs: 50 });

        const status = await breaker.status(f.model);
        expect(status).toMatchObject({ state: 'CLOSED', trips: 0 });
        expect(status.window.calls).toBe(0);
        // The failures that tripped it are still inside windowSeconds, but belong to an older generation.
        await fail(breaker, 1);
        expect((await breaker.status(f.model)).state).toBe('CLOSED');
      });

      it('re-opens on probe failure with the wait doubled per consecutive trip, capped at maxOpenSeconds', async () => {
        const breaker = newBreaker();
        await tripOpen(breaker);
        const waits: number[] = [];
        for (let i = 0; i < 4; i++) {
          const wait = (await breaker.status(f.model)).retryAfterSeconds!;
          waits.push(wait);
          advance(wait * 1000);
          await permitOf(await breaker.acquire(f.model)).failure(throttled());
        }
        waits.push((await breaker.status(f.model)).retryAfterSeconds!);
        expect(waits).toEqual([5, 10, 20, 20, 20]);
        expect((await breaker.status(f.model)).trips).toBe(5);
      });

      it('re-opens when the probe succeeds but its first token is slow', async () => {
        const breaker = newBreaker();
        await tripOpen(breaker);
        advance(settings.openSeconds * 1000);
        await permitOf(await breaker.acquire(f.model)).success({ ttftMs: settings.slowCallTtftMs + 1 });
        expect((await breaker.status(f.model)).storedState).toBe('OPEN');
      });

      it('lets another caller probe once a lease expires, and the first holder can no longer decide', async () => {
        const breaker = newBreaker();
        const other = newBreaker();
        await tripOpen(breaker);
        advance(settings.openSeconds * 1000);
        const abandoned = permitOf(await breaker.acquire(f.model));

        advance(settings.probeLeaseSeconds * 1000 - 1);
        expect((await other.acquire(f.model)).allowed).toBe(false);
        advance(1);
        const second = permitOf(await other.acquire(f.model));
        expect(second.probe).toBe(true);

        await abandoned.success({ ttftMs: 10 });
        expect((await breaker.status(f.model)).state).toBe('HALF_OPEN');
        await abandoned.failure(throttled());
        expect((await breaker.status(f.model)).state).toBe('HALF_OPEN');

        await second.success({ ttftMs: 10 });
        expect((await breaker.status(f.model)).state).toBe('CLOSED');
      });

      it('hands the probe to the next caller at once when the probe is released without a verdict', async () => {
        const breaker = newBreaker();
        const other = newBreaker();
        await tripOpen(breaker);
        advance(settings.openSeconds * 1000);
        const first = permitOf(await breaker.acquire(f.model));
        await first.failure(badRequest()); // says nothing about the f.model

        const next = permitOf(await other.acquire(f.model));
        expect(next.probe).toBe(true);
        expect((await breaker.status(f.model)).trips).toBe(1);
      });
    });

    describe('conditional state writes (the store contract)', () => {
      it('refuses a probe lease before the open wait ends, even in the right generation', async () => {
        const breaker = newBreaker();
        await tripOpen(breaker);
        const open = await breaker.store.readState(f.model);
        const lease = {
          ...open,
          state: 'HALF_OPEN' as const,
          generation: open.generation + 1,
          probeHolder: 'x',
          probeLeaseUntil: f.t + 1,
        };
        expect(
          await breaker.store.writeState(f.model, lease, {
            generation: open.generation,
            probeAvailableAt: open.openUntil! - 1,
          }),
        ).toBe(false);
        expect(
          await breaker.store.writeState(f.model, lease, {
            generation: open.generation,
            probeAvailableAt: open.openUntil!,
          }),
        ).toBe(true);
      });

      it('refuses a write from a generation that has moved on', async () => {
        const breaker = newBreaker();
        await tripOpen(breaker);
        const closed = { state: 'CLOSED' as const, generation: 2, trips: 0 };
        expect(await breaker.store.writeState(f.model, closed, { generation: 0 })).toBe(false);
        expect(await breaker.store.writeState(f.model, closed, { generation: 1, state: 'HALF_OPEN' })).toBe(false);
        expect(await breaker.store.writeState(f.model, closed, { generation: 1, state: 'OPEN' })).toBe(true);
      });
    });

    describe('reads and writes', () => {
      it('serves acquires from the cache for cacheMs, then reads once', async () => {
        const breaker = newBreaker();
        for (let i = 0; i < 20; i++) await breaker.acquire(f.model);
        expect(harness.requests.reads).toBe(1);
        advance(settings.cacheMs - 1);
        await breaker.acquire(f.model);
        expect(harness.requests.reads).toBe(1);
        advance(1);
        await breaker.acquire(f.model);
        expect(harness.requests.reads).toBe(2);
      });

      it('shares one read between concurrent acquires on an instance', async () => {
        const breaker = newBreaker();
        await Promise.all(Array.from({ length: 10 }, () => breaker.acquire(f.model)));
        expect(harness.requests.reads).toBe(1);
      });

      it('costs one write and no read per successful call at steady state', async () => {
        const breaker = newBreaker();
        await breaker.acquire(f.model);
        harness.requests.reset();
        await succeed(breaker, 10);
        expect(harness.requests).toMatchObject({ reads: 0, writes: 10 });
      });

      it('reads completed buckets once per instance, not on every failure', async () => {
        const breaker = newBreaker({ settings: { minimumCalls: 1_000 } });
        await breaker.acquire(f.model);
        advance(5_500); // the earlier buckets are complete and settled
        harness.requests.reset();
        await fail(breaker, 5);
        expect(harness.requests.writes).toBe(5);
        expect(harness.requests.byOperation.BatchGetItem).toBe(1);
      });

      it('writes nothing for a released permit or a failure that does not count', async () => {
        const breaker = newBreaker();
        await breaker.acquire(f.model);
        harness.requests.reset();
        await permitOf(await breaker.acquire(f.model)).release();
        await permitOf(await breaker.acquire(f.model)).failure(badRequest());
        expect(harness.requests.writes).toBe(0);
      });

      it('fails open when the guard table cannot be reached', async () => {
        const unreachable = harness.unreachable();
        try {
          const warn = jest.fn();
          const breaker = new CircuitBreaker({
            store: unreachable.store,
            settings,
            now,
            logger: { info: jest.fn(), warn },
          });
          const decision = await breaker.acquire(f.model);
          expect(decision.allowed).toBe(true);
          await permitOf(decision).failure(throttled());
          expect(warn).toHaveBeenCalledWith('breaker state unreadable', expect.objectContaining({ modelId: f.model }));
        } finally {
          unreachable.close();
        }
      });

      it('keeps refusing from the last state it knew while the store fails, and retries the read once per cacheMs', async () => {
        let down = false;
        const store = harness.store();
        const flaky: BreakerStore = {
          readState: (m) => (down ? Promise.reject(new Error('down')) : store.readState(m)),
          writeState: (m, n, c) => (down ? Promise.reject(new Error('down')) : store.writeState(m, n, c)),
          addOutcome: (...a) => (down ? Promise.reject(new Error('down')) : store.addOutcome(...a)),
          readCounters: (...a) => (down ? Promise.reject(new Error('down')) : store.readCounters(...a)),
        };
        const warn = jest.fn();
        const breaker = new CircuitBreaker({ store: flaky, settings, now, logger: { info: jest.fn(), warn } });
        await fail(breaker, settings.minimumCalls);
        down = true;
        advance(settings.cacheMs);
        expect(await breaker.acquire(f.model)).toMatchObject({ allowed: false, state: 'OPEN' });
        expect(warn).toHaveBeenCalledTimes(1);
        await breaker.acquire(f.model);
        expect(warn).toHaveBeenCalledTimes(1);
        advance(settings.cacheMs);
        await breaker.acquire(f.model);
        expect(warn).toHaveBeenCalledTimes(2);
      });
    });

    describe('operator controls', () => {
      it('force-open holds until force-close and never half-opens by itself', async () => {
        const breaker = newBreaker();
        const status = await breaker.forceOpen(f.model);
        expect(status).toMatchObject({ state: 'OPEN', forced: true, openUntil: null });
        advance(7 * 24 * 3600 * 1000);
        expect(await breaker.acquire(f.model)).toEqual({
          allowed: false,
          state: 'OPEN',
          retryAfterSeconds: settings.maxOpenSeconds,
        });

        expect(await breaker.forceClose(f.model)).toMatchObject({ state: 'CLOSED', forced: false, trips: 0 });
        advance(settings.cacheMs); // other instances see it within cacheMs; this one already knows
        expect((await breaker.acquire(f.model)).allowed).toBe(true);
      });

      it('force-open for N seconds half-opens after them', async () => {
        const breaker = newBreaker();
        await breaker.forceOpen(f.model, 60);
        advance(59_000);
        expect(await breaker.acquire(f.model)).toEqual({ allowed: false, state: 'OPEN', retryAfterSeconds: 1 });
        advance(1_000);
        expect(permitOf(await breaker.acquire(f.model)).probe).toBe(true);
      });

      it('force-close takes the decision away from a probe in flight', async () => {
        const breaker = newBreaker();
        await tripOpen(breaker);
        advance(settings.openSeconds * 1000);
        const probe = permitOf(await breaker.acquire(f.model));
        await breaker.forceClose(f.model);
        await probe.failure(throttled());
        expect((await breaker.status(f.model)).state).toBe('CLOSED');
      });

      it('reports status with the window counts', async () => {
        const breaker = newBreaker();
        await succeed(breaker, 3);
        await succeed(breaker, 1, settings.slowCallTtftMs + 500);
        await fail(breaker, 1, throttled);
        expect(await breaker.status(f.model)).toMatchObject({
          modelId: f.model,
          state: 'CLOSED',
          generation: 0,
          window: { calls: 5, failures: 1, slow: 1, failureRate: 0.2, slowCallRate: 0.2, seconds: 10 },
        });
      });
    });

    describe('observability', () => {
      it('emits a BreakerTransition metric, a BreakerState gauge and a log line per transition', async () => {
        const emitted: Array<{ name: string; value: number; dimensions: Record<string, string> }> = [];
        const metrics: BreakerMetrics = {
          singleMetric: () => {
            const dimensions: Record<string, string> = {};
            const single = {
              addDimension: (k: string, v: string) => {
                dimensions[k] = v;
                return single;
              },
              addMetric: (name: string, _unit: string, value: number) => {
                emitted.push({ name, value, dimensions });
              },
            };
            return single as unknown as ReturnType<BreakerMetrics['singleMetric']>;
          },
        };
        const info = jest.fn();
        const breaker = newBreaker({ metrics, logger: { info, warn: jest.fn() } });
        await tripOpen(breaker);
        advance(settings.openSeconds * 1000);
        await permitOf(await breaker.acquire(f.model)).success({ ttftMs: 5 });

        const transitions = emitted
          .filter((m) => m.name === 'BreakerTransition')
          .map((m) => `${m.dimensions.from}>${m.dimensions.to}`);
        expect(transitions).toEqual(['CLOSED>OPEN', 'OPEN>HALF_OPEN', 'HALF_OPEN>CLOSED']);
        expect(emitted.filter((m) => m.name === 'BreakerTransition').every((m) => m.dimensions.model === f.model)).toBe(
          true,
        );
        const gauges = emitted.filter((m) => m.name === 'BreakerState').map((m) => m.value);
        expect(gauges).toEqual(expect.arrayContaining([0, 2, 1]));
        expect(gauges[gauges.length - 1]).toBe(0);
        expect(info.mock.calls.filter(([msg]) => msg === 'breaker transition')).toHaveLength(3);
      });
    });
  });
}
