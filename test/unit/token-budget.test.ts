/**
 * The per-user token budget's decisions against an in-memory store that keeps the port's contract (each call atomic,
 * reservations refused past the limit), with an injected clock. The DynamoDB store is tested in
 * test/integration/token-budget-store.test.ts.
 */
import { TokenBudgetExceededError } from '../../lambda/core/errors';
import {
  budgetWindow,
  TokenBudget,
  type BudgetCounter,
  type TokenBudgetStore,
} from '../../lambda/core/token-budget';

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

let store: MemoryTokenBudgetStore;
const plans = {
  free: { rateLimit: 2, burstLimit: 5, requestsPerDay: 1_000, tokensPerDay: 1_000 },
  pro: { rateLimit: 50, burstLimit: 100, requestsPerDay: 100_000, tokensPerDay: 100_000 },
};

let t: number;
let user: string;
let userSeq = 0;

function newBudget(): TokenBudget {
  return new TokenBudget({ store, plans, now: () => t });
}

async function rejection(p: Promise<unknown>): Promise<TokenBudgetExceededError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TokenBudgetExceededError) return err;
    throw err;
  }
  throw new Error('expected a TokenBudgetExceededError');
}

beforeEach(() => {
  t = Date.UTC(2026, 4, 20, 18, 30, 0);
  user = `user-${++userSeq}`;
  store = new MemoryTokenBudgetStore();
});

