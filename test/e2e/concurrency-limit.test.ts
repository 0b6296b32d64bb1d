/**
 * The per-user concurrency limit (`plans.<plan>.maxConcurrentRequests`) end to end through the local cloud: the
 * rate-limit headers of every model route on success, the `429 CONCURRENCY_LIMIT_EXCEEDED` of `/chat/stream`, `/chat`
 * and `/chat/completions` (the latter as the `openai` SDK sees it) before any model call or budget, and a slot given
 * back as soon as a call ends, its client disconnects, or it is cancelled.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createParser } from 'eventsource-parser';
import OpenAI from 'openai';
import { ENV } from '../../config/runtime';
import { DynamoTokenBudgetStore } from '../../lambda/aws/token-budget-store';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { documentClient, dynamoClient } from '../helpers/dynalite';
import { send } from '../helpers/http';
import { ROOMY_PLAN } from '../helpers/local-cloud';
import { eventually } from '../helpers/sse';

const ORIGIN = 'https://app.example';
const KEYS = {
  /** Two calls at once. */
  alice: 'alice-concurrency-key-000000000',
  /** One call at once. */
  solo: 'solo-concurrency-key-0000000000',
};
/** The simulator's answers (20 tokens or more) take 5 s or more at this pace: a stream stays in flight until the test ends it. */
const SLOW = { mode: 'normal', ttftMs: 20, tokensPerSecond: 4 } as const;
const HELD = { message: 'hold a slot', maxTokens: 400 };
/** A short answer, even at the slow pace. */
const SHORT = { message: 'hi', maxTokens: 3 };

let cloud: LocalCloud;
let db: DynamoDBClient;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `alice:duo:${KEYS.alice},solo:solo:${KEYS.solo}`,
    config: {
      plans: { duo: { ...ROOMY_PLAN, maxConcurrentRequests: 2 }, solo: { ...ROOMY_PLAN, maxConcurrentRequests: 1 } },
      api: { cors: { allowOrigins: [ORIGIN] } },
    },
  });
  db = dynamoClient(cloud.dynamoEndpoint);
});

afterAll(async () => {
  db?.destroy();
  await cloud?.stop();
});

beforeEach(() => cloud.simulator.configure({ mode: 'normal', ttftMs: 20, tokensPerSecond: 2000 }));

// A stream a test disconnected gives its slot back once its function has noticed: the next test starts after that.
afterEach(() =>
  eventually(async () => ((await inFlight('alice')) + (await inFlight('solo')) === 0 ? true : undefined)),
);

const post = (path: string, key: string, body: unknown) =>
  send(cloud.url, 'POST', path, { headers: { 'x-api-key': key, origin: ORIGIN }, body });
const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${cloud.url}/v1`, maxRetries: 0 });

/** A stream in flight: its status and headers, its events so far, and how to end it from the client's side. */
interface HeldStream {
  status: number;
  headers: Headers;
  events: { event: string; data: { requestId?: string; error?: { code: string } } }[];
  requestId: string;
  /** Resolves when the stream has ended, however it ended. */
  done: Promise<void>;
  disconnect(): void;
}

/** Opens a stream and waits until it has started (its `start` event): from then on it holds a slot. */
async function holdStream(key: string): Promise<HeldStream> {
  const controller = new AbortController();
  const res = await fetch(`${cloud.url}/chat/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify(HELD),
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  const events: HeldStream['events'] = [];
  let started: () => void = () => undefined;
  const start = new Promise<void>((resolve) => {
    started = resolve;
  });
  const parser = createParser({
    onEvent: (m) => {
      events.push({ event: m.event ?? 'message', data: JSON.parse(m.data) });
      if (m.event === 'start') started();
    },
  });
  const decoder = new TextDecoder();
  const done = (async () => {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
      }
    } catch {
      // the client disconnected
    }
  })();
  await start;
  return {
    status: res.status,
    headers: res.headers,
    events,
    requestId: events[0].data.requestId ?? '',
    done,
    disconnect: () => controller.abort(),
  };
}

async function simulatorCalls(): Promise<number> {
  const body = (await fetch(`${cloud.url}/_local/model`).then((r) => r.json())) as { stats: { calls: number } };
  return body.stats.calls;
}

async function tokensUsed(userId: string): Promise<number> {
  const store = new DynamoTokenBudgetStore({
    tableName: cloud.env[ENV.guardTable],
    documentClient: documentClient(db),
  });
  return store.used({ userId, window: new Date().toISOString().slice(0, 10) });
}

/** The calls the user has in flight, as the guard table counts them. */
async function inFlight(userId: string): Promise<number> {
  const { Item } = await documentClient(db).send(
    new GetCommand({
      TableName: cloud.env[ENV.guardTable],
      Key: { pk: DynamoTokenBudgetStore.key(userId) },
      ConsistentRead: true,
    }),
  );
  return (Item?.inFlight as number | undefined) ?? 0;
}

const POLICY = '"concurrency";q=2;qu="concurrent-requests"';
/** OpenAI's duration format: `2s`, `1m30s`, `5h30m0s`. */
const OPENAI_DURATION = /^(\d+h)?(\d+m)?\d+s$/;

