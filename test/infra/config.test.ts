import { GenAiApiStack } from '../../lib/genai-api-stack';
import { buildApp, configFromContext } from '../../lib/app';
import { createApp, resourcesOfType, synth } from './helpers';

const build = (genai: unknown) => () => buildApp(createApp(genai), { nag: false });

describe('configuration from cdk.json context', () => {
  it('fails at synth naming the bad field', () => {
    expect(build({ plans: { free: { rateLimit: -1, burstLimit: 5, requestsPerDay: 10, tokensPerDay: 10 } } })).toThrow(
      /plans\.free\.rateLimit/,
    );
    expect(build({ chat: { streamTimeoutSeconds: 901 } })).toThrow(/chat\.streamTimeoutSeconds/);
    expect(build({ models: { primary: 'a b' } })).toThrow(/models\.primary/);
  });

  it('fails at synth on a log retention CloudWatch Logs does not offer', () => {
    expect(build({ observability: { logRetentionDays: 10 } })).toThrow(/observability\.logRetentionDays: 10/);
  });

  it('fails at synth on plan names that would collide in output names', () => {
    const plan = { rateLimit: 1, burstLimit: 1, requestsPerDay: 1, tokensPerDay: 1 };
    expect(build({ plans: { 'team-a': plan, 'team--a': plan } })).toThrow(/"team-a" and "team--a"/);
  });

  it('accepts the configuration as a JSON string (cdk synth -c genai=...)', () => {
    const config = configFromContext(createApp(JSON.stringify({ stackName: 'MyGenAi' })));
    expect(config.stackName).toBe('MyGenAi');
    expect(build('{not json')).toThrow(/context "genai": not valid JSON/);
  });

  it('names the stack after config.stackName', () => {
    const stack = buildApp(createApp({ stackName: 'Other-Api' }), { nag: false });
    expect(stack).toBeInstanceOf(GenAiApiStack);
    expect(stack.stackName).toBe('Other-Api');
  });

  it('creates usage plans for custom plans passed through context', () => {
    const { template } = synth({
      stackName: 'Custom',
      plans: { team: { rateLimit: 7.5, burstLimit: 9, requestsPerDay: 1234, tokensPerDay: 99 } },
      chat: { streamTimeoutSeconds: 300, syncTimeoutSeconds: 20 },
    });
    const plans = resourcesOfType(template, 'AWS::ApiGateway::UsagePlan');
    expect(plans).toHaveLength(1);
    expect(plans[0][1]).toMatchObject({
      UsagePlanName: 'Custom-team',
      Throttle: { RateLimit: 7.5, BurstLimit: 9 },
      Quota: { Limit: 1234, Period: 'DAY' },
    });
    expect(template.toJSON().Outputs).toHaveProperty('UsagePlanIdTeam');
    const timeouts = new Set(resourcesOfType(template, 'AWS::ApiGateway::Method').map(([, m]) => m.Integration.TimeoutInMillis));
    expect([...timeouts].sort()).toEqual([20000, 300000]);
  });
});
