/**
 * The per-user concurrency limit as synthesised: `plans.<plan>.maxConcurrentRequests` reaches the functions that call
 * models (in their runtime configuration) with the documented defaults, bad values fail at synth naming the field, and
 * API Gateway's own errors let browser pages read the rate-limit headers. Bundling is skipped.
 */
import { buildApp } from '../../lib/app';
import { createApp, resourcesOfType, synth } from './helpers';

const build = (genai: unknown) => () => buildApp(createApp(genai), { nag: false });
const plan = { rateLimit: 5, burstLimit: 10, requestsPerDay: 100, tokensPerDay: 1_000 };

/** The runtime configuration a function receives (`GENAI_CONFIG`), by function folder name. */
function runtimeConfigOf(template: ReturnType<typeof synth>['template'], name: string) {
  const found = resourcesOfType(template, 'AWS::Lambda::Function').find(
    ([, p]) => p.Description === `genai-api ${name}`,
  );
  if (!found) throw new Error(`no function ${name}`);
  return JSON.parse(found[1].Environment.Variables.GENAI_CONFIG);
}

describe('plans.<plan>.maxConcurrentRequests', () => {
  test('reaches every function that calls a model: free 2, pro 20 by default', () => {
    const { template } = synth();
    for (const name of ['chat', 'chat-stream', 'openai-chat']) {
      const { plans } = runtimeConfigOf(template, name);
      expect(plans.free.maxConcurrentRequests).toBe(2);
      expect(plans.pro.maxConcurrentRequests).toBe(20);
    }
  });

  test('takes the configured value, and 10 for a plan that does not set it', () => {
    const { template } = synth({ plans: { team: { ...plan, maxConcurrentRequests: 7 }, trial: plan } });
    const { plans } = runtimeConfigOf(template, 'chat-stream');
    expect(plans.team.maxConcurrentRequests).toBe(7);
    expect(plans.trial.maxConcurrentRequests).toBe(10);
  });

  test.each([
    [0, /plans\.team\.maxConcurrentRequests: must be at least 1/],
    [1001, /plans\.team\.maxConcurrentRequests: must be at most 1000/],
    [2.5, /plans\.team\.maxConcurrentRequests: must be an integer/],
    ['3', /plans\.team\.maxConcurrentRequests: must be a number/],
  ])('fails at synth on %p, naming the field', (value, message) => {
    expect(build({ plans: { team: { ...plan, maxConcurrentRequests: value } } })).toThrow(message);
  });
});

describe("API Gateway's own errors", () => {
  test('expose the rate-limit headers to browser pages when CORS is on', () => {
    const { template } = synth({ api: { cors: { allowOrigins: ['https://app.example'] } } });
    const responses = resourcesOfType(template, 'AWS::ApiGateway::GatewayResponse');
    expect(responses.length).toBeGreaterThan(0);
    for (const [, response] of responses) {
      const exposed = response.ResponseParameters['gatewayresponse.header.Access-Control-Expose-Headers'];
      for (const header of ['ratelimit', 'ratelimit-policy', 'x-ratelimit-remaining-requests', 'retry-after']) {
        expect(exposed.replaceAll("'", '').split(',')).toContain(header);
      }
    }
  });
});
