/**
 * Bearer keys through the local cloud: the local gateway runs the deployed authorizer function against the users
 * table (hashes only), applies the usage plan of the key it returns, and hands the function the user and plan.
 */
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ROUTES } from '../../config/routes';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { send } from '../helpers/http';
import { ROOMY_PLAN, TRICKLE_PLAN } from '../helpers/local-cloud';

const ALICE = 'alice-pro-key-00000000000000000';
const BOB = 'bob-free-key-000000000000000000';
let cloud: LocalCloud;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `alice:pro:${ALICE},bob:free:${BOB}`,
    config: { plans: { pro: ROOMY_PLAN, free: { ...TRICKLE_PLAN, burstLimit: 3 } } },
  });
});

afterAll(async () => {
  await cloud?.stop();
});

const call = (method: string, path: string, headers: Readonly<Record<string, string | undefined>>, body?: unknown) =>
  send(cloud.url, method, path, { headers, body });

describe('API keys', () => {
  it('accept Authorization: Bearer and x-api-key alike on the native routes', async () => {
    for (const auth of [
      { Authorization: `Bearer ${ALICE}` },
      { 'x-api-key': ALICE },
      { authorization: `bearer ${ALICE}` },
    ]) {
      const chat = await call('POST', '/chat', auth, { message: 'Hello', maxTokens: 20 });
      expect(chat.status).toBe(200);
      expect(chat.json().text.length).toBeGreaterThan(0);
    }
  });

  it('identify the same user whichever header carries the key', async () => {
    const submitted = await call(
      'POST',
      '/reports',
      { Authorization: `Bearer ${ALICE}` },
      { prompt: 'A short report' },
    );
    expect(submitted.status).toBe(202);
    const { reportId } = submitted.json();
    expect((await call('GET', `/reports/${reportId}`, { 'x-api-key': ALICE })).status).toBe(200);
    // Another user's report does not exist for them.
    expect((await call('GET', `/reports/${reportId}`, { Authorization: `Bearer ${BOB}` })).status).toBe(404);
  });

  it('answer a missing, unknown, malformed or ambiguous key with 403 {"message":"Forbidden"}', async () => {
    for (const auth of [
      {},
      { Authorization: 'Bearer not-a-key-00000000000000000000' },
      { 'x-api-key': 'not-a-key-00000000000000000000' },
      { Authorization: `Basic ${Buffer.from(`alice:${ALICE}`).toString('base64')}` },
      { Authorization: `Bearer ${ALICE}`, 'x-api-key': BOB },
    ]) {
      for (const [method, path, body] of [
        ['POST', '/chat', { message: 'hi' }],
        ['GET', '/reports/00000000-0000-4000-8000-000000000000', undefined],
      ] as const) {
        const res = await call(method, path, auth, body);
        expect({ auth, path, status: res.status, body: res.json() }).toEqual({
          auth,
          path,
          status: 403,
          body: { message: 'Forbidden' },
        });
      }
    }
  });

  it("apply the key's usage plan to Bearer requests (429 past the burst)", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push(
        (await call('GET', '/reports/00000000-0000-4000-8000-000000000000', { Authorization: `Bearer ${BOB}` })).status,
      );
    }
    // Bob's free plan has a burst of 3 (one spent by an earlier test); Alice's key has its own bucket.
    expect(statuses[0]).toBe(404);
    expect(statuses.at(-1)).toBe(429);
    expect(
      (await call('GET', '/reports/00000000-0000-4000-8000-000000000000', { Authorization: `Bearer ${ALICE}` })).status,
    ).toBe(404);
  });

  it('store keys only as hashes', async () => {
    const db = new DynamoDBClient({
      endpoint: cloud.dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const { Items } = await db.send(new ScanCommand({ TableName: cloud.env.USERS_TABLE_NAME }));
    db.destroy();
    expect(Items).toHaveLength(2);
    const dump = JSON.stringify(Items);
    expect(dump).not.toContain(ALICE);
    expect(dump).not.toContain(BOB);
    expect(Items!.map((i) => i.keyHash?.S)).toEqual(expect.arrayContaining([expect.stringMatching(/^[0-9a-f]{64}$/)]));
  });
});

describe('OpenAI-compatible routes', () => {
  const openai = ROUTES.filter((r) => r.errorStyle === 'openai');

  it('exist in the route table', () => {
    expect(openai.map((r) => r.path)).toEqual(expect.arrayContaining(['/chat/completions', '/models']));
  });

  it("answer a missing or wrong key with 401 in OpenAI's error shape", async () => {
    for (const route of openai) {
      for (const auth of [
        {},
        { Authorization: 'Bearer sk-not-a-key-000000000000000000' },
        { 'x-api-key': 'nope-000000000000000000000' },
      ]) {
        const res = await call(
          route.method,
          route.path,
          auth,
          route.method === 'POST' ? { model: 'x', messages: [] } : undefined,
        );
        expect({ path: route.path, status: res.status }).toEqual({ path: route.path, status: 401 });
        expect(res.json()).toEqual({
          error: {
            message: expect.any(String),
            type: 'invalid_request_error',
            param: null,
            code: 'invalid_api_key',
          },
        });
      }
    }
  });
});
