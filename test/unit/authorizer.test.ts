/**
 * The authorizer's decision (`lambda/core/identity.ts`): which header holds the key, what a key maps to, and what API
 * Gateway answers when it is missing or unknown, per route style. The users table is an in-memory one here; the
 * DynamoDB adapter is covered by test/integration/reports-adapters.test.ts and the whole path by test/e2e/auth.test.ts.
 */
import type { RouteDefinition } from '../../config/routes';
import {
  apiKeyFromHeaders,
  authorizeRequest,
  hashApiKey,
  KeyAuthority,
  resolveCaller,
  UNAUTHORIZED,
  type UsersLookup,
} from '../../lambda/core/identity';

const KEY = 'alice-key-0123456789abcdef';
const OTHER = 'bob-key-0123456789abcdef00';

class MemoryUsers implements UsersLookup {
  reads = 0;
  readonly items = new Map<string, Record<string, unknown>>();
  async get(keyHash: string) {
    this.reads++;
    return this.items.get(keyHash);
  }
}

function users(): MemoryUsers {
  const table = new MemoryUsers();
  table.items.set(hashApiKey(KEY), { keyHash: hashApiKey(KEY), apiKeyId: 'id-a', userId: 'alice', plan: 'pro' });
  return table;
}

const ROUTES: RouteDefinition[] = [
  { id: 'Chat', method: 'POST', path: '/chat', functionName: 'chat', transferMode: 'BUFFERED' },
  { id: 'Report', method: 'GET', path: '/reports/{id}', functionName: 'get-report', transferMode: 'BUFFERED' },
  {
    id: 'Completions',
    method: 'POST',
    path: '/chat/completions',
    functionName: 'chat',
    transferMode: 'STREAM',
    errorStyle: 'openai',
  },
];
const ARN = 'arn:aws:execute-api:us-east-1:123456789012:abc/v1/POST/chat';

describe('apiKeyFromHeaders', () => {
  it('reads Authorization: Bearer (any case, any header spelling) and x-api-key', () => {
    expect(apiKeyFromHeaders({ Authorization: `Bearer ${KEY}` })).toEqual({ key: KEY });
    expect(apiKeyFromHeaders({ authorization: `bearer   ${KEY} ` })).toEqual({ key: KEY });
    expect(apiKeyFromHeaders({ 'X-Api-Key': KEY })).toEqual({ key: KEY });
    expect(apiKeyFromHeaders({ 'x-api-key': KEY, Authorization: `Bearer ${KEY}` })).toEqual({ key: KEY });
  });

  it('falls back to x-api-key when Authorization is another scheme (e.g. a proxy’s Basic)', () => {
    expect(apiKeyFromHeaders({ Authorization: 'Basic dXNlcjpwYXNz', 'x-api-key': KEY })).toEqual({ key: KEY });
  });

  it('refuses no key, a non-Bearer Authorization alone, and two different keys', () => {
    expect(apiKeyFromHeaders({})).toMatchObject({ reason: expect.stringMatching(/No API key/) });
    expect(apiKeyFromHeaders(null)).toMatchObject({ reason: expect.any(String) });
    expect(apiKeyFromHeaders({ Authorization: 'Basic dXNlcjpwYXNz' })).toMatchObject({ reason: /Bearer/ });
    expect(apiKeyFromHeaders({ Authorization: 'Bearer' })).toMatchObject({ reason: /Bearer/ });
    expect(apiKeyFromHeaders({ Authorization: `Bearer ${KEY}`, 'x-api-key': OTHER })).toMatchObject({
      reason: /different keys/,
    });
  });
});

describe('KeyAuthority', () => {
  it('maps a key to its user by hash and caches the answer for its TTL', async () => {
    const table = users();
    const authority = new KeyAuthority(table, 1_000);
    const caller = { userId: 'alice', plan: 'pro', apiKeyId: 'id-a' };
    expect(await authority.decide({ 'x-api-key': KEY }, 0)).toEqual({ allow: true, key: KEY, caller });
    expect(await authority.decide({ Authorization: `Bearer ${KEY}` }, 999)).toEqual({ allow: true, key: KEY, caller });
    expect(table.reads).toBe(1);
    await authority.decide({ 'x-api-key': KEY }, 1_000);
    expect(table.reads).toBe(2);
  });

  it('refuses unknown keys and malformed records, and does not cache refusals', async () => {
    const table = users();
    table.items.set(hashApiKey(OTHER), { userId: 'bob' });
    const authority = new KeyAuthority(table, 60_000);
    expect(await authority.decide({ 'x-api-key': OTHER })).toEqual({ allow: false, reason: 'Unknown API key' });
    expect(await authority.decide({ 'x-api-key': 'nobody-0123456789abcdef' })).toMatchObject({ allow: false });
    table.items.set(hashApiKey(OTHER), { userId: 'bob', plan: 'free', apiKeyId: 'id-b' });
    expect(await authority.decide({ 'x-api-key': OTHER })).toMatchObject({ allow: true, caller: { userId: 'bob' } });
  });
});

describe('authorizeRequest', () => {
  const authority = () => new KeyAuthority(users(), 60_000);

  it('allows the method, passes the user and plan as context and the key as usageIdentifierKey', async () => {
    const event = {
      headers: { Authorization: `Bearer ${KEY}` },
      methodArn: ARN,
      httpMethod: 'POST',
      resource: '/chat',
    };
    const result = await authorizeRequest(event, authority(), ROUTES);
    expect(result).toEqual({
      principalId: 'alice',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: ARN }],
      },
      context: { userId: 'alice', plan: 'pro', apiKeyId: 'id-a' },
      usageIdentifierKey: KEY,
    });
    // What API Gateway hands the function from that context, read back without any lookup.
    const proxyEvent = { requestContext: { authorizer: { principalId: 'alice', ...result.context } } };
    expect(resolveCaller(proxyEvent as never)).toEqual({ userId: 'alice', plan: 'pro', apiKeyId: 'id-a' });
  });

  it('denies (403 Forbidden) a missing or unknown key on the native routes', async () => {
    for (const headers of [{}, { 'x-api-key': OTHER }]) {
      const result = await authorizeRequest(
        { headers, methodArn: ARN, httpMethod: 'GET', resource: '/reports/{id}' },
        authority(),
        ROUTES,
      );
      expect(result.policyDocument.Statement).toEqual([
        { Action: 'execute-api:Invoke', Effect: 'Deny', Resource: ARN },
      ]);
      expect(result.usageIdentifierKey).toBeUndefined();
      expect(result.context).toBeUndefined();
    }
  });

  it('fails with Unauthorized (401) on OpenAI-style routes', async () => {
    for (const headers of [{}, { Authorization: `Bearer ${OTHER}` }]) {
      await expect(
        authorizeRequest(
          { headers, methodArn: ARN, httpMethod: 'POST', resource: '/chat/completions' },
          authority(),
          ROUTES,
        ),
      ).rejects.toThrow(UNAUTHORIZED);
    }
  });
});

describe('resolveCaller', () => {
  it('refuses (403) a request that did not pass the authorizer', () => {
    expect(() => resolveCaller({ requestContext: {} } as never)).toThrow(/requires an API key/);
    expect(() => resolveCaller({ requestContext: { authorizer: { userId: 'x' } } } as never)).toThrow();
  });
});
