/**
 * The per-model quota over its DynamoDB store, against dynalite (in-process, 127.0.0.1): the shared behaviour suite
 * (test/suites/quota.suite.ts, which test/unit/quota.test.ts runs against an in-memory store), then the quota held by
 * 8 instances at once (each a ModelQuota with an SDK client of its own on one table, as 8 Lambda execution
 * environments are), and the item shape deployed instances share.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { parseConfig } from '../../config/schema';
import { DynamoQuotaStore } from '../../lambda/aws/quota-store';
import { ChatService } from '../../lambda/core/chat';
import { ModelQuotaExceededError } from '../../lambda/core/errors';
import type { ModelInvoker, ModelStreamEvent } from '../../lambda/core/model';
import { ModelQuota, quotaSlot, type QuotaDecision } from '../../lambda/core/quota';
import { countRequests, documentClient, dynamoClient, useGuardTable, type RequestCounts } from '../helpers/dynalite';
import { quotaSuite } from '../suites/quota.suite';

const TABLE = 'guard-quota-integration';
const guard = useGuardTable(TABLE);
const INSTANCES = 8;

/** Clients made by the tests, each counting its own requests; destroyed after each test. */
let clients: { client: DynamoDBClient; requests: RequestCounts }[] = [];
afterEach(() => {
  for (const { client } of clients) client.destroy();
  clients = [];
});

/** A store over its own SDK client: another Lambda execution environment. */
function instanceStore(): DynamoQuotaStore {
  const client = dynamoClient(guard.endpoint);
  clients.push({ client, requests: countRequests(client) });
  return new DynamoQuotaStore({ tableName: TABLE, documentClient: documentClient(client) });
}

async function rawItem(modelId: string): Promise<Record<string, unknown> | undefined> {
  const out = await guard.doc.send(
    new GetCommand({ TableName: TABLE, Key: { pk: DynamoQuotaStore.key(modelId) }, ConsistentRead: true }),
  );
  return out.Item;
}

quotaSuite('ModelQuota over DynamoDB', () => ({
  store: instanceStore,
  get writes() {
    return clients.reduce((n, c) => n + c.requests.writes, 0);
  },
  async slotsHeld(modelId) {
    const item = (await rawItem(modelId)) ?? {};
    return Object.keys(item)
      .filter((name) => /^r\d+$/.test(name))
      .map((name) => Number(name.slice(1)));
  },
}));

describe('the quota across 8 instances on one table', () => {
  const fleet = (modelId: string, quota: { requestsPerMinute?: number; tokensPerMinute?: number }) =>
    Array.from({ length: INSTANCES }, () => new ModelQuota({ store: instanceStore(), quotas: { [modelId]: quota } }));

  /** Every instance takes `each` calls of `tokens` tokens at once; how many were admitted. */
  async function burst(quotas: ModelQuota[], modelId: string, each: number, tokens: number): Promise<QuotaDecision[]> {
    return Promise.all(quotas.flatMap((q) => Array.from({ length: each }, () => q.take(modelId, tokens))));
  }

  it('admits exactly requestsPerMinute of a burst above it, and the refusals leave the counter at the quota', async () => {
    const modelId = `burst-requests-${Date.now()}`;
    const decisions = await burst(fleet(modelId, { requestsPerMinute: 17 }), modelId, 5, 10);
    expect(decisions.filter((d) => d.allowed)).toHaveLength(17);
    expect(decisions.filter((d) => !d.allowed)).toHaveLength(40 - 17);
    for (const d of decisions) if (!d.allowed) expect(d.retryAfterMs).toBeGreaterThan(0);
    const item = (await rawItem(modelId)) ?? {};
    const requests = Object.entries(item)
      .filter(([name]) => /^r\d+$/.test(name))
      .reduce((n, [, v]) => n + (v as number), 0);
    expect(requests).toBe(17);
  });

  it('admits exactly as many calls as tokensPerMinute holds', async () => {
    const modelId = `burst-tokens-${Date.now()}`;
    const decisions = await burst(fleet(modelId, { tokensPerMinute: 1_000 }), modelId, 4, 100);
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
  });

  it('lets 8 chat services answer exactly the quota of a burst; the rest are refused before any model call', async () => {
    const modelId = `burst-chat-${Date.now()}`;
    const config = parseConfig({
      models: { primary: modelId, fallbacks: [], quotas: { [modelId]: { requestsPerMinute: 13 } }, quotaWaitMs: 0 },
    });
    let modelCalls = 0;
    const invoker: ModelInvoker = {
      async *stream(): AsyncIterable<ModelStreamEvent> {
        modelCalls++;
        yield { type: 'delta', text: 'ok' };
        yield { type: 'stop', stopReason: 'end_turn' };
        yield { type: 'usage', usage: { inputTokens: 3, outputTokens: 1 } };
      },
      complete: () => Promise.reject(new Error('not used')),
    };
    const services = Array.from(
      { length: INSTANCES },
      () =>
        new ChatService({
          config,
          invoker,
          quota: new ModelQuota({ store: instanceStore(), quotas: config.models.quotas }),
        }),
    );
    const writesBefore = clients.reduce((n, c) => n + c.requests.writes, 0);
    const request = { messages: [{ role: 'user' as const, content: 'hi' }], maxTokens: 5 };
    const outcomes = await Promise.all(
      services.flatMap((service, i) =>
        Array.from({ length: 4 }, async (_, j) => {
          const ctx = {
            caller: { userId: `u${i}`, plan: 'free' },
            requestId: `r${i}-${j}`,
            deadlineAt: Date.now() + 10_000,
          };
          try {
            const call = await service.begin(request, ctx);
            await call.stream(() => undefined);
            await call.flush();
            return 'answered';
          } catch (err) {
            if (err instanceof ModelQuotaExceededError) return 'refused';
            throw err;
          }
        }),
      ),
    );
    expect(outcomes.filter((o) => o === 'answered')).toHaveLength(13);
    expect(outcomes.filter((o) => o === 'refused')).toHaveLength(32 - 13);
    expect(modelCalls).toBe(13);
    // An answered call wrote once (no tokens-per-minute quota: nothing to settle); a refused one twice at most (its add
    // and its undo), or not at all once its instance remembered the refusal.
    const writes = clients.reduce((n, c) => n + c.requests.writes, 0) - writesBefore;
    expect(writes).toBeGreaterThanOrEqual(13);
    expect(writes).toBeLessThanOrEqual(13 + 2 * (32 - 13));
  });

  it('stores one item per model: requests and tokens per slot, and an expiry for TTL', async () => {
    const modelId = `shape-${Date.now()}`;
    const at = Date.UTC(2026, 4, 20, 18, 30, 7);
    const quota = new ModelQuota({
      store: instanceStore(),
      quotas: { [modelId]: { tokensPerMinute: 10_000 } },
      now: () => at,
    });
    await quota.take(modelId, 1234);
    const slot = quotaSlot(at);
    expect(await rawItem(modelId)).toEqual({
      pk: `quota#${modelId}`,
      [`r${slot}`]: 1,
      [`t${slot}`]: 1234,
      expiresAt: Math.ceil((at + 120_000) / 1000),
    });
  });
});
