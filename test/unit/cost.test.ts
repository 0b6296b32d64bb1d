/**
 * Cost arithmetic in whole micro-dollars, the cost-budget estimate, where cache points go, the OpenAI view of cached
 * usage and of a spent dollar budget, and the configuration of prices, prompt caching and dollar budgets.
 */
import { ConfigError, DEFAULT_PRICES, parseConfig } from '../../config/schema';
import { callCostMicroUsd, costMicroUsd, estimateMicroUsd, usdOfMicro } from '../../lambda/core/cost';
import { CostBudgetExceededError } from '../../lambda/core/errors';
import { toOpenAIError } from '../../lambda/core/openai/errors';
import { usageOf } from '../../lambda/core/openai/response';
import { planCachePoints } from '../../lambda/core/prompt-cache';

const SONNET = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const HAIKU = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';

describe('costMicroUsd', () => {
  it('prices input, output, cache reads and cache writes per million tokens, exactly', () => {
    const sonnet = DEFAULT_PRICES[SONNET];
    // 1,000 × $3 + 500 × $15 + 2,000 × $0.30 + 1,024 × $3.75 per million tokens.
    expect(
      costMicroUsd(
        { inputTokens: 1000, outputTokens: 500, cacheReadInputTokens: 2000, cacheWriteInputTokens: 1024 },
        sonnet,
      ),
    ).toBe(3000 + 7500 + 600 + 3840);
  });

  it('never drifts: a thousand calls at $0.08 per million sum to the exact integer', () => {
    const price = { input: 0.08, output: 0.08 };
    let total = 0;
    for (let i = 0; i < 1000; i++) total += costMicroUsd({ inputTokens: 12_500, outputTokens: 0 }, price);
    expect(total).toBe(1_000_000);
    expect(usdOfMicro(total)).toBe(1);
  });

  it('rounds a fraction of a micro-dollar up, and prices cache tokens at the input price when none is set', () => {
    expect(costMicroUsd({ inputTokens: 1, outputTokens: 0 }, { input: 0.001, output: 0 })).toBe(1);
    expect(costMicroUsd({ inputTokens: 0, outputTokens: 0, cacheReadInputTokens: 10 }, { input: 2, output: 5 })).toBe(
      20,
    );
  });

  it('charges nothing for a cached answer and has no cost for a model without a price', () => {
    const usage = { inputTokens: 100, outputTokens: 100 };
    expect(callCostMicroUsd({ model: SONNET, usage, cached: true }, DEFAULT_PRICES)).toBe(0);
    expect(callCostMicroUsd({ model: 'other.model', usage }, DEFAULT_PRICES)).toBeUndefined();
    expect(callCostMicroUsd({ model: 'degraded', usage }, DEFAULT_PRICES, ['degraded'])).toBe(0);
  });
});

describe('estimateMicroUsd', () => {
  it('takes the dearest input (a cache write included) and output prices of the chain', () => {
    // Sonnet's cache write, $3.75, is the dearest input; its $15 the dearest output.
    expect(estimateMicroUsd(1000, 100, [HAIKU, SONNET], DEFAULT_PRICES)).toBe(3750 + 1500);
    expect(estimateMicroUsd(1000, 100, [HAIKU], DEFAULT_PRICES)).toBe(1000 + 400);
  });

  it('is unknown when a model of the chain has no price', () => {
    expect(estimateMicroUsd(10, 10, [SONNET, 'other.model'], DEFAULT_PRICES)).toBeUndefined();
  });
});

