/**
 * Per-model quotas (`models.quotas`) end to end through the local cloud: a model over its quota is skipped for the next
 * one in the chain, every model over gives `429 MODEL_QUOTA_EXCEEDED` with `Retry-After` on `/chat` and `/chat/stream`
 * (before the stream commits) and OpenAI's rate-limit error on `/chat/completions` (as the `openai` SDK sees it), the
 * model itself is never throttled, and the breaker never counts a quota refusal.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import OpenAI from 'openai';
import type { CircuitBreaker } from '../../lambda/core/breaker';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { send } from '../helpers/http';
import { cloudBreaker, ROOMY_PLAN } from '../helpers/local-cloud';

const KEY = 'quota-e2e-key-00000000000000000';
const PRIMARY = 'quota.primary-v1:0';
const FALLBACK = 'quota.fallback-v1:0';
/** An alias of its own, so the OpenAI test has a quota no other test spends. */
const OPENAI_MODEL = 'quota.openai-v1:0';
const QUOTA = 2;

let cloud: LocalCloud;
let db: DynamoDBClient;
let breaker: CircuitBreaker;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `quinn:roomy:${KEY}`,
    config: {
      plans: { roomy: { ...ROOMY_PLAN, maxConcurrentRequests: 50 } },
      models: {
        primary: PRIMARY,
        fallbacks: [FALLBACK],
        aliases: { 'quota-alias': { model: OPENAI_MODEL } },
        quotas: {
          [PRIMARY]: { requestsPerMinute: QUOTA },
          [FALLBACK]: { requestsPerMinute: QUOTA },
          [OPENAI_MODEL]: { requestsPerMinute: 1 },
        },
        quotaWaitMs: 0,
      },
      // A breaker that would open after two counted failures, were quota refusals counted.
      breaker: { minimumCalls: 2, failureRateThreshold: 0.5, cacheMs: 0 },
    },
  });
  // The model's own quota matches ours: any call past it would be throttled by the model.
  cloud.simulator.configure({ mode: 'normal', requestsPerMinute: QUOTA });
  ({ breaker, db } = cloudBreaker(cloud));
});

afterAll(async () => {
  db?.destroy();
  await cloud?.stop();
});

const post = (path: string, body: unknown) => send(cloud.url, 'POST', path, { headers: { 'x-api-key': KEY }, body });

it('sheds a model over its quota to the next one, then answers 429 MODEL_QUOTA_EXCEEDED before any model call', async () => {
  const served: string[] = [];
  for (let i = 0; i < 2 * QUOTA; i++) {
    const res = await post('/chat', { message: `question ${i}`, maxTokens: 5 });
    expect(res.status).toBe(200);
    served.push(res.json().model);
  }
  expect(served).toEqual([PRIMARY, PRIMARY, FALLBACK, FALLBACK]);

  const refused = await post('/chat', { message: 'one more', maxTokens: 5 });
  expect(refused.status).toBe(429);
  expect(refused.json()).toEqual({
    error: { code: 'MODEL_QUOTA_EXCEEDED', message: expect.stringContaining('quota'), retryable: true },
  });
  const retryAfter = Number(refused.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(65);
  expect(refused.headers.get('x-request-id')).toBeTruthy();

  // The stream is refused the same way, as plain JSON before it commits to 200.
  const stream = await post('/chat/stream', { message: 'a stream', maxTokens: 5 });
  expect(stream.status).toBe(429);
  expect(stream.headers.get('content-type')).toMatch(/^application\/json/);
  expect(stream.json().error.code).toBe('MODEL_QUOTA_EXCEEDED');
  expect(Number(stream.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

  const { stats } = (await (await fetch(`${cloud.url}/_local/model`)).json()) as {
    stats: { byModel: Record<string, number>; throttled: number };
  };
  expect(stats.byModel[PRIMARY]).toBe(QUOTA);
  expect(stats.byModel[FALLBACK]).toBe(QUOTA);
  expect(stats.throttled).toBe(0);

  // The refusals were our own limit: neither model's breaker counted them.
  for (const model of [PRIMARY, FALLBACK]) {
    const status = await breaker.status(model);
    expect(status.state).toBe('CLOSED');
    expect(status.window).toMatchObject({ calls: QUOTA, failures: 0 });
  }
});

it('answers the OpenAI SDK with its RateLimitError: 429, Retry-After, type requests, code rate_limit_exceeded', async () => {
  const client = new OpenAI({ apiKey: KEY, baseURL: `${cloud.url}/v1`, maxRetries: 0 });
  const ok = await client.chat.completions.create({
    model: 'quota-alias',
    messages: [{ role: 'user', content: 'hello' }],
    max_tokens: 5,
  });
  expect(ok.choices[0].message.content).toBeTruthy();

  const err = await client.chat.completions
    .create({ model: 'quota-alias', messages: [{ role: 'user', content: 'again' }], max_tokens: 5, stream: true })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(OpenAI.RateLimitError);
  const rateLimit = err as InstanceType<typeof OpenAI.RateLimitError>;
  expect(rateLimit.status).toBe(429);
  expect(rateLimit.code).toBe('rate_limit_exceeded');
  expect(rateLimit.type).toBe('requests');
  expect(Number(rateLimit.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(rateLimit.headers?.get('x-should-retry')).toBeNull();
});
