/**
 * Streaming and synchronous chat over real HTTP against the local cloud, with a client written from the contract.
 */
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { eventually, postJson, streamChat, streamWithFetchEventSource } from '../helpers/sse';

const PRO = 'alice-pro-key-0000000000000000';
const FREE = 'carol-free-key-000000000000000';
const OTHER = 'dave-pro-key-00000000000000000';

let cloud: LocalCloud;
let primary: string;
let fallback: string;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `alice:pro:${PRO},carol:free:${FREE},dave:pro:${OTHER}`,
    // These tests fail models on purpose; the breaker stays out of the way here (resilience.test.ts covers it).
    config: { chat: { keepAliveMs: 200 }, breaker: { minimumCalls: 100_000 } },
  });
  [primary, fallback] = [cloud.config.models.primary, cloud.config.models.fallbacks[0]];
});

afterAll(async () => {
  await cloud?.stop();
});

afterEach(async () => {
  await postJson(`${cloud.url}/_local/model`, { mode: 'normal' });
});

const setModel = async (settings: Record<string, unknown>) => {
  const res = await postJson(`${cloud.url}/_local/model`, settings);
  expect(res.status).toBe(200);
};

describe('POST /chat/stream', () => {
  it('streams start, one delta per token, then end, each with an increasing id', async () => {
    const res = await streamChat(cloud.url, { apiKey: PRO, body: { message: 'Explain circuit breakers' } });

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const names = res.events.map((e) => e.event);
    expect(names[0]).toBe('start');
    expect(names[names.length - 1]).toBe('end');
    expect(names.slice(1, -1).every((n) => n === 'delta')).toBe(true);
    expect(names.length - 2).toBeGreaterThanOrEqual(20);
    expect(res.events.map((e) => Number(e.id))).toEqual(res.events.map((_, i) => i + 1));

    const [start, end] = [res.events[0].data, res.events[res.events.length - 1].data];
    expect(start).toEqual({ requestId: expect.any(String), model: primary });
    expect(end).toEqual({
      model: primary,
      stopReason: 'end_turn',
      usage: { inputTokens: expect.any(Number), outputTokens: names.length - 2 },
      metrics: { ttftMs: expect.any(Number), latencyMs: expect.any(Number) },
      costUsd: expect.any(Number),
    });
    expect(end.metrics.latencyMs).toBeGreaterThanOrEqual(end.metrics.ttftMs);
    expect(res.events.slice(1, -1).every((e) => typeof e.data.text === 'string' && e.data.text.length > 0)).toBe(true);
  });

  it('sends start before the model has produced its first token', async () => {
    await setModel({ mode: 'normal', ttftMs: 800 });
    let tokensWhenStarted: number | undefined;
    const before = cloud.simulator.stats.tokensSent;
    const res = await streamChat(cloud.url, {
      apiKey: PRO,
      body: { message: 'hello' },
      onEvent: (e) => {
        if (e.event === 'start') tokensWhenStarted = cloud.simulator.stats.tokensSent - before;
        return false;
      },
    });
    expect(res.events[0].event).toBe('start');
    expect(tokensWhenStarted).toBe(0);
    expect(res.events[res.events.length - 1].event).toBe('end');
  });

  it('writes keep-alive comments while waiting for the first token', async () => {
    await setModel({ mode: 'slow', ttftMs: 900, tokensPerSecond: 200 });
    const res = await streamChat(cloud.url, { apiKey: PRO, body: { message: 'take your time' } });
    expect(res.comments).toContain('keep-alive');
    expect(res.events[res.events.length - 1].event).toBe('end');
  });

  it('keep-alive comments reach no message handler of @microsoft/fetch-event-source or eventsource-parser', async () => {
    await setModel({ mode: 'slow', ttftMs: 900, tokensPerSecond: 200 });
    const [viaFetchEventSource, viaParser] = await Promise.all([
      streamWithFetchEventSource(`${cloud.url}/chat/stream`, PRO, { message: 'take your time' }),
      streamChat(cloud.url, { apiKey: PRO, body: { message: 'take your time too' } }),
    ]);
    // The comments were sent (eventsource-parser reports them as comments) ...
    expect(viaParser.comments).toContain('keep-alive');
    expect(viaParser.events.map((e) => e.event)).not.toContain('message');
    // ... and fetch-event-source's onmessage saw only real events, each with JSON data.
    expect(viaFetchEventSource.map((m) => m.event)).toEqual([
      'start',
      ...Array(viaFetchEventSource.length - 2).fill('delta'),
      'end',
    ]);
    expect(viaFetchEventSource.every((m) => m.data !== '' && typeof JSON.parse(m.data) === 'object')).toBe(true);
  });

  it('honours maxTokens', async () => {
    const res = await streamChat(cloud.url, { apiKey: PRO, body: { message: 'short please', maxTokens: 3 } });
    const end = res.events[res.events.length - 1].data;
    expect(res.events.filter((e) => e.event === 'delta')).toHaveLength(3);
    expect(end.stopReason).toBe('max_tokens');
  });

  it('falls back to the next model inside the same stream when the primary fails before the first token', async () => {
    await setModel({ mode: 'error', ttftMs: 10, model: primary });
    const res = await streamChat(cloud.url, { apiKey: PRO, body: { message: 'fallback please' } });
    expect(res.status).toBe(200);
    expect(res.events[0].data.model).toBe(primary);
    const end = res.events[res.events.length - 1];
    expect(end.event).toBe('end');
    expect(end.data.model).toBe(fallback);
    expect(res.events.filter((e) => e.event === 'delta').length).toBeGreaterThanOrEqual(20);
  });

  it.each(['throttle', 'error'])('ends with a typed error event when every model fails (%s)', async (mode) => {
    await setModel({ mode, ttftMs: 10 });
    const res = await streamChat(cloud.url, { apiKey: PRO, body: { message: 'nobody home' } });
    expect(res.status).toBe(200);
    const last = res.events[res.events.length - 1];
    expect(last.event).toBe('error');
    // The stream had committed to 200, so the Retry-After a 503 would carry travels in the event.
    expect(last.data).toEqual({
      error: {
        code: 'MODEL_UNAVAILABLE',
        message: expect.any(String),
        retryable: true,
        retryAfterSeconds: expect.any(Number),
      },
    });
    expect(last.data.error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(last.data.error.message).not.toMatch(/Exception/);
    expect(res.events.some((e) => e.event === 'delta')).toBe(false);
  });

  it('reports a failure after content as an error event, never as a clean end', async () => {
    await setModel({ mode: 'midstream-error', ttftMs: 10 });
    const res = await streamChat(cloud.url, { apiKey: PRO, body: { message: 'fail midway' } });
    const names = res.events.map((e) => e.event);
    expect(names).toContain('delta');
    expect(names).not.toContain('end');
    expect(res.events[res.events.length - 1].data.error).toEqual({
      code: 'MODEL_STREAM_ERROR',
      message: 'The model failed while answering: the model stopped while generating',
      retryable: true,
    });
  });

  it('completes in slow mode', async () => {
    await setModel({ mode: 'slow', ttftMs: 300, tokensPerSecond: 400 });
    const res = await streamChat(cloud.url, { apiKey: PRO, body: { message: 'slowly' } });
    const end = res.events[res.events.length - 1];
    expect(end.event).toBe('end');
    expect(end.data.metrics.ttftMs).toBeGreaterThanOrEqual(300);
  });

  it('stops generating when the client goes away', async () => {
    await setModel({ mode: 'slow', ttftMs: 10, tokensPerSecond: 20 });
    const cancelledBefore = cloud.simulator.stats.cancelled;
    const res = await streamChat(cloud.url, {
      apiKey: PRO,
      body: { message: 'I will leave early' },
      onEvent: (e) => e.event === 'delta',
    });
    expect(res.events.map((e) => e.event)).toEqual(['start', 'delta']);
    await eventually(() =>
      cloud.simulator.stats.cancelled > cancelledBefore && cloud.simulator.stats.active === 0 ? true : undefined,
    );
  });

  it('rejects a missing or unknown API key with API Gateway’s 403', async () => {
    const calls = cloud.simulator.stats.calls;
    for (const apiKey of [undefined, 'not-a-real-key-0000000000000']) {
      const res = await streamChat(cloud.url, { apiKey, body: { message: 'hi' } });
      expect(res.status).toBe(403);
      expect(res.json).toEqual({ message: 'Forbidden' });
    }
    expect(cloud.simulator.stats.calls).toBe(calls);
  });
});

describe('POST /chat', () => {
  it('returns the whole answer, the same text the stream delivers', async () => {
    const body = { message: 'Compare the three patterns', system: 'Be brief' };
    const sync = await postJson(`${cloud.url}/chat`, body, PRO);
    const stream = await streamChat(cloud.url, { apiKey: PRO, body });

    expect(sync.status).toBe(200);
    expect(sync.json).toEqual({
      requestId: expect.any(String),
      model: primary,
      text: expect.any(String),
      stopReason: 'end_turn',
      usage: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) },
      costUsd: expect.any(Number),
      metrics: { ttftMs: expect.any(Number), latencyMs: expect.any(Number) },
    });
    const streamed = stream.events
      .filter((e) => e.event === 'delta')
      .map((e) => e.data.text)
      .join('');
    expect(sync.json.text).toBe(streamed);
  });

  it('falls back, then answers 503 with Retry-After when no model can serve', async () => {
    await setModel({ mode: 'throttle', ttftMs: 5, model: primary });
    const served = await postJson(`${cloud.url}/chat`, { message: 'hi' }, PRO);
    expect(served.status).toBe(200);
    expect(served.json.model).toBe(fallback);

    await setModel({ mode: 'error', ttftMs: 5 });
    const res = await postJson(`${cloud.url}/chat`, { message: 'hi' }, PRO);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(res.json.error).toEqual({ code: 'MODEL_UNAVAILABLE', message: expect.any(String), retryable: true });
  });

  it('rejects a missing API key with 403', async () => {
    const res = await postJson(`${cloud.url}/chat`, { message: 'hi' });
    expect(res.status).toBe(403);
    expect(res.json).toEqual({ message: 'Forbidden' });
  });
});

