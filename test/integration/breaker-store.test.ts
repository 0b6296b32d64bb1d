/**
 * The circuit breaker's DynamoDB store against dynalite (in-process, 127.0.0.1): the item shapes deployed instances
 * share, the condition expressions agreeing with the port's contract (`conditionHolds`), and what the breaker costs in
 * DynamoDB requests. The breaker's decisions are tested against an in-memory store in test/unit/breaker.test.ts.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoBreakerStore } from '../../lambda/aws/breaker-store';
import {
  CircuitBreaker,
  conditionHolds,
  type BreakerDecision,
  type BreakerPermit,
  type BreakerSettings,
  type StateCondition,
  type StoredBreakerState,
} from '../../lambda/core/breaker';
import { documentClient, dynamoClient, useGuardTable } from '../helpers/dynalite';

const TABLE = 'guard-breaker-integration';
const guard = useGuardTable(TABLE);

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
const store = () => new DynamoBreakerStore({ tableName: TABLE, documentClient: guard.doc });

function newBreaker(extra: { settings?: Partial<BreakerSettings> } = {}) {
  return new CircuitBreaker({ store: store(), settings: { ...settings, ...extra.settings }, now });
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

async function tripOpen(breaker: CircuitBreaker): Promise<void> {
  await fail(breaker, settings.minimumCalls);
  expect((await breaker.status(model)).storedState).toBe('OPEN');
}

const rawItem = async (pk: string) => (await guard.doc.send(new GetCommand({ TableName: TABLE, Key: { pk } }))).Item;

beforeEach(() => {
  t = Date.UTC(2026, 0, 15, 12, 0, 0);
  model = `test.model-${++modelSeq}`;
  guard.requests.reset();
});

describe('conditional writes', () => {
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

  it('agrees with conditionHolds on every condition the breaker writes', async () => {
    const stored: (StoredBreakerState | undefined)[] = [
      undefined,
      { state: 'CLOSED', generation: 3, trips: 0 },
      { state: 'OPEN', generation: 3, trips: 1, openUntil: t },
      { state: 'HALF_OPEN', generation: 3, trips: 1, probeHolder: 'a', probeLeaseUntil: t },
      { state: 'HALF_OPEN', generation: 3, trips: 1, probeLeaseUntil: t },
    ];
    const conditions: StateCondition[] = [
      { generation: 0 },
      { generation: 0, state: 'CLOSED' },
      { generation: 0, state: 'OPEN' },
      { generation: 0, probeAvailableAt: t },
      { generation: 3 },
      { generation: 4 },
      { generation: 3, state: 'CLOSED' },
      { generation: 3, state: 'OPEN' },
      { generation: 3, probeAvailableAt: t - 1 },
      { generation: 3, probeAvailableAt: t },
      { generation: 3, state: 'HALF_OPEN', probeHolder: 'a' },
      { generation: 3, state: 'HALF_OPEN', probeHolder: 'b' },
    ];
    const s = store();
    const mismatches: string[] = [];
    for (const [i, before] of stored.entries()) {
      for (const [j, condition] of conditions.entries()) {
        const id = `${model}-${i}-${j}`;
        if (before) expect(await s.writeState(id, before, { generation: 0 })).toBe(true);
        const next: StoredBreakerState = { state: 'CLOSED', generation: 9, trips: 0 };
        const written = await s.writeState(id, next, condition);
        if (written !== conditionHolds(before, condition)) mismatches.push(`${JSON.stringify(before)} ${JSON.stringify(condition)}`);
        expect((await s.readState(id)).generation).toBe(written ? 9 : (before?.generation ?? 0));
      }
    }
    expect(mismatches).toEqual([]);
  });
});

describe('items', () => {
  it('keeps the state item under breaker#<model> with times in epoch ms and no empty attributes', async () => {
    const breaker = newBreaker();
    await tripOpen(breaker);
    const item = await rawItem(`breaker#${model}`);
    expect(item).toEqual({
      pk: `breaker#${model}`,
      state: 'OPEN',
      generation: 1,
      trips: 1,
      openedAt: t,
      openUntil: t + settings.openSeconds * 1000,
      reason: expect.stringMatching(/^failure rate 100%/),
      updatedAt: t,
    });
    advance(settings.openSeconds * 1000);
    permitOf(await breaker.acquire(model));
    expect(await rawItem(`breaker#${model}`)).toMatchObject({
      state: 'HALF_OPEN',
      generation: 2,
      probeHolder: expect.any(String),
      probeLeaseUntil: t + settings.probeLeaseSeconds * 1000,
    });
  });

  it('counts outcomes under breaker#<model>#w#<generation>#<bucket start in s> with a TTL', async () => {
    const breaker = newBreaker();
    await succeed(breaker, 2);
    await succeed(breaker, 1, settings.slowCallTtftMs + 1);
    await fail(breaker, 1);
    const bucket = Math.floor(t / 1000);
    expect(await rawItem(`breaker#${model}#w#0#${bucket}`)).toEqual({
      pk: `breaker#${model}#w#0#${bucket}`,
      calls: 4,
      failures: 1,
      slow: 1,
      expiresAt: bucket + 1 + 2 * settings.windowSeconds + 300,
    });
  });

  it('reads a state item written by an earlier version as it was written', async () => {
    const s = store();
    const item: StoredBreakerState = {
      state: 'OPEN',
      generation: 7,
      trips: 3,
      openedAt: t,
      openUntil: 8_640_000_000_000_000,
      forced: true,
      reason: 'forced open until force-close',
      updatedAt: t,
    };
    expect(await s.writeState(model, item, { generation: 0 })).toBe(true);
    expect(await s.readState(model)).toEqual({ ...item, probeHolder: undefined, probeLeaseUntil: undefined });
    expect((await newBreaker().status(model)).openUntil).toBeNull();
  });
});

describe('DynamoDB requests', () => {
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

  it('sends no request for a condition on generation 0 that no item can meet', async () => {
    guard.requests.reset();
    expect(await store().writeState(model, { state: 'CLOSED', generation: 1, trips: 0 }, { generation: 0, state: 'OPEN' })).toBe(false);
    expect(guard.requests.writes).toBe(0);
  });

  it('fails open when the guard table cannot be reached', async () => {
    const unreachable = dynamoClient('http://127.0.0.1:1');
    const warn = jest.fn();
    const breaker = new CircuitBreaker({
      store: new DynamoBreakerStore({ tableName: TABLE, documentClient: documentClient(unreachable) }),
      settings,
      now,
      logger: { info: jest.fn(), warn },
    });
    const decision = await breaker.acquire(model);
    expect(decision.allowed).toBe(true);
    await permitOf(decision).failure(throttled());
    expect(warn).toHaveBeenCalledWith('breaker state unreadable', expect.objectContaining({ modelId: model }));
    unreachable.destroy();
  });
});

describe('the breaker over DynamoDB', () => {
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
    await second.success({ ttftMs: 10 });
    expect((await breaker.status(model)).state).toBe('CLOSED');
  });

  it('force-open holds until force-close', async () => {
    const breaker = newBreaker();
    expect(await breaker.forceOpen(model)).toMatchObject({ state: 'OPEN', forced: true, openUntil: null });
    expect(await breaker.forceClose(model)).toMatchObject({ state: 'CLOSED', forced: false, trips: 0 });
  });
});
