/**
 * The reports pipeline as synthesised: encryption, dead-letter queues and redrive, the worker's event source, the bus and
 * its rules, API destinations with their connections, least privilege, and the routes. Bundling is skipped.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { REPORT_EVENT_SOURCE } from '../../config/reports';
import { buildApp } from '../../lib/app';
import { createApp, resourcesOfType, synth } from './helpers';

const subscribers = [
  { name: 'audit', endpoint: 'https://audit.example.com/hooks', apiKeySecretName: 'audit-key' },
  {
    name: 'crm',
    endpoint: 'https://crm.example.com/in',
    apiKeyHeader: 'Authorization',
    apiKeySecretName: 'crm-key',
    rateLimitPerSecond: 3,
  },
];
const genai = {
  reports: { maxReceiveCount: 5, batchSize: 2, workerTimeoutSeconds: 600, visibilityTimeoutSeconds: 660 },
  webhooks: { subscribers, maxAttempts: 6, deliveryTimeoutMs: 5000 },
};
const { app, template } = synth(genai);

const functions = resourcesOfType(template, 'AWS::Lambda::Function');
function functionId(name: string): string {
  const found = functions.find(([, p]) => p.Description === `genai-api ${name}`);
  if (!found) throw new Error(`no function ${name}`);
  return found[0];
}
/** Every IAM statement attached to a function's role: `[actions, resources]`. */
function statementsOf(name: string): { actions: string[]; resources: string }[] {
  const fn = functions.find(([id]) => id === functionId(name))![1];
  const roleId = fn.Role['Fn::GetAtt'][0] as string;
  return resourcesOfType(template, 'AWS::IAM::Policy')
    .filter(([, p]) => (p.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
    .map((s) => ({ actions: ([] as string[]).concat(s.Action), resources: JSON.stringify(s.Resource) }));
}
const actionsOf = (name: string) => statementsOf(name).flatMap((s) => s.actions);
const logicalId = (type: string, match: (p: Record<string, any>) => boolean) =>
  resourcesOfType(template, type).find(([, p]) => match(p))![0];

const jobQueueId = logicalId('AWS::SQS::Queue', (p) => p.RedrivePolicy !== undefined);

describe('reports table', () => {
  test('on demand, encrypted, point-in-time recovery, TTL on expiresAt, partition key pk', () => {
    const tables = resourcesOfType(template, 'AWS::DynamoDB::Table').filter(([id]) => id.startsWith('Reports'));
    expect(tables).toHaveLength(1);
    expect(tables[0][1]).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    });
  });
});

describe('queues', () => {
  const queues = resourcesOfType(template, 'AWS::SQS::Queue');

  test('every queue is encrypted and refuses plain HTTP', () => {
    expect(queues.length).toBe(4);
    for (const [, q] of queues) expect(q.SqsManagedSseEnabled).toBe(true);
    const policies = resourcesOfType(template, 'AWS::SQS::QueuePolicy');
    for (const [id] of queues) {
      const policy = policies.find(([, p]) => JSON.stringify(p.Queues).includes(id));
      expect(policy?.[1].PolicyDocument.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      );
    }
  });

  test('the job queue redrives to its dead-letter queue after maxReceiveCount, with a visibility timeout above the worker timeout', () => {
    const job = queues.find(([id]) => id === jobQueueId)![1];
    expect(job.VisibilityTimeout).toBe(660);
    expect(job.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [expect.stringMatching(/^ReportsJobDeadLetterQueue/), 'Arn'] },
      maxReceiveCount: 5,
    });
    const worker = functions.find(([id]) => id === functionId('report-worker'))![1];
    expect(worker.Timeout).toBe(600);
    expect(job.VisibilityTimeout).toBeGreaterThan(worker.Timeout);
  });

  test('dead-letter queues keep messages for 14 days', () => {
    for (const [id, q] of queues.filter(([id]) => id !== jobQueueId)) {
      expect([id, q.MessageRetentionPeriod]).toEqual([id, 1209600]);
    }
  });
});

