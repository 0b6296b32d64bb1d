/**
 * The per-user token budget over its DynamoDB store, against dynalite (in-process, 127.0.0.1), with an injected
 * clock: the conditional ADD under parallel reservations, the item shape deployed instances share, and the cost in
 * requests. The budget's decisions are tested against an in-memory store in test/unit/token-budget.test.ts.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoTokenBudgetStore } from '../../lambda/aws/token-budget-store';
import { TokenBudgetExceededError } from '../../lambda/core/errors';
import { TokenBudget } from '../../lambda/core/token-budget';
import { documentClient, dynamoClient, useGuardTable } from '../helpers/dynalite';

const TABLE = 'guard-budget-integration';
const guard = useGuardTable(TABLE);
const plans = {
  free: { rateLimit: 2, burstLimit: 5, requestsPerDay: 1_000, tokensPerDay: 1_000 },
  pro: { rateLimit: 50, burstLimit: 100, requestsPerDay: 100_000, tokensPerDay: 100_000 },
};

let t: number;
let user: string;
let userSeq = 0;

function newBudget(): TokenBudget {
  return new TokenBudget({ store: new DynamoTokenBudgetStore({ tableName: TABLE, documentClient: guard.doc }), plans, now: () => t });
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
  guard.requests.reset();
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
    const yesterday = await guard.doc.send(new GetCommand({ TableName: TABLE, Key: { pk: DynamoTokenBudgetStore.key(user, '2026-05-20') } }));
    expect(yesterday.Item?.used).toBe(800);
  });

  it('keeps separate budgets per user and uses each plan limit', async () => {
    const budget = newBudget();
    const other = `${user}-other`;
    await budget.reserve(user, 'free', 1_000);
    await expect(budget.reserve(other, 'pro', 50_000)).resolves.toMatchObject({ limit: 100_000 });
  });

  it('stores the counter under budget#<user>#<day> with a TTL two days after the window', async () => {
    const budget = newBudget();
    await budget.reserve(user, 'free', 10);
    const item = await guard.doc.send(new GetCommand({ TableName: TABLE, Key: { pk: `budget#${user}#2026-05-20` } }));
    expect(item.Item).toMatchObject({ used: 10, userId: user, window: '2026-05-20', expiresAt: Date.UTC(2026, 4, 23) / 1000 });
  });

  it('costs one write to reserve, one to settle, none to settle an exact estimate, and no reads', async () => {
    const budget = newBudget();
    const a = await budget.reserve(user, 'free', 100);
    await budget.settle(a, 90);
    const b = await budget.reserve(user, 'free', 100);
    await budget.settle(b, 100);
    expect(guard.requests).toMatchObject({ reads: 0, writes: 3 });
  });

  it('rejects a plan the configuration does not define', async () => {
    await expect(newBudget().reserve(user, 'gold', 1)).rejects.toThrow('Unknown plan "gold"');
    await expect(newBudget().reserve(user, 'constructor', 1)).rejects.toThrow('Unknown plan');
  });

  it('never throws from settle when the table is unreachable', async () => {
    const unreachable = dynamoClient('http://127.0.0.1:1');
    const warn = jest.fn();
    const budget = new TokenBudget({
      store: new DynamoTokenBudgetStore({ tableName: TABLE, documentClient: documentClient(unreachable) }),
      plans,
      now: () => t,
      logger: { warn },
    });
    const reservation = { userId: user, plan: 'free', window: '2026-05-20', estimatedTokens: 10, limit: 1_000, usedAfter: 10 };
    await expect(budget.settle(reservation, 50)).resolves.toBeUndefined();
    expect(warn).toHaveBeenCalledWith('token budget settle not recorded', expect.objectContaining({ delta: 40 }));
    unreachable.destroy();
  });
});
