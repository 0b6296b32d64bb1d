/**
 * Alarms, alarm topic and dashboard as synthesised: what each alarm watches (namespace, metric, the exact dimension set
 * the functions write, statistic, threshold), where it notifies, and that the configuration drives it. Bundling is
 * skipped.
 */
import * as fs from 'node:fs';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { CfnElement, Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { handlerEntry } from '../../config/functions';
import { BREAKER_STATE_VALUE, ENDPOINTS } from '../../config/metrics';
import { parseConfig } from '../../config/schema';
import { recordChatMetrics } from '../../lambda/core/observability';
import { buildApp } from '../../lib/app';
import { OUTPUT_ALARM_TOPIC_ARN } from '../../lib/outputs';
import { createApp, resourcesOfType, synth } from './helpers';

const custom = {
  models: {
    primary: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
    fallbacks: ['model-b', 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x'],
  },
  observability: {
    ttftAlarmMs: 3_000,
    metricsNamespace: 'Acme/GenAi',
    serviceName: 'acme-chat',
    alarmEmail: 'oncall@example.com',
  },
};
const customModels = [custom.models.primary, ...custom.models.fallbacks];

const byDefault = synth();
const configured = synth(custom);

type Props = Record<string, any>;
const alarmsOf = (template: typeof byDefault.template) =>
  resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([, p]) => p as Props);
const logicalIdOf = (stack: Stack, construct: IConstruct) =>
  stack.getLogicalId(construct.node.defaultChild as CfnElement);
/** `[{Name, Value}]` as CloudFormation writes alarm dimensions, sorted by name. */
const dimensions = (dims: Record<string, string>) =>
  Object.entries(dims)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([Name, Value]) => ({ Name, Value }));

/** The `endpoint` dimension the streaming handler writes: the catalogue's id (the handler is checked to use it). */
const STREAM_ENDPOINT = ENDPOINTS.chatStream;
const STREAM_HANDLER_SOURCE = fs.readFileSync(handlerEntry('chat-stream'), 'utf8');

describe('endpoint ids', () => {
  test("the streaming handler writes the catalogue's endpoint id, which the alarms read", () => {
    expect(STREAM_HANDLER_SOURCE).toMatch(/const ENDPOINT = ENDPOINTS\.chatStream;/);
    expect(STREAM_ENDPOINT).toBe('chat-stream');
  });
});

describe('alarm topic', () => {
  const { template, stack } = byDefault;
  const [[topicId, topic]] = resourcesOfType(template, 'AWS::SNS::Topic');

  test('is encrypted with a rotated customer managed key that CloudWatch may use to publish', () => {
    const keyId = logicalIdOf(stack, stack.observability.alarmTopicKey);
    expect(topic.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    const key = resourcesOfType(template, 'AWS::KMS::Key').find(([id]) => id === keyId)![1];
    expect(key.EnableKeyRotation).toBe(true);
    expect(key.KeyPolicy.Statement).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        }),
      ]),
    );
  });

  test("refuses publishing without TLS and lets only this account's alarms publish", () => {
    const [[, policy]] = resourcesOfType(template, 'AWS::SNS::TopicPolicy');
    expect(policy.Topics).toEqual([{ Ref: topicId }]);
    expect(policy.PolicyDocument.Statement).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Effect: 'Deny',
          Action: 'sns:Publish',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
        expect.objectContaining({
          Effect: 'Allow',
          Action: 'sns:Publish',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Condition: expect.objectContaining({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } }),
        }),
      ]),
    );
  });

  test('has no subscription unless observability.alarmEmail is set, then one email subscription', () => {
    expect(resourcesOfType(template, 'AWS::SNS::Subscription')).toEqual([]);
    const subscriptions = resourcesOfType(configured.template, 'AWS::SNS::Subscription');
    expect(subscriptions).toHaveLength(1);
    expect(subscriptions[0][1]).toMatchObject({ Protocol: 'email', Endpoint: 'oncall@example.com' });
  });

  test('its ARN is a stack output', () => {
    expect(template.toJSON().Outputs[OUTPUT_ALARM_TOPIC_ARN].Value).toEqual({ Ref: topicId });
  });

  test('every alarm says what to do, notifies the topic on ALARM and on OK, and treats missing data deliberately', () => {
    const alarms = alarmsOf(template);
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) {
      expect(alarm.AlarmName).toMatch(/^GenAiApi-/);
      expect(alarm.AlarmDescription.length).toBeGreaterThan(80);
      expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(alarm.OKActions).toEqual([{ Ref: topicId }]);
      expect(alarm.TreatMissingData).toBe('notBreaching');
    }
    expect(new Set(alarms.map((a) => a.AlarmName)).size).toBe(alarms.length);
  });
});