describe('worker and backstop', () => {
  test('the worker consumes the job queue with the configured batch size and partial batch responses', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionId('report-worker') },
      EventSourceArn: { 'Fn::GetAtt': [jobQueueId, 'Arn'] },
      BatchSize: 2,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  test('the backstop consumes the job dead-letter queue, whose visibility timeout exceeds its timeout', () => {
    const dlqId = logicalId('AWS::SQS::Queue', (p) => p.VisibilityTimeout === 90);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionId('report-dlq') },
      EventSourceArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const backstop = functions.find(([id]) => id === functionId('report-dlq'))![1];
    expect(backstop.Timeout).toBeLessThan(90);
  });
});

describe('events and webhooks', () => {
  const rules = resourcesOfType(template, 'AWS::Events::Rule');
  const busId = resourcesOfType(template, 'AWS::Events::EventBus')[0][0];

  test('one custom bus; both rules listen on it for report.completed, report.failed and report.cancelled', () => {
    expect(resourcesOfType(template, 'AWS::Events::EventBus')).toHaveLength(1);
    expect(rules).toHaveLength(2);
    for (const [, rule] of rules) {
      expect(rule.EventBusName).toEqual({ Ref: busId });
      expect(rule.EventPattern).toMatchObject({
        source: [REPORT_EVENT_SOURCE],
        'detail-type': ['report.completed', 'report.failed', 'report.cancelled'],
      });
    }
  });

  test('events with a callbackUrl go to the webhook sender, with a retry policy and a dead-letter queue', () => {
    const [, rule] = rules.find(([, r]) => r.EventPattern.detail)!;
    expect(rule.EventPattern.detail).toEqual({ callbackUrl: [{ exists: true }] });
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [functionId('webhook-sender'), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [expect.stringMatching(/^ReportsWebhookDeadLetterQueue/), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
      }),
    ]);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId('webhook-sender') },
      MaximumRetryAttempts: 2,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReportsWebhookDeadLetterQueue'), 'Arn'] } },
      },
    });
  });

  test('the webhook sender may run every attempt with its timeout and backoff', () => {
    const sender = functions.find(([id]) => id === functionId('webhook-sender'))![1];
    // 6 attempts × 5 s + backoff 1+2+4+8+16 s + 15 s to dead-letter.
    expect(sender.Timeout).toBe(76);
  });

  test('each subscriber gets a connection with API-key auth from Secrets Manager, an API destination, and a target with retries and a DLQ', () => {
    const connections = resourcesOfType(template, 'AWS::Events::Connection');
    expect(connections.map(([, c]) => c)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          AuthorizationType: 'API_KEY',
          AuthParameters: {
            ApiKeyAuthParameters: {
              ApiKeyName: 'x-api-key',
              ApiKeyValue: '{{resolve:secretsmanager:audit-key:SecretString:::}}',
            },
          },
        }),
        expect.objectContaining({
          AuthParameters: {
            ApiKeyAuthParameters: {
              ApiKeyName: 'Authorization',
              ApiKeyValue: '{{resolve:secretsmanager:crm-key:SecretString:::}}',
            },
          },
        }),
      ]),
    );
    expect(connections).toHaveLength(2);
    const destinations = resourcesOfType(template, 'AWS::Events::ApiDestination');
    expect(
      destinations.map(([, d]) => [d.InvocationEndpoint, d.HttpMethod, d.InvocationRateLimitPerSecond]).sort(),
    ).toEqual([
      ['https://audit.example.com/hooks', 'POST', 10],
      ['https://crm.example.com/in', 'POST', 3],
    ]);
    const [, rule] = rules.find(([, r]) => !r.EventPattern.detail)!;
    expect(rule.Targets).toHaveLength(2);
    for (const target of rule.Targets) {
      expect(target).toMatchObject({
        InputPath: '$.detail.payload',
        DeadLetterConfig: {
          Arn: { 'Fn::GetAtt': [expect.stringMatching(/^ReportsSubscriberDeadLetterQueue/), 'Arn'] },
        },
        RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
      });
      expect(destinations.map(([id]) => id)).toContain(target.Arn['Fn::GetAtt'][0]);
    }
  });

  test('no subscribers configured: no subscriber rule, connection or destination', () => {
    const bare = synth({}).template;
    expect(resourcesOfType(bare, 'AWS::Events::Connection')).toHaveLength(0);
    expect(resourcesOfType(bare, 'AWS::Events::ApiDestination')).toHaveLength(0);
    expect(resourcesOfType(bare, 'AWS::Events::Rule')).toHaveLength(1);
  });

  test('the signing secret is generated as a base64 alphabet key and only the webhook sender can read it', () => {
    const secrets = resourcesOfType(template, 'AWS::SecretsManager::Secret');
    expect(secrets).toHaveLength(1);
    const [secretId, secret] = secrets[0];
    expect(secret.GenerateSecretString).toEqual({ PasswordLength: 48, ExcludePunctuation: true, IncludeSpace: false });
    const readers = resourcesOfType(template, 'AWS::IAM::Policy').filter(([, p]) =>
      JSON.stringify(p).includes(secretId),
    );
    expect(readers).toHaveLength(1);
    expect(statementsOf('webhook-sender')).toContainEqual({
      actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
      resources: JSON.stringify({ Ref: secretId }),
    });
    const sender = functions.find(([id]) => id === functionId('webhook-sender'))![1];
    expect(sender.Environment.Variables.WEBHOOK_SECRET_ARN).toEqual({ Ref: secretId });
  });
});

