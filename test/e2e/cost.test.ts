/**
 * Cost end to end through the local cloud, on the default models (Claude Sonnet 4, then Claude 3.5 Haiku) with their
 * default prices and prompt caching: `costUsd` on `/chat`, the stream's `end` and a report's result, computed from the
 * usage the simulator reported; prompt-cache writes then reads flowing into usage, cost and OpenAI's
 * `prompt_tokens_details.cached_tokens`; and a spent dollar budget refused with `429 COST_BUDGET_EXCEEDED` and
 * `Retry-After` before any model call (OpenAI's `RateLimitError` through the `openai` SDK; a report fails with the code).
 */
import OpenAI from 'openai';
import { DEFAULT_PRICES } from '../../config/schema';
import { costMicroUsd, usdOfMicro } from '../../lambda/core/cost';
import type { TokenUsage } from '../../lambda/core/model';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { send } from '../helpers/http';
import { ROOMY_PLAN } from '../helpers/local-cloud';
import { reportsApi, waitForReport } from '../helpers/reports';
import { streamChat } from '../helpers/sse';

const SONNET = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const PAYER = 'cost-e2e-payer-key-000000000000000';
const BROKE = 'cost-e2e-broke-key-000000000000000';
/** $0.002 a day: one call of `maxTokens` 120 fits its estimate (120 × $15 per million, and its input), not a second. */
const TIGHT_USD_PER_DAY = 0.002;

let cloud: LocalCloud;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `payer:roomy:${PAYER},broke:tight:${BROKE}`,
    config: {
      plans: { roomy: ROOMY_PLAN, tight: { ...ROOMY_PLAN, usdPerDay: TIGHT_USD_PER_DAY } },
    },
  });
});

afterAll(async () => {
  await cloud?.stop();
});

const post = (key: string, path: string, body: unknown) =>
  send(cloud.url, 'POST', path, { headers: { 'x-api-key': key }, body });

/** What the answer should cost at Claude Sonnet 4's default prices. */
const sonnetCost = (usage: TokenUsage) => usdOfMicro(costMicroUsd(usage, DEFAULT_PRICES[SONNET]));

/** A system prompt of about 1,500 tokens: past Claude Sonnet 4's minimum of 1,024 per cache checkpoint. */
const longSystem = (topic: string) => `You answer questions about ${topic}. ${'Be precise and brief. '.repeat(280)}`;

it('reports costUsd on /chat, the stream end and a report result, from the usage the model reported', async () => {
  const chat = await post(PAYER, '/chat', { message: 'What does a circuit breaker do?', maxTokens: 50 });
  expect(chat.status).toBe(200);
  const body = chat.json();
  expect(body.model).toBe(SONNET);
  expect(body.costUsd).toBeGreaterThan(0);
  expect(body.costUsd).toBe(sonnetCost(body.usage));
  // Without cache points the usage carries no cache counts.
  expect(body.usage).not.toHaveProperty('cacheReadInputTokens');

  const stream = await streamChat(cloud.url, { apiKey: PAYER, body: { message: 'And a fallback?', maxTokens: 50 } });
  const end = stream.events.find((e) => e.event === 'end')?.data;
  expect(end.costUsd).toBe(sonnetCost(end.usage));

  const reports = reportsApi(cloud.url, PAYER);
  const submitted = await reports.submit({ prompt: 'Summarise the rules of a fair retry policy.' });
  expect(submitted.status).toBe(202);
  const { report } = await waitForReport(reports, submitted.body.reportId);
  expect(report.status).toBe('COMPLETED');
  const result = report.result as unknown as { usage: TokenUsage; costUsd: number };
  expect(result.costUsd).toBe(sonnetCost(result.usage));
});

it('writes a long system prompt to the prompt cache, then reads it: usage, a lower cost, and OpenAI cached_tokens', async () => {
  const system = longSystem('circuit breakers');
  const first = (await post(PAYER, '/chat', { system, message: 'What is half-open?', maxTokens: 30 })).json();
  expect(first.usage.cacheWriteInputTokens).toBeGreaterThan(1024);
  expect(first.usage.cacheReadInputTokens).toBe(0);
  expect(first.costUsd).toBe(sonnetCost(first.usage));

  const stream = await streamChat(cloud.url, {
    apiKey: PAYER,
    body: { system, message: 'What is a probe lease?', maxTokens: 30 },
  });
  const end = stream.events.find((e) => e.event === 'end')?.data;
  expect(end.usage.cacheReadInputTokens).toBe(first.usage.cacheWriteInputTokens);
  expect(end.usage.cacheWriteInputTokens).toBe(0);
  expect(end.costUsd).toBe(sonnetCost(end.usage));
  // The same prompt read from the cache costs a tenth of writing it: the answer is the same length (30 tokens).
  expect(end.costUsd).toBeLessThan(first.costUsd);

  const openai = new OpenAI({ apiKey: PAYER, baseURL: `${cloud.url}/v1`, maxRetries: 0 });
  const completion = await openai.chat.completions.create({
    model: SONNET,
    max_tokens: 30,
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: 'What trips a breaker?' },
    ],
  });
  const usage = completion.usage;
  expect(usage?.prompt_tokens_details?.cached_tokens).toBe(first.usage.cacheWriteInputTokens);
  // OpenAI counts cached tokens inside prompt_tokens.
  expect(usage?.prompt_tokens).toBeGreaterThan(usage?.prompt_tokens_details?.cached_tokens ?? Infinity);
  expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
});

it('refuses a call past the dollar budget with 429 COST_BUDGET_EXCEEDED and Retry-After, before any model call', async () => {
  const first = await post(BROKE, '/chat', { message: 'hi', maxTokens: 120 });
  expect(first.status).toBe(200);
  const callsBefore = cloud.simulator.stats.calls;

  const refused = await post(BROKE, '/chat', { message: 'hi again', maxTokens: 120 });
  expect(refused.status).toBe(429);
  expect(refused.json()).toEqual({
    error: { code: 'COST_BUDGET_EXCEEDED', message: expect.stringContaining('USD per day'), retryable: true },
  });
  const untilMidnight = Math.ceil((86_400_000 - (Date.now() % 86_400_000)) / 1000);
  const retryAfter = Number(refused.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(untilMidnight + 1);

  const stream = await streamChat(cloud.url, { apiKey: BROKE, body: { message: 'stream?', maxTokens: 120 } });
  expect(stream.status).toBe(429);
  expect(stream.json.error.code).toBe('COST_BUDGET_EXCEEDED');
  expect(stream.events).toEqual([]);

  const openai = new OpenAI({ apiKey: BROKE, baseURL: `${cloud.url}/v1`, maxRetries: 0 });
  const err = await openai.chat.completions
    .create({ model: SONNET, max_tokens: 120, messages: [{ role: 'user', content: 'and now?' }] })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OpenAI.RateLimitError);
  expect((err as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('insufficient_quota');

  const reports = reportsApi(cloud.url, BROKE);
  const submitted = await reports.submit({ prompt: 'A report that costs more than is left.' });
  const { report } = await waitForReport(reports, submitted.body.reportId);
  expect(report.status).toBe('FAILED');
  expect(report.error?.code).toBe('COST_BUDGET_EXCEEDED');

  // No refused call reached the model, so none could count against its breaker.
  expect(cloud.simulator.stats.calls).toBe(callsBefore);
});
