/**
 * The OpenAI-compatible routes through the official `openai` SDK against the local cloud: what a client written for
 * OpenAI sees, answers, chunks, usage and errors, through the same guards as /chat.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import OpenAI from 'openai';
import type { CircuitBreaker } from '../../lambda/core/breaker';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { cloudBreaker, ROOMY_PLAN, TINY_BUDGET_PLAN } from '../helpers/local-cloud';
import { postJson } from '../helpers/sse';

const PRO = 'olga-pro-key-00000000000000000';
const TINY = 'tim-tiny-key-00000000000000000';

let cloud: LocalCloud;
let db: DynamoDBClient;
let breaker: CircuitBreaker;
let primary: string;
let fallback: string;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `olga:pro:${PRO},tim:tiny:${TINY}`,
    config: {
      chat: { keepAliveMs: 200 },
      // These tests fail models on purpose; the breaker only opens when a test forces it.
      breaker: { minimumCalls: 100_000, cacheMs: 0 },
      models: { aliases: { fast: { model: 'us.anthropic.claude-3-5-haiku-20241022-v1:0' } } },
      plans: { pro: ROOMY_PLAN, tiny: TINY_BUDGET_PLAN },
    },
  });
  [primary, fallback] = [cloud.config.models.primary, cloud.config.models.fallbacks[0] as string];
  ({ breaker, db } = cloudBreaker(cloud));
});

afterAll(async () => {
  db?.destroy();
  await cloud?.stop();
});

afterEach(async () => {
  await postJson(`${cloud.url}/_local/model`, { mode: 'normal' });
});

/**
 * An SDK client as an OpenAI user writes one: the key as `apiKey` (sent as `Authorization: Bearer`), the local base URL;
 * no retries, so failures show at once.
 */
const client = (key = PRO) => new OpenAI({ apiKey: key, baseURL: `${cloud.url}/v1`, maxRetries: 0 });

const ask = (content: string) => [
  { role: 'system' as const, content: 'Answer briefly.' },
  { role: 'user' as const, content },
];

