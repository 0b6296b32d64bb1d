/**
 * The local gateway's emulation of API Gateway's authorizer step: it runs the authorizer on every request (or, with a
 * result cache, once per identity for the TTL), enforces its policy, applies the usage plan of the key it returns,
 * and passes its context to the function as `requestContext.authorizer`.
 */
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import type { RouteDefinition } from '../../config/routes';
import { parseApiKeys, UsagePlans } from '../../local/api-keys';
import { type AuthorizerCacheSettings, LocalGateway } from '../../local/gateway';

const KEY = 'alice-key-0123456789abcdef';
const plans = {
  pro: { rateLimit: 1_000, burstLimit: 1_000, requestsPerDay: 1_000, tokensPerDay: 1_000, maxConcurrentRequests: 10 },
};
const ROUTES: RouteDefinition[] = [
  { id: 'Echo', method: 'GET', path: '/echo', functionName: 'chat', transferMode: 'BUFFERED' },
  { id: 'Open', method: 'GET', path: '/open', functionName: 'models', transferMode: 'BUFFERED' },
];

async function withGateway(
  cache: AuthorizerCacheSettings | undefined,
  run: (url: string, calls: APIGatewayRequestAuthorizerEvent[]) => Promise<void>,
) {
  const calls: APIGatewayRequestAuthorizerEvent[] = [];
  const authorizer = async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    calls.push(event);
    const key = event.headers?.['x-api-key'];
    if (event.resource === '/open' && key !== KEY) throw new Error('Unauthorized');
    return {
      principalId: 'alice',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Action: 'execute-api:Invoke', Effect: key === KEY ? 'Allow' : 'Deny', Resource: event.methodArn },
        ],
      },
      context: { userId: 'alice', plan: 'pro' },
      usageIdentifierKey: key,
    };
  };
  const echo = async (event: APIGatewayProxyEvent) => ({
    statusCode: 200,
    body: JSON.stringify({ authorizer: event.requestContext.authorizer, identity: event.requestContext.identity }),
  });
  const gateway = await LocalGateway.start({
    plans: new UsagePlans(parseApiKeys(`alice:pro:${KEY}`, plans), plans),
    loadHandler: async (name) => (name === 'authorizer' ? authorizer : echo),
    timeoutMs: () => 5_000,
    routes: ROUTES,
    authorizerCache: cache,
  });
  try {
    await run(gateway.url, calls);
  } finally {
    await gateway.close();
  }
}

describe('local gateway authorizer', () => {
  it('runs the authorizer on every request without a cache and passes its context and key on', async () => {
    await withGateway(undefined, async (url, calls) => {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${url}/echo`, { headers: { 'x-api-key': KEY } });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { authorizer: unknown; identity: unknown };
        expect(body.authorizer).toEqual({ principalId: 'alice', userId: 'alice', plan: 'pro' });
        expect(body.identity).toMatchObject({ apiKey: KEY, apiKeyId: expect.stringMatching(/^[0-9a-f]{10}$/) });
      }
      expect(calls).toHaveLength(2);
      expect(calls[0]).toMatchObject({ type: 'REQUEST', resource: '/echo', httpMethod: 'GET', path: '/echo' });
      expect(calls[0].methodArn).toMatch(/\/GET\/echo$/);
    });
  });

  it('answers a Deny with 403 Forbidden and an Unauthorized failure with 401', async () => {
    await withGateway(undefined, async (url) => {
      const denied = await fetch(`${url}/echo`, { headers: { 'x-api-key': 'wrong-key-0000000000000' } });
      expect([denied.status, await denied.json()]).toEqual([403, { message: 'Forbidden' }]);
      const unauthorized = await fetch(`${url}/open`);
      expect(unauthorized.status).toBe(401);
      expect(((await unauthorized.json()) as { error: unknown }).error).toMatchObject({ code: 'invalid_api_key' });
    });
  });

  it('with a result cache: requires the identity sources and caches answers by them for the TTL', async () => {
    await withGateway({ ttlSeconds: 60, identityHeaders: ['x-api-key'] }, async (url, calls) => {
      const missing = await fetch(`${url}/echo`);
      expect(missing.status).toBe(401);
      expect(calls).toHaveLength(0);
      for (let i = 0; i < 3; i++) {
        expect((await fetch(`${url}/echo`, { headers: { 'x-api-key': KEY } })).status).toBe(200);
      }
      expect(calls).toHaveLength(1);
      expect((await fetch(`${url}/echo`, { headers: { 'x-api-key': 'wrong-key-0000000000000' } })).status).toBe(403);
      expect((await fetch(`${url}/echo`, { headers: { 'x-api-key': 'wrong-key-0000000000000' } })).status).toBe(403);
      expect(calls).toHaveLength(2);
    });
  });
});
