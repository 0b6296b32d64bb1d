/**
 * The circuit breaker's decisions against an in-memory store that keeps the port's contract (atomic conditional
 * writes, `conditionHolds`), with an injected clock. The DynamoDB store is tested in
 * test/integration/breaker-store.test.ts.
 */
import {
  CircuitBreaker,
  CLOSED_INITIAL,
  conditionHolds,
  type BreakerDecision,
  type BreakerLogger,
  type BreakerMetrics,
  type BreakerPermit,
  type BreakerSettings,
  type BreakerStore,
  type StoredBreakerState,
  type WindowCounts,
} from '../../lambda/core/breaker';
import * as machine from '../../lambda/core/breaker/state-machine';
import { BreakerWindow } from '../../lambda/core/breaker/window';

/** Store calls, named after the DynamoDB requests they cost, for cost assertions. */
interface StoreCalls {
  reads: number;
  writes: number;
  byOperation: Record<string, number>;
  reset(): void;
}

/** The port's contract in memory: each call is atomic, as DynamoDB makes each request. */
class MemoryBreakerStore implements BreakerStore {
  readonly states = new Map<string, StoredBreakerState>();
  readonly counters = new Map<string, WindowCounts>();
  readonly requests: StoreCalls = {
    reads: 0,
    writes: 0,
    byOperation: {},
    reset() {
      this.reads = 0;
      this.writes = 0;
      this.byOperation = {};
    },
  };

  async readState(modelId: string): Promise<StoredBreakerState> {
    this.count('GetItem', 'read');
    return this.states.get(modelId) ?? CLOSED_INITIAL;
  }

  async writeState(modelId: string, next: StoredBreakerState, condition: Parameters<BreakerStore['writeState']>[2]): Promise<boolean> {
    this.count('PutItem', 'write');
    if (!conditionHolds(this.states.get(modelId), condition)) return false;
    this.states.set(modelId, { ...next });
    return true;
  }

  async addOutcome(
    modelId: string,
    generation: number,
    bucketStartMs: number,
    outcome: { failure: boolean; slow: boolean },
    _expiresAt: number,
    returnCounts: boolean,
  ): Promise<WindowCounts | undefined> {
    this.count('UpdateItem', 'write');
    const key = `${modelId}#${generation}#${bucketStartMs}`;
    const c = this.counters.get(key) ?? { calls: 0, failures: 0, slow: 0 };
    const updated = { calls: c.calls + 1, failures: c.failures + (outcome.failure ? 1 : 0), slow: c.slow + (outcome.slow ? 1 : 0) };
    this.counters.set(key, updated);
    return returnCounts ? updated : undefined;
  }

  async readCounters(modelId: string, generation: number, bucketStarts: readonly number[]): Promise<Map<number, WindowCounts>> {
    this.count('BatchGetItem', 'read');
    const result = new Map<number, WindowCounts>();
    for (const b of bucketStarts) {
      const c = this.counters.get(`${modelId}#${generation}#${b}`);
      if (c) result.set(b, c);
    }
    return result;
  }

  private count(operation: string, kind: 'read' | 'write'): void {
    this.requests.byOperation[operation] = (this.requests.byOperation[operation] ?? 0) + 1;
    if (kind === 'read') this.requests.reads++;
    else this.requests.writes++;
  }
}

/** A store whose every call fails, as an unreachable table does. */
const unreachableStore = (): BreakerStore => {
  const down = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { name: 'Error' }));
  return { readState: down, writeState: down, addOutcome: down, readCounters: down };
};

let guard: MemoryBreakerStore;

const settings: BreakerSettings = {
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

const throttled = () => Object.assign(new Error('slow down'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 429 } });
const badRequest = () => Object.assign(new Error('bad'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });

let t: number;
let modelSeq = 0;
let model: string;

const now = () => t;
const advance = (ms: number) => {
  t += ms;
};

