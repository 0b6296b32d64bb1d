/**
 * Eight breaker instances (eight Lambda execution environments, each with its own cache) sharing one guard table.
 * The clock is shared and injected; concurrency is real (parallel requests to dynalite).
 */
import {
  CircuitBreaker,
  type BreakerDecision,
  type BreakerPermit,
  type BreakerSettings,
} from '../../lambda/core/breaker';
import { DynamoBreakerStore } from '../../lambda/aws/breaker-store';
import { useGuardTable } from '../helpers/dynalite';
import { throttled } from '../suites/breaker.suite';

const TABLE = 'guard-breaker-concurrency';
const guard = useGuardTable(TABLE);
const INSTANCES = 8;

const settings: BreakerSettings = {
  windowSeconds: 30,
  minimumCalls: 5,
  failureRateThreshold: 0.5,
  slowCallRateThreshold: 0.8,
  slowCallTtftMs: 2_000,
  openSeconds: 10,
  maxOpenSeconds: 60,
  probeLeaseSeconds: 20,
  cacheMs: 1_000,
};

let t: number;
let model: string;
let modelSeq = 0;
let transitions: string[];

function fleet(): CircuitBreaker[] {
  return Array.from(
    { length: INSTANCES },
    () =>
      new CircuitBreaker({
        store: new DynamoBreakerStore({ tableName: TABLE, documentClient: guard.doc }),
        settings,
        now: () => t,
        logger: {
          info: ((message: string, extra: { from?: string; to?: string }) => {
            if (message === 'breaker transition') transitions.push(`${extra.from}>${extra.to}`);
          }) as never,
          warn: jest.fn(),
        },
      }),
  );
}

function permits(decisions: BreakerDecision[]): BreakerPermit[] {
  return decisions.flatMap((d) => (d.allowed ? [d.permit] : []));
}

/** Every instance acquires `each` permits at once; all of them fail at once. */
async function failEverywhere(breakers: CircuitBreaker[], each: number): Promise<number> {
  const granted = permits(
    await Promise.all(breakers.flatMap((b) => Array.from({ length: each }, () => b.acquire(model)))),
  );
  await Promise.all(granted.map((p) => p.failure(throttled())));
  return granted.length;
}

beforeEach(() => {
  t = Date.UTC(2026, 2, 1, 8, 0, 0, 250);
  model = `concurrent.model-${++modelSeq}`;
  transitions = [];
});

it('trips exactly once when failures arrive at the same time on every instance, losing no counts', async () => {
  const breakers = fleet();
  const failed = await failEverywhere(breakers, 4);
  expect(failed).toBe(INSTANCES * 4);

  expect(transitions).toEqual(['CLOSED>OPEN']);
  const status = await breakers[0].status(model);
  expect(status).toMatchObject({ storedState: 'OPEN', generation: 1, trips: 1 });
  // Every failure landed in generation 0's counters: ADD loses nothing under concurrency.
  const bucketStart = t - (t % ((settings.windowSeconds / 10) * 1000));
  const counters = await breakers[0].store.readCounters(model, 0, [bucketStart]);
  expect(counters.get(bucketStart)).toEqual({ calls: failed, failures: failed, slow: 0 });
});

it('grants exactly one probe when every instance asks at once in HALF_OPEN, round after round', async () => {
  const breakers = fleet();
  await failEverywhere(breakers, 1);
  let expectedWait = settings.openSeconds;
  for (let round = 0; round < 4; round++) {
    t += expectedWait * 1000;
    const decisions = await Promise.all(breakers.flatMap((b) => Array.from({ length: 5 }, () => b.acquire(model))));
    const granted = permits(decisions);
    expect(granted).toHaveLength(1);
    expect(granted[0].probe).toBe(true);
    expect(decisions.filter((d) => !d.allowed).every((d) => !d.allowed && d.state === 'HALF_OPEN')).toBe(true);

    await granted[0].failure(throttled()); // re-open, wait doubles
    expectedWait = Math.min(expectedWait * 2, settings.maxOpenSeconds);
  }
  expect(transitions.filter((x) => x === 'OPEN>HALF_OPEN')).toHaveLength(4);
  expect(transitions.filter((x) => x === 'HALF_OPEN>OPEN')).toHaveLength(4);
});

it('does not let a call that started while CLOSED close the breaker when it succeeds after the trip', async () => {
  const breakers = fleet();
  const [slow, ...others] = breakers;
  const startedBeforeTrip = await Promise.all(Array.from({ length: 3 }, () => slow.acquire(model)));
  const stale = permits(startedBeforeTrip);
  expect(stale).toHaveLength(3);

  await failEverywhere(others, 1);
  expect((await slow.status(model)).storedState).toBe('OPEN');

  // Late success while OPEN.
  await stale[0].success({ ttftMs: 50 });
  expect((await slow.status(model)).storedState).toBe('OPEN');

  // Late success racing the probe's failure in HALF_OPEN.
  t += settings.openSeconds * 1000;
  const probe = permits(await Promise.all(others.map((b) => b.acquire(model))));
  expect(probe).toHaveLength(1);
  await Promise.all([stale[1].success({ ttftMs: 50 }), probe[0].failure(throttled())]);
  expect((await slow.status(model)).storedState).toBe('OPEN');

  // Late success after the probe closed it: stays closed, and its outcome cannot count in the new window.
  t += 2 * settings.openSeconds * 1000;
  const second = permits(await Promise.all(others.map((b) => b.acquire(model))));
  expect(second).toHaveLength(1);
  await second[0].success({ ttftMs: 50 });
  await stale[2].failure(throttled());
  const status = await slow.status(model);
  expect(status).toMatchObject({ state: 'CLOSED', trips: 0 });
  expect(status.window.calls).toBe(0);
  expect(transitions).toEqual([
    'CLOSED>OPEN',
    'OPEN>HALF_OPEN',
    'HALF_OPEN>OPEN',
    'OPEN>HALF_OPEN',
    'HALF_OPEN>CLOSED',
  ]);
});

it('sees a trip made on another instance within cacheMs', async () => {
  const breakers = fleet();
  const [watcher, ...others] = breakers;
  expect((await watcher.acquire(model)).allowed).toBe(true); // cached CLOSED
  await failEverywhere(others, 1);
  t += settings.cacheMs;
  expect(await watcher.acquire(model)).toMatchObject({ allowed: false, state: 'OPEN' });
});
