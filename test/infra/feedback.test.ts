/**
 * Satisfaction feedback as synthesised: the requests table (encryption, on demand, point-in-time recovery, TTL), the
 * exact permissions on it (the functions that answer requests create items, the feedback function updates them,
 * nobody else touches it), the `POST /feedback` route and its function, and the CSAT widget and alarm. Bundling is
 * skipped.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { parseConfig } from '../../config/schema';
import { buildApp } from '../../lib/app';
import { Feedback } from '../../lib/constructs/feedback';
import { createApp, resourcesOfType, synth } from './helpers';

const { template } = synth();
type Props = Record<string, any>;

const functions = resourcesOfType(template, 'AWS::Lambda::Function');
const policies = resourcesOfType(template, 'AWS::IAM::Policy');

function functionOf(name: string): [string, Props] {
  const found = functions.find(([, p]) => p.Description === `genai-api ${name}`);
  if (!found) throw new Error(`no function ${name}`);
  return found;
}

const [requestsTableId, requestsTable] = resourcesOfType(template, 'AWS::DynamoDB::Table').find(([id]) =>
  id.startsWith('FeedbackRequests'),
)!;

/** The actions a function's role may perform on the requests table (its items or the table itself). */
function requestsTableActions(fn: Props): string[] {
  const roleId = fn.Role['Fn::GetAtt'][0] as string;
  return policies
    .filter(([, p]) => (p.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
    .filter((s) => JSON.stringify(s.Resource).includes(requestsTableId))
    .flatMap((s) => ([] as string[]).concat(s.Action))
    .sort();
}

describe('requests table', () => {
  test('keyed by requestId, on demand, encrypted (AWS managed key), point-in-time recoverable, TTL on expiresAt', () => {
    expect(requestsTable).toMatchObject({
      KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'requestId', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      // SSEEnabled without a key: the AWS managed key `aws/dynamodb`, not the AWS owned default.
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  test("is kept when it leaves the stack: it holds users' ratings and comments", () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: { KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }] },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });
});

describe('permissions on the requests table', () => {
  test.each(['chat-stream', 'chat', 'openai-chat', 'report-worker'])(
    '%s may only create items, and is told the table name',
    (name) => {
      const [, fn] = functionOf(name);
      expect(requestsTableActions(fn)).toEqual(['dynamodb:PutItem']);
      expect(fn.Environment.Variables.REQUESTS_TABLE_NAME).toEqual({ Ref: requestsTableId });
    },
  );

  test('the feedback function may only update items, and touches no other table', () => {
    const [, fn] = functionOf('feedback');
    expect(requestsTableActions(fn)).toEqual(['dynamodb:UpdateItem']);
    expect(fn.Environment.Variables.REQUESTS_TABLE_NAME).toEqual({ Ref: requestsTableId });
    const roleId = fn.Role['Fn::GetAtt'][0] as string;
    const dynamoActions = policies
      .filter(([, p]) => (p.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap(([, p]) => p.PolicyDocument.Statement as { Action: string | string[] }[])
      .flatMap((s) => ([] as string[]).concat(s.Action))
      .filter((a) => a.startsWith('dynamodb:'));
    expect(dynamoActions).toEqual(['dynamodb:UpdateItem']);
    // The caller comes from the authorizer: no users table, no guard table, no Bedrock.
    expect(Object.keys(fn.Environment.Variables)).not.toEqual(
      expect.arrayContaining(['USERS_TABLE_NAME', 'GUARD_TABLE_NAME', 'BEDROCK_REGION']),
    );
  });

  test('no other function can reach the table', () => {
    const allowed = ['chat-stream', 'chat', 'openai-chat', 'report-worker', 'feedback'].map((n) => functionOf(n)[0]);
    for (const [id, fn] of functions.filter(([fid]) => !allowed.includes(fid))) {
      expect([id, requestsTableActions(fn)]).toEqual([id, []]);
      expect([id, fn.Environment?.Variables?.REQUESTS_TABLE_NAME]).toEqual([id, undefined]);
    }
  });

  test('under a customer managed key, the writers may also use the key, and only for encrypting and decrypting', () => {
    const app = createApp();
    const scope = new Stack(app, 'FeedbackWithKey');
    const key = new Key(scope, 'Key', { enableKeyRotation: true });
    const feedback = new Feedback(scope, 'Feedback', { config: parseConfig({}), tableEncryptionKey: key });
    const keyed = Template.fromStack(scope);
    const keyId = scope.getLogicalId(key.node.defaultChild as never);
    keyed.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    });
    const roleId = scope.getLogicalId(feedback.feedback.role.node.defaultChild as never);
    const statements = resourcesOfType(keyed, 'AWS::IAM::Policy')
      .filter(([, p]) => (p.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap(([, p]) => p.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
    const onKey = statements.filter((s) => JSON.stringify(s.Resource).includes(keyId)).flatMap((s) => s.Action);
    expect(onKey.sort()).toEqual(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*']);
  });
});

describe('POST /feedback', () => {
  const resources = resourcesOfType(template, 'AWS::ApiGateway::Resource');
  const [resourceId] = resources.find(([, r]) => r.PathPart === 'feedback' && r.ParentId['Fn::GetAtt'])!;
  const [, method] = resourcesOfType(template, 'AWS::ApiGateway::Method').find(
    ([, m]) => m.ResourceId?.Ref === resourceId,
  )!;

  test('invokes the feedback function through the buffered proxy integration, behind the API key authorizer', () => {
    const [feedbackId] = functionOf('feedback');
    expect(method).toMatchObject({
      HttpMethod: 'POST',
      AuthorizationType: 'CUSTOM',
      ApiKeyRequired: true,
      Integration: { Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' },
    });
    expect(JSON.stringify(method.Integration.Uri)).toContain(feedbackId);
    expect(JSON.stringify(method.Integration.Uri)).not.toContain('response-streaming-invocations');
  });

  test('describes the body with the contract: requestId and rating required, unknown fields refused', () => {
    const model = resourcesOfType(template, 'AWS::ApiGateway::Model').find(([, m]) => m.Name === 'FeedbackRequest')!;
    expect(model[1].Schema).toMatchObject({
      type: 'object',
      required: ['requestId', 'rating'],
      additionalProperties: false,
      properties: {
        requestId: { type: 'string', maxLength: 128 },
        rating: { enum: ['up', 'down'] },
        comment: { type: 'string', maxLength: 2000 },
      },
    });
  });

  test('the function runs Node.js 24 on ARM64 with a short timeout', () => {
    const [, fn] = functionOf('feedback');
    expect(fn).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Timeout: 10 });
  });
});

describe('dashboard and alarm', () => {
  const body = JSON.stringify(resourcesOfType(template, 'AWS::CloudWatch::Dashboard')[0][1].DashboardBody);

  test.each(['chat-stream', 'chat', 'openai-chat', 'reports'])(
    'graphs the CSAT of %s: the share of "up" among its ratings, over every model',
    (endpoint) => {
      for (const rating of ['up', 'down'])
        expect(body).toContain(
          `SUM(SEARCH('{GenAiApi,service,rating,model,endpoint} MetricName=\\\\\\"Feedback\\\\\\" service=\\\\\\"genai-api\\\\\\" endpoint=\\\\\\"${endpoint}\\\\\\" rating=\\\\\\"${rating}\\\\\\"'`,
        );
      expect(body).toContain(`${endpoint} CSAT`);
    },
  );

  test('graphs the count of each rating and the request records not written', () => {
    expect(body).toMatch(/100 \* up0 \/ \(up0 \+ down0\)/);
    expect(body).toContain('up ratings');
    expect(body).toContain('down ratings');
    expect(body).toContain('RequestRecordErrors');
  });

  test('alarms when request records fail to be written for three periods in a row', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'GenAiApi-request-records-not-written',
      Namespace: 'GenAiApi',
      MetricName: 'RequestRecordErrors',
      Dimensions: [{ Name: 'service', Value: 'genai-api' }],
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('configuration', () => {
  test('feedback.retentionDays out of range fails at synth naming the field', () => {
    expect(() => buildApp(createApp({ feedback: { retentionDays: 0 } }), { nag: false })).toThrow(
      /feedback\.retentionDays/,
    );
  });

  test('reaches the functions in GENAI_CONFIG', () => {
    const { template: t } = synth({ feedback: { retentionDays: 90 } });
    const fn = resourcesOfType(t, 'AWS::Lambda::Function').find(([, p]) => p.Description === 'genai-api chat')![1];
    expect(JSON.parse(fn.Environment.Variables.GENAI_CONFIG).feedback).toEqual({ retentionDays: 90 });
  });
});