function newBreaker(extra: { metrics?: BreakerMetrics; logger?: BreakerLogger; settings?: Partial<BreakerSettings> } = {}) {
  return new CircuitBreaker({
    store: guard,
    settings: { ...settings, ...extra.settings },
    now,
    metrics: extra.metrics,
    logger: extra.logger,
  });
}

function permitOf(decision: BreakerDecision): BreakerPermit {
  if (!decision.allowed) throw new Error(`expected a permit, breaker is ${decision.state}`);
  return decision.permit;
}

async function fail(breaker: CircuitBreaker, times: number, err: () => unknown = throttled): Promise<void> {
  for (let i = 0; i < times; i++) await permitOf(await breaker.acquire(model)).failure(err());
}

async function succeed(breaker: CircuitBreaker, times: number, ttftMs = 100): Promise<void> {
  for (let i = 0; i < times; i++) await permitOf(await breaker.acquire(model)).success({ ttftMs });
}

/** Trips the breaker with minimumCalls failures; returns with the clock unchanged. */
async function tripOpen(breaker: CircuitBreaker): Promise<void> {
  await fail(breaker, settings.minimumCalls);
  expect((await breaker.status(model)).storedState).toBe('OPEN');
}

beforeEach(() => {
  t = Date.UTC(2026, 0, 15, 12, 0, 0);
  model = `test.model-${++modelSeq}`;
  guard = new MemoryBreakerStore();
});

describe('CLOSED → OPEN', () => {
  it('stays closed below minimumCalls even when every call fails', async () => {
    const breaker = newBreaker();
    await fail(breaker, settings.minimumCalls - 1);
    expect((await breaker.status(model)).state).toBe('CLOSED');
    expect((await breaker.acquire(model)).allowed).toBe(true);
  });

  it('opens when the failure rate reaches the threshold once minimumCalls is reached', async () => {
    const breaker = newBreaker();
    await succeed(breaker, 3);
    await fail(breaker, 2);
    expect((await breaker.status(model)).state).toBe('CLOSED'); // 2 of 5 = 40 %
    await fail(breaker, 1); // 3 of 6 = 50 %
    const status = await breaker.status(model);
    expect(status).toMatchObject({ state: 'OPEN', trips: 1, generation: 1 });
    expect(status.reason).toMatch(/failure rate 50%/);
  });

  it('stays closed while the failure rate is below the threshold', async () => {
    const breaker = newBreaker();
    await succeed(breaker, 6);
    await fail(breaker, 5); // 5 of 11 = 45 %
    expect((await breaker.status(model)).state).toBe('CLOSED');
  });

  it('opens on the slow-call rate when first tokens arrive after slowCallTtftMs', async () => {
    const breaker = newBreaker();
    await succeed(breaker, 2, 100);
    await succeed(breaker, 2, settings.slowCallTtftMs + 1);
    const status = await breaker.status(model);
    expect(status.state).toBe('OPEN');
    expect(status.reason).toMatch(/slow-call rate 50%/);
  });

  it('does not count a call whose first token arrives exactly at slowCallTtftMs as slow', async () => {
    const breaker = newBreaker();
    await succeed(breaker, 6, settings.slowCallTtftMs);
    expect((await breaker.status(model)).state).toBe('CLOSED');
  });

  it('forgets failures that have left the window', async () => {
    const breaker = newBreaker();
    await fail(breaker, 3);
    advance((settings.windowSeconds + 2) * 1000);
    await fail(breaker, 1);
    await succeed(breaker, 3);
    expect((await breaker.status(model)).state).toBe('CLOSED');
  });

  it('counts failures spread over several buckets of the window', async () => {
    const breaker = newBreaker();
    for (let i = 0; i < settings.minimumCalls; i++) {
      await fail(breaker, 1);
      advance(2_000);
    }
    expect((await breaker.status(model)).storedState).toBe('OPEN');
  });

  it('never trips on failures that do not count (bad requests, aborts, budget rejections)', async () => {
    const breaker = newBreaker();
    await fail(breaker, 5, badRequest);
    await fail(breaker, 5, () => Object.assign(new Error('gone'), { name: 'AbortError' }));
    await fail(breaker, 5, () => Object.assign(new Error('spent'), { name: 'TokenBudgetExceededError' }));
    for (let i = 0; i < 5; i++) await permitOf(await breaker.acquire(model)).release();
    const status = await breaker.status(model);
    expect(status.state).toBe('CLOSED');
    expect(status.window.calls).toBe(0);
  });

  it('counts an outcome reported twice on the same permit only once', async () => {
    const breaker = newBreaker();
    const permit = permitOf(await breaker.acquire(model));
    await permit.failure(throttled());
    await permit.failure(throttled());
    await permit.success({ ttftMs: 10 });
    expect((await breaker.status(model)).window).toMatchObject({ calls: 1, failures: 1 });
  });
});