describe('bad input gets a 400 naming the field and never reaches the model', () => {
  const cases: [string, unknown, RegExp][] = [
    ['malformed JSON', '{"message": "hi"', /^body: is not valid JSON/],
    ['a JSON array', '[]', /^body: must be a JSON object/],
    ['no body', '', /^body:/],
    ['message missing', { history: [] }, /^message: is required$/],
    ['message of the wrong type', { message: 42 }, /^message: must be a string$/],
    ['an empty message', { message: '' }, /^message: must not be empty/],
    ['an oversized message', { message: 'x'.repeat(32_001) }, /^message: must be at most 32000 characters/],
    ['an unknown field', { message: 'hi', user: 'mallory' }, /^user: is not a known field$/],
    ['history that is not a list', { message: 'hi', history: 'nope' }, /^history: must be a list$/],
    [
      'a history turn with a bad role',
      { message: 'hi', history: [{ role: 'system', content: 'x' }] },
      /^history\.0\.role: must be one of "user", "assistant"$/,
    ],
    [
      'history turns out of order',
      {
        message: 'hi',
        history: [
          { role: 'assistant', content: 'x' },
          { role: 'user', content: 'y' },
        ],
      },
      /^history\.0\.role:/,
    ],
    [
      'history ending with a user turn',
      { message: 'hi', history: [{ role: 'user', content: 'x' }] },
      /^history: must end/,
    ],
    [
      'an empty history turn',
      {
        message: 'hi',
        history: [
          { role: 'user', content: '' },
          { role: 'assistant', content: 'a' },
        ],
      },
      /^history\.0\.content:/,
    ],
    ['maxTokens of zero', { message: 'hi', maxTokens: 0 }, /^maxTokens: must be at least 1$/],
    ['maxTokens above the limit', { message: 'hi', maxTokens: 9000 }, /^maxTokens: must be at most 8192$/],
    // One cap, the configured one, however large the number.
    ['maxTokens far above any limit', { message: 'hi', maxTokens: 1e20 }, /^maxTokens: must be at most 8192$/],
    ['maxTokens as a string', { message: 'hi', maxTokens: '50' }, /^maxTokens: must be a number$/],
    ['a fractional maxTokens', { message: 'hi', maxTokens: 1.5 }, /^maxTokens: must be an integer$/],
    ['an empty system prompt', { message: 'hi', system: '' }, /^system: must not be empty$/],
  ];

  it.each(cases)('/chat/stream: %s', async (_name, body, message) => {
    const calls = cloud.simulator.stats.calls;
    const res = await streamChat(cloud.url, { apiKey: OTHER, body });
    expect(res.status).toBe(400);
    expect(res.json.error).toEqual({
      code: 'VALIDATION_ERROR',
      message: expect.stringMatching(message),
      retryable: false,
    });
    expect(cloud.simulator.stats.calls).toBe(calls);
  });

  it('never shows the validation library’s own wording', async () => {
    for (const [, body] of cases) {
      const res = await postJson(`${cloud.url}/chat`, body, OTHER);
      expect(res.json.error.message).not.toMatch(
        /Invalid (input|option)|Too (big|small)|expected .* received|Unrecognized key/,
      );
    }
  });

  it.each(cases)('/chat: %s', async (_name, body, message) => {
    const calls = cloud.simulator.stats.calls;
    const res = await postJson(`${cloud.url}/chat`, body, OTHER);
    expect(res.status).toBe(400);
    expect(res.json.error).toEqual({
      code: 'VALIDATION_ERROR',
      message: expect.stringMatching(message),
      retryable: false,
    });
    expect(cloud.simulator.stats.calls).toBe(calls);
  });
});

