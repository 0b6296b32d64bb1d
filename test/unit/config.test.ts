/** Configuration: the defaults of the README's configuration table, and bad values fail with the field's name. */
import { ConfigError, modelChain, parseConfig } from '../../config/schema';
import { readRuntimeConfig, runtimeConfigJson } from '../../config/runtime';
import { deepMerge, loadLocalConfig } from '../../local/config';

describe('parseConfig', () => {
  it('fills in the documented default plans', () => {
    const config = parseConfig({});
    expect(config.plans).toEqual({
      free: { rateLimit: 2, burstLimit: 5, requestsPerDay: 1_000, tokensPerDay: 50_000, maxConcurrentRequests: 2 },
      pro: {
        rateLimit: 50,
        burstLimit: 100,
        requestsPerDay: 100_000,
        tokensPerDay: 5_000_000,
        maxConcurrentRequests: 20,
      },
    });
    expect(modelChain(config)).toEqual([config.models.primary, ...config.models.fallbacks]);
  });

  it('gives a plan that does not set maxConcurrentRequests 10 calls in flight', () => {
    const config = parseConfig({
      plans: { team: { rateLimit: 1, burstLimit: 1, requestsPerDay: 1, tokensPerDay: 1 } },
    });
    expect(config.plans.team.maxConcurrentRequests).toBe(10);
  });

  it.each([
    [{ plans: { free: { rateLimit: -1, burstLimit: 5, requestsPerDay: 1, tokensPerDay: 1 } } }, 'plans.free.rateLimit'],
    [{ chat: { keepAliveMs: 'soon' } }, 'chat.keepAliveMs'],
    [
      {
        plans: { free: { rateLimit: 1, burstLimit: 1, requestsPerDay: 1, tokensPerDay: 1, maxConcurrentRequests: 0 } },
      },
      'plans.free.maxConcurrentRequests: must be at least 1',
    ],
    [
      {
        plans: { pro: { rateLimit: 1, burstLimit: 1, requestsPerDay: 1, tokensPerDay: 1, maxConcurrentRequests: 2.5 } },
      },
      'plans.pro.maxConcurrentRequests',
    ],
    [
      {
        plans: {
          pro: { rateLimit: 1, burstLimit: 1, requestsPerDay: 1, tokensPerDay: 1, maxConcurrentRequests: 1001 },
        },
      },
      'plans.pro.maxConcurrentRequests: must be at most 1000',
    ],
    [{ models: { primary: 'a', fallbacks: ['a'] } }, 'models.fallbacks'],
    [{ chat: { streamTimeoutSeconds: 901 } }, 'chat.streamTimeoutSeconds'],
    [{ unknownSection: {} }, 'unknownSection: is not a known field'],
  ])('names the bad field: %j', (raw, field) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(field);
  });

  it('says what is wrong in the same words as a bad request body, not the validation library’s', () => {
    expect(() => parseConfig({ chat: { keepAliveMs: 'soon' } })).toThrow('chat.keepAliveMs: must be a number');
    expect(() => parseConfig({ chat: { streamTimeoutSeconds: 901 } })).toThrow(
      'chat.streamTimeoutSeconds: must be at most 900',
    );
    expect(() => parseConfig({ chat: { keepAliveMs: 'soon' } })).not.toThrow(/Invalid input|expected .* received/);
  });

  it('round-trips the runtime part through the functions’ environment variable', () => {
    const config = parseConfig({ models: { primary: 'p', fallbacks: [] }, chat: { keepAliveMs: 1234 } });
    const back = readRuntimeConfig({ GENAI_CONFIG: runtimeConfigJson(config) });
    expect(back.models).toEqual(config.models);
    expect(back.chat.keepAliveMs).toBe(1234);
    expect(back.plans).toEqual(config.plans);
  });
});

it('keeps deploy-time settings (subscribers, alarm address) out of the functions’ environment', () => {
  const config = parseConfig({
    observability: { alarmEmail: 'oncall@example.com' },
    webhooks: { subscribers: [{ name: 'audit', endpoint: 'https://audit.example.com/x', apiKeySecretName: 'k' }] },
  });
  const json = runtimeConfigJson(config);
  expect(json).not.toContain('oncall@example.com');
  expect(json).not.toContain('audit.example.com');
  expect(readRuntimeConfig({ GENAI_CONFIG: json }).observability.serviceName).toBe(config.observability.serviceName);
});

describe('local configuration', () => {
  it('merges objects key by key and lets arrays replace', () => {
    expect(deepMerge({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } })).toEqual({ a: { b: 1, c: [3] } });
  });

  it('shortens breaker recovery locally and applies overrides last', () => {
    const config = loadLocalConfig({ breaker: { openSeconds: 2 } }, '/nonexistent');
    expect(config.breaker.openSeconds).toBe(2);
    expect(config.breaker.maxOpenSeconds).toBeLessThanOrEqual(30);
  });
});