describe('planCachePoints', () => {
  const long = (tokens: number) => 'x'.repeat(tokens * 4);

  it('puts a checkpoint after a system prompt long enough, and none after a short one', () => {
    const messages = [{ role: 'user' as const, content: 'hi' }];
    expect(planCachePoints({ system: long(1024), messages, maxTokens: 10 }, 1024)).toEqual({ afterSystem: true });
    expect(planCachePoints({ system: long(1000), messages, maxTokens: 10 }, 1024)).toEqual({ afterSystem: false });
  });

  it('puts one after the history before the newest user turn, counted from the system checkpoint', () => {
    const history = [
      { role: 'user' as const, content: long(600) },
      { role: 'assistant' as const, content: long(500) },
      { role: 'user' as const, content: 'and now?' },
    ];
    expect(planCachePoints({ messages: history, maxTokens: 10 }, 1024)).toEqual({
      afterSystem: false,
      afterMessage: 1,
    });
    // With a cached system prompt the history alone must hold the minimum.
    expect(planCachePoints({ system: long(2048), messages: history, maxTokens: 10 }, 2048)).toEqual({
      afterSystem: true,
    });
    // A short system prompt (no checkpoint of its own) counts toward the history's.
    expect(planCachePoints({ system: long(1000), messages: history, maxTokens: 10 }, 2048)).toEqual({
      afterSystem: false,
      afterMessage: 1,
    });
  });

  it('never caches the newest user turn', () => {
    expect(planCachePoints({ messages: [{ role: 'user', content: long(5000) }], maxTokens: 10 }, 1024)).toEqual({
      afterSystem: false,
    });
  });
});

describe('OpenAI usage and errors', () => {
  it('counts cache reads and writes in prompt_tokens and reports the reads as cached_tokens', () => {
    expect(
      usageOf({ inputTokens: 10, outputTokens: 5, cacheReadInputTokens: 2000, cacheWriteInputTokens: 300 }),
    ).toEqual({
      prompt_tokens: 2310,
      completion_tokens: 5,
      total_tokens: 2315,
      prompt_tokens_details: { cached_tokens: 2000 },
    });
  });

  it('answers a spent dollar budget as OpenAI answers a spent quota: 429 insufficient_quota, no SDK retries', () => {
    const answer = toOpenAIError(new CostBudgetExceededError('spent', { retryAfterSeconds: 3600 }));
    expect(answer.status).toBe(429);
    expect(answer.body.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    expect(answer.headers).toMatchObject({ 'retry-after': '3600', 'x-should-retry': 'false' });
  });
});

describe('configuration of prices and dollar budgets', () => {
  const issuesOf = (raw: unknown): readonly string[] => {
    try {
      parseConfig(raw);
    } catch (err) {
      if (err instanceof ConfigError) return err.issues;
      throw err;
    }
    return [];
  };

  it('defaults to the dated prices and prompt caching of the default models', () => {
    const config = parseConfig({});
    expect(config.models.prices[SONNET]).toEqual({ input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 });
    expect(config.models.promptCaching[HAIKU]).toEqual({ minTokensPerCheckpoint: 2048 });
  });

  it('names each model a dollar budget needs a price for', () => {
    const issues = issuesOf({
      models: { primary: 'a.model-v1', fallbacks: ['b.model-v1'], prices: { 'a.model-v1': { input: 1, output: 2 } } },
      plans: { team: { rateLimit: 1, burstLimit: 1, requestsPerDay: 1, tokensPerDay: 1, usdPerDay: 5 } },
    });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain('models.prices.b.model-v1');
    expect(issues[0]).toContain('plans.team.usdPerDay');
  });

  it('rejects bad budgets and prices naming the field', () => {
    const plan = { rateLimit: 1, burstLimit: 1, requestsPerDay: 1, tokensPerDay: 1 };
    expect(issuesOf({ plans: { team: { ...plan, usdPerMonth: -1 } } }).join('\n')).toContain('plans.team.usdPerMonth');
    expect(issuesOf({ plans: { team: { ...plan, usdPerDay: 0 } } }).join('\n')).toContain('plans.team.usdPerDay');
    expect(issuesOf({ models: { prices: { [SONNET]: { input: 0.0001, output: 1 } } } }).join('\n')).toContain(
      `models.prices.${SONNET}.input`,
    );
    expect(issuesOf({ models: { promptCaching: { [SONNET]: { minTokensPerCheckpoint: 0 } } } }).join('\n')).toContain(
      `models.promptCaching.${SONNET}.minTokensPerCheckpoint`,
    );
  });
});
