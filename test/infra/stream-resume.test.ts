/**
 * Resuming a stream as synthesised: `GET /chat/stream/{requestId}` is a STREAM integration of the resume-stream
 * function behind the API key authorizer, declaring Last-Event-ID and lastEventId; the function may only read the
 * streams table (no write of any kind), runs as long as a stream may, and touches nothing else of the stack's data.
 * Bundling is skipped.
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

const [streamsTableId] = tables.find(([, t]) =>
  (t.KeySchema as { AttributeName: string }[]).some((k) => k.AttributeName === 'part'),
)!;

/** Every statement of a function's role. */
function statementsOf(fn: Props): { Action: string | string[]; Resource: unknown }[] {
  const roleId = fn.Role['Fn::GetAtt'][0] as string;
  return policies
    .filter(([, p]) => (p.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.PolicyDocument.Statement);
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

describe('GET /chat/stream/{requestId}', () => {
  const m = method('GET', '/chat/stream/{requestId}');
  const [resumeId] = functionOf('resume-stream');

  test('streams through the response-streaming invocation of the resume-stream function, behind the authorizer', () => {
    expect(m).toMatchObject({
      AuthorizationType: 'CUSTOM',
      ApiKeyRequired: true,
      Integration: { Type: 'AWS_PROXY', ResponseTransferMode: 'STREAM' },
    });
    const uri = JSON.stringify(m.Integration.Uri);
    expect(uri).toContain('/response-streaming-invocations');
    expect(uri).toContain(resumeId);
  });

  test('declares Last-Event-ID and lastEventId as optional parameters', () => {
    expect(m.RequestParameters).toEqual({
      'method.request.header.Last-Event-ID': false,
      'method.request.querystring.lastEventId': false,
    });
  });
});

describe('the resume-stream function', () => {
  const [, fn] = functionOf('resume-stream');

  test('may only read the streams table: no write, delete or update action anywhere', () => {
    const statements = statementsOf(fn);
    const onStreams = statements.filter((s) => JSON.stringify(s.Resource).includes(streamsTableId));
    const actions = onStreams.flatMap((s) => ([] as string[]).concat(s.Action));
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
    const dynamo = statements
      .flatMap((s) => ([] as string[]).concat(s.Action))
      .filter((a) => a.startsWith('dynamodb:'));
    for (const action of dynamo) expect(action).not.toMatch(/Put|Update|Delete|Write|Create/);
  });

  test('reads no other table and calls no model', () => {
    const statements = statementsOf(fn);
    for (const [id] of tables.filter(([id]) => id !== streamsTableId))
      expect(JSON.stringify(statements.map((s) => s.Resource))).not.toContain(id);
    expect(JSON.stringify(statements)).not.toContain('bedrock:');
  });

  test('is told the streams table by name, and runs as long as a stream may', () => {
    expect(fn.Environment.Variables.STREAMS_TABLE_NAME).toEqual({ Ref: streamsTableId });
    const [, chatStream] = functionOf('chat-stream');
    expect(fn.Timeout).toBe(chatStream.Timeout);
  });
});
