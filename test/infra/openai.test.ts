/** The OpenAI-compatible routes in the synthesised stack: their methods, integrations, and the models IAM allows. */
import { resourcesOfType, synth } from './helpers';

const HAIKU = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';
const NOVA = 'amazon.nova-lite-v1:0';
const { template } = synth({ models: { aliases: { fast: { model: HAIKU }, cheap: { model: NOVA } } } });
const methods = resourcesOfType(template, 'AWS::ApiGateway::Method');
const resources = resourcesOfType(template, 'AWS::ApiGateway::Resource');
const functions = resourcesOfType(template, 'AWS::Lambda::Function');
const policies = resourcesOfType(template, 'AWS::IAM::Policy');

function functionId(name: string): string {
  const found = functions.find(([, p]) => p.Description === `genai-api ${name}`);
  if (!found) throw new Error(`no function ${name}`);
  return found[0];
}

function method(httpMethod: string, path: string): Record<string, unknown> & { Integration: Record<string, unknown> } {
  const byId = new Map(resources);
  const fullPath = (id: string): string => {
    const r = byId.get(id);
    if (!r) return '';
    const parent = r.ParentId?.Ref as string | undefined;
    return `${parent ? fullPath(parent) : ''}/${r.PathPart}`;
  };
  const found = methods.find(([, m]) => m.HttpMethod === httpMethod && fullPath(m.ResourceId?.Ref) === path);
  if (!found) throw new Error(`no method ${httpMethod} ${path}`);
  return found[1] as Record<string, unknown> & { Integration: Record<string, unknown> };
}

/** The Bedrock model ids a function's role may invoke. */
function invokableBy(name: string): string {
  const roleRef = functions.find(([id]) => id === functionId(name))?.[1].Role?.['Fn::GetAtt']?.[0];
  const statements = policies
    .filter(([, p]) => p.Roles?.some((r: { Ref?: string }) => r.Ref === roleRef))
    .flatMap(([, p]) => p.PolicyDocument.Statement)
    .filter((s: { Sid?: string }) => s.Sid === 'InvokeConfiguredModels');
  return JSON.stringify(statements);
}

describe('OpenAI-compatible routes', () => {
  it('streams POST /chat/completions through the response-streaming invocation of the openai-chat function', () => {
    const m = method('POST', '/chat/completions');
    expect(m.Integration).toMatchObject({ Type: 'AWS_PROXY', ResponseTransferMode: 'STREAM', TimeoutInMillis: 900000 });
    const uri = JSON.stringify(m.Integration.Uri);
    expect(uri).toContain('/response-streaming-invocations');
    expect(uri).toContain(functionId('openai-chat'));
  });

  it('serves GET /models with the buffered proxy of the models function', () => {
    const m = method('GET', '/models');
    expect(m.Integration.ResponseTransferMode ?? 'BUFFERED').toBe('BUFFERED');
    const uri = JSON.stringify(m.Integration.Uri);
    expect(uri).not.toContain('response-streaming');
    expect(uri).toContain(functionId('models'));
  });

  it('lets openai-chat call the models its aliases name, and the native chat functions only the chain', () => {
    expect(invokableBy('openai-chat')).toContain(NOVA);
    expect(invokableBy('openai-chat')).toContain(HAIKU);
    expect(invokableBy('chat-stream')).toContain(HAIKU);
    expect(invokableBy('chat-stream')).not.toContain(NOVA);
    expect(invokableBy('models')).toBe('[]');
  });
});
