import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { ConfigError } from '../../config/schema';
import { GenAiApiStack } from '../../lib/genai-api-stack';
import { buildApp, configFromContext, mergeConfig } from '../../lib/app';
import { usagePlanOutputKey } from '../../lib/outputs';
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
    expect(template.toJSON().Outputs).toHaveProperty(usagePlanOutputKey('team'));
    const timeouts = new Set(
      resourcesOfType(template, 'AWS::ApiGateway::Method').map(([, m]) => m.Integration.TimeoutInMillis),
    );
    expect([...timeouts].sort()).toEqual([20000, 300000]);
  });
});

describe('a command-line -c genai value over cdk.json', () => {
  // What the CDK CLI hands the app for `-c genai='…'`: a string in place of cdk.json's genai object.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'genai-cdkjson-'));
  const cdkJsonPath = path.join(dir, 'cdk.json');
  const subscriber = { name: 'crm', endpoint: 'https://hooks.example.com/r', apiKeySecretName: 'crm-key' };
  const fileConfig = {
    stackName: 'Acme-GenAi',
    models: {
      primary: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
      fallbacks: ['anthropic.claude-3-5-haiku-20241022-v1:0'],
    },
    plans: { team: { rateLimit: 3, burstLimit: 6, requestsPerDay: 700, tokensPerDay: 9_000 } },
    webhooks: { subscribers: [subscriber] },
    observability: { logRetentionDays: 90, alarmEmail: 'oncall@example.com', ttftAlarmMs: 4_000 },
  };
  fs.writeFileSync(cdkJsonPath, JSON.stringify({ app: 'npx tsx bin/app.ts', context: { genai: fileConfig } }));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const fromCommandLine = (override: unknown) =>
    configFromContext(createApp(JSON.stringify(override)), { cdkJsonPath });

  it('changes the fields it names and keeps every other cdk.json setting', () => {
    const config = fromCommandLine({ models: { primary: 'us.anthropic.claude-3-7-sonnet-20250219-v1:0' } });
    expect(config.models.primary).toBe('us.anthropic.claude-3-7-sonnet-20250219-v1:0');
    expect(config.models.fallbacks).toEqual(fileConfig.models.fallbacks);
    expect(config.stackName).toBe('Acme-GenAi');
    // A plan without maxConcurrentRequests gets the default for plans that do not set it.
    expect(config.plans).toEqual({ team: { ...fileConfig.plans.team, maxConcurrentRequests: 10 } });
    expect(config.webhooks.subscribers).toEqual([{ ...subscriber, apiKeyHeader: 'x-api-key', rateLimitPerSecond: 10 }]);
    expect(config.observability).toMatchObject(fileConfig.observability);
  });

  it('replaces lists whole and removes a setting given as null', () => {
    const config = fromCommandLine({
      models: { fallbacks: [] },
      observability: { alarmEmail: null },
      webhooks: { subscribers: [] },
    });
    expect(config.models).toMatchObject({ primary: fileConfig.models.primary, fallbacks: [] });
    expect(config.observability.alarmEmail).toBeUndefined();
    expect(config.observability.logRetentionDays).toBe(90);
    expect(config.webhooks.subscribers).toEqual([]);
  });

  it('synthesises the stack with the cdk.json settings it did not name', () => {
    const app = createApp(JSON.stringify({ chat: { syncTimeoutSeconds: 20 } }));
    const template = Template.fromStack(buildApp(app, { nag: false, env: { region: 'us-east-1' }, cdkJsonPath }));
    expect(resourcesOfType(template, 'AWS::ApiGateway::UsagePlan').map(([, p]) => p.UsagePlanName)).toEqual([
      'Acme-GenAi-team',
    ]);
    const retention = new Set(resourcesOfType(template, 'AWS::Logs::LogGroup').map(([, g]) => g.RetentionInDays));
    expect([...retention]).toEqual([90]);
    expect(resourcesOfType(template, 'AWS::SNS::Subscription').map(([, s]) => s.Endpoint)).toEqual([
      'oncall@example.com',
    ]);
    expect(resourcesOfType(template, 'AWS::Events::ApiDestination').map(([, d]) => d.InvocationEndpoint)).toEqual([
      subscriber.endpoint,
    ]);
    const timeouts = new Set(
      resourcesOfType(template, 'AWS::ApiGateway::Method').map(([, m]) => m.Integration.TimeoutInMillis),
    );
    expect(timeouts).toContain(20000);
  });

  it('merges objects deeply, replaces everything else', () => {
    expect(mergeConfig({ a: { b: 1, c: [1, 2] }, d: 'x' }, { a: { c: [3] }, e: true })).toEqual({
      a: { b: 1, c: [3] },
      d: 'x',
      e: true,
    });
    expect(mergeConfig(undefined, { a: 1 })).toEqual({ a: 1 });
    expect(mergeConfig({ a: { b: 1 } }, { a: null })).toEqual({});
  });
});

