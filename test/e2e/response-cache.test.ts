/**
 * The response cache end to end (`cache.enabled`, scope `user`), against the local cloud: a repeated request is served
 * from the cache without a model call or a charge to the budget, on every chat route and for reports; users never see
 * each other's entries; `Cache-Control` and sampling settings skip it; and when no model can answer, a stored answer is
 * served before a 503.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import OpenAI from 'openai';
import { ENV } from '../../config/runtime';
import { DynamoTokenBudgetStore } from '../../lambda/aws/token-budget-store';
import type { CircuitBreaker } from '../../lambda/core/breaker';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { documentClient } from '../helpers/dynalite';
import { cloudBreaker, ROOMY_PLAN } from '../helpers/local-cloud';
import { reportsApi, startReceiver, waitFor, waitForReport } from '../helpers/reports';
import { type SseResult, streamChat } from '../helpers/sse';

const ALICE = 'alice-cache-key-00000000000000';
const BOB = 'bob-cache-key-0000000000000000';

let cloud: LocalCloud;
let breaker: CircuitBreaker;
let db: DynamoDBClient;
let chain: string[];

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `alice:pro:${ALICE},bob:pro:${BOB}`,
    config: {
      cache: { enabled: true },
      chat: { ttftTimeoutMs: 2_000, retryBaseDelayMs: 10 },
      breaker: { cacheMs: 0 },
      plans: { pro: ROOMY_PLAN },
    },
  });
  chain = [cloud.config.models.primary, ...cloud.config.models.fallbacks];
  ({ breaker, db } = cloudBreaker(cloud));
});

afterAll(async () => {
  db?.destroy();
  await cloud?.stop();
});

/** Model calls the simulator has answered or failed so far. */
const modelCalls = () => cloud.simulator.stats.calls;

