/**
 * The typed client (clients/typescript) against the local cloud over real HTTP: the stream as typed events, the
 * synchronous answer, models, Bearer keys, aborts that close the connection, the errors a caller can act on (bad key,
 * bad body, token budget, usage-plan throttle, open breaker, a model failing mid-stream), and feedback.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { CircuitBreaker } from '../../lambda/core/breaker';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { type ChatStreamEvent, GenAIClient, GenAIError, type GenAIClientOptions } from '../../clients/typescript/src';
import { cloudBreaker, ROOMY_PLAN, TINY_BUDGET_PLAN, TRICKLE_PLAN } from '../helpers/local-cloud';
import { eventually } from '../helpers/sse';

const KEY = 'alice-client-key-00000000000000';
const OTHER_KEY = 'bob-client-key-0000000000000000';
const TINY_KEY = 'tina-client-key-000000000000000';
const THROTTLED_KEY = 'theo-client-key-000000000000000';

let cloud: LocalCloud;
let db: DynamoDBClient;
let breaker: CircuitBreaker;
let models: string[];

beforeAll(async () => {
  cloud = await startLocalCloud({
    port: 0,
    quiet: true,
    apiKeys: `alice:pro:${KEY},bob:pro:${OTHER_KEY},tina:tiny:${TINY_KEY},theo:trickle:${THROTTLED_KEY}`,
    config: {
      // Keep-alive comments show up within a short test; breaker reads are never cached, so a forced state shows at once.
      chat: { keepAliveMs: 100 },
      breaker: { cacheMs: 0 },
      plans: { pro: ROOMY_PLAN, tiny: TINY_BUDGET_PLAN, trickle: TRICKLE_PLAN },
    },
  });
  models = [cloud.config.models.primary, ...cloud.config.models.fallbacks];
  ({ breaker, db } = cloudBreaker(cloud));
});

afterAll(async () => {
  db?.destroy();
  await cloud?.stop();
});

afterEach(() => {
  cloud.simulator.configure({ mode: 'normal' });
});

/** What a request carried and what its answer's body was, byte for byte: the client is given this `fetch`. */
interface Recorded {
  requests: { url: string; method: string; headers: Headers }[];
  responses: Headers[];
  bodies: string[];
}

function recordingFetch(): { fetch: typeof fetch; recorded: Recorded } {
  const recorded: Recorded = { requests: [], responses: [], bodies: [] };
  const recordingFetch: typeof fetch = async (input, init) => {
    recorded.requests.push({ url: String(input), method: init?.method ?? 'GET', headers: new Headers(init?.headers) });
    const response = await fetch(input, init);
    recorded.responses.push(response.headers);
    if (!response.body) return response;
    const [forClient, forRecord] = response.body.tee();
    const index = recorded.bodies.push('') - 1;
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of forRecord as unknown as AsyncIterable<Uint8Array>) {
          recorded.bodies[index] += decoder.decode(chunk, { stream: true });
        }
      } catch {
        // the client went away; what arrived is recorded
      }
    })();
    return new Response(forClient, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
  return { fetch: recordingFetch, recorded };
}

const client = (options: Partial<GenAIClientOptions> = {}) =>
  new GenAIClient({ baseUrl: cloud.url, apiKey: KEY, ...options });

