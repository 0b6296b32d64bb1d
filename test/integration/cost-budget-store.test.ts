/**
 * Dollar budgets (`plans.<plan>.usdPerDay`, `usdPerMonth`) over the guard table, against dynalite: 8 chat services with
 * SDK clients of their own on one table, as 8 Lambda instances are, reserve in the same conditional write as the token
 * budget and the concurrency lease, so together they admit exactly what fits; settling replaces each estimate with the
 * call's cost in whole micro-dollars.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { parseConfig } from '../../config/schema';
import { DynamoTokenBudgetStore } from '../../lambda/aws/token-budget-store';
import { CostBudgetExceededError } from '../../lambda/core/errors';
import type { ModelInvoker } from '../../lambda/core/model';
import { budgetMonth, budgetWindow, TokenBudget } from '../../lambda/core/token-budget';
import { chatInstances } from '../helpers/chat-instances';
import { useGuardTable } from '../helpers/dynalite';

const TABLE = 'guard-cost-integration';
const guard = useGuardTable(TABLE);
const MODEL = 'test.priced-model-v1:0';

/** Every call answers with 9 input and 1 output tokens: 1,000 micro-dollars at $100 per million tokens. */
const invoker: ModelInvoker = {
  async *stream() {
    yield { type: 'delta', text: 'ok' };
    yield { type: 'stop', stopReason: 'end_turn' };
    yield { type: 'usage', usage: { inputTokens: 9, outputTokens: 1 } };
  },
  complete: async () => ({ text: 'ok', stopReason: 'end_turn', usage: { inputTokens: 9, outputTokens: 1 } }),
};

// A request of 'hi' is estimated at 9 input tokens; with maxTokens 10 it reserves 19 tokens × 100 = 1,900 micro-dollars.
const request = { messages: [{ role: 'user' as const, content: 'hi' }], maxTokens: 10 };
const ESTIMATE = 1_900;
const COST = 1_000;

function configWith(plan: Record<string, number>) {
  return parseConfig({
    models: {
      primary: MODEL,
      fallbacks: [],
      prices: { [MODEL]: { input: 100, output: 100 } },
      promptCaching: {},
    },
    plans: {
      pro: {
        rateLimit: 10,
        burstLimit: 10,
        requestsPerDay: 1000,
        tokensPerDay: 1_000_000,
        maxConcurrentRequests: 1000,
        ...plan,
      },
    },
  });
}

const spent = async (userId: string, window: string) =>
  (
    await guard.doc.send(
      new GetCommand({ TableName: TABLE, Key: { pk: DynamoTokenBudgetStore.key(userId) }, ConsistentRead: true }),
    )
  ).Item?.[DynamoTokenBudgetStore.spentAttribute(window)];

describe('dollar budgets over DynamoDB', () => {
  it('admits exactly what fits of 40 calls that 8 chat services begin at once, settles each at its cost, then admits what the rest holds', async () => {
    // $0.0095 a day: 5 estimates of 1,900 micro-dollars fit, a sixth does not.
    const config = configWith({ usdPerDay: 0.0095 });
    const instances = chatInstances({ endpoint: guard.endpoint, tableName: TABLE, config, invoker });
    try {
      const user = `usd-eight-${Date.now()}`;
      const beginAll = (round: string, count: number) => instances.beginAll(request, user, round, count);
      const untilMidnight = () => Math.ceil((budgetWindow(Date.now()).end - Date.now()) / 1000);
      const resetsBefore = untilMidnight();
      const first = await beginAll('first', 40);
      const resetsAfter = untilMidnight();
      const admitted = first.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      expect(admitted).toHaveLength(5);
      for (const r of first) {
        if (r.status === 'rejected') {
          expect(r.reason).toBeInstanceOf(CostBudgetExceededError);
          const err = r.reason as CostBudgetExceededError;
          expect(err.status).toBe(429);
          // Until the UTC day ends.
          expect(err.retryAfterSeconds).toBeLessThanOrEqual(resetsBefore);
          expect(err.retryAfterSeconds).toBeGreaterThanOrEqual(resetsAfter);
        }
      }
      const day = budgetWindow(Date.now()).key;
      const month = budgetMonth(Date.now()).key;
      expect(await spent(user, day)).toBe(5 * ESTIMATE);

      const results = await Promise.all(
        admitted.map(async (call) => {
          const result = await call.complete();
          await call.flush();
          return result;
        }),
      );
      expect(results.map((r) => r.costUsd)).toEqual(Array(5).fill(COST / 1_000_000));
      // Settled at the cost: 5 × 1,000 micro-dollars, exactly, on the day's and the month's counters alike.
      expect(await spent(user, day)).toBe(5 * COST);
      expect(await spent(user, month)).toBe(5 * COST);

      // 4,500 micro-dollars are left: two estimates of 1,900 fit, a third does not.
      const second = await beginAll('second', 16);
      expect(second.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    } finally {
      instances.destroy();
    }
  });

  it('refuses past the monthly budget until the UTC month ends, and a call that alone costs more than the budget at once', async () => {
    const now = Date.UTC(2026, 11, 15, 12, 0, 0);
    const config = configWith({ usdPerMonth: 0.002 });
    const budget = new TokenBudget({
      store: new DynamoTokenBudgetStore({ tableName: TABLE, documentClient: guard.doc }),
      plans: config.plans,
      now: () => now,
    });
    const user = `usd-month-${Date.now()}`;
    await budget.reserve(user, 'pro', 19, undefined, ESTIMATE);
    const refused = await budget.reserve(user, 'pro', 19, undefined, ESTIMATE).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(CostBudgetExceededError);
    // From noon on 15 December to 1 January: 16.5 days.
    expect((refused as CostBudgetExceededError).retryAfterSeconds).toBe(16.5 * 86_400);
    expect((refused as Error).message).toContain('0.002 USD per month');

    const tooDear = await budget.reserve(`${user}-b`, 'pro', 19, undefined, 2_001).catch((err: unknown) => err);
    expect(tooDear).toBeInstanceOf(CostBudgetExceededError);
    expect((tooDear as CostBudgetExceededError).retryAfterSeconds).toBeUndefined();
    expect(await spent(`${user}-b`, '2026-12')).toBeUndefined();
  });
});