describe('least privilege', () => {
  test('only the worker may call models; only the worker, the backstop and cancel may publish, to the reports bus only', () => {
    expect(actionsOf('report-worker')).toEqual(expect.arrayContaining(['bedrock:InvokeModel', 'events:PutEvents']));
    for (const name of ['submit-report', 'get-report', 'cancel-report', 'report-dlq', 'webhook-sender']) {
      expect(actionsOf(name).filter((a) => a.startsWith('bedrock:'))).toEqual([]);
    }
    for (const name of ['submit-report', 'get-report', 'webhook-sender']) {
      expect(actionsOf(name).filter((a) => a.startsWith('events:'))).toEqual([]);
    }
    for (const name of ['report-worker', 'report-dlq', 'cancel-report']) {
      const publish = statementsOf(name).find((s) => s.actions.includes('events:PutEvents'))!;
      expect(publish.resources).toMatch(/ReportsEventBus/);
    }
  });

  test('the status function only reads; the webhook sender touches no table', () => {
    expect(
      actionsOf('get-report').filter((a) => a.startsWith('dynamodb:') && /Put|Update|Delete|Write/.test(a)),
    ).toEqual([]);
    expect(actionsOf('webhook-sender').filter((a) => a.startsWith('dynamodb:'))).toEqual([]);
    expect(actionsOf('submit-report').filter((a) => a.startsWith('sqs:'))).toEqual([
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:SendMessage',
    ]);
  });

  test('the cancel function reads the report and changes it by UpdateItem only; no queue, no model', () => {
    const dynamo = actionsOf('cancel-report').filter((a) => a.startsWith('dynamodb:'));
    expect(dynamo).toContain('dynamodb:GetItem');
    expect(dynamo).toContain('dynamodb:UpdateItem');
    expect(dynamo.filter((a) => /Put|Delete|Write/.test(a))).toEqual([]);
    for (const s of statementsOf('cancel-report').filter((st) => st.actions.some((a) => a.startsWith('dynamodb:')))) {
      expect(s.resources).toMatch(/ReportsTable/);
    }
    expect(actionsOf('cancel-report').filter((a) => a.startsWith('sqs:'))).toEqual([]);
  });

  test('no wildcard actions, and no wildcard resources beyond X-Ray', () => {
    for (const name of [
      'submit-report',
      'get-report',
      'cancel-report',
      'report-worker',
      'report-dlq',
      'webhook-sender',
    ]) {
      for (const s of statementsOf(name)) {
        expect(s.actions.some((a) => a.endsWith(':*') || a === '*')).toBe(false);
        if (s.resources === '"*"') expect(s.actions.every((a) => a.startsWith('xray:'))).toBe(true);
      }
    }
  });

  test('each function gets the variables of what it may use', () => {
    const env = (name: string) =>
      Object.keys(functions.find(([id]) => id === functionId(name))![1].Environment.Variables);
    expect(env('submit-report')).toEqual(expect.arrayContaining(['REPORTS_TABLE_NAME', 'REPORTS_QUEUE_URL']));
    expect(env('get-report')).toEqual(expect.arrayContaining(['REPORTS_TABLE_NAME']));
    // The caller comes from the API key authorizer: only the authorizer reads the users table.
    for (const name of ['submit-report', 'get-report', 'report-worker', 'report-dlq', 'webhook-sender']) {
      expect(env(name)).not.toContain('USERS_TABLE_NAME');
    }
    expect(env('get-report')).not.toContain('REPORTS_QUEUE_URL');
    expect(env('cancel-report')).toEqual(expect.arrayContaining(['REPORTS_TABLE_NAME', 'EVENT_BUS_NAME']));
    expect(env('cancel-report')).not.toContain('REPORTS_QUEUE_URL');
    expect(env('cancel-report')).not.toContain('USERS_TABLE_NAME');
    expect(env('report-worker')).toEqual(
      expect.arrayContaining([
        'REPORTS_TABLE_NAME',
        'GUARD_TABLE_NAME',
        'EVENT_BUS_NAME',
        'REPORTS_QUEUE_URL',
        'BEDROCK_REGION',
      ]),
    );
    expect(env('webhook-sender')).toEqual(expect.arrayContaining(['WEBHOOK_SECRET_ARN', 'WEBHOOK_DLQ_URL']));
    expect(env('webhook-sender')).not.toContain('REPORTS_TABLE_NAME');
  });
});