async function chat(
  body: Record<string, unknown>,
  key = ALICE,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(`${cloud.url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

const stream = (message: string, key = ALICE, headers: Record<string, string> = {}): Promise<SseResult> =>
  streamChat(cloud.url, { apiKey: key, body: { message }, headers });

const textOf = (result: SseResult) =>
  result.events
    .filter((e) => e.event === 'delta')
    .map((e) => e.data.text)
    .join('');
const endOf = (result: SseResult) => result.events.find((e) => e.event === 'end')?.data;

async function budgetUsed(userId: string): Promise<number> {
  const store = new DynamoTokenBudgetStore({
    tableName: cloud.env[ENV.guardTable],
    documentClient: documentClient(db),
  });
  return store.used({ userId, window: new Date().toISOString().slice(0, 10) });
}

const openai = (key = ALICE) => new OpenAI({ apiKey: key, baseURL: `${cloud.url}/v1`, maxRetries: 0 });

describe('response cache: repeated requests', () => {
  it('streams a repeated question from the cache: no model call, the same text in deltas, end.cached', async () => {
    const first = await stream('What is a circuit breaker?');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('miss');
    expect(endOf(first)).not.toHaveProperty('cached');

    const calls = modelCalls();
    const used = await budgetUsed('alice');
    const second = await stream('What is a circuit breaker?');
    expect(second.status).toBe(200);
    expect(second.headers.get('x-cache')).toBe('hit');
    expect(modelCalls()).toBe(calls);
    expect(await budgetUsed('alice')).toBe(used);

    const start = second.events[0];
    expect(start.event).toBe('start');
    expect(start.data.model).toBe(endOf(first).model);
    // Served like a model's answer: several deltas, then end with the stored model, stop reason and usage.
    expect(second.events.filter((e) => e.event === 'delta').length).toBeGreaterThan(3);
    expect(textOf(second)).toBe(textOf(first));
    expect(endOf(second)).toMatchObject({
      model: endOf(first).model,
      stopReason: 'end_turn',
      usage: endOf(first).usage,
      cached: true,
    });
  });

  it('answers a repeated /chat from the cache with "cached": true and charges the budget nothing', async () => {
    const first = await chat({ message: 'Name three AWS regions.' });
    expect(first.status).toBe(200);
    expect(first.json.cached).toBeUndefined();
    expect(first.headers.get('x-cache')).toBe('miss');

    const calls = modelCalls();
    const used = await budgetUsed('alice');
    for (let i = 0; i < 3; i++) {
      const again = await chat({ message: 'Name three AWS regions.' });
      expect(again.status).toBe(200);
      expect(again.headers.get('x-cache')).toBe('hit');
      expect(again.json).toMatchObject({ text: first.json.text, model: first.json.model, cached: true });
      expect(again.json.usage).toEqual(first.json.usage);
      // Each answer has its own request id (it can be rated), whatever answered it.
      expect(again.json.requestId).not.toBe(first.json.requestId);
    }
    expect(modelCalls()).toBe(calls);
    expect(await budgetUsed('alice')).toBe(used);
  });

  it('keeps entries per user in user scope: bob does not get the answer to alice’s request', async () => {
    await chat({ message: 'My private question' });
    const calls = modelCalls();
    const bob = await chat({ message: 'My private question' }, BOB);
    expect(bob.status).toBe(200);
    expect(bob.headers.get('x-cache')).toBe('miss');
    expect(bob.json.cached).toBeUndefined();
    expect(modelCalls()).toBe(calls + 1);
    // Alice's own repeat is still hers.
    expect((await chat({ message: 'My private question' })).headers.get('x-cache')).toBe('hit');
  });

  it('Cache-Control: no-cache calls the model but stores its answer for the next request', async () => {
    const calls = modelCalls();
    const fresh = await chat({ message: 'Fresh, please' }, ALICE, { 'cache-control': 'no-cache' });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('x-cache')).toBe('bypass');
    expect(modelCalls()).toBe(calls + 1);
    const again = await chat({ message: 'Fresh, please' }, ALICE, { 'cache-control': 'no-cache' });
    expect(again.headers.get('x-cache')).toBe('bypass');
    expect(modelCalls()).toBe(calls + 2);
    const cached = await chat({ message: 'Fresh, please' });
    expect(cached.headers.get('x-cache')).toBe('hit');
    expect(modelCalls()).toBe(calls + 2);
  });

  it('Cache-Control: no-store neither reads nor stores', async () => {
    await chat({ message: 'Do not keep this' }, ALICE, { 'Cache-Control': 'no-store' });
    const calls = modelCalls();
    const next = await chat({ message: 'Do not keep this' });
    expect(next.headers.get('x-cache')).toBe('miss');
    expect(modelCalls()).toBe(calls + 1);
  });

  it('skips the cache for sampling settings that vary the answer (temperature > 0)', async () => {
    const ask = () =>
      openai()
        .chat.completions.create({
          model: chain[0],
          temperature: 0.7,
          messages: [{ role: 'user', content: 'Write a haiku' }],
        })
        .withResponse();
    const calls = modelCalls();
    const first = await ask();
    const second = await ask();
    expect(first.response.headers.get('x-cache')).toBe('bypass');
    expect(second.response.headers.get('x-cache')).toBe('bypass');
    expect(modelCalls()).toBe(calls + 2);
  });

  it('gives the openai SDK the same answer from the cache, streamed and not', async () => {
    const client = openai();
    const params = { model: chain[0], messages: [{ role: 'user' as const, content: 'Explain SSE in one line' }] };
    const first = await client.chat.completions.create(params).withResponse();
    expect(first.response.headers.get('x-cache')).toBe('miss');
    const calls = modelCalls();

    const again = await client.chat.completions.create(params).withResponse();
    expect(again.response.headers.get('x-cache')).toBe('hit');
    expect(again.data.choices[0].message.content).toBe(first.data.choices[0].message.content);
    expect(again.data.choices[0].finish_reason).toBe('stop');
    expect(again.data.model).toBe(first.data.model);
    expect(again.data.usage?.prompt_tokens).toBe(first.data.usage?.prompt_tokens);

    const streamed = await client.chat.completions
      .create({ ...params, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    expect(streamed.response.headers.get('x-cache')).toBe('hit');
    let content = '';
    let chunks = 0;
    let finish: string | null = null;
    for await (const chunk of streamed.data) {
      const choice = chunk.choices[0];
      if (choice?.delta.content) {
        content += choice.delta.content;
        chunks++;
      }
      finish = choice?.finish_reason ?? finish;
    }
    expect(content).toBe(first.data.choices[0].message.content);
    expect(chunks).toBeGreaterThan(3);
    expect(finish).toBe('stop');
    expect(modelCalls()).toBe(calls);
  });

  it('shares one entry between the native and the OpenAI-compatible routes asking the same', async () => {
    const native = await chat({ message: 'Same question, two routes' });
    const calls = modelCalls();
    const viaOpenAI = await openai()
      .chat.completions.create({ model: chain[0], messages: [{ role: 'user', content: 'Same question, two routes' }] })
      .withResponse();
    expect(viaOpenAI.response.headers.get('x-cache')).toBe('hit');
    expect(viaOpenAI.data.choices[0].message.content).toBe(native.json.text);
    expect(modelCalls()).toBe(calls);
  });

  it('completes a repeated report from the cache, marked cached in its result and webhook, without a model call', async () => {
    const api = reportsApi(cloud.url, ALICE);
    const first = await api.submit({ prompt: 'Summarise the cache design' });
    const done = (await waitForReport(api, first.body.reportId)).report;
    expect(done.status).toBe('COMPLETED');
    expect(done.result).not.toHaveProperty('cached');

    const calls = modelCalls();
    const hooks = await startReceiver('/hook');
    try {
      const second = await api.submit({ prompt: 'Summarise the cache design', callbackUrl: hooks.url });
      const cached = (await waitForReport(api, second.body.reportId)).report;
      expect(cached.status).toBe('COMPLETED');
      // Served from the cache: charged nothing (costUsd 0), whatever the original call cost.
      expect(cached.result).toEqual({ ...done.result, cached: true, costUsd: 0 });
      expect(modelCalls()).toBe(calls);
      // The signed webhook carries the same result, the cached mark included.
      const hook = await waitFor(() => hooks.received.find((w) => w.json.reportId === second.body.reportId), {
        what: "the cached report's webhook",
      });
      expect(hook.json.result).toEqual(cached.result);
    } finally {
      await hooks.close();
    }
  });
});

describe('response cache as the fallback when no model can answer', () => {
  const setModel = (settings: Record<string, unknown>) =>
    fetch(`${cloud.url}/_local/model`, { method: 'POST', body: JSON.stringify(settings) });

  afterAll(async () => {
    await setModel({ mode: 'normal' });
    for (const model of chain) await breaker.forceClose(model);
  });

  it('serves a stored answer in the same stream when every model fails before content', async () => {
    const stored = await stream('Which table holds the breaker?');
    expect(stored.status).toBe(200);
    await setModel({ mode: 'error', ttftMs: 5 });
    const calls = modelCalls();
    // no-cache: the normal read is skipped, so the models are tried, fail, and the cache answers instead.
    const fallback = await stream('Which table holds the breaker?', ALICE, { 'cache-control': 'no-cache' });
    expect(fallback.status).toBe(200);
    expect(modelCalls()).toBeGreaterThan(calls);
    expect(fallback.events[0]).toMatchObject({ event: 'start', data: { model: chain[0] } });
    expect(textOf(fallback)).toBe(textOf(stored));
    expect(endOf(fallback)).toMatchObject({ model: endOf(stored).model, cached: true });
    await setModel({ mode: 'normal' });
  });

  it('with every breaker open, serves stored answers, even bypassed ones, and still 503s the rest', async () => {
    const stored = await chat({ message: 'What does the worker do?' });
    const sampled = { model: chain[0], temperature: 0.9, messages: [{ role: 'user' as const, content: 'A poem' }] };
    const sampledAnswer = await openai().chat.completions.create(sampled);
    for (const model of chain) await breaker.forceOpen(model);
    const calls = modelCalls();

    const served = await chat({ message: 'What does the worker do?' }, ALICE, { 'cache-control': 'no-cache' });
    expect(served.status).toBe(200);
    expect(served.headers.get('x-cache')).toBe('hit');
    expect(served.json).toMatchObject({ text: stored.json.text, model: stored.json.model, cached: true });

    const streamed = await stream('What does the worker do?', ALICE, { 'cache-control': 'no-cache' });
    expect(streamed.status).toBe(200);
    expect(endOf(streamed)).toMatchObject({ model: stored.json.model, cached: true });

    // A sampled request is never served from the cache while a model can answer, but its stored answer beats a 503.
    const poem = await openai().chat.completions.create(sampled).withResponse();
    expect(poem.data.choices[0].message.content).toBe(sampledAnswer.choices[0].message.content);
    expect(poem.response.headers.get('x-cache')).toBe('hit');

    const uncached = await chat({ message: 'Never asked before' });
    expect(uncached.status).toBe(503);
    expect(uncached.json.error.code).toBe('MODEL_UNAVAILABLE');
    const noStore = await chat({ message: 'What does the worker do?' }, ALICE, { 'cache-control': 'no-store' });
    expect(noStore.status).toBe(503);
    // Another user has no entry of alice's to fall back on.
    expect((await chat({ message: 'What does the worker do?' }, BOB)).status).toBe(503);
    expect(modelCalls()).toBe(calls);
  });
});
