/**
 * The circuit breaker over its DynamoDB store, against dynalite (in-process, 127.0.0.1): the shared behaviour suite
 * (test/suites/breaker.suite.ts, which test/unit/breaker.test.ts runs against an in-memory store), then what only
 * DynamoDB can show: the condition expressions agreeing with the port's contract (`conditionHolds`), the item shapes
 * deployed instances share, and requests the store saves.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoBreakerStore } from '../../lambda/aws/breaker-store';
import { conditionHolds, type StateCondition, type StoredBreakerState } from '../../lambda/core/breaker';
import { unreachableDocumentClient, useGuardTable } from '../helpers/dynalite';
import { breakerSuite, permitOf, settings, useBreakerFixture, type BreakerHarness } from '../suites/breaker.suite';

const TABLE = 'guard-breaker-integration';
const guard = useGuardTable(TABLE);
const store = () => new DynamoBreakerStore({ tableName: TABLE, documentClient: guard.doc });

/** One DynamoBreakerStore per breaker over the shared table, as deployed instances have; requests counted per test. */
function dynamoHarness(): BreakerHarness {
  beforeEach(() => guard.requests.reset());
  return {
    store,
    get requests() {
      return guard.requests;
    },
    unreachable() {
      const unreachable = unreachableDocumentClient();
      return {
        store: new DynamoBreakerStore({ tableName: TABLE, documentClient: unreachable.doc }),
        close: unreachable.close,
      };
    },
  };
}

breakerSuite('the breaker over DynamoDB', dynamoHarness);

describe('DynamoBreakerStore', () => {
  const harness = dynamoHarness();
  const f = useBreakerFixture(harness);
  const { advance, newBreaker, fail, succeed, tripOpen } = f;
  const rawItem = async (pk: string) => (await guard.doc.send(new GetCommand({ TableName: TABLE, Key: { pk } }))).Item;

  describe('conditional writes', () => {
    it('agrees with conditionHolds on every condition the breaker writes', async () => {
      const stored: (StoredBreakerState | undefined)[] = [
        undefined,
        { state: 'CLOSED', generation: 3, trips: 0 },
        { state: 'OPEN', generation: 3, trips: 1, openUntil: f.t },
        { state: 'HALF_OPEN', generation: 3, trips: 1, probeHolder: 'a', probeLeaseUntil: f.t },
        { state: 'HALF_OPEN', generation: 3, trips: 1, probeLeaseUntil: f.t },
      ];
      const conditions: StateCondition[] = [
        { generation: 0 },
        { generation: 0, state: 'CLOSED' },
        { generation: 0, state: 'OPEN' },
        { generation: 0, probeAvailableAt: f.t },
        { generation: 3 },
        { generation: 4 },
        { generation: 3, state: 'CLOSED' },
        { generation: 3, state: 'OPEN' },
        { generation: 3, probeAvailableAt: f.t - 1 },
        { generation: 3, probeAvailableAt: f.t },
        { generation: 3, state: 'HALF_OPEN', probeHolder: 'a' },
        { generation: 3, state: 'HALF_OPEN', probeHolder: 'b' },
      ];
      const s = store();
      const mismatches: string[] = [];
      for (const [i, before] of stored.entries()) {
        for (const [j, condition] of conditions.entries()) {
          const id = `${f.model}-${i}-${j}`;
          if (before) expect(await s.writeState(id, before, { generation: 0 })).toBe(true);
          const next: StoredBreakerState = { state: 'CLOSED', generation: 9, trips: 0 };
          const written = await s.writeState(id, next, condition);
          if (written !== conditionHolds(before, condition))
            mismatches.push(`${JSON.stringify(before)} ${JSON.stringify(condition)}`);
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
      const item = await rawItem(`breaker#${f.model}`);
      expect(item).toEqual({
        pk: `breaker#${f.model}`,
        state: 'OPEN',
        generation: 1,
        trips: 1,
        openedAt: f.t,
        openUntil: f.t + settings.openSeconds * 1000,
        reason: expect.stringMatching(/^failure rate 100%/),
        updatedAt: f.t,
      });
      advance(settings.openSeconds * 1000);
      permitOf(await breaker.acquire(f.model));
      expect(await rawItem(`breaker#${f.model}`)).toMatchObject({
        state: 'HALF_OPEN',
        generation: 2,
        probeHolder: expect.any(String),
        probeLeaseUntil: f.t + settings.probeLeaseSeconds * 1000,
      });
    });

    it('counts outcomes under breaker#<model>#w#<generation>#<bucket start in s> with a TTL', async () => {
      const breaker = newBreaker();
      await succeed(breaker, 2);
      await succeed(breaker, 1, settings.slowCallTtftMs + 1);
      await fail(breaker, 1);
      const bucket = Math.floor(f.t / 1000);
      expect(await rawItem(`breaker#${f.model}#w#0#${bucket}`)).toEqual({
        pk: `breaker#${f.model}#w#0#${bucket}`,
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
        openedAt: f.t,
        openUntil: 8_640_000_000_000_000,
        forced: true,
        reason: 'forced open until force-close',
        updatedAt: f.t,
      };
      expect(await s.writeState(f.model, item, { generation: 0 })).toBe(true);
      expect(await s.readState(f.model)).toEqual({ ...item, probeHolder: undefined, probeLeaseUntil: undefined });
      expect((await newBreaker().status(f.model)).openUntil).toBeNull();
    });
  });

  describe('DynamoDB requests', () => {
    it('sends no request for a condition on generation 0 that no item can meet', async () => {
      harness.requests.reset();
      expect(
        await store().writeState(
          f.model,
          { state: 'CLOSED', generation: 1, trips: 0 },
          { generation: 0, state: 'OPEN' },
        ),
      ).toBe(false);
      expect(harness.requests.writes).toBe(0);
    });
  });
});
