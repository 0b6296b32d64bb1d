/**
 * The circuit breaker against an in-memory store that keeps the port's contract (atomic conditional writes,
 * `conditionHolds`), with an injected clock: the shared behaviour suite (test/suites/breaker.suite.ts, which
 * test/integration/breaker-store.test.ts runs against DynamoDB), then the state machine and the window, which need no
 * store or only this one.
 */
import {
  CLOSED_INITIAL,
  conditionHolds,
  type BreakerStore,
  type StoredBreakerState,
  type WindowCounts,
} from '../../lambda/core/breaker';
import * as machine from '../../lambda/core/breaker/state-machine';
import { BreakerWindow } from '../../lambda/core/breaker/window';
import { breakerSuite, perTest, settings, storeRequests, type BreakerHarness } from '../suites/breaker.suite';

/** The port's contract in memory: each call is atomic, as DynamoDB makes each request; counted as those requests. */
class MemoryBreakerStore implements BreakerStore {
  readonly states = new Map<string, StoredBreakerState>();
  readonly counters = new Map<string, WindowCounts>();
  readonly requests = storeRequests();

  async readState(modelId: string): Promise<StoredBreakerState> {
    this.requests.record('GetItem');
    return this.states.get(modelId) ?? CLOSED_INITIAL;
  }

  async writeState(
    modelId: string,
    next: StoredBreakerState,
    condition: Parameters<BreakerStore['writeState']>[2],
  ): Promise<boolean> {
    this.requests.record('PutItem');
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
    this.requests.record('UpdateItem');
    const key = `${modelId}#${generation}#${bucketStartMs}`;
    const c = this.counters.get(key) ?? { calls: 0, failures: 0, slow: 0 };
    const updated = {
      calls: c.calls + 1,
      failures: c.failures + (outcome.failure ? 1 : 0),
      slow: c.slow + (outcome.slow ? 1 : 0),
    };
    this.counters.set(key, updated);
    return returnCounts ? updated : undefined;
  }

  async readCounters(
    modelId: string,
    generation: number,
    bucketStarts: readonly number[],
  ): Promise<Map<number, WindowCounts>> {
    this.requests.record('BatchGetItem');
    const result = new Map<number, WindowCounts>();
    for (const b of bucketStarts) {
      const c = this.counters.get(`${modelId}#${generation}#${b}`);
      if (c) result.set(b, c);
    }
    return result;
  }
}

/** A store whose every call fails, as an unreachable table does. */
const unreachableStore = (): BreakerStore => {
  const down = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { name: 'Error' }));
  return { readState: down, writeState: down, addOutcome: down, readCounters: down };
};

/** A fresh in-memory store per test, shared by every breaker in it. */
function memoryHarness(): BreakerHarness {
  const store = perTest(() => new MemoryBreakerStore());
  return {
    store,
    get requests() {
      return store().requests;
    },
    unreachable: () => ({ store: unreachableStore(), close: () => undefined }),
  };
}

breakerSuite('the breaker over the in-memory store', memoryHarness);

const t = Date.UTC(2026, 0, 15, 12, 0, 0);

describe('state machine', () => {
  it('doubles the open wait per consecutive trip up to maxOpenSeconds', () => {
    expect([1, 2, 3, 4, 10].map((trips) => machine.openWaitMs(trips, settings))).toEqual([
      5_000, 10_000, 20_000, 20_000, 20_000,
    ]);
  });

  it('suggests a retry no later than a first open wait while a probe holds its lease', () => {
    const half: StoredBreakerState = {
      state: 'HALF_OPEN',
      generation: 2,
      trips: 1,
      probeHolder: 'p',
      probeLeaseUntil: t + 10_000,
    };
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
