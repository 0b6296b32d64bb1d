/**
 * Hostile and malformed requests against every route of the local cloud: each gets a clear 4xx in one of the two
 * contract shapes, never a 5xx, and none of them reaches the model or creates a report.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { ROUTES } from '../../config/routes';
import { ENV } from '../../config/runtime';
import { mulberry32 } from '../../local/bedrock-simulator';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { dynamoClient } from '../helpers/dynalite';

const KEY = 'rob-pro-key-000000000000000000';
let cloud: LocalCloud;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `rob:pro:${KEY}`,
    config: { plans: { pro: { rateLimit: 10_000, burstLimit: 10_000, requestsPerDay: 1_000_000, tokensPerDay: 5_000_000 } } },
  });
});

afterAll(async () => {
  await cloud?.stop();
});

const random = mulberry32(20261123);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];

function randomBytes(n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
}

function nested(depth: number): unknown {
  return depth === 0 ? 'deep' : { a: [nested(depth - 1)] };
}

/** Bodies that no route accepts. */
const invalidBodies: (() => string | Buffer)[] = [
  () => '',
  () => 'null',
  () => 'true',
  () => '12345',
  () => '"a string"',
  () => '[]',
  () => '[{"message":"hi"}]',
  () => '{',
  () => '{"message": "unterminated',
  () => '{}',
  () => JSON.stringify({ message: null, prompt: null }),
  () => JSON.stringify({ message: { text: 'hi' }, prompt: ['x'] }),
  () => JSON.stringify({ message: 'hi', prompt: 'hi', extra: 1 }),
  () => JSON.stringify({ __proto__: { admin: true }, constructor: { prototype: {} } }),
  () => JSON.stringify({ message: '', prompt: '' }),
  () => JSON.stringify({ message: 'x'.repeat(250_000), prompt: 'x'.repeat(250_000) }),
  () => JSON.stringify({ message: 'hi', prompt: 'hi', maxTokens: 1e308, metadata: 'nope' }),
  () => JSON.stringify({ message: 'hi', prompt: 'hi', history: nested(50), callbackUrl: 'http://169.254.169.254/latest' }),
  () => JSON.stringify(nested(2_000)),
  () => '\u0000\u0001\u0002',
  () => '{"message":"\ud800"}x',
  () => randomBytes(64),
  () => randomBytes(4096),
];

async function send(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(`${cloud.url}${path}`, {
    method,
    headers: { 'x-api-key': KEY, 'content-type': 'application/json', ...headers },
    body: method === 'GET' ? undefined : body,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json: json as { error?: { code: string; message: string; retryable: boolean }; message?: string } };
}

function expectClear4xx(res: Awaited<ReturnType<typeof send>>, what: string): void {
  if (res.status < 400 || res.status >= 500) throw new Error(`${what} answered ${res.status}: ${res.text.slice(0, 300)}`);
  const shaped =
    (res.json?.error && typeof res.json.error.code === 'string' && typeof res.json.error.message === 'string' && res.json.error.retryable === false) ||
    typeof res.json?.message === 'string';
  if (!shaped) throw new Error(`${what} answered ${res.status} without a contract error body: ${res.text.slice(0, 300)}`);
}

const bodyRoutes = ROUTES.filter((r) => r.method === 'POST');

it('answers every malformed body on every POST route with a 4xx and changes nothing', async () => {
  const calls = cloud.simulator.stats.calls;
  for (const route of bodyRoutes) {
    for (const [i, body] of invalidBodies.entries()) {
      expectClear4xx(await send('POST', route.path, body()), `${route.id} body #${i}`);
    }
  }
  expect(cloud.simulator.stats.calls).toBe(calls);
  const db = dynamoClient(cloud.dynamoEndpoint);
  try {
    const { Count } = await db.send(new ScanCommand({ TableName: cloud.env[ENV.reportsTable], Select: 'COUNT' }));
    expect(Count).toBe(0);
  } finally {
    db.destroy();
  }
});

it('answers hostile headers and content types with a 4xx', async () => {
  const reports = bodyRoutes.find((r) => r.path === '/reports');
  const cases: [string, Record<string, string>][] = [
    ['a form content type', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['an oversized Idempotency-Key', { 'idempotency-key': 'k'.repeat(300) }],
    ['an Idempotency-Key with spaces', { 'idempotency-key': 'two words' }],
  ];
  for (const [what, headers] of cases) {
    const body = what.includes('form') ? 'message=hi' : JSON.stringify({ prompt: '' });
    expectClear4xx(await send('POST', reports?.path ?? '/chat', body, headers), what);
  }
});

it('answers odd report ids with a 4xx', async () => {
  const ids = ['..', '%2e%2e', '%ZZ', 'x'.repeat(2_000), '%00', encodeURIComponent('<script>'), pick(['a', 'b']).repeat(37)];
  for (const id of ids) expectClear4xx(await send('GET', `/reports/${id}`), `GET /reports/${id.slice(0, 20)}`);
});

it('answers methods and paths outside the route table like API Gateway', async () => {
  for (const [method, path] of [
    ['GET', '/chat'],
    ['PUT', '/chat/stream'],
    ['DELETE', '/reports/abc'],
    ['POST', '/reports/abc'],
    ['GET', '/'],
    ['GET', '/chat/stream/extra'],
  ]) {
    const res = await send(method, path, '{}');
    expect(res.status).toBe(403);
    expect(res.json).toEqual({ message: 'Missing Authentication Token' });
  }
});