describe('OPEN', () => {
  it('refuses calls with Retry-After counting down to the end of the open wait', async () => {
    const breaker = newBreaker();
    await tripOpen(breaker);
    expect(await breaker.acquire(model)).toEqual({ allowed: false, state: 'OPEN', retryAfterSeconds: 5 });
    advance(2_500);
    expect(await breaker.acquire(model)).toEqual({ allowed: false, state: 'OPEN', retryAfterSeconds: 3 });
  });

  it('reports HALF_OPEN in status once the open wait is over', async () => {
    const breaker = newBreaker();
    await tripOpen(breaker);
    advance(settings.openSeconds * 1000);
    expect((await breaker.status(model)).state).toBe('HALF_OPEN');
  });
});

describe('HALF_OPEN', () => {
  it('lets exactly one probe in after the open wait, on this and on other instances', async () => {
    const breaker = newBreaker();
    const other = newBreaker();
    await tripOpen(breaker);
    advance(settings.openSeconds * 1000);

    const probe = permitOf(await breaker.acquire(model));
    expect(probe.probe).toBe(true);
    expect(await breaker.acquire(model)).toMatchObject({ allowed: false, state: 'HALF_OPEN' });
    expect(await other.acquire(model)).toMatchObject({ allowed: false, state: 'HALF_OPEN' });
  });

  it('closes on probe success, resets the trip count, and starts an empty window', async () => {
    const breaker = newBreaker();
    await tripOpen(breaker);
    advance(settings.openSeconds * 1000);
    await permitOf(await breaker.acquire(model)).success({ ttftMs: 50 });

    const status = await breaker.status(model);
    expect(status).toMatchObject({ state: 'CLOSED', trips: 0 });
    expect(status.window.calls).toBe(0);
    // The failures that tripped it are still inside windowSeconds, but belong to an older generation.
    await fail(breaker, 1);
    expect((await breaker.status(model)).state).toBe('CLOSED');
  });

  it('re-opens on probe failure with the wait doubled per consecutive trip, capped at maxOpenSeconds', async () => {
    const breaker = newBreaker();
    await tripOpen(breaker);
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const wait = (await breaker.status(model)).retryAfterSeconds!;
      waits.push(wait);
      advance(wait * 1000);
      await permitOf(await breaker.acquire(model)).failure(throttled());
    }
    waits.push((await breaker.status(model)).retryAfterSeconds!);
    expect(waits).toEqual([5, 10, 20, 20, 20]);
    expect((await breaker.status(model)).trips).toBe(5);
  });

  it('re-opens when the probe succeeds but its first token is slow', async () => {
    const breaker = newBreaker();
    await tripOpen(breaker);
    advance(settings.openSeconds * 1000);
    await permitOf(await breaker.acquire(model)).success({ ttftMs: settings.slowCallTtftMs + 1 });
    expect((await breaker.status(model)).storedState).toBe('OPEN');
  });

  it('lets another caller probe once a lease expires, and the first holder can no longer decide', async () => {
    const breaker = newBreaker();
    const other = newBreaker();
    await tripOpen(breaker);
    advance(settings.openSeconds * 1000);
    const abandoned = permitOf(await breaker.acquire(model));

    advance(settings.probeLeaseSeconds * 1000 - 1);
    expect((await other.acquire(model)).allowed).toBe(false);
    advance(1);
    const second = permitOf(await other.acquire(model));
    expect(second.probe).toBe(true);

    await abandoned.success({ ttftMs: 10 });
    expect((await breaker.status(model)).state).toBe('HALF_OPEN');
    await abandoned.failure(throttled());
    expect((await breaker.status(model)).state).toBe('HALF_OPEN');

    await second.success({ ttftMs: 10 });
    expect((await breaker.status(model)).state).toBe('CLOSED');
  });

  it('hands the probe to the next caller at once when the probe is released without a verdict', async () => {
    const breaker = newBreaker();
    const other = newBreaker();
    await tripOpen(breaker);
    advance(settings.openSeconds * 1000);
    const first = permitOf(await breaker.acquire(model));
    await first.failure(badRequest()); // says nothing about the model

    const next = permitOf(await other.acquire(model));
    expect(next.probe).toBe(true);
    expect((await breaker.status(model)).trips).toBe(1);
  });
});

