/**
 * The stream log as synthesised: the streams table (keys from config/tables.ts, on demand, encrypted, point-in-time
 * recovery, TTL on `expiresAt`); the streaming functions may only create and update its items; the cancel function
 * may only update them (and read one to explain a refusal), touches no other data and calls no model; and
 * `POST /chat/stream/{requestId}/cancel` is a buffered proxy integration of it behind the authorizer. Bundling is
 * skipped.
 */
import { resourcesOfType, synth } from './helpers';

const { template } = synth();
type Props = ReturnType<typeof resourcesOfType>[number][1];

const functions = resourcesOfType(template, 'AWS::Lambda::Function');
const policies = resourcesOfType(template, 'AWS::IAM::Policy');
const tables = resourcesOfType(template, 'AWS::DynamoDB::Table');

function functionOf(name: string): [string, Props] {
  const found = functions.find(([, p]) => p.Description === `genai-api ${name}`);
  if (!found) throw new Error(`no function ${name}`);
  return found;
}

const [streamsTableId, streamsTable] = tables.find(([, t]) =>
  (t.KeySchema as { AttributeName: string }[]).some((k) => k.AttributeName === 'part'),
)!;

function statementsOf(fn: Props): { Action: string | string[]; Resource: unknown; Effect: string }[] {
  const roleId = fn.Role['Fn::GetAtt'][0] as string;
  return policies
    .filter(([, p]) => (p.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.PolicyDocument.Statement);
}

/** The DynamoDB actions a function has on the streams table, sorted. */
function streamsActions(fn: Props): string[] {
  return statementsOf(fn)
    .filter((s) => JSON.stringify(s.Resource).includes(streamsTableId))
    .flatMap((s) => ([] as string[]).concat(s.Action))
    .filter((a) => a.startsWith('dynamodb:'))
    .sort();
}

function method(httpMethod: string, path: string): Props {
  const resources = new Map(resourcesOfType(template, 'AWS::ApiGateway::Resource'));
  const fullPath = (id: string | undefined): string => {
    const r = id ? resources.get(id) : undefined;
    return r ? `${fullPath(r.ParentId?.Ref)}/${r.PathPart}` : '';
  };
  const found = resourcesOfType(template, 'AWS::ApiGateway::Method').find(
    ([, m]) => m.HttpMethod === httpMethod && fullPath(m.ResourceId?.Ref) === path,
  );
  if (!found) throw new Error(`no method ${httpMethod} ${path}`);
  return found[1];
}

describe('the streams table', () => {
  test('is keyed by requestId (S) and part (N), on demand, with TTL on expiresAt', () => {
    expect(streamsTable.KeySchema).toEqual([
      { AttributeName: 'requestId', KeyType: 'HASH' },
      { AttributeName: 'part', KeyType: 'RANGE' },
    ]);
    expect(streamsTable.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'requestId', AttributeType: 'S' },
        { AttributeName: 'part', AttributeType: 'N' },
      ]),
    );
    expect(streamsTable.BillingMode).toBe('PAY_PER_REQUEST');
    expect(streamsTable.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
  });

  test('is encrypted at rest with a KMS key and has point-in-time recovery', () => {
    expect(streamsTable.SSESpecification).toMatchObject({ SSEEnabled: true });
    expect(streamsTable.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });
});

describe('grants on the streams table', () => {
  test.each(['chat-stream', 'openai-chat'])('%s may only PutItem and UpdateItem, told the table by name', (name) => {
    const [, fn] = functionOf(name);
    expect(streamsActions(fn)).toEqual(['dynamodb:PutItem', 'dynamodb:UpdateItem']);
    expect(fn.Environment.Variables.STREAMS_TABLE_NAME).toEqual({ Ref: streamsTableId });
  });

  test('the cancel function may only UpdateItem and GetItem it, and nothing of any other table', () => {
    const [, fn] = functionOf('cancel-stream');
    expect(streamsActions(fn)).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    expect(fn.Environment.Variables.STREAMS_TABLE_NAME).toEqual({ Ref: streamsTableId });
    const statements = statementsOf(fn);
    for (const [id] of tables.filter(([id]) => id !== streamsTableId))
      expect(JSON.stringify(statements.map((s) => s.Resource))).not.toContain(id);
    expect(JSON.stringify(statements)).not.toContain('bedrock:');
    expect(fn.Timeout).toBe(10);
  });

  test('no function other than the writers, the cancel and the resume function touches the table', () => {
    const touching = functions
      .filter(([, fn]) => streamsActions(fn).length > 0)
      .map(([, fn]) => String(fn.Description).replace('genai-api ', ''))
      .sort();
    expect(touching).toEqual(['cancel-stream', 'chat-stream', 'openai-chat', 'resume-stream']);
  });
});

describe('POST /chat/stream/{requestId}/cancel', () => {
  test('is a buffered proxy integration of the cancel function, behind the API key authorizer', () => {
    const m = method('POST', '/chat/stream/{requestId}/cancel');
    const [cancelId] = functionOf('cancel-stream');
    expect(m).toMatchObject({ AuthorizationType: 'CUSTOM', ApiKeyRequired: true, Integration: { Type: 'AWS_PROXY' } });
    expect(m.Integration.ResponseTransferMode ?? 'BUFFERED').toBe('BUFFERED');
    expect(JSON.stringify(m.Integration.Uri)).toContain(cancelId);
    expect(JSON.stringify(m.Integration.Uri)).not.toContain('/response-streaming-invocations');
  });
});

describe('watching the stream log and cancels', () => {
  const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm');

  test('an alarm fires when stream log writes keep failing', () => {
    const found = alarms.filter(([, a]) => a.MetricName === 'StreamLogErrors');
    expect(found).toHaveLength(1);
    expect(found[0]![1]).toMatchObject({
      AlarmName: 'GenAiApi-stream-log-not-written',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 3,
      TreatMissingData: 'notBreaching',
    });
  });

  test('the dashboard graphs Cancelled by kind, TokensSavedByCancel and StreamLogErrors', () => {
    const [[, dashboard]] = resourcesOfType(template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.DashboardBody);
    for (const name of ['Cancelled', 'TokensSavedByCancel', 'StreamLogErrors']) expect(body).toContain(name);
    expect(body).toContain('kind');
  });
});
