/**
 * `models.quotas` and `models.quotaWaitMs`: optional per-model requests- and tokens-per-minute quotas, for configured
 * models only, each a positive integer, refused at synth or start with a message naming the field.
 */
import { ConfigError, parseConfig } from '../../config/schema';

const models = { primary: 'model-a', fallbacks: ['model-b'], aliases: { fast: { model: 'model-c' } } };

describe('models.quotas', () => {
  it('is empty by default, with a short wait for room', () => {
    const config = parseConfig({});
    expect(config.models.quotas).toEqual({});
    expect(config.models.quotaWaitMs).toBe(1_000);
  });

  it('takes either quota or both, for the primary, a fallback and an alias model', () => {
    const quotas = {
      'model-a': { requestsPerMinute: 200, tokensPerMinute: 400_000 },
      'model-b': { requestsPerMinute: 50 },
      'model-c': { tokensPerMinute: 10_000 },
    };
    expect(parseConfig({ models: { ...models, quotas } }).models.quotas).toEqual(quotas);
  });

  it('refuses a quota for a model that is not configured, naming it', () => {
    const raw = { models: { ...models, quotas: { 'model-z': { requestsPerMinute: 5 } } } };
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow('models.quotas.model-z: must be a configured model id');
  });

  it.each([
    [{ requestsPerMinute: 0 }, 'models.quotas.model-a.requestsPerMinute'],
    [{ requestsPerMinute: 2.5 }, 'models.quotas.model-a.requestsPerMinute'],
    [{ tokensPerMinute: -1 }, 'models.quotas.model-a.tokensPerMinute'],
    [{ tokensPerMinute: '1000' }, 'models.quotas.model-a.tokensPerMinute'],
    [{ requestsPerMinute: 5, burst: 2 }, 'models.quotas.model-a'],
    [{}, 'models.quotas.model-a: set requestsPerMinute, tokensPerMinute or both'],
  ])('refuses %j, naming %s', (quota, field) => {
    expect(() => parseConfig({ models: { ...models, quotas: { 'model-a': quota } } })).toThrow(field);
  });

  it('refuses a wait for room outside 0 to 10 s, naming the field', () => {
    expect(parseConfig({ models: { quotaWaitMs: 0 } }).models.quotaWaitMs).toBe(0);
    expect(() => parseConfig({ models: { quotaWaitMs: 10_001 } })).toThrow('models.quotaWaitMs');
    expect(() => parseConfig({ models: { quotaWaitMs: -1 } })).toThrow('models.quotaWaitMs');
  });
});
