/**
 * The configuration as a function reads it (config/runtime.ts): what the stack validated and wrote, read back without
 * validating again.
 */
import { readRuntimeConfig, runtimeConfigJson } from '../../config/runtime';
import { parseConfig } from '../../config/schema';

describe('readRuntimeConfig', () => {
  it('reads back every runtime setting the validated configuration had, defaults included', () => {
    const config = parseConfig({ chat: { keepAliveMs: 4321 }, observability: { sourceMaps: true } });
    const { stackName: _s, functions: _f, observability, webhooks, ...rest } = config;
    const back = readRuntimeConfig({ GENAI_CONFIG: runtimeConfigJson(config) });
    expect(back).toMatchObject(rest);
    expect(back.webhooks).toEqual({ ...webhooks, subscribers: [] });
    expect(back.observability).toEqual({
      serviceName: observability.serviceName,
      metricsNamespace: observability.metricsNamespace,
      logLevel: observability.logLevel,
      logRetentionDays: observability.logRetentionDays,
    });
  });

  it('fails naming the variable when it is unset, not JSON, or not an object', () => {
    expect(() => readRuntimeConfig({})).toThrow('GENAI_CONFIG is required');
    expect(() => readRuntimeConfig({ GENAI_CONFIG: '{' })).toThrow('GENAI_CONFIG is not valid JSON');
    expect(() => readRuntimeConfig({ GENAI_CONFIG: '[1]' })).toThrow('GENAI_CONFIG must be a JSON object');
  });
});
