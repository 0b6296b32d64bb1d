import * as fs from 'node:fs';
import * as path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { ENV } from '../../config/runtime';
import { parseConfig } from '../../config/schema';
import { BaseFunction, retentionDays } from '../../lib/constructs/base-function';
import { FUNCTIONS_DIR, handlerEntry } from '../../config/functions';
import { createApp, resourcesOfType } from './helpers';

describe('BaseFunction helpers', () => {
  const stack = new Stack(createApp(), 'S');
  const fn = new BaseFunction(stack, 'Fn', { functionName: 'chat', config: parseConfig({}) });
  const queue = new Queue(stack, 'Q');
  const bus = new EventBus(stack, 'Bus');
  const secret = new Secret(stack, 'Secret');
  fn.useQueue(ENV.reportsQueueUrl, queue, 'send')
    .useEventBus(ENV.eventBusName, bus)
    .useSecret(ENV.webhookSecretArn, secret);
  const template = Template.fromStack(stack);
  const [, f] = resourcesOfType(template, 'AWS::Lambda::Function')[0];
  const statements = resourcesOfType(template, 'AWS::IAM::Policy').flatMap(
    ([, p]) => p.PolicyDocument.Statement as any[],
  );
  const actionsOn = (logicalIdPrefix: string) =>
    statements.filter((s) => JSON.stringify(s.Resource).includes(logicalIdPrefix)).flatMap((s) => [s.Action].flat());

  it('set the environment variable and the matching grant together', () => {
    const env = f.Environment.Variables;
    expect(env[ENV.reportsQueueUrl]).toEqual({ Ref: expect.stringMatching(/^Q/) });
    expect(env[ENV.eventBusName]).toEqual({ Ref: expect.stringMatching(/^Bus/) });
    expect(env[ENV.webhookSecretArn]).toEqual({ Ref: expect.stringMatching(/^Secret/) });
    expect(actionsOn('"Q')).toEqual(expect.arrayContaining(['sqs:SendMessage']));
    expect(actionsOn('"Q')).not.toContain('sqs:DeleteMessage');
    expect(actionsOn('Bus')).toContain('events:PutEvents');
    expect(actionsOn('Secret')).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue']));
  });

  it('finds its code at lambda/functions/<functionName>/handler.ts', () => {
    expect(fs.existsSync(path.join(FUNCTIONS_DIR, 'chat', 'handler.ts'))).toBe(true);
    expect(fs.existsSync(path.join(FUNCTIONS_DIR, 'chat-stream', 'handler.ts'))).toBe(true);
    expect(handlerEntry('chat')).toBe(path.join(FUNCTIONS_DIR, 'chat', 'handler.ts'));
    expect(f.Handler).toBe('index.handler');
  });
});

describe('log retention', () => {
  it('accepts the periods CloudWatch Logs offers and names the field otherwise', () => {
    expect(retentionDays(30)).toBe(30);
    expect(retentionDays(3653)).toBe(3653);
    expect(() => retentionDays(10)).toThrow(/observability\.logRetentionDays: 10 .*one of 1, 3, 5, 7, 14/);
  });
});