async function collect(stream: AsyncIterable<ChatStreamEvent>): Promise<ChatStreamEvent[]> {
  const events: ChatStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** The rejection of `promise`, which must reject. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('chatStream', () => {
  it('yields start, the deltas and end in order, each with its SSE id, and asks for an event stream', async () => {
    const { fetch, recorded } = recordingFetch();
    const events = await collect(client({ fetch }).chatStream({ message: 'Explain circuit breakers', maxTokens: 200 }));

    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => String(i + 1)));
    const [start, ...rest] = events;
    const end = rest.pop();
    expect(start).toEqual({ type: 'start', id: '1', requestId: expect.any(String), model: models[0] });
    expect(rest.length).toBeGreaterThanOrEqual(20);
    for (const delta of rest) expect(delta).toEqual({ type: 'delta', id: delta.id, text: expect.any(String) });
    expect(end).toEqual({
      type: 'end',
      id: String(events.length),
      model: models[0],
      stopReason: 'end_turn',
      usage: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) },
      metrics: { ttftMs: expect.any(Number), latencyMs: expect.any(Number) },
      costUsd: expect.any(Number),
    });
    if (end?.type !== 'end') throw new Error('no end event');
    expect(end.usage.outputTokens).toBeGreaterThan(0);
    expect(rest.map((e) => (e.type === 'delta' ? e.text : '')).join('')).not.toBe('');

    const [request] = recorded.requests;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe(`${cloud.url}/chat/stream`);
    expect(request?.headers.get('accept')).toBe('text/event-stream');
    expect(request?.headers.get('content-type')).toBe('application/json');
    expect(request?.headers.get('x-api-key')).toBe(KEY);
    // The id `feedback()` rates is the one the answer's x-request-id header names.
    expect(recorded.responses[0]?.get('x-request-id')).toBe(start?.type === 'start' ? start.requestId : 'no start');
  });

  it('never surfaces keep-alive comments as events', async () => {
    // The first token comes after several keep-alive intervals (chat.keepAliveMs is 100 here).
    cloud.simulator.configure({ mode: 'slow', ttftMs: 700, tokensPerSecond: 500 });
    const { fetch, recorded } = recordingFetch();
    const events = await collect(client({ fetch }).chatStream({ message: 'Take your time' }));

    await eventually(() => (recorded.bodies[0]?.includes('event: end') ? true : undefined));
    expect(recorded.bodies[0]).toContain(': keep-alive');
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(['start', 'delta', 'end']));
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => String(i + 1)));
  });

  it('yields a mid-stream error as the last event, after the text so far, without throwing', async () => {
    cloud.simulator.configure({ mode: 'midstream-error' });
    const events = await collect(client().chatStream({ message: 'This one breaks halfway' }));

    expect(events[0]?.type).toBe('start');
    expect(events.filter((e) => e.type === 'delta').length).toBeGreaterThan(0);
    expect(events.at(-1)).toEqual({
      type: 'error',
      id: String(events.length),
      error: { code: 'MODEL_STREAM_ERROR', message: expect.any(String), retryable: true },
    });
    expect(events.filter((e) => e.type === 'error' || e.type === 'end')).toHaveLength(1);
  });

  it('rejects with the AbortError as soon as the signal aborts mid-stream, and the model call is cancelled', async () => {
    // A token every 500 ms: the abort lands while the client waits for the next one.
    cloud.simulator.configure({ mode: 'slow', ttftMs: 50, tokensPerSecond: 2 });
    const cancelled = cloud.simulator.stats.cancelled;
    const controller = new AbortController();
    const seen: ChatStreamEvent[] = [];
    let abortedAt = 0;

    const err = await rejectionOf(
      (async () => {
        for await (const event of client().chatStream(
          { message: 'A long, slow answer' },
          { signal: controller.signal },
        )) {
          seen.push(event);
          if (event.type === 'delta' && abortedAt === 0) {
            setTimeout(() => {
              abortedAt = Date.now();
              controller.abort();
            }, 50);
          }
        }
      })(),
    );

    expect(Date.now() - abortedAt).toBeLessThan(300);
    expect(err).toBe(controller.signal.reason);
    expect((err as DOMException).name).toBe('AbortError');
    expect(seen.map((e) => e.type).slice(0, 2)).toEqual(['start', 'delta']);
    expect(seen.some((e) => e.type === 'end' || e.type === 'error')).toBe(false);
    // The gateway saw the client go, the handler stopped, and the simulator's stream was cut before its end.
    await eventually(() => (cloud.simulator.stats.cancelled > cancelled ? true : undefined), 5_000);
  });

  it('closes the connection when the caller stops iterating early, so the API stops generating', async () => {
    cloud.simulator.configure({ mode: 'slow', ttftMs: 50, tokensPerSecond: 5 });
    const cancelled = cloud.simulator.stats.cancelled;
    for await (const event of client().chatStream({ message: 'Only the first words, please' })) {
      if (event.type === 'delta') break;
    }
    await eventually(() => (cloud.simulator.stats.cancelled > cancelled ? true : undefined), 5_000);
  });

  it('rejects at once, without a request, when the signal is already aborted', async () => {
    const calls = cloud.simulator.stats.calls;
    const { fetch, recorded } = recordingFetch();
    const reason = new DOMException('The user left', 'AbortError');
    const err = await rejectionOf(
      collect(client({ fetch }).chatStream({ message: 'never sent' }, { signal: AbortSignal.abort(reason) })),
    );
    expect(err).toBe(reason);
    expect(recorded.requests).toHaveLength(0);
    expect(cloud.simulator.stats.calls).toBe(calls);
  });
});

