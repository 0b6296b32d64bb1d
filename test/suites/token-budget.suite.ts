/**
 * The per-user token budget's behaviour, whatever its store: reserve, settle and release, the daily limit under
 * parallel reservations, the UTC day's rollover, the counter's expiry, the cost in requests, and store failures; and
 * the concurrency limit reserved with it: slots across instances, their release, leases expiring after a crash, which
 * limit a refusal names, and slots across midnight. Run by
 * test/unit/token-budget.test.ts (the in-memory store) and test/integration/token-budget-store.test.ts
 * (DynamoTokenBudgetStore against dynalite), each with an injected clock. A module, not a test file: Jest runs only
 * files ending in .test.ts.
 */
import { ConcurrencyLimitExceededError, TokenBudgetExceededError } from '../../lambda/core/errors';
import { TokenBudget, type TokenBudgetOptions, type TokenBudgetStore } from '../../lambda/core/token-budget';
import { perTest } from './breaker.suite';

/**
 * A token budget store to run the suite against. `makeHarness` is called while the suite's `describe` is collected,
 * so it may register hooks (a fresh store per test, a request reset); its members are used inside tests only.
 */
export interface TokenBudgetHarness {
  /** A store over the counters every budget in the test shares. */
  store(): TokenBudgetStore;
  /** The requests the stores have sent since the test began, named as DynamoDB's reads and writes. */
  readonly requests: { readonly reads: number; readonly writes: number };
  /** A counter as stored (its total, and when the store may forget it in epoch s), read around the budget. */
  counter(userId: string, window: string): Promise<{ used: number; expiresAt?: number } | undefined>;
  /** The leases the user's record holds (expired ones included until evicted). */
  inFlight(userId: string): Promise<number>;
  /** A store whose every call fails as an unreachable table does; `close` frees what it holds. */
  unreachable(): { store: TokenBudgetStore; close(): void };
}

export const plans = {
  free: { rateLimit: 2, burstLimit: 5, requestsPerDay: 1_000, tokensPerDay: 1_000, maxConcurrentRequests: 2 },
  pro: { rateLimit: 50, burstLimit: 100, requestsPerDay: 100_000, tokensPerDay: 100_000, maxConcurrentRequests: 5 },
};

export async function rejection(p: Promise<unknown>): Promise<TokenBudgetExceededError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TokenBudgetExceededError) return err;
    throw err;
  }
  throw new Error('expected a TokenBudgetExceededError');
}

/** The clock and the user under test, reset before each test. */
export interface BudgetFixture {
  /** A user no earlier test has used. */
  readonly user: string;
  /** Sets the injected clock (epoch ms); each test starts at 2026-05-20T18:30:00Z. */
  at(ms: number): void;
  /** A budget over the harness's store (unless `options.store`), with the injected clock. */
  newBudget(options?: Partial<TokenBudgetOptions>): TokenBudget;
}

let userSeq = 0;

/** Registers a `beforeEach` that resets the clock and picks a fresh user; budgets get their stores from `harness`. */
export function useBudgetFixture(harness: TokenBudgetHarness): BudgetFixture {
  const current = perTest(() => ({ t: Date.UTC(2026, 4, 20, 18, 30, 0), user: `user-${++userSeq}` }));
  return {
    get user() {
      return current().user;
    },
    at(ms) {
      current().t = ms;
    },
    newBudget(options = {}) {
      return new TokenBudget({ store: harness.store(), plans, now: () => current().t, ...options });
    },
  };
}