describe('POST /v1/chat/completions', () => {
  it('answers without streaming in the chat.completion shape, with usage', async () => {
    const completion = await client().chat.completions.create({
      model: primary,
      messages: ask('Explain circuit breakers'),
      max_completion_tokens: 200,
      temperature: 0.2,
    });

    expect(completion).toMatchObject({ object: 'chat.completion', model: primary });
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.created).toBeCloseTo(Date.now() / 1000, -2);
    expect(completion.choices).toHaveLength(1);
    const [choice] = completion.choices;
    expect(choice?.finish_reason).toBe('stop');
    expect(choice?.message.role).toBe('assistant');
    expect(choice?.message.content?.split(' ').length).toBeGreaterThanOrEqual(20);
    const usage = completion.usage;
    expect(usage?.completion_tokens).toBeGreaterThanOrEqual(20);
    expect(usage?.prompt_tokens).toBeGreaterThan(0);
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
  });

  it('streams chunks with one id, the text of the same answer, a finish_reason, then usage with no choices', async () => {
    const messages = ask('Explain fallbacks');
    const whole = await client().chat.completions.create({ model: primary, messages });
    const stream = await client().chat.completions.create({
      model: primary,
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === primary)).toBe(true);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0]?.message.content);
    expect(chunks.filter((c) => (c.choices[0]?.delta.content ?? '') !== '').length).toBeGreaterThanOrEqual(20);

    const last = chunks[chunks.length - 1];
    const finish = chunks[chunks.length - 2];
    expect(finish?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.slice(0, -2).every((c) => c.choices[0]?.finish_reason === null)).toBe(true);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({
      prompt_tokens: whole.usage?.prompt_tokens,
      completion_tokens: whole.usage?.completion_tokens,
      total_tokens: whole.usage?.total_tokens,
      prompt_tokens_details: { cached_tokens: 0 },
    });
    // Every other chunk says it carries no usage, as OpenAI documents for include_usage.
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('ends a stream with data: [DONE], and without include_usage sends no usage chunk', async () => {
    const res = await fetch(`${cloud.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': PRO },
      body: JSON.stringify({ model: primary, messages: ask('hello'), stream: true }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: '));
    expect(events[events.length - 1]).toBe('data: [DONE]');
    const objects = events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
    expect(objects.every((o) => o.choices.length === 1 && !('usage' in o))).toBe(true);
  });

  it('serves the same routes without the /v1 prefix', async () => {
    const res = await postJson(`${cloud.url}/chat/completions`, { model: primary, messages: ask('hi') }, PRO);
    expect(res.status).toBe(200);
    expect(res.json.object).toBe('chat.completion');
  });

  it('answers an alias with the model it names', async () => {
    const completion = await client().chat.completions.create({ model: 'fast', messages: ask('quick one') });
    expect(completion.model).toBe('us.anthropic.claude-3-5-haiku-20241022-v1:0');
  });

  it('answers a bad key with 401 invalid_api_key (the SDK AuthenticationError), without calling a model', async () => {
    const calls = cloud.simulator.stats.calls;
    for (const create of [
      () => client('not-a-key-000000000000000000').chat.completions.create({ model: primary, messages: ask('hi') }),
      () => client('not-a-key-000000000000000000').models.list(),
    ]) {
      const err = await create().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(err).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error' });
    }
    expect(cloud.simulator.stats.calls).toBe(calls);
  });

  it('answers an unknown model with 404 model_not_found (the SDK NotFoundError)', async () => {
    const err = await client()
      .chat.completions.create({ model: 'gpt-4o', messages: ask('hi') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err).toMatchObject({ status: 404, code: 'model_not_found', param: 'model', type: 'invalid_request_error' });
  });

  it('answers a user over their token budget with 429 (the SDK RateLimitError) before any model call', async () => {
    const calls = cloud.simulator.stats.calls;
    const err = await client(TINY)
      .chat.completions.create({ model: primary, messages: ask('hi'), max_tokens: 1000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers.get('x-should-retry')).toBe('false');
    expect(cloud.simulator.stats.calls).toBe(calls);
  });

  it('serves a request for the primary from the fallback while its breaker is open; every chunk names the fallback', async () => {
    await breaker.forceOpen(primary, 60);
    try {
      const stream = await client().chat.completions.create({ model: primary, messages: ask('hi'), stream: true });
      const models = new Set<string>();
      let text = '';
      for await (const chunk of stream) {
        models.add(chunk.model);
        text += chunk.choices[0]?.delta.content ?? '';
      }
      expect([...models]).toEqual([fallback]);
      expect(text.length).toBeGreaterThan(0);
    } finally {
      await breaker.forceClose(primary);
    }
  });

  it('names the fallback in every chunk when the primary fails before its first token', async () => {
    const res = await postJson(`${cloud.url}/_local/model`, { mode: 'error', ttftMs: 20, model: primary });
    expect(res.status).toBe(200);
    const stream = await client().chat.completions.create({ model: primary, messages: ask('hi'), stream: true });
    const models = new Set<string>();
    for await (const chunk of stream) models.add(chunk.model);
    expect([...models]).toEqual([fallback]);
  });

  it('makes the SDK throw when the model fails mid-stream, and never sends [DONE] after a failure', async () => {
    await postJson(`${cloud.url}/_local/model`, { mode: 'midstream-error' });
    const stream = await client().chat.completions.create({ model: primary, messages: ask('hi'), stream: true });
    let received = '';
    const err = await (async () => {
      for await (const chunk of stream) received += chunk.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(received.length).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toMatch(/model failed while answering/);

    const raw = await fetch(`${cloud.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': PRO },
      body: JSON.stringify({ model: primary, messages: ask('hi'), stream: true }),
    });
    const events = (await raw.text()).split('\n\n').filter((e) => e.startsWith('data: '));
    const last = JSON.parse((events[events.length - 1] as string).slice('data: '.length));
    expect(last).toEqual({
      error: { message: expect.any(String), type: 'server_error', param: null, code: 'model_error' },
    });
    expect(events).not.toContain('data: [DONE]');
  });

  it.each([
    [{ tools: [{ type: 'custom', custom: { name: 'f' } }] }, 'tools[0].type'],
    [{ n: 2 }, 'n'],
    [{ logprobs: true }, 'logprobs'],
    [{ audio: { voice: 'alloy', format: 'mp3' } }, 'audio'],
    [
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'what is this?' },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            ],
          },
        ],
      },
      'messages[0].content[1].image_url',
    ],
    [{ temperature: 'hot' }, 'temperature'],
    [{ messages: [] }, 'messages'],
    [{ stream_options: { include_usage: true } }, 'stream_options'],
  ])('refuses %j with 400 naming %s (the SDK BadRequestError)', async (extra, param) => {
    const calls = cloud.simulator.stats.calls;
    const err = await client()
      .chat.completions.create({ model: primary, messages: ask('hi'), ...extra } as never)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ status: 400, param, type: 'invalid_request_error' });
    expect(cloud.simulator.stats.calls).toBe(calls);
  });

  it('ignores fields it does not know, as OpenAI does', async () => {
    const res = await postJson(
      `${cloud.url}/v1/chat/completions`,
      { model: primary, messages: ask('hi'), seed: 7, presence_penalty: 0, metadata: { a: 'b' }, novel_field: true },
      PRO,
    );
    expect(res.status).toBe(200);
  });
});

describe('GET /v1/models', () => {
  it('lists the configured models and the aliases', async () => {
    const ids: string[] = [];
    for await (const model of client().models.list()) {
      expect(model.object).toBe('model');
      ids.push(model.id);
    }
    expect(ids).toEqual([primary, ...cloud.config.models.fallbacks, 'fast']);
  });
});
