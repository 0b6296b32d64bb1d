/**
 * The per-user token budget and concurrency limit against an in-memory store that keeps the port's contract (each
 * call atomic, reservations refused past the limit, slots refused past `max` unexpired leases), with an injected clock:
 * the UTC day window, then the shared behaviour suite (test/suites/token-budget.suite.ts, which
 * test/integration/token-budget-store.test.ts runs against DynamoDB).
 */
import {
  budgetWindow,
  type BudgetCounter,
  type ReserveOutcome,
  type ReserveRequest,
  type TokenBudgetStore,
} from '../../lambda/core/token-budget';
import { perTest } from '../suites/breaker.suite';
import { tokenBudgetSuite, type TokenBudgetHarness } from '../suites/token-budget.suite';

/** One user's record: day counters and leases (id → expiry, epoch ms). */
interface MemoryRecord {
  used: Map<string, number>;
  leases: Map<string, number>;
  expiresAt?: number;
}

/** The port's contract in memory; counts calls as the DynamoDB requests they cost. */
class MemoryTokenBudgetStore implements TokenBudgetStore {
  readonly records = new Map<string, MemoryRecord>();
  readonly requests = { reads: 0, writes: 0 };
  private leaseSeq = 0;

  async reserve({ counter, tokens, limit, expiresAt, staleWindows, lease }: ReserveRequest): Promise<ReserveOutcome> {
    this.requests.writes++;
    const record = this.record(counter.userId);
    const used = record.used.get(counter.window) ?? 0;
    if (used + tokens > limit) return { ok: false, refused: 'budget', used };
    if (lease && record.leases.size >= lease.max) {
      const expired = [...record.leases].filter(([, expiry]) => expiry <= lease.now);
      if (record.leases.size - expired.length >= lease.max) {
        return {
          ok: false,
          refused: 'concurrency',
          inFlight: record.leases.size,
          earliestExpiry: Math.min(...record.leases.values()),
        };
      }
      // As the DynamoDB store: a second write evicts the expired leases.
      this.requests.writes++;
      for (const [id] of expired) record.leases.delete(id);
    }
    record.used.set(counter.window, used + tokens);
    for (const window of staleWindows) record.used.delete(window);
    record.expiresAt = expiresAt;
    if (!lease) return { ok: true, used: used + tokens };
    const id = `${lease.holder}#${++this.leaseSeq}`;
    record.leases.set(id, lease.expiresAt);
    return {
      ok: true,
      used: used + tokens,
      lease: { id, inFlight: record.leases.size, latestExpiry: Math.max(...record.leases.values()) },
    };
  }

  async adjust(counter: BudgetCounter, delta: number, leaseId?: string): Promise<void> {
    const record = this.record(counter.userId);
    if (leaseId !== undefined) {
      this.requests.writes++;
      if (record.leases.delete(leaseId)) {
        record.used.set(counter.window, (record.used.get(counter.window) ?? 0) + delta);
        return;
      }
    }
    if (delta === 0) return;
    this.requests.writes++;
    record.used.set(counter.window, (record.used.get(counter.window) ?? 0) + delta);
  }

  async used(counter: BudgetCounter): Promise<number> {
    this.requests.reads++;
    return this.records.get(counter.userId)?.used.get(counter.window) ?? 0;
  }

  private record(userId: string): MemoryRecord {
    let record = this.records.get(userId);
    if (!record) {
      record = { used: new Map(), leases: new Map() };
      this.records.set(userId, record);
    }
    return record;
  }
}

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
    async counter(userId, window) {
      const record = store().records.get(userId);
      const used = record?.used.get(window);
      return used === undefined ? undefined : { used, expiresAt: record?.expiresAt };
    },
    inFlight: async (userId) => store().records.get(userId)?.leases.size ?? 0,
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