describe('routes', () => {
  test('POST /reports and GET /reports/{id} are served by their functions, behind API keys', () => {
    const methods = resourcesOfType(template, 'AWS::ApiGateway::Method');
    const post = methods.find(([, m]) => m.OperationName === 'SubmitReport')![1];
    const get = methods.find(([, m]) => m.OperationName === 'GetReport')![1];
    expect(post).toMatchObject({
      HttpMethod: 'POST',
      ApiKeyRequired: true,
      RequestParameters: { 'method.request.header.Idempotency-Key': false },
    });
    expect(post.RequestModels).toEqual({ 'application/json': expect.anything() });
    expect(JSON.stringify(post.Integration.Uri)).toContain(functionId('submit-report'));
    expect(get).toMatchObject({ HttpMethod: 'GET', ApiKeyRequired: true });
    expect(JSON.stringify(get.Integration.Uri)).toContain(functionId('get-report'));
  });

  test('POST /reports/{id}/cancel is served by the cancel function, behind API keys, under /reports/{id}', () => {
    const methods = resourcesOfType(template, 'AWS::ApiGateway::Method');
    const [, cancel] = methods.find(([, m]) => m.OperationName === 'CancelReport')!;
    expect(cancel).toMatchObject({ HttpMethod: 'POST', ApiKeyRequired: true });
    expect(JSON.stringify(cancel.Integration.Uri)).toContain(functionId('cancel-report'));
    const resources = resourcesOfType(template, 'AWS::ApiGateway::Resource');
    const [, resource] = resources.find(([id]) => id === cancel.ResourceId.Ref)!;
    expect(resource.PathPart).toBe('cancel');
    const [, parent] = resources.find(([id]) => id === resource.ParentId.Ref)!;
    expect(parent.PathPart).toBe('{id}');
  });
});

describe('configuration', () => {
  test('a stack with the local-only loopback callbacks setting is refused at synth', () => {
    expect(() => buildApp(createApp({ webhooks: { allowLoopbackCallbacks: true } }), { nag: false, env: {} })).toThrow(
      /webhooks\.allowLoopbackCallbacks: local cloud only/,
    );
  });

  test('cdk-nag AWS Solutions reports nothing unacknowledged with subscribers configured', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(report.violations.map((v) => `${v.severity} ${v.ruleName}`)).toEqual([]);
  });
});