describe('conditional state writes (the store contract)', () => {
  it('refuses a probe lease before the open wait ends, even in the right generation', async () => {
    const breaker = newBreaker();
    await tripOpen(breaker);
    const open = await breaker.store.readState(model);
    const lease = { ...open, state: 'HALF_OPEN' as const, generation: open.generation + 1, probeHolder: 'x', probeLeaseUntil: t + 1 };
    expect(await breaker.store.writeState(model, lease, { generation: open.generation, probeAvailableAt: open.openUntil! - 1 })).toBe(false);
    expect(await breaker.store.writeState(model, lease, { generation: open.generation, probeAvailableAt: open.openUntil! })).toBe(true);
  });

  it('refuses a write from a generation that has moved on', async () => {
    const breaker = newBreaker();
    await tripOpen(breaker);
    const closed = { state: 'CLOSED' as const, generation: 2, trips: 0 };
    expect(await breaker.store.writeState(model, closed, { generation: 0 })).toBe(false);
    expect(await breaker.store.writeState(model, closed, { generation: 1, state: 'HALF_OPEN' })).toBe(false);
    expect(await breaker.store.writeState(model, closed, { generation: 1, state: 'OPEN' })).toBe(true);
  });
});

describe('reads and writes', () => {
  it('serves acquires from the cache for cacheMs, then reads once', async () => {
    const breaker = newBreaker();
    for (let i = 0; i < 20; i++) await breaker.acquire(model);
    expect(guard.requests.reads).toBe(1);
    advance(settings.cacheMs - 1);
    await breaker.acquire(model);
    expect(guard.requests.reads).toBe(1);
    advance(1);
    await breaker.acquire(model);
    expect(guard.requests.reads).toBe(2);
  });

  it('shares one read between concurrent acquires on an instance', async () => {
    const breaker = newBreaker();
    await Promise.all(Array.from({ length: 10 }, () => breaker.acquire(model)));
    expect(guard.requests.reads).toBe(1);
  });

  it('costs one write and no read per successful call at steady state', async () => {
    const breaker = newBreaker();
    await breaker.acquire(model);
    guard.requests.reset();
    await succeed(breaker, 10);
    expect(guard.requests).toMatchObject({ reads: 0, writes: 10 });
  });

  it('reads completed buckets once per instance, not on every failure', async () => {
    const breaker = newBreaker({ settings: { minimumCalls: 1_000 } });
    await breaker.acquire(model);
    advance(5_500); // the earlier buckets are complete and settled
    guard.requests.reset();
    await fail(breaker, 5);
    expect(guard.requests.writes).toBe(5);
    expect(guard.requests.byOperation.BatchGetItem).toBe(1);
  });

  it('writes nothing for a released permit or a failure that does not count', async () => {
    const breaker = newBreaker();
    await breaker.acquire(model);
    guard.requests.reset();
    await permitOf(await breaker.acquire(model)).release();
    await permitOf(await breaker.acquire(model)).failure(badRequest());
    expect(guard.requests.writes).toBe(0);
  });

  it('fails open when the guard table cannot be reached', async () => {
    const warn = jest.fn();
    const breaker = new CircuitBreaker({ store: unreachableStore(), settings, now, logger: { info: jest.fn(), warn } });
    const decision = await breaker.acquire(model);
    expect(decision.allowed).toBe(true);
    await permitOf(decision).failure(throttled());
    expect(warn).toHaveBeenCalledWith('breaker state unreadable', expect.objectContaining({ modelId: model }));
  });

  it('keeps refusing from the last state it knew while the store fails, and retries the read once per cacheMs', async () => {
    let down = false;
    const store = guard;
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
    expect(await breaker.acquire(model)).toMatchObject({ allowed: false, state: 'OPEN' });
    expect(warn).toHaveBeenCalledTimes(1);
    await breaker.acquire(model);
    expect(warn).toHaveBeenCalledTimes(1);
    advance(settings.cacheMs);
    await breaker.acquire(model);
    expect(warn).toHaveBeenCalledTimes(2);
  });
});