describe('chat, models, Bearer keys', () => {
  it('chat() returns the whole answer with its request id, model, usage and metrics', async () => {
    const answer = await client().chat({ message: 'Hello', maxTokens: 100 });
    expect(answer).toEqual({
      requestId: expect.any(String),
      model: models[0],
      text: expect.stringMatching(/\S/),
      stopReason: 'end_turn',
      usage: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) },
      metrics: { ttftMs: expect.any(Number), latencyMs: expect.any(Number) },
      costUsd: expect.any(Number),
    });
    expect(answer.costUsd).toBeGreaterThan(0);
  });

  it('models() lists the configured models in OpenAI’s shape', async () => {
    const list = await client().models();
    expect(list.object).toBe('list');
    expect(list.data.map((m) => m.id)).toEqual(expect.arrayContaining(models));
    for (const model of list.data)
      expect(model).toEqual({
        id: expect.any(String),
        object: 'model',
        created: expect.any(Number),
        owned_by: expect.any(String),
      });
  });

  it('sends the key as Authorization: Bearer when asked, on every call', async () => {
    const { fetch, recorded } = recordingFetch();
    const bearer = client({ auth: 'bearer', fetch });
    const events = await collect(bearer.chatStream({ message: 'Hello over Bearer' }));
    expect(events.at(-1)?.type).toBe('end');
    expect((await bearer.chat({ message: 'Hello again' })).text).not.toBe('');
    expect((await bearer.models()).data.length).toBeGreaterThan(0);

    expect(recorded.requests).toHaveLength(3);
    for (const { headers } of recorded.requests) {
      expect(headers.get('authorization')).toBe(`Bearer ${KEY}`);
      expect(headers.has('x-api-key')).toBe(false);
    }
  });

  it('passes the caller’s extra headers along with the key', async () => {
    const { fetch, recorded } = recordingFetch();
    await client({ fetch, headers: { 'x-trace-id': 'trace-42' } }).chat({ message: 'Traced' });
    expect(recorded.requests[0]?.headers.get('x-trace-id')).toBe('trace-42');
    expect(recorded.requests[0]?.headers.get('x-api-key')).toBe(KEY);
  });
});