describe('dead-letter queue alarms', () => {
  const { template, stack } = byDefault;
  const alarms = alarmsOf(template);
  const watching = (queue: IConstruct) => {
    const id = logicalIdOf(stack, queue);
    return alarms.filter((a) => JSON.stringify(a).includes(`{"Fn::GetAtt":["${id}","QueueName"]}`));
  };

  test('alarm on the first visible message in the webhook and subscriber dead-letter queues', () => {
    for (const queue of [stack.reports.webhookDeadLetterQueue, stack.reports.subscriberDeadLetterQueue]) {
      const found = watching(queue);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Statistic: 'Maximum',
        Period: 300,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
      });
    }
  });

  test('alarm on the job dead-letter queue when it stays non-empty longer than the backstop may take', () => {
    const found = watching(stack.reports.jobDeadLetterQueue);
    expect(found).toHaveLength(1);
    const [alarm] = found;
    const metricNames = alarm.Metrics.filter((m: Props) => m.MetricStat).map(
      (m: Props) => m.MetricStat.Metric.MetricName,
    );
    expect(metricNames.sort()).toEqual(['ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesVisible']);
    expect(alarm).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    // Default worker timeout 900 s: the backstop may wait out a live worker's lease before failing the job.
    expect(alarm.EvaluationPeriods * 300).toBeGreaterThan(900);
  });

  test('one alarm per dead-letter queue', () => {
    expect(Object.keys(stack.observability.deadLetterQueueAlarms).sort()).toEqual([
      'ReportJobs',
      'Subscribers',
      'Webhooks',
    ]);
    expect(alarms.filter((a) => JSON.stringify(a).includes('AWS/SQS'))).toHaveLength(3);
  });
});

describe('API alarm', () => {
  const alarms = alarmsOf(byDefault.template);

  test('any 5XXError on the stage over 5 minutes, and no alarm on 4XX', () => {
    const apiAlarms = alarms.filter((a) => a.Namespace === 'AWS/ApiGateway');
    expect(apiAlarms).toHaveLength(1);
    expect(apiAlarms[0]).toMatchObject({
      MetricName: '5XXError',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      Dimensions: [
        { Name: 'ApiName', Value: 'GenAiApi' },
        { Name: 'Stage', Value: expect.anything() },
      ],
    });
    expect(JSON.stringify(alarms)).not.toContain('4XXError');
  });
});

describe('function alarms', () => {
  const { template } = byDefault;
  const alarms = alarmsOf(template);
  const functionIds = resourcesOfType(template, 'AWS::Lambda::Function').map(([id]) => id);

  test.each(['Errors', 'Throttles'])(
    'every function of the stack has a %s alarm (sum > 0 over 5 minutes)',
    (metric) => {
      expect(functionIds.length).toBeGreaterThanOrEqual(7);
      for (const id of functionIds) {
        const dims = JSON.stringify([{ Name: 'FunctionName', Value: { Ref: id } }]);
        const found = alarms.filter(
          (a) => a.Namespace === 'AWS/Lambda' && a.MetricName === metric && JSON.stringify(a.Dimensions) === dims,
        );
        expect([id, found.length]).toEqual([id, 1]);
        expect(found[0]).toMatchObject({
          Statistic: 'Sum',
          Period: 300,
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
        });
      }
    },
  );
});

describe('time to first token alarms', () => {
  const alarms = alarmsOf(configured.template).filter((a) => a.MetricName === 'TimeToFirstToken');

  test('one per configured model, on the streaming endpoint, with the configured threshold', () => {
    expect(alarms.map((a) => a.Dimensions.find((d: Props) => d.Name === 'model').Value).sort()).toEqual(
      [...customModels].sort(),
    );
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({
        Namespace: 'Acme/GenAi',
        ExtendedStatistic: 'p99',
        Period: 300,
        Threshold: 3_000,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluateLowSampleCountPercentile: 'evaluate',
      });
      const model = alarm.Dimensions.find((d: Props) => d.Name === 'model').Value;
      expect(alarm.Dimensions).toEqual(dimensions({ service: 'acme-chat', endpoint: STREAM_ENDPOINT, model }));
    }
  });

  test('default to 5000 ms in the default namespace', () => {
    const defaults = alarmsOf(byDefault.template).filter((a) => a.MetricName === 'TimeToFirstToken');
    expect(defaults).toHaveLength(2);
    for (const alarm of defaults) expect(alarm).toMatchObject({ Namespace: 'GenAiApi', Threshold: 5_000 });
  });

  test('name exactly the dimension set the chat functions write', () => {
    const metrics = new Metrics({ namespace: 'Acme/GenAi', serviceName: 'acme-chat' });
    recordChatMetrics(metrics, {
      endpoint: STREAM_ENDPOINT,
      model: customModels[0],
      metrics: { ttftMs: 120, latencyMs: 900 } as never,
      usage: { inputTokens: 10, outputTokens: 20 },
      outcome: 'ok',
    });
    const emf = metrics.serializeMetrics() as unknown as Record<string, any>;
    const [directive] = emf._aws.CloudWatchMetrics;
    expect(directive.Metrics.map((m: Props) => m.Name)).toContain('TimeToFirstToken');
    const written = Object.fromEntries((directive.Dimensions as string[][])[0].map((name) => [name, emf[name]]));
    const alarm = alarms.find((a) =>
      a.Dimensions.some((d: Props) => d.Name === 'model' && d.Value === customModels[0]),
    )!;
    expect(alarm.Namespace).toBe(directive.Namespace);
    expect(alarm.Dimensions).toEqual(dimensions(written));
  });
});

