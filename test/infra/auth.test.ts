/**
 * Auth on AWS: every method runs the Lambda REQUEST authorizer, which accepts `Authorization: Bearer <key>` or
 * `x-api-key` and returns the key for the usage plans (`apiKeySource: AUTHORIZER`).
 */
import { AUTHORIZER_RESULT_TTL_SECONDS, OPENAI_INVALID_API_KEY } from '../../config/auth';
import { ROUTES } from '../../config/routes';
import { resourcesOfType, synth } from './helpers';

const { template, stack } = synth();
const methods = resourcesOfType(template, 'AWS::ApiGateway::Method');
const authorizers = resourcesOfType(template, 'AWS::ApiGateway::Authorizer');

describe('API key authorizer', () => {
  it('takes usage-plan keys from the authorizer, not from the x-api-key header', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { ApiKeySourceType: 'AUTHORIZER' });
  });

  it('is one REQUEST authorizer backed by the authorizer function', () => {
    expect(authorizers).toHaveLength(1);
    const [, authorizer] = authorizers[0];
    expect(authorizer.Type).toBe('REQUEST');
    const fnId = stack.getLogicalId(
      stack.node.findChild('Auth').node.findChild('Authorizer').node.findChild('Function').node.defaultChild as never,
    );
    expect(JSON.stringify(authorizer.AuthorizerUri)).toContain(fnId);
    // API Gateway may invoke it.
    const permissions = resourcesOfType(template, 'AWS::Lambda::Permission').filter(
      ([, p]) => p.FunctionName?.['Fn::GetAtt']?.[0] === fnId,
    );
    expect(permissions.map(([, p]) => p.Principal)).toContain('apigateway.amazonaws.com');
  });

  it('has no result cache and no identity source, so a key in either header reaches the function', () => {
    // With caching on, every identity source would be required and a request with only the other header would get
    // 401 without the function running (see config/auth.ts).
    const [, authorizer] = authorizers[0];
    expect(AUTHORIZER_RESULT_TTL_SECONDS).toBe(0);
    expect(authorizer.AuthorizerResultTtlInSeconds).toBe(0);
    expect(authorizer.IdentitySource ?? '').toBe('');
  });

  it('guards every method of the route table with the authorizer and an API key', () => {
    const [authorizerId] = authorizers[0];
    expect(methods).toHaveLength(ROUTES.length);
    for (const [, m] of methods) {
      expect(m).toMatchObject({
        AuthorizationType: 'CUSTOM',
        AuthorizerId: { Ref: authorizerId },
        ApiKeyRequired: true,
      });
    }
  });

  it("answers the authorizer's Deny with the contract's 403 and its Unauthorized with OpenAI's 401", () => {
    const byType = Object.fromEntries(
      resourcesOfType(template, 'AWS::ApiGateway::GatewayResponse').map(([, r]) => [r.ResponseType, r]),
    );
    expect(byType.ACCESS_DENIED).toMatchObject({ StatusCode: '403' });
    expect(JSON.parse(byType.ACCESS_DENIED.ResponseTemplates['application/json'])).toEqual({ message: 'Forbidden' });
    expect(byType.UNAUTHORIZED).toMatchObject({ StatusCode: '401' });
    const body = JSON.parse(byType.UNAUTHORIZED.ResponseTemplates['application/json']);
    expect(body).toEqual(OPENAI_INVALID_API_KEY);
    expect(body.error).toMatchObject({ type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
    for (const r of [byType.ACCESS_DENIED, byType.UNAUTHORIZED]) {
      expect(r.ResponseParameters['gatewayresponse.header.x-request-id']).toBe('context.requestId');
    }
  });

  it('lets the authorizer read the users table and nothing else', () => {
    const fn = resourcesOfType(template, 'AWS::Lambda::Function').find(
      ([, f]) => f.Description === 'genai-api API key authorizer',
    );
    expect(fn).toBeDefined();
    expect(fn![1].Environment.Variables.USERS_TABLE_NAME).toBeDefined();
    const role = fn![1].Role['Fn::GetAtt'][0];
    const actions = resourcesOfType(template, 'AWS::IAM::Policy')
      .filter(([, p]) => p.Roles.some((r: { Ref: string }) => r.Ref === role))
      .flatMap(([, p]) => p.PolicyDocument.Statement.flatMap((s: { Action: string | string[] }) => [s.Action].flat()));
    expect(actions).toContain('dynamodb:GetItem');
    expect(actions.filter((a: string) => /^dynamodb:(Put|Update|Delete|BatchWrite)/.test(a))).toEqual([]);
  });
});
