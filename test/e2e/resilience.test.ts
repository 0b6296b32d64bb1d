/**
 * The guards end to end, against the local cloud: the shared breaker opening, failing fast, probing and closing; the
 * TTFT timeout moving to the fallback; the token budget answering 429. No request gets a 500.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { CircuitBreaker } from '../../lambda/core/breaker';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { cloudBreaker, ROOMY_PLAN, TINY_BUDGET_PLAN } from '../helpers/local-cloud';
import { eventually, postJson, streamChat } from '../helpers/sse';

const KEY = 'erin-pro-key-00000000000000000';
const TINY = 'tina-tiny-key-0000000000000000';

let cloud: LocalCloud;
let breaker: CircuitBreaker;
let db: DynamoDBClient;
let primary: string;
let fallback: string;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `erin:pro:${KEY},tina:tiny:${TINY}`,
    config: {
      chat: { ttftTimeoutMs: 600, syncTimeoutSeconds: 5 },
      breaker: {
        minimumCalls: 4,
        windowSeconds: 30,
        openSeconds: 1,
        maxOpenSeconds: 2,
        probeLeaseSeconds: 5,
        cacheMs: 0,
      },
      plans: { pro: ROOMY_PLAN, tiny: TINY_BUDGET_PLAN },
    },
  });
  [primary, fallback] = [cloud.config.models.primary, cloud.config.models.fallbacks[0]];
  ({ breaker, db } = cloudBreaker(cloud));
});

afterAll(async () => {
  db?.destroy();
  await cloud?.stop();
});

const setModel = (settings: Record<string, unknown>) => postJson(`${cloud.url}/_local/model`, settings);
const state = async (model: string) => (await breaker.status(model)).state;

describe('circuit breaker, end to end', () => {
  afterAll(async () => {
    await setModel({ mode: 'normal' });
    await breaker.forceClose(primary);
    await breaker.forceClose(fallback);
  });

  it('opens after the failure rate is reached, then fails fast without calling the failing models', async () => {
    await setModel({ mode: 'error', ttftMs: 20 });
    for (let i = 0; i < 4; i++) {
      const res = await postJson(`${cloud.url}/chat`, { message: `fail ${i}` }, KEY);
      expect(res.status).toBe(503);
    }
    expect(await state(primary)).toBe('OPEN');
    expect(await state(fallback)).toBe('OPEN');

    const calls = cloud.simulator.stats.calls;
    const sync = await postJson(`${cloud.url}/chat`, { message: 'still failing?' }, KEY);
    expect(sync.status).toBe(503);
    expect(sync.json.error.code).toBe('MODEL_UNAVAILABLE');
    expect(Number(sync.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    // The stream has not committed yet, so it gets a real status and a JSON body too.
    const stream = await streamChat(cloud.url, { apiKey: KEY, body: { message: 'stream?' } });
    expect(stream.status).toBe(503);
    expect(stream.json.error).toEqual({ code: 'MODEL_UNAVAILABLE', message: expect.any(String), retryable: true });
    expect(Number(stream.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    expect(cloud.simulator.stats.calls).toBe(calls);
  });

  it('lets one probe through after the wait and closes when the model has recovered', async () => {
    await setModel({ mode: 'normal' });
    const served = await eventually(
      async () => {
        const res = await postJson(`${cloud.url}/chat`, { message: 'are you back?' }, KEY);
        return res.status === 200 ? res : undefined;
      },
      10_000,
      200,
    );
    expect(served.json.model).toBe(primary);
    expect(await state(primary)).toBe('CLOSED');
    const next = await streamChat(cloud.url, { apiKey: KEY, body: { message: 'and now?' } });
    expect(next.events[next.events.length - 1].data.model).toBe(primary);
  });
});

describe('deadlines', () => {
  afterAll(() => setModel({ mode: 'normal' }));

  it('abandons a model whose first token is later than the TTFT timeout and serves from the fallback', async () => {
    await setModel({ mode: 'slow', ttftMs: 3_000, model: primary });
    const active = cloud.simulator.stats.active;
    const res = await streamChat(cloud.url, { apiKey: KEY, body: { message: 'too slow' } });
    const end = res.events[res.events.length - 1];
    expect(end.event).toBe('end');
    expect(end.data.model).toBe(fallback);
    // The abandoned call was cancelled, not left running.
    await eventually(() => (cloud.simulator.stats.active <= active ? true : undefined));
  });
});

describe('synchronous calls', () => {
  afterEach(() => setModel({ mode: 'normal' }));

  it('waits for a whole answer that takes longer than the first-token timeout, and slow answers never open the breaker', async () => {
    // ~1.1 s per answer, against a 600 ms first-token timeout: Converse has no first token before the answer is done.
    await setModel({ mode: 'slow', ttftMs: 100, tokensPerSecond: 20 });
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => postJson(`${cloud.url}/chat`, { message: `a long answer ${i}` }, KEY)),
    );
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(res.json.model).toBe(primary);
      expect(res.json.text.length).toBeGreaterThan(0);
    }
    expect(await state(primary)).toBe('CLOSED');
  });

  it('answers 504 DEADLINE_EXCEEDED when the answer outlasts the sync deadline, without counting it against the model', async () => {
    await setModel({ mode: 'slow', ttftMs: 8_000 });
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) => postJson(`${cloud.url}/chat`, { message: `too long for sync ${i}` }, KEY)),
    );
    // Before the gateway's own integration timeout (chat.syncTimeoutSeconds), so the client reads our error.
    expect(Date.now() - started).toBeLessThan(cloud.config.chat.syncTimeoutSeconds * 1000);
    for (const res of answers) {
      expect(res.status).toBe(504);
      expect(res.json.error).toEqual({ code: 'DEADLINE_EXCEEDED', message: expect.any(String), retryable: true });
    }
    // Five calls cut by our deadline (minimumCalls is 4): the shared breaker saw no failure, so other users keep the model.
    expect(await state(primary)).toBe('CLOSED');
    await setModel({ mode: 'normal' });
    const stream = await streamChat(cloud.url, { apiKey: KEY, body: { message: 'still there?' } });
    expect(stream.events[stream.events.length - 1].data.model).toBe(primary);
  });
});

describe('token budget', () => {
  it('answers 429 with Retry-After once the user’s daily tokens are spent, without calling the model', async () => {
    const first = await postJson(`${cloud.url}/chat`, { message: 'a small question', maxTokens: 30 }, TINY);
    expect(first.status).toBe(200);

    let refused: Awaited<ReturnType<typeof postJson>> | undefined;
    for (let i = 0; i < 10 && !refused; i++) {
      const res = await postJson(`${cloud.url}/chat`, { message: 'another small question', maxTokens: 30 }, TINY);
      if (res.status === 429) refused = res;
      else expect(res.status).toBe(200);
    }
    expect(refused).toBeDefined();
    expect(refused!.json.error).toEqual({
      code: 'TOKEN_BUDGET_EXCEEDED',
      message: expect.any(String),
      retryable: true,
    });
    const retryAfter = Number(refused!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);

    const calls = cloud.simulator.stats.calls;
    const stream = await streamChat(cloud.url, { apiKey: TINY, body: { message: 'stream?', maxTokens: 30 } });
    expect(stream.status).toBe(429);
    expect(stream.json.error.code).toBe('TOKEN_BUDGET_EXCEEDED');
    expect(cloud.simulator.stats.calls).toBe(calls);

    // Another user is unaffected, and budget rejections did not count against the breaker.
    const other = await postJson(`${cloud.url}/chat`, { message: 'hello' }, KEY);
    expect(other.status).toBe(200);
    expect(await state(primary)).toBe('CLOSED');
  });
});