describe('operator controls', () => {
  it('force-open holds until force-close and never half-opens by itself', async () => {
    const breaker = newBreaker();
    const status = await breaker.forceOpen(model);
    expect(status).toMatchObject({ state: 'OPEN', forced: true, openUntil: null });
    advance(7 * 24 * 3600 * 1000);
    expect(await breaker.acquire(model)).toEqual({ allowed: false, state: 'OPEN', retryAfterSeconds: settings.maxOpenSeconds });

    expect(await breaker.forceClose(model)).toMatchObject({ state: 'CLOSED', forced: false, trips: 0 });
    advance(settings.cacheMs); // other instances see it within cacheMs; this one already knows
    expect((await breaker.acquire(model)).allowed).toBe(true);
  });

  it('force-open for N seconds half-opens after them', async () => {
    const breaker = newBreaker();
    await breaker.forceOpen(model, 60);
    advance(59_000);
    expect(await breaker.acquire(model)).toEqual({ allowed: false, state: 'OPEN', retryAfterSeconds: 1 });
    advance(1_000);
    expect(permitOf(await breaker.acquire(model)).probe).toBe(true);
  });

  it('force-close takes the decision away from a probe in flight', async () => {
    const breaker = newBreaker();
    await tripOpen(breaker);
    advance(settings.openSeconds * 1000);
    const probe = permitOf(await breaker.acquire(model));
    await breaker.forceClose(model);
    await probe.failure(throttled());
    expect((await breaker.status(model)).state).toBe('CLOSED');
  });

  it('reports status with the window counts', async () => {
    const breaker = newBreaker();
    await succeed(breaker, 3);
    await succeed(breaker, 1, settings.slowCallTtftMs + 500);
    await fail(breaker, 1, throttled);
    expect(await breaker.status(model)).toMatchObject({
      modelId: model,
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
    await permitOf(await breaker.acquire(model)).success({ ttftMs: 5 });

    const transitions = emitted.filter((m) => m.name === 'BreakerTransition').map((m) => `${m.dimensions.from}>${m.dimensions.to}`);
    expect(transitions).toEqual(['CLOSED>OPEN', 'OPEN>HALF_OPEN', 'HALF_OPEN>CLOSED']);
    expect(emitted.filter((m) => m.name === 'BreakerTransition').every((m) => m.dimensions.model === model)).toBe(true);
    const gauges = emitted.filter((m) => m.name === 'BreakerState').map((m) => m.value);
    expect(gauges).toEqual(expect.arrayContaining([0, 2, 1]));
    expect(gauges[gauges.length - 1]).toBe(0);
    expect(info.mock.calls.filter(([msg]) => msg === 'breaker transition')).toHaveLength(3);
  });
});

describe('state machine', () => {
  it('doubles the open wait per consecutive trip up to maxOpenSeconds', () => {
    expect([1, 2, 3, 4, 10].map((trips) => machine.openWaitMs(trips, settings))).toEqual([5_000, 10_000, 20_000, 20_000, 20_000]);
  });

  it('suggests a retry no later than a first open wait while a probe holds its lease', () => {
    const half: StoredBreakerState = { state: 'HALF_OPEN', generation: 2, trips: 1, probeHolder: 'p', probeLeaseUntil: t + 10_000 };
    expect(machine.retryAfterSeconds(half, t, settings)).toBe(settings.openSeconds);
    expect(machine.retryAfterSeconds({ ...half, probeLeaseUntil: t + 1 }, t, settings)).toBe(1);
  });

  it('reads an OPEN breaker whose wait is over as HALF_OPEN', () => {
    const open: StoredBreakerState = { state: 'OPEN', generation: 1, trips: 1, openUntil: t };
    expect(machine.effectiveState(open, t - 1)).toBe('OPEN');
    expect(machine.effectiveState(open, t)).toBe('HALF_OPEN');
  });

  it('trips on the failure rate before the slow-call rate, and never below minimumCalls', () => {
    expect(machine.tripReason({ calls: 3, failures: 3, slow: 3 }, settings)).toBeUndefined();
    expect(machine.tripReason({ calls: 4, failures: 2, slow: 4 }, settings)).toMatch(/^failure rate 50%/);
    expect(machine.tripReason({ calls: 4, failures: 1, slow: 2 }, settings)).toMatch(/^slow-call rate 50%/);
    expect(machine.tripReason({ calls: 4, failures: 1, slow: 1 }, settings)).toBeUndefined();
  });

  it('lets nothing but a missing item match generation 0', () => {
    expect(conditionHolds(undefined, { generation: 0 })).toBe(true);
    expect(conditionHolds(undefined, { generation: 0, state: 'CLOSED' })).toBe(true);
    expect(conditionHolds(undefined, { generation: 0, state: 'OPEN' })).toBe(false);
    expect(conditionHolds(undefined, { generation: 0, probeAvailableAt: t })).toBe(false);
    expect(conditionHolds(undefined, { generation: 1 })).toBe(false);
    expect(conditionHolds({ state: 'CLOSED', generation: 1, trips: 0 }, { generation: 0 })).toBe(false);
  });
});

describe('window', () => {
  it('splits the window into ten buckets of whole seconds and looks back one window', () => {
    const w = new BreakerWindow(10);
    expect(w).toMatchObject({ bucketMs: 1_000, pastBuckets: 10 });
    expect(new BreakerWindow(30)).toMatchObject({ bucketMs: 3_000, pastBuckets: 10 });
    expect(new BreakerWindow(25)).toMatchObject({ bucketMs: 3_000, pastBuckets: 9 });
    expect(new BreakerWindow(5)).toMatchObject({ bucketMs: 1_000, pastBuckets: 5 });
    expect(w.bucketStart(12_345)).toBe(12_000);
    expect(w.pastBucketStarts(12_000).slice(0, 3)).toEqual([11_000, 10_000, 9_000]);
  });

  it('lets the store forget a bucket two windows and five minutes after it ends', () => {
    expect(new BreakerWindow(10).expiresAt(12_000)).toBe(13 + 20 + 300);
  });

  it('keeps completed buckets once they have settled and re-reads the ones that have not', async () => {
    const w = new BreakerWindow(10); // 1 s buckets, settled 250 ms after they end
    const store = new MemoryBreakerStore();
    const current = 20_000;
    const add = () => store.addOutcome('m', 0, 19_000, { failure: true, slow: false }, 0, false);
    const previous = async (now: number) => (await w.completedCounts(store, 'm', 0, current, now))[0];
    await add();
    expect(await previous(current + 100)).toEqual({ calls: 1, failures: 1, slow: 0 });
    await add(); // a write still in flight when the bucket ended
    expect(await previous(current + 100)).toEqual({ calls: 2, failures: 2, slow: 0 });
    expect(await previous(current + 250)).toEqual({ calls: 2, failures: 2, slow: 0 });
    await add();
    expect(await previous(current + 600)).toEqual({ calls: 2, failures: 2, slow: 0 });
    expect(store.requests.byOperation.BatchGetItem).toBe(3);
  });
});