describe('rate-limit headers on success', () => {
  it('POST /chat reports the concurrency policy and the slot left with this call in flight, exposed to browsers', async () => {
    const res = await post('/chat', KEYS.alice, SHORT);
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-policy')).toBe(POLICY);
    expect(res.headers.get('ratelimit')).toBe('"concurrency";r=1');
    const exposed = res.headers.get('access-control-expose-headers')?.split(',') ?? [];
    expect(exposed).toEqual(
      expect.arrayContaining(['ratelimit', 'ratelimit-policy', 'x-ratelimit-remaining-requests', 'retry-after']),
    );
  });

  it('POST /chat/stream sends them in the prelude, before the first event', async () => {
    const stream = await holdStream(KEYS.alice);
    try {
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(stream.headers.get('ratelimit-policy')).toBe(POLICY);
      expect(stream.headers.get('ratelimit')).toBe('"concurrency";r=1');
    } finally {
      stream.disconnect();
      await stream.done;
    }
  });

  it("POST /chat/completions adds OpenAI's x-ratelimit-* headers, streamed or not", async () => {
    const { response } = await openai(KEYS.alice)
      .chat.completions.create({
        model: cloud.config.models.primary,
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 3,
      })
      .withResponse();
    const h = response.headers;
    expect(h.get('ratelimit')).toBe('"concurrency";r=1');
    expect(h.get('x-ratelimit-limit-requests')).toBe('2');
    expect(h.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(h.get('x-ratelimit-reset-requests')).toMatch(OPENAI_DURATION);
    expect(h.get('x-ratelimit-limit-tokens')).toBe(String(ROOMY_PLAN.tokensPerDay));
    expect(Number(h.get('x-ratelimit-remaining-tokens'))).toBeLessThan(ROOMY_PLAN.tokensPerDay);
    expect(h.get('x-ratelimit-reset-tokens')).toMatch(OPENAI_DURATION);

    const streamed = await openai(KEYS.alice)
      .chat.completions.create({
        model: cloud.config.models.primary,
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 3,
        stream: true,
      })
      .withResponse();
    expect(streamed.response.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    for await (const _ of streamed.data) {
      // read to the end
    }
  });
});

describe('past the limit', () => {
  it('refuses a third call of each route with 429 CONCURRENCY_LIMIT_EXCEEDED, calling no model and holding no budget', async () => {
    cloud.simulator.configure(SLOW);
    const held = [await holdStream(KEYS.alice), await holdStream(KEYS.alice)];
    try {
      const calls = await simulatorCalls();
      const used = await tokensUsed('alice');

      for (const path of ['/chat/stream', '/chat']) {
        const res = await post(path, KEYS.alice, SHORT);
        expect(res.status).toBe(429);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        expect(res.json()).toEqual({
          error: {
            code: 'CONCURRENCY_LIMIT_EXCEEDED',
            message: expect.stringMatching(/2 model calls/),
            retryable: true,
          },
        });
        expect(res.headers.get('retry-after')).toBe('2');
        expect(res.headers.get('ratelimit-policy')).toBe(POLICY);
        expect(res.headers.get('ratelimit')).toBe('"concurrency";r=0');
        expect(res.headers.get('x-request-id')).toBeTruthy();
        expect(res.headers.get('access-control-expose-headers')).toContain('ratelimit');
      }

      const err = await openai(KEYS.alice)
        .chat.completions.create({
          model: cloud.config.models.primary,
          messages: [{ role: 'user', content: 'hi' }],
          max_tokens: 3,
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      const limited = err as InstanceType<typeof OpenAI.RateLimitError>;
      expect(limited.status).toBe(429);
      expect(limited.error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded', param: null });
      expect(limited.headers.get('retry-after')).toBe('2');
      expect(limited.headers.get('x-ratelimit-limit-requests')).toBe('2');
      expect(limited.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(limited.headers.get('x-ratelimit-reset-requests')).toBe('2s');
      expect(limited.headers.get('x-ratelimit-limit-tokens')).toBe(String(ROOMY_PLAN.tokensPerDay));
      expect(limited.headers.get('ratelimit')).toBe('"concurrency";r=0');

      expect(await simulatorCalls()).toBe(calls);
      expect(await tokensUsed('alice')).toBe(used);
    } finally {
      for (const stream of held) stream.disconnect();
      await Promise.all(held.map((s) => s.done));
    }
  });
});

describe('slots given back', () => {
  it('right after a call ends, on every route, one call at a time', async () => {
    for (let i = 0; i < 2; i++) {
      expect((await post('/chat', KEYS.solo, SHORT)).status).toBe(200);
      const stream = await post('/chat/stream', KEYS.solo, SHORT);
      expect(stream.status).toBe(200);
      expect(stream.text).toContain('event: end');
      await openai(KEYS.solo).chat.completions.create({
        model: cloud.config.models.primary,
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 3,
      });
    }
  });

  it('once the client of a stream disconnects', async () => {
    cloud.simulator.configure(SLOW);
    const held = await holdStream(KEYS.solo);
    expect((await post('/chat', KEYS.solo, SHORT)).status).toBe(429);
    held.disconnect();
    await held.done;
    const next = await eventually(async () => {
      const res = await post('/chat', KEYS.solo, SHORT);
      return res.status === 429 ? undefined : res;
    });
    expect(next.status).toBe(200);
  });

  it('right after a cancelled stream ends', async () => {
    cloud.simulator.configure(SLOW);
    const held = await holdStream(KEYS.solo);
    try {
      expect((await post('/chat/stream', KEYS.solo, SHORT)).status).toBe(429);
      const cancel = await send(cloud.url, 'POST', `/chat/stream/${held.requestId}/cancel`, {
        headers: { 'x-api-key': KEYS.solo },
      });
      expect(cancel.status).toBe(202);
      await held.done;
      expect(held.events.at(-1)).toMatchObject({ event: 'error', data: { error: { code: 'CANCELLED' } } });
      expect((await post('/chat/stream', KEYS.solo, SHORT)).status).toBe(200);
    } finally {
      held.disconnect();
    }
  });
});
