/**
 * CORS and `x-request-id` on AWS: with `api.cors.allowOrigins` set, every route's resource answers preflights from a
 * mock `OPTIONS` method without the authorizer or a key, and API Gateway's own errors carry the CORS headers; every
 * gateway error carries the request id, CORS or not.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, preflightMethods } from '../../config/headers';
import { ROUTES } from '../../config/routes';
import { ConfigError } from '../../config/schema';
import { resourcesOfType, synth } from './helpers';

const ONE = 'https://app.example.com';
const TWO = 'http://localhost:5173';

const cors = (allowOrigins: string[]) => ({ api: { cors: { allowOrigins } } });

/** A resource's properties in the template. */
type Properties = ReturnType<typeof resourcesOfType>[number][1];

/** Each API Gateway resource's path (`/chat/stream`), by logical id. */
function resourcePaths(template: Template): Record<string, string> {
  const resources = Object.fromEntries(resourcesOfType(template, 'AWS::ApiGateway::Resource'));
  const pathOf = (id: string): string => {
    const { ParentId, PathPart } = resources[id];
    const parent = ParentId.Ref as string | undefined;
    return `${parent ? pathOf(parent) : ''}/${PathPart}`;
  };
  return Object.fromEntries(Object.keys(resources).map((id) => [id, pathOf(id)]));
}

/** The OPTIONS methods, by resource path. */
function preflights(template: Template): Record<string, Properties> {
  const paths = resourcePaths(template);
  return Object.fromEntries(
    resourcesOfType(template, 'AWS::ApiGateway::Method')
      .filter(([, m]) => m.HttpMethod === 'OPTIONS')
      .map(([, m]) => [paths[m.ResourceId.Ref], m]),
  );
}

function gatewayResponses(template: Template): Record<string, Properties> {
  return Object.fromEntries(
    resourcesOfType(template, 'AWS::ApiGateway::GatewayResponse').map(([, r]) => [r.ResponseType, r]),
  );
}

/** A gateway response's headers, without the `gatewayresponse.header.` prefix. */
function headersOf(response: Properties): Record<string, string> {
  return Object.fromEntries(
    Object.entries(response.ResponseParameters ?? {}).map(([k, v]) => [k.replace('gatewayresponse.header.', ''), v]),
  ) as Record<string, string>;
}

const routePaths = [...new Set(ROUTES.map((r) => r.path))];
const methodsAt = (path: string) => preflightMethods(ROUTES.filter((r) => r.path === path).map((r) => r.method));

describe('CORS off (the default)', () => {
  const { template } = synth();

  it('adds no OPTIONS method', () => {
    expect(preflights(template)).toEqual({});
  });

  it("puts the request id, and no CORS header, on API Gateway's own errors", () => {
    const responses = gatewayResponses(template);
    expect(Object.keys(responses).sort()).toEqual(['ACCESS_DENIED', 'DEFAULT_4XX', 'DEFAULT_5XX', 'UNAUTHORIZED']);
    for (const response of Object.values(responses)) {
      const headers = headersOf(response);
      expect(headers['x-request-id']).toBe('context.requestId');
      expect(Object.keys(headers).filter((h) => h.toLowerCase().startsWith('access-control-'))).toEqual([]);
    }
  });
});