/** Registers the token budget's tests under `describe(name)`, against the store `makeHarness` builds. */
export function tokenBudgetSuite(name: string, makeHarness: () => TokenBudgetHarness): void {
  describe(name, () => {
    const harness = makeHarness();
    const f = useBudgetFixture(harness);
    const { newBudget } = f;

    it('reserves, then settles to the reported usage', async () => {
      const budget = newBudget();
      const r = await budget.reserve(f.user, 'free', 300);
      expect(r).toMatchObject({
        userId: f.user,
        plan: 'free',
        window: '2026-05-20',
        estimatedTokens: 300,
        limit: 1_000,
        usedAfter: 300,
      });
      await budget.settle(r, 120);
      expect((await budget.usage(f.user, 'free')).used).toBe(120);
    });

    it('settles above the estimate without failing, even past the limit', async () => {
      const budget = newBudget();
      const r = await budget.reserve(f.user, 'free', 900);
      await budget.settle(r, 1_200);
      expect(await budget.usage(f.user, 'free')).toMatchObject({ used: 1_200, remaining: 0 });
      await expect(budget.reserve(f.user, 'free', 1)).rejects.toBeInstanceOf(TokenBudgetExceededError);
    });

    it('gives the whole estimate back on release', async () => {
      const budget = newBudget();
      const kept = await budget.reserve(f.user, 'free', 100);
      const released = await budget.reserve(f.user, 'free', 400);
      await budget.release(released);
      expect((await budget.usage(f.user)).used).toBe(100);
      await budget.settle(kept, 100);
      expect((await budget.usage(f.user)).used).toBe(100);
    });

    it('applies only the first settle or release of a reservation', async () => {
      const budget = newBudget();
      const r = await budget.reserve(f.user, 'free', 500);
      await budget.settle(r, 200);
      await budget.settle(r, 200);
      await budget.release(r);
      expect((await budget.usage(f.user)).used).toBe(200);
    });

    it('allows a reservation that exactly fills the budget and rejects the next token', async () => {
      const budget = newBudget();
      await budget.reserve(f.user, 'free', 600);
      await budget.reserve(f.user, 'free', 400);
      await expect(budget.reserve(f.user, 'free', 1)).rejects.toBeInstanceOf(TokenBudgetExceededError);
    });

    it('rejects with 429 and Retry-After counting to the end of the UTC day', async () => {
      const budget = newBudget();
      await budget.reserve(f.user, 'free', 950);
      const err = await rejection(budget.reserve(f.user, 'free', 100));
      expect(err.status).toBe(429);
      expect(err.code).toBe('TOKEN_BUDGET_EXCEEDED');
      expect(err.retryAfterSeconds).toBe(5.5 * 3600); // 18:30 → midnight
      expect(err.message).toMatch(/2026-05-21T00:00:00.000Z/);
      // The rejected reservation added nothing.
      expect((await budget.usage(f.user)).used).toBe(950);
    });

    it('rejects an estimate larger than the whole daily budget without Retry-After', async () => {
      const budget = newBudget();
      const err = await rejection(budget.reserve(f.user, 'free', 1_001));
      expect(err.retryAfterSeconds).toBeUndefined();
      expect((await budget.usage(f.user)).used).toBe(0);
    });

    it('never reserves more than the limit when reservations arrive in parallel', async () => {
      const budgets = Array.from({ length: 4 }, () => newBudget()); // four instances
      const attempts = Array.from({ length: 40 }, (_, i) => budgets[i % budgets.length].reserve(f.user, 'free', 70));
      const results = await Promise.allSettled(attempts);
      const granted = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r) => r.status === 'rejected');
      expect(granted).toHaveLength(Math.floor(1_000 / 70));
      expect(refused.every((r) => r.status === 'rejected' && r.reason instanceof TokenBudgetExceededError)).toBe(true);
      expect((await budgets[0].usage(f.user)).used).toBe(granted.length * 70);
    });

    it('starts a fresh budget when the UTC day rolls over', async () => {
      const budget = newBudget();
      await budget.reserve(f.user, 'free', 1_000);
      await expect(budget.reserve(f.user, 'free', 1)).rejects.toBeInstanceOf(TokenBudgetExceededError);

      f.at(Date.UTC(2026, 4, 20, 23, 59, 59, 999));
      const last = await rejection(budget.reserve(f.user, 'free', 1));
      expect(last.retryAfterSeconds).toBe(1);

      f.at(Date.UTC(2026, 4, 21, 0, 0, 0));
      const r = await budget.reserve(f.user, 'free', 1_000);
      expect(r.window).toBe('2026-05-21');
      expect(await budget.usage(f.user, 'free')).toMatchObject({
        window: '2026-05-21',
        used: 1_000,
        resetsAt: '2026-05-22T00:00:00.000Z',
      });
    });

    it('settles a reservation in the window it was made in, even after midnight', async () => {
      const budget = newBudget();
      f.at(Date.UTC(2026, 4, 20, 23, 59, 50));
      const r = await budget.reserve(f.user, 'free', 500);
      f.at(Date.UTC(2026, 4, 21, 0, 0, 10));
      await budget.settle(r, 800);
      expect((await budget.usage(f.user)).used).toBe(0);
      expect((await harness.counter(f.user, '2026-05-20'))?.used).toBe(800);
    });

    it('keeps separate budgets per f.user and uses each plan limit', async () => {
      const budget = newBudget();
      const other = `${f.user}-other`;
      await budget.reserve(f.user, 'free', 1_000);
      await expect(budget.reserve(other, 'pro', 50_000)).resolves.toMatchObject({ limit: 100_000 });
    });

    it('lets the store forget the counter two days after the window, or retentionDays', async () => {
      await newBudget().reserve(f.user, 'free', 10);
      expect(await harness.counter(f.user, '2026-05-20')).toEqual({
        used: 10,
        expiresAt: Date.UTC(2026, 4, 23) / 1000,
      });
      const kept = newBudget({ retentionDays: 7 });
      await kept.reserve(`${f.user}-b`, 'free', 10);
      expect((await harness.counter(`${f.user}-b`, '2026-05-20'))?.expiresAt).toBe(Date.UTC(2026, 4, 28) / 1000);
    });

    it('costs one write to reserve, one to settle, none to settle an exact estimate, and no reads', async () => {
      const budget = newBudget();
      const a = await budget.reserve(f.user, 'free', 100);
      await budget.settle(a, 90);
      const b = await budget.reserve(f.user, 'free', 100);
      await budget.settle(b, 100);
      expect(harness.requests).toMatchObject({ reads: 0, writes: 3 });
    });

    it('lets an error from the store through when reserving, rather than calling the model unbudgeted', async () => {
      const unreachable = harness.unreachable();
      try {
        const budget = newBudget({ store: unreachable.store });
        await expect(budget.reserve(f.user, 'free', 10)).rejects.toThrow('ECONNREFUSED');
      } finally {
        unreachable.close();
      }
    });

    it('rejects a plan the configuration does not define', async () => {
      await expect(newBudget().reserve(f.user, 'gold', 1)).rejects.toThrow('Unknown plan "gold"');
      await expect(newBudget().reserve(f.user, 'constructor', 1)).rejects.toThrow('Unknown plan');
    });

    it('never throws from settle when the table is unreachable', async () => {
      const unreachable = harness.unreachable();
      try {
        const warn = jest.fn();
        const budget = newBudget({ store: unreachable.store, logger: { warn } });
        const reservation = {
          userId: f.user,
          plan: 'free',
          window: '2026-05-20',
          estimatedTokens: 10,
          limit: 1_000,
          usedAfter: 10,
          limits: { tokens: { limit: 1_000, remaining: 990, resetsInSeconds: 3600 } },
        };
        await expect(budget.settle(reservation, 50)).resolves.toBeUndefined();
        expect(warn).toHaveBeenCalledWith('token budget settle not recorded', expect.objectContaining({ delta: 40 }));
      } finally {
        unreachable.close();
      }
    });

    describe('with a concurrent slot (plans.<plan>.maxConcurrentRequests)', () => {
      /** A lease until `ms` after the fixture's clock (each test starts at 18:30). */
      const until = (ms: number, holder = 'req') => ({ holder, expiresAt: Date.UTC(2026, 4, 20, 18, 30, 0) + ms });
      const concurrencyRefusal = async (p: Promise<unknown>) => {
        const err = await p.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ConcurrencyLimitExceededError);
        return err as ConcurrencyLimitExceededError;
      };

      it('admits exactly maxConcurrentRequests calls racing from 8 instances, holding no tokens for the others', async () => {
        const budgets = Array.from({ length: 8 }, () => newBudget());
        const results = await Promise.allSettled(
          Array.from({ length: 24 }, (_, i) => budgets[i % 8].reserve(f.user, 'pro', 10, until(60_000, `r${i}`))),
        );
        const granted = results.filter((r) => r.status === 'fulfilled');
        expect(granted).toHaveLength(plans.pro.maxConcurrentRequests);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConcurrencyLimitExceededError);
        }
        expect((await budgets[0].usage(f.user)).used).toBe(plans.pro.maxConcurrentRequests * 10);
        expect(await harness.inFlight(f.user)).toBe(plans.pro.maxConcurrentRequests);
      });

      it('refuses past the limit with 429 CONCURRENCY_LIMIT_EXCEEDED, a short Retry-After and the limits', async () => {
        const budget = newBudget();
        await budget.reserve(f.user, 'free', 100, until(60_000, 'a'));
        await budget.reserve(f.user, 'free', 100, until(60_000, 'b'));
        const err = await concurrencyRefusal(budget.reserve(f.user, 'free', 100, until(60_000, 'c')));
        expect(err).toMatchObject({ status: 429, code: 'CONCURRENCY_LIMIT_EXCEEDED', retryable: true });
        expect(err.retryAfterSeconds).toBe(2);
        expect(err.message).toMatch(/2 model calls are already in flight/);
        expect(err.limits?.concurrency).toEqual({ limit: 2, remaining: 0, resetsInSeconds: 2 });
        expect((await budget.usage(f.user)).used).toBe(200);
      });

      it('frees the slot when the call settles or is released, in the same write', async () => {
        const budget = newBudget();
        const a = await budget.reserve(f.user, 'free', 100, until(60_000, 'a'));
        const b = await budget.reserve(f.user, 'free', 100, until(60_000, 'b'));
        await budget.settle(a, 40);
        const c = await budget.reserve(f.user, 'free', 100, until(60_000, 'c'));
        await budget.release(b);
        await budget.release(c);
        expect(await harness.inFlight(f.user)).toBe(0);
        expect((await budget.usage(f.user)).used).toBe(40);
      });

      it('reports the limits left after the reservation', async () => {
        const budget = newBudget();
        await budget.reserve(f.user, 'pro', 1_000, until(30_000, 'a'));
        const r = await budget.reserve(f.user, 'pro', 500, until(90_000, 'b'));
        expect(r.limits).toEqual({
          tokens: { limit: 100_000, remaining: 98_500, resetsInSeconds: 5.5 * 3600 },
          concurrency: { limit: 5, remaining: 3, resetsInSeconds: 90 },
        });
      });

      it('takes a slot whose holder never released it once its deadline has passed', async () => {
        const budget = newBudget();
        const crashed = await budget.reserve(f.user, 'free', 100, until(10_000, 'crashed'));
        await budget.reserve(f.user, 'free', 100, until(60_000, 'alive'));
        f.at(Date.UTC(2026, 4, 20, 18, 30, 9));
        const early = await concurrencyRefusal(budget.reserve(f.user, 'free', 100, until(60_000, 'early')));
        expect(early.retryAfterSeconds).toBe(1); // the crashed lease expires within the second
        f.at(Date.UTC(2026, 4, 20, 18, 30, 11));
        await budget.reserve(f.user, 'free', 100, until(60_000, 'next'));
        expect(await harness.inFlight(f.user)).toBe(2);
        // The crashed holder's late settle adds its tokens but frees no one else's slot.
        await budget.settle(crashed, 30);
        expect(await harness.inFlight(f.user)).toBe(2);
        await concurrencyRefusal(budget.reserve(f.user, 'free', 100, until(60_000, 'over')));
        expect((await budget.usage(f.user)).used).toBe(230);
      });

      it('names the budget when both limits refuse, as waiting for a slot would not help', async () => {
        const budget = newBudget();
        await budget.reserve(f.user, 'free', 500, until(60_000, 'a'));
        await budget.reserve(f.user, 'free', 500, until(60_000, 'b'));
        const err = await rejection(budget.reserve(f.user, 'free', 1, until(60_000, 'c')));
        expect(err.code).toBe('TOKEN_BUDGET_EXCEEDED');
      });

      it('keeps slots across UTC midnight while the budget starts again', async () => {
        const budget = newBudget();
        f.at(Date.UTC(2026, 4, 20, 23, 59, 50));
        const lease = { expiresAt: Date.UTC(2026, 4, 21, 0, 5) };
        const a = await budget.reserve(f.user, 'free', 600, { ...lease, holder: 'a' });
        await budget.reserve(f.user, 'free', 300, { ...lease, holder: 'b' });
        f.at(Date.UTC(2026, 4, 21, 0, 0, 10));
        await concurrencyRefusal(budget.reserve(f.user, 'free', 100, { ...lease, holder: 'c' }));
        await budget.settle(a, 700);
        const c = await budget.reserve(f.user, 'free', 1_000, { ...lease, holder: 'c' });
        expect(c.window).toBe('2026-05-21');
        expect((await harness.counter(f.user, '2026-05-20'))?.used).toBe(1_000);
      });

      it('takes no slot without a lease (reports) and leaves other users alone', async () => {
        const budget = newBudget();
        for (let i = 0; i < 4; i++) await budget.reserve(f.user, 'free', 10);
        await budget.reserve(f.user, 'free', 10, until(60_000, 'a'));
        await budget.reserve(f.user, 'free', 10, until(60_000, 'b'));
        await budget.reserve(`${f.user}-other`, 'free', 10, until(60_000, 'a'));
        expect(await harness.inFlight(f.user)).toBe(2);
      });

      it('costs one write to take a slot with the tokens and one to settle and free it, even for an exact estimate', async () => {
        const budget = newBudget();
        const a = await budget.reserve(f.user, 'free', 100, until(60_000));
        await budget.settle(a, 100);
        expect(harness.requests).toMatchObject({ reads: 0, writes: 2 });
      });
    });
  });
}