describe('models and the Region the functions call Bedrock in', () => {
  const buildIn =
    (region: string | undefined, genai: unknown = {}) =>
    () =>
      buildApp(createApp(genai), { nag: false, env: { account: '123456789012', region } });

  it('fails at synth naming every model whose inference profile the Region cannot call (default us. models in eu-west-1)', () => {
    let error: unknown;
    try {
      buildIn('eu-west-1')();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { issues } = error as ConfigError;
    expect(issues).toHaveLength(2);
    expect(issues[0]).toMatch(
      /^models\.primary: "us\.anthropic\.claude-sonnet-4-20250514-v1:0" .* eu-west-1; use "eu\.anthropic\.claude-sonnet-4-20250514-v1:0" or "global\./,
    );
    expect(issues[1]).toMatch(/^models\.fallbacks\.0: "us\.anthropic\.claude-3-5-haiku/);
  });

  it('checks bedrockRegion when it is set, whatever the stack Region', () => {
    expect(buildIn('us-east-1', { bedrockRegion: 'ap-southeast-2' })).toThrow(/models\.primary: .* ap-southeast-2/);
    expect(buildIn('eu-west-1', { bedrockRegion: 'us-west-2' })).not.toThrow();
  });

  it('checks every fallback, inference profile ARNs included', () => {
    const genai = {
      models: {
        primary: 'eu.anthropic.claude-sonnet-4-20250514-v1:0',
        fallbacks: [
          'global.anthropic.claude-sonnet-4-20250514-v1:0',
          'amazon.nova-pro-v1:0',
          'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/apac.amazon.nova-pro-v1:0',
        ],
      },
    };
    expect(buildIn('eu-west-1', genai)).toThrow(
      /^(?![\s\S]*models\.primary)[\s\S]*models\.fallbacks\.2: .*apac\.amazon\.nova-pro/,
    );
  });

  it.each([
    ['eu-west-1', 'eu.anthropic.claude-sonnet-4-20250514-v1:0'],
    ['eu-central-1', 'global.anthropic.claude-sonnet-4-20250514-v1:0'],
    ['ap-northeast-1', 'jp.anthropic.claude-sonnet-4-20250514-v1:0'],
    ['ap-southeast-4', 'au.anthropic.claude-sonnet-4-20250514-v1:0'],
    ['me-central-1', 'apac.anthropic.claude-sonnet-4-20250514-v1:0'],
    ['us-gov-west-1', 'us-gov.anthropic.claude-3-haiku-20240307-v1:0'],
    ['eu-west-1', 'anthropic.claude-3-5-haiku-20241022-v1:0'],
  ])('accepts in %s the model %s', (region, primary) => {
    expect(buildIn(region, { models: { primary, fallbacks: [] } })).not.toThrow();
  });

  it.each([
    ['ap-southeast-1', 'jp.anthropic.claude-sonnet-4-20250514-v1:0'],
    ['us-gov-west-1', 'us.anthropic.claude-3-haiku-20240307-v1:0'],
    ['us-gov-west-1', 'global.anthropic.claude-sonnet-4-20250514-v1:0'],
    ['us-east-1', 'eu.anthropic.claude-sonnet-4-20250514-v1:0'],
  ])('refuses in %s the model %s', (region, primary) => {
    expect(buildIn(region, { models: { primary, fallbacks: [] } })).toThrow(/models\.primary: /);
  });

  it('warns instead when the Region is unknown at synth (a Region-agnostic stack)', () => {
    const stack = buildIn(undefined)();
    const warnings = Annotations.fromStack(stack).findWarning(
      '*',
      Match.stringLikeRegexp('models: the Region is unknown at synth'),
    );
    expect(warnings).toHaveLength(1);
  });
});