describe('breaker alarms', () => {
  const alarms = alarmsOf(configured.template).filter((a) => a.MetricName === 'BreakerState');

  test("one per configured model: BreakerState maximum at OPEN or above, with the breaker's dimensions", () => {
    expect(alarms).toHaveLength(customModels.length);
    for (const [i, model] of customModels.entries()) {
      const alarm = alarms.find((a) => a.Dimensions.some((d: Props) => d.Value === model));
      expect([i, alarm]).toEqual([i, expect.anything()]);
      expect(alarm).toMatchObject({
        Namespace: 'Acme/GenAi',
        Statistic: 'Maximum',
        Threshold: BREAKER_STATE_VALUE.OPEN,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Dimensions: dimensions({ service: 'acme-chat', model }),
      });
    }
  });
});

describe('dashboard', () => {
  const dashboards = resourcesOfType(byDefault.template, 'AWS::CloudWatch::Dashboard');
  const body = JSON.stringify(dashboards[0]?.[1].DashboardBody);

  test('one dashboard, named after the stack and the Region', () => {
    expect(dashboards).toHaveLength(1);
    expect(JSON.stringify(dashboards[0][1].DashboardName)).toContain('GenAiApi-');
  });

  test.each([
    ['time to first token', 'TimeToFirstToken'],
    ['latency', '\\"Latency\\"'],
    ['requests per endpoint', 'MetricName=\\\\\\"Requests\\\\\\"'],
    ['errors per endpoint', 'MetricName=\\\\\\"Errors\\\\\\"'],
    ['tokens', 'OutputTokens'],
    ['breaker state', 'BreakerState'],
    ['breaker transitions', 'BreakerTransition'],
    ['model quota refusals', 'ModelQuotaRefusals'],
    ['reports paced by the model quotas', 'ReportsPaced'],
    ['report outcomes', 'ReportsCompleted'],
    ['webhooks', 'WebhooksDeadLettered'],
    ['queue depths', 'ApproximateNumberOfMessagesVisible'],
    ['API 4xx', '4XXError'],
    ['API 5xx', '5XXError'],
    ['Lambda duration', '\\"Duration\\"'],
    ['Lambda concurrency', 'ConcurrentExecutions'],
    ['spend per model', 'CostUsd'],
  ])('graphs %s', (_what, needle) => {
    expect(body).toContain(needle);
  });

  test('spend per model sums CostUsd over every plan, one line per model of the chain', () => {
    const { models } = parseConfig({});
    expect(body).toContain('{GenAiApi,service,model,plan}');
    for (const model of [models.primary, ...models.fallbacks]) expect(body).toContain(`model=\\\\\\"${model}`);
  });

  test('lists the top users by spend from the log lines of the functions, with no IAM of its own', () => {
    expect(body).toContain('stats sum(cost_usd) as usd, count(*) as calls by user_id');
    const logGroups = resourcesOfType(byDefault.template, 'AWS::Logs::LogGroup').map(([id]) => id);
    const functions = resourcesOfType(byDefault.template, 'AWS::Lambda::Function');
    // Every function's own log group is queried (the chat lines and the report worker's carry cost_usd).
    const queried = logGroups.filter((id) => body.includes(`{"Ref":"${id}"}`));
    expect(queried.length).toBeGreaterThanOrEqual(functions.length - 1);
  });
});

describe('configuration', () => {
  const build = (genai: unknown) => () => buildApp(createApp(genai), { nag: false });

  test('a bad observability.alarmEmail fails at synth naming the field', () => {
    expect(build({ observability: { alarmEmail: 'not-an-email' } })).toThrow(/observability\.alarmEmail/);
  });

  test('a non-positive observability.ttftAlarmMs fails at synth naming the field', () => {
    expect(build({ observability: { ttftAlarmMs: 0 } })).toThrow(/observability\.ttftAlarmMs/);
  });

  test('a service name that cannot be used in a metric search fails at synth naming the field', () => {
    expect(build({ observability: { serviceName: "genai'api" } })).toThrow(/observability\.serviceName/);
  });
});

describe('cdk-nag', () => {
  test('reports no unacknowledged errors or warnings with an alarm email and several models', () => {
    const report = new AwsSolutionsChecks().validateScope(configured.app);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });
});