describe('typed errors', () => {
  it('a bad key is 403 FORBIDDEN before any event (either header), and 401 UNAUTHORIZED on the OpenAI route', async () => {
    for (const auth of ['x-api-key', 'bearer'] as const) {
      const stranger = client({ apiKey: 'not-a-registered-key-000000', auth });
      const seen: ChatStreamEvent[] = [];
      const err = await rejectionOf(
        (async () => {
          for await (const event of stranger.chatStream({ message: 'Hello' })) seen.push(event);
        })(),
      );
      expect(seen).toEqual([]);
      expect(err).toBeInstanceOf(GenAIError);
      expect(err).toMatchObject({ status: 403, code: 'FORBIDDEN', retryable: false, message: 'Forbidden' });
      expect((err as GenAIError).requestId).toMatch(/\S/);
      await expect(stranger.chat({ message: 'Hello' })).rejects.toMatchObject({ status: 403, code: 'FORBIDDEN' });
      await expect(stranger.models()).rejects.toMatchObject({ status: 401, code: 'UNAUTHORIZED', retryable: false });
    }
  });

  it('a bad body is 400 VALIDATION_ERROR naming the field, and calls no model', async () => {
    const calls = cloud.simulator.stats.calls;
    const err = await rejectionOf(collect(client().chatStream({ message: '' })));
    expect(err).toBeInstanceOf(GenAIError);
    expect(err).toMatchObject({ status: 400, code: 'VALIDATION_ERROR', retryable: false });
    expect((err as GenAIError).message).toMatch(/^message: /);
    expect((err as GenAIError).requestId).toMatch(/\S/);
    await expect(client().chat({ message: 'hi', maxTokens: 10 ** 9 })).rejects.toMatchObject({
      status: 400,
      code: 'VALIDATION_ERROR',
      message: expect.stringMatching(/^maxTokens: /),
    });
    await expect(client().reports.create({ prompt: '' })).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(cloud.simulator.stats.calls).toBe(calls);
  });

  it('a spent token budget is 429 TOKEN_BUDGET_EXCEEDED with retryAfterSeconds, before the stream starts', async () => {
    const tiny = client({ apiKey: TINY_KEY });
    let refused: GenAIError | undefined;
    for (let i = 0; i < 10 && !refused; i++) {
      try {
        await tiny.chat({ message: `a small question ${i}`, maxTokens: 30 });
      } catch (err) {
        refused = err as GenAIError;
      }
    }
    expect(refused).toBeInstanceOf(GenAIError);
    expect(refused).toMatchObject({ status: 429, code: 'TOKEN_BUDGET_EXCEEDED', retryable: true });

    const seen: ChatStreamEvent[] = [];
    const err = (await rejectionOf(
      (async () => {
        for await (const event of tiny.chatStream({ message: 'and a stream?', maxTokens: 30 })) seen.push(event);
      })(),
    )) as GenAIError;
    expect(seen).toEqual([]);
    expect(err).toMatchObject({ status: 429, code: 'TOKEN_BUDGET_EXCEEDED', retryable: true });
    expect(err.retryAfterSeconds).toBeGreaterThan(0);
    expect(err.retryAfterSeconds).toBeLessThanOrEqual(86_400);
  });

  it('a usage-plan throttle (API Gateway’s own 429) is THROTTLED and retryable', async () => {
    const trickle = client({ apiKey: THROTTLED_KEY });
    const results = await Promise.allSettled([trickle.models(), trickle.models(), trickle.models()]);
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(refused.length).toBeGreaterThan(0);
    for (const err of refused) {
      expect(err).toBeInstanceOf(GenAIError);
      expect(err).toMatchObject({ status: 429, code: 'THROTTLED', retryable: true, message: 'Too Many Requests' });
    }
  });

  it('an open breaker on every model is 503 MODEL_UNAVAILABLE with retryAfterSeconds, before the stream starts', async () => {
    const calls = cloud.simulator.stats.calls;
    try {
      for (const model of models) await breaker.forceOpen(model, 60);
      const seen: ChatStreamEvent[] = [];
      const err = (await rejectionOf(
        (async () => {
          for await (const event of client().chatStream({ message: 'Anyone there?' })) seen.push(event);
        })(),
      )) as GenAIError;
      expect(seen).toEqual([]);
      expect(err).toBeInstanceOf(GenAIError);
      expect(err).toMatchObject({ status: 503, code: 'MODEL_UNAVAILABLE', retryable: true });
      expect(err.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(err.retryAfterSeconds).toBeLessThanOrEqual(60);
      await expect(client().chat({ message: 'Anyone?' })).rejects.toMatchObject({
        status: 503,
        code: 'MODEL_UNAVAILABLE',
      });
      expect(cloud.simulator.stats.calls).toBe(calls);
    } finally {
      for (const model of models) await breaker.forceClose(model);
    }
    expect((await collect(client().chatStream({ message: 'Back?' }))).at(-1)?.type).toBe('end');
  });
});

describe('feedback', () => {
  it('rates the caller’s own answer (204), refuses another user’s as NOT_FOUND and a bad rating as VALIDATION_ERROR', async () => {
    const events = await collect(client().chatStream({ message: 'Rate me' }));
    const start = events[0];
    if (start?.type !== 'start') throw new Error('no start event');
    await expect(
      client().feedback({ requestId: start.requestId, rating: 'up', comment: 'Clear' }),
    ).resolves.toBeUndefined();
    const { requestId } = await client().chat({ message: 'Rate me too' });
    await expect(client().feedback({ requestId, rating: 'down' })).resolves.toBeUndefined();

    await expect(client({ apiKey: OTHER_KEY }).feedback({ requestId, rating: 'up' })).rejects.toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      retryable: false,
    });
    await expect(client().feedback({ requestId, rating: 'sideways' as unknown as 'up' })).rejects.toMatchObject({
      status: 400,
      code: 'VALIDATION_ERROR',
    });
  });
});
