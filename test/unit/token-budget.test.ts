/**
 * The per-user token budget against an in-memory store that keeps the port's contract (each call atomic, reservations
 * refused past the limit), with an injected clock: the UTC day window, then the shared behaviour suite
 * (test/suites/token-budget.suite.ts, which test/integration/token-budget-store.test.ts runs against DynamoDB).
 */
import { budgetWindow, type BudgetCounter, type TokenBudgetStore } from '../../lambda/core/token-budget';
import { perTest } from '../suites/breaker.suite';
import { tokenBudgetSuite, type TokenBudgetHarness } from '../suites/token-budget.suite';

/** The port's contract in memory; counts calls as the DynamoDB requests they cost. */
class MemoryTokenBudgetStore implements TokenBudgetStore {
  readonly counters = new Map<string, { used: number; expiresAt?: number }>();
  readonly requests = { reads: 0, writes: 0 };

  async reserve(counter: BudgetCounter, tokens: number, limit: number, expiresAt: number): Promise<number | undefined> {
    this.requests.writes++;
    const used = this.counters.get(key(counter))?.used ?? 0;
    if (used + tokens > limit) return undefined;
    this.counters.set(key(counter), { used: used + tokens, expiresAt });
    return used + tokens;
  }

  async adjust(counter: BudgetCounter, delta: number): Promise<void> {
    this.requests.writes++;
    const c = this.counters.get(key(counter));
    this.counters.set(key(counter), { ...c, used: (c?.used ?? 0) + delta });
  }

  async used(counter: BudgetCounter): Promise<number> {
    this.requests.reads++;
    return this.counters.get(key(counter))?.used ?? 0;
  }
}

const key = (c: BudgetCounter) => `${c.userId}#${c.window}`;
const unreachableStore = (): TokenBudgetStore => {
  const down = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1'));
  return { reserve: down, adjust: down, used: down };
};

/** A fresh in-memory store per test, shared by every budget in it. */
function memoryHarness(): TokenBudgetHarness {
  const store = perTest(() => new MemoryTokenBudgetStore());
  return {
    store,
    get requests() {
      return store().requests;
    },
    counter: async (userId, window) => store().counters.get(key({ userId, window })),
    unreachable: () => ({ store: unreachableStore(), close: () => undefined }),
  };
}

describe('budgetWindow', () => {
  it('is the UTC day', () => {
    expect(budgetWindow(Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toEqual({
      key: '2026-12-31',
      start: Date.UTC(2026, 11, 31),
      end: Date.UTC(2027, 0, 1),
    });
  });
});

tokenBudgetSuite('TokenBudget over the in-memory store', memoryHarness);