describe('CORS for one origin', () => {
  const { app, template } = synth(cors([ONE]));
  const options = preflights(template);

  it('answers preflights on the resource of every route', () => {
    expect(Object.keys(options).sort()).toEqual([...routePaths].sort());
  });

  it.each(routePaths)('answers the preflight of %s without the authorizer, a key or a function', (path) => {
    const method = options[path];
    expect(method).toMatchObject({ AuthorizationType: 'NONE', ApiKeyRequired: false, Integration: { Type: 'MOCK' } });
    expect(method.AuthorizerId).toBeUndefined();
    const [answer] = method.Integration.IntegrationResponses;
    expect(answer.StatusCode).toBe('204');
    expect(answer.ResponseParameters).toEqual({
      'method.response.header.Access-Control-Allow-Origin': `'${ONE}'`,
      'method.response.header.Access-Control-Allow-Methods': `'${methodsAt(path).join(',')}'`,
      'method.response.header.Access-Control-Allow-Headers': `'${CORS_ALLOW_HEADERS.join(',')}'`,
      'method.response.header.Access-Control-Max-Age': "'600'",
      'method.response.header.Vary': "'Origin'",
      'method.response.header.x-request-id': 'context.requestId',
    });
    // Every mapped header is declared on the method response, or API Gateway refuses the deployment.
    expect(Object.keys(method.MethodResponses[0].ResponseParameters).sort()).toEqual(
      Object.keys(answer.ResponseParameters).sort(),
    );
  });

  it('allows on each preflight exactly the methods of the routes on that resource', () => {
    expect(methodsAt('/reports/{id}')).toEqual(['OPTIONS', 'GET']);
    const allowed = options['/reports/{id}'].Integration.IntegrationResponses[0].ResponseParameters;
    expect(allowed['method.response.header.Access-Control-Allow-Methods']).toBe("'OPTIONS,GET'");
  });

  it("puts the origin, the readable headers and the request id on API Gateway's own errors", () => {
    for (const response of Object.values(gatewayResponses(template))) {
      expect(headersOf(response)).toMatchObject({
        'x-request-id': 'context.requestId',
        'Access-Control-Allow-Origin': `'${ONE}'`,
        'Access-Control-Expose-Headers': `'${CORS_EXPOSE_HEADERS.join(',')}'`,
      });
    }
  });

  it('passes the cdk-nag checks, the unauthenticated preflights acknowledged with their reason', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });
});

describe('CORS for several origins', () => {
  const { template } = synth(cors([ONE, TWO]));

  it("echoes the preflight's Origin only when it is one of them", () => {
    const [answer] = preflights(template)['/chat/stream'].Integration.IntegrationResponses;
    // The first origin is the constant; the template replaces it with the request's Origin when that is another one.
    expect(answer.ResponseParameters['method.response.header.Access-Control-Allow-Origin']).toBe(`'${ONE}'`);
    const vtl: string = answer.ResponseTemplates['application/json'];
    expect(vtl).toContain(`#if($origin == "${TWO}")`);
    expect(vtl).toContain('#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)');
    expect(vtl).not.toContain('*');
  });

  it("echoes the request's Origin on API Gateway's own errors, which carry no data, varying by it", () => {
    for (const response of Object.values(gatewayResponses(template))) {
      expect(headersOf(response)).toMatchObject({
        'x-request-id': 'context.requestId',
        'Access-Control-Allow-Origin': 'method.request.header.Origin',
        Vary: "'Origin'",
      });
    }
  });
});

describe('CORS for any origin', () => {
  const { template } = synth(cors(['*']));

  it('answers preflights and errors with "*", not varying by Origin', () => {
    const [answer] = preflights(template)['/chat'].Integration.IntegrationResponses;
    expect(answer.ResponseParameters['method.response.header.Access-Control-Allow-Origin']).toBe("'*'");
    expect(answer.ResponseParameters['method.response.header.Vary']).toBeUndefined();
    expect(headersOf(gatewayResponses(template).DEFAULT_4XX)['Access-Control-Allow-Origin']).toBe("'*'");
  });
});

describe('CORS configuration errors', () => {
  it.each([
    [['https://app.example.com/'], /api\.cors\.allowOrigins\.0: must be an origin/],
    [[ONE, '*'], /api\.cors\.allowOrigins: "\*" \(any origin\) must be the only entry/],
  ])('fail the synth naming api.cors.allowOrigins (%j)', (allowOrigins, message) => {
    expect(() => synth(cors(allowOrigins))).toThrow(ConfigError);
    expect(() => synth(cors(allowOrigins))).toThrow(message);
  });
});
