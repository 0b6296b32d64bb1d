/**
 * The per-user token budget and concurrency limit over their DynamoDB store, against dynalite (in-process,
 * 127.0.0.1), with an injected clock: the shared behaviour suite (test/suites/token-budget.suite.ts, which
 * test/unit/token-budget.test.ts runs against an in-memory store; its parallel reservations here race through the
 * conditional writes), then the item shape deployed instances share, and the limit held by 8 chat services with SDK
 * clients of their own on one table, as 8 Lambda instances are.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { parseConfig } from '../../config/schema';
import { DynamoTokenBudgetStore } from '../../lambda/aws/token-budget-store';
import { ConcurrencyLimitExceededError } from '../../lambda/core/errors';
import type { ModelInvoker } from '../../lambda/core/model';
import { chatInstances } from '../helpers/chat-instances';
import { unreachableDocumentClient, useGuardTable } from '../helpers/dynalite';
import { plans, tokenBudgetSuite, useBudgetFixture, type TokenBudgetHarness } from '../suites/token-budget.suite';

const TABLE = 'guard-budget-integration';
const guard = useGuardTable(TABLE);
const rawItem = async (userId: string) =>
  (
    await guard.doc.send(
      new GetCommand({ TableName: TABLE, Key: { pk: DynamoTokenBudgetStore.key(userId) }, ConsistentRead: true }),
    )
  ).Item;

/** A DynamoTokenBudgetStore per budget over the shared table, as deployed instances have; requests counted per test. */
function dynamoHarness(): TokenBudgetHarness {
  beforeEach(() => guard.requests.reset());
  return {
    store: () => new DynamoTokenBudgetStore({ tableName: TABLE, documentClient: guard.doc }),
    get requests() {
      return guard.requests;
    },
    async counter(userId, window) {
      const item = await rawItem(userId);
      const used = item?.[DynamoTokenBudgetStore.usedAttribute(window)];
      return used === undefined ? undefined : { used, expiresAt: item?.expiresAt };
    },
    async inFlight(userId) {
      const item = (await rawItem(userId)) ?? {};
      const leases = Object.keys(item).filter((name) => name.startsWith('lease#')).length;
      // The count and the leases move together in every write.
      expect(item.inFlight ?? 0).toBe(leases);
      return leases;
    },
    unreachable() {
      const unreachable = unreachableDocumentClient();
      return {
        store: new DynamoTokenBudgetStore({ tableName: TABLE, documentClient: unreachable.doc }),
        close: unreachable.close,
      };
    },
  };
}

tokenBudgetSuite('TokenBudget over DynamoDB', dynamoHarness);

describe('DynamoTokenBudgetStore', () => {
  const f = useBudgetFixture(dynamoHarness());

  it('keeps one item per user, limits#<user>: a counter per UTC day, the leases, and a TTL two days after the window', async () => {
    const budget = f.newBudget();
    const call = await budget.reserve(f.user, 'free', 10, {
      holder: 'req-1',
      expiresAt: Date.UTC(2026, 4, 20, 18, 45),
    });
    const item = await guard.doc.send(new GetCommand({ TableName: TABLE, Key: { pk: `limits#${f.user}` } }));
    expect(item.Item).toEqual({
      pk: `limits#${f.user}`,
      userId: f.user,
      'used#2026-05-20': 10,
      inFlight: 1,
      [call.lease?.id ?? 'missing']: Date.UTC(2026, 4, 20, 18, 45),
      expiresAt: Date.UTC(2026, 4, 23) / 1000,
    });
    expect(call.lease?.id).toMatch(/^lease#req-1#[0-9a-f]{12}$/);
    await budget.settle(call, 10);
    expect(await rawItem(f.user)).toEqual({
      pk: `limits#${f.user}`,
      userId: f.user,
      'used#2026-05-20': 10,
      inFlight: 0,
      expiresAt: Date.UTC(2026, 4, 23) / 1000,
    });
  });

  it('drops the counters of days past the retention as new days are reserved', async () => {
    const budget = f.newBudget();
    for (const day of [14, 17, 18, 19, 20]) {
      f.at(Date.UTC(2026, 4, day, 12));
      await budget.reserve(f.user, 'free', day);
    }
    const kept = Object.keys((await rawItem(f.user)) ?? {}).filter((name) => name.startsWith('used#'));
    expect(kept.sort()).toEqual(['used#2026-05-18', 'used#2026-05-19', 'used#2026-05-20']);
  });
});

describe('the concurrency limit across 8 instances on one table', () => {
  /** Never reached: `begin` decides before any model call. */
  const invoker: ModelInvoker = {
    stream: () => {
      throw new Error('no model call expected');
    },
    complete: () => Promise.reject(new Error('no model call expected')),
  };
  const config = parseConfig({ plans: { pro: { ...plans.pro, maxConcurrentRequests: 6 } } });

  it('admits exactly maxConcurrentRequests of 40 calls that 8 chat services begin at once, then as many again once they end', async () => {
    const instances = chatInstances({ endpoint: guard.endpoint, tableName: TABLE, config, invoker });
    try {
      const user = `eight-${Date.now()}`;
      const request = { messages: [{ role: 'user' as const, content: 'hi' }], maxTokens: 10 };
      const beginAll = (round: string) => instances.beginAll(request, user, round, 40);
      const first = await beginAll('first');
      const admitted = first.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      expect(admitted).toHaveLength(6);
      for (const r of first) {
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConcurrencyLimitExceededError);
      }
      expect(admitted.map((call) => call.limits?.concurrency?.remaining).sort()).toEqual([0, 1, 2, 3, 4, 5]);

      // Each call ends without an answer (no model can answer here): its slot and its tokens are given back.
      await Promise.all(
        admitted.map(async (call) => {
          await call.complete().catch(() => undefined);
          await call.flush();
        }),
      );
      const second = await beginAll('second');
      expect(second.filter((r) => r.status === 'fulfilled')).toHaveLength(6);
    } finally {
      instances.destroy();
    }
  });
});