describe('budgetWindow', () => {
  it('is the UTC day', () => {
    expect(budgetWindow(Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toEqual({
      key: '2026-12-31',
      start: Date.UTC(2026, 11, 31),
      end: Date.UTC(2027, 0, 1),
    });
  });
});

describe('TokenBudget', () => {
  it('reserves, then settles to the reported usage', async () => {
    const budget = newBudget();
    const r = await budget.reserve(user, 'free', 300);
    expect(r).toMatchObject({ userId: user, plan: 'free', window: '2026-05-20', estimatedTokens: 300, limit: 1_000, usedAfter: 300 });
    await budget.settle(r, 120);
    expect((await budget.usage(user, 'free')).used).toBe(120);
  });

  it('settles above the estimate without failing, even past the limit', async () => {
    const budget = newBudget();
    const r = await budget.reserve(user, 'free', 900);
    await budget.settle(r, 1_200);
    expect(await budget.usage(user, 'free')).toMatchObject({ used: 1_200, remaining: 0 });
    await expect(budget.reserve(user, 'free', 1)).rejects.toBeInstanceOf(TokenBudgetExceededError);
  });

  it('gives the whole estimate back on release', async () => {
    const budget = newBudget();
    const kept = await budget.reserve(user, 'free', 100);
    const released = await budget.reserve(user, 'free', 400);
    await budget.release(released);
    expect((await budget.usage(user)).used).toBe(100);
    await budget.settle(kept, 100);
    expect((await budget.usage(user)).used).toBe(100);
  });

  it('applies only the first settle or release of a reservation', async () => {
    const budget = newBudget();
    const r = await budget.reserve(user, 'free', 500);
    await budget.settle(r, 200);
    await budget.settle(r, 200);
    await budget.release(r);
    expect((await budget.usage(user)).used).toBe(200);
  });

  it('allows a reservation that exactly fills the budget and rejects the next token', async () => {
    const budget = newBudget();
    await budget.reserve(user, 'free', 600);
    await budget.reserve(user, 'free', 400);
    await expect(budget.reserve(user, 'free', 1)).rejects.toBeInstanceOf(TokenBudgetExceededError);
  });

  it('rejects with 429 and Retry-After counting to the end of the UTC day', async () => {
    const budget = newBudget();
    await budget.reserve(user, 'free', 950);
    const err = await rejection(budget.reserve(user, 'free', 100));
    expect(err.status).toBe(429);
    expect(err.code).toBe('TOKEN_BUDGET_EXCEEDED');
    expect(err.retryAfterSeconds).toBe(5.5 * 3600); // 18:30 → midnight
    expect(err.message).toMatch(/2026-05-21T00:00:00.000Z/);
    // The rejected reservation added nothing.
    expect((await budget.usage(user)).used).toBe(950);
  });

  it('rejects an estimate larger than the whole daily budget without Retry-After', async () => {
    const budget = newBudget();
    const err = await rejection(budget.reserve(user, 'free', 1_001));
    expect(err.retryAfterSeconds).toBeUndefined();
    expect((await budget.usage(user)).used).toBe(0);
  });

  it('never reserves more than the limit when reservations arrive in parallel', async () => {
    const budgets = Array.from({ length: 4 }, () => newBudget()); // four instances
    const attempts = Array.from({ length: 40 }, (_, i) => budgets[i % budgets.length].reserve(user, 'free', 70));
    const results = await Promise.allSettled(attempts);
    const granted = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(granted).toHaveLength(Math.floor(1_000 / 70));
    expect(refused.every((r) => r.status === 'rejected' && r.reason instanceof TokenBudgetExceededError)).toBe(true);
    expect((await budgets[0].usage(user)).used).toBe(granted.length * 70);
  });

  it('starts a fresh budget when the UTC day rolls over', async () => {
    const budget = newBudget();
    await budget.reserve(user, 'free', 1_000);
    await expect(budget.reserve(user, 'free', 1)).rejects.toBeInstanceOf(TokenBudgetExceededError);

    t = Date.UTC(2026, 4, 20, 23, 59, 59, 999);
    const last = await rejection(budget.reserve(user, 'free', 1));
    expect(last.retryAfterSeconds).toBe(1);

    t = Date.UTC(2026, 4, 21, 0, 0, 0);
    const r = await budget.reserve(user, 'free', 1_000);
    expect(r.window).toBe('2026-05-21');
    expect(await budget.usage(user, 'free')).toMatchObject({ window: '2026-05-21', used: 1_000, resetsAt: '2026-05-22T00:00:00.000Z' });
  });

  it('settles a reservation in the window it was made in, even after midnight', async () => {
    const budget = newBudget();
    t = Date.UTC(2026, 4, 20, 23, 59, 50);
    const r = await budget.reserve(user, 'free', 500);
    t = Date.UTC(2026, 4, 21, 0, 0, 10);
    await budget.settle(r, 800);
    expect((await budget.usage(user)).used).toBe(0);
    expect(store.counters.get(`${user}#2026-05-20`)?.used).toBe(800);
  });

  it('keeps separate budgets per user and uses each plan limit', async () => {
    const budget = newBudget();
    const other = `${user}-other`;
    await budget.reserve(user, 'free', 1_000);
    await expect(budget.reserve(other, 'pro', 50_000)).resolves.toMatchObject({ limit: 100_000 });
  });

  it('lets the store forget the counter two days after the window, or retentionDays', async () => {
    await newBudget().reserve(user, 'free', 10);
    expect(store.counters.get(`${user}#2026-05-20`)).toEqual({ used: 10, expiresAt: Date.UTC(2026, 4, 23) / 1000 });
    const kept = new TokenBudget({ store, plans, now: () => t, retentionDays: 7 });
    await kept.reserve(`${user}-b`, 'free', 10);
    expect(store.counters.get(`${user}-b#2026-05-20`)?.expiresAt).toBe(Date.UTC(2026, 4, 28) / 1000);
  });

  it('costs one write to reserve, one to settle, none to settle an exact estimate, and no reads', async () => {
    const budget = newBudget();
    const a = await budget.reserve(user, 'free', 100);
    await budget.settle(a, 90);
    const b = await budget.reserve(user, 'free', 100);
    await budget.settle(b, 100);
    expect(store.requests).toMatchObject({ reads: 0, writes: 3 });
  });

  it('lets an error from the store through when reserving, rather than calling the model unbudgeted', async () => {
    const budget = new TokenBudget({ store: unreachableStore(), plans, now: () => t });
    await expect(budget.reserve(user, 'free', 10)).rejects.toThrow('ECONNREFUSED');
  });

  it('rejects a plan the configuration does not define', async () => {
    await expect(newBudget().reserve(user, 'gold', 1)).rejects.toThrow('Unknown plan "gold"');
    await expect(newBudget().reserve(user, 'constructor', 1)).rejects.toThrow('Unknown plan');
  });

  it('never throws from settle when the table is unreachable', async () => {
    const warn = jest.fn();
    const budget = new TokenBudget({ store: unreachableStore(), plans, now: () => t, logger: { warn } });
    const reservation = { userId: user, plan: 'free', window: '2026-05-20', estimatedTokens: 10, limit: 1_000, usedAfter: 10 };
    await expect(budget.settle(reservation, 50)).resolves.toBeUndefined();
    expect(warn).toHaveBeenCalledWith('token budget settle not recorded', expect.objectContaining({ delta: 40 }));
  });
});