describe('usage plans', () => {
  it('answers 429 with API Gateway’s body past the plan’s burst, and ours past its calls in flight', async () => {
    // free: burst 5, 2 requests/s, 2 calls in flight. Ten at once cannot all fit in the bucket, and of the five that
    // do, those that find two calls in flight are refused by the function.
    const results = await Promise.all(
      Array.from({ length: 10 }, () => postJson(`${cloud.url}/chat`, { message: 'burst' }, FREE)),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    const throttled = results.filter((r) => r.status === 429 && r.json.message === 'Too Many Requests');
    expect(throttled.length).toBeGreaterThanOrEqual(3);
    const answered = statuses.filter((s) => s === 200).length;
    const overConcurrency = results.filter((r) => r.json.error?.code === 'CONCURRENCY_LIMIT_EXCEEDED').length;
    expect(answered).toBeGreaterThanOrEqual(2);
    expect(answered + overConcurrency + throttled.length).toBe(10);
    expect(answered + overConcurrency).toBeLessThanOrEqual(5);
  });
});

describe('local controls and routing', () => {
  it('rejects invalid simulator settings with a 400 naming the field', async () => {
    const res = await postJson(`${cloud.url}/_local/model`, { mode: 'sideways' });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/mode/);
    const state = (await fetch(`${cloud.url}/_local/model`).then((r) => r.json())) as { default: { mode: string } };
    expect(state.default.mode).toBe('normal');
  });

  it('answers unknown routes like API Gateway', async () => {
    const res = await postJson(`${cloud.url}/nope`, {}, PRO);
    expect(res.status).toBe(403);
    expect(res.json).toEqual({ message: 'Missing Authentication Token' });
  });
});
