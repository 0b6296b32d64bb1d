/**
 * Hostile and malformed requests against every route of the local cloud: each gets a clear 4xx in one of the two
 * contract shapes, never a 5xx, and none of them reaches the model or creates a report. Requests fetch cannot send
 * (unparsable targets, malformed request lines, bodies shorter than their Content-Length) go over raw sockets.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { ROUTES } from '../../config/routes';
import { ENV } from '../../config/runtime';
import { mulberry32 } from '../../local/bedrock-simulator';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { dynamoClient } from '../helpers/dynalite';
import { jsonOf, rawRequest, type RawResponse } from '../helpers/fuzz';
import { ROOMY_PLAN } from '../helpers/local-cloud';
import { streamChat } from '../helpers/sse';

const KEY = 'rob-pro-key-000000000000000000';
/** Short gateway timeouts, so that the tests of slow clients take seconds; the stream test relies on their ratios. */
const TIMEOUTS = { headersMs: 1_000, requestMs: 2_000, bodyIdleMs: 1_000 };
const KEEP_ALIVE_MS = 1_200;
let cloud: LocalCloud;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `rob:pro:${KEY}`,
    gatewayTimeouts: TIMEOUTS,
    config: {
      plans: { pro: ROOMY_PLAN },
      chat: { keepAliveMs: KEEP_ALIVE_MS },
    },
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
  () =>
    JSON.stringify({ message: 'hi', prompt: 'hi', history: nested(50), callbackUrl: 'http://169.254.169.254/latest' }),
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
  return {
    status: res.status,
    text,
    json: json as { error?: { code: string; message: string; retryable: boolean }; message?: string },
  };
}

function expectClear4xx(res: Awaited<ReturnType<typeof send>>, what: string): void {
  if (res.status < 400 || res.status >= 500)
    throw new Error(`${what} answered ${res.status}: ${res.text.slice(0, 300)}`);
  const shaped =
    (res.json?.error &&
      typeof res.json.error.code === 'string' &&
      typeof res.json.error.message === 'string' &&
      res.json.error.retryable === false) ||
    // OpenAI's error shape, on the OpenAI-compatible routes.
    (res.json?.error &&
      typeof res.json.error.message === 'string' &&
      typeof (res.json.error as { type?: unknown }).type === 'string' &&
      'param' in res.json.error &&
      'code' in res.json.error) ||
    typeof res.json?.message === 'string';
  if (!shaped)
    throw new Error(`${what} answered ${res.status} without a contract error body: ${res.text.slice(0, 300)}`);
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
  const ids = ['%ZZ', 'x'.repeat(2_000), '%00', encodeURIComponent('<script>'), pick(['a', 'b']).repeat(37)];
  for (const id of ids) expectClear4xx(await send('GET', `/reports/${id}`), `GET /reports/${id.slice(0, 20)}`);
  // fetch resolves `..` and `%2e%2e` before sending; sent as written, they are an odd report id, never `/`.
  for (const id of ['..', '%2e%2e']) {
    const raw = await rawRequest(cloud.url, `GET /reports/${id} HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY}\r\n\r\n`);
    const status = raw.status ?? 0;
    if (status < 400 || status >= 500) throw new Error(`GET /reports/${id} as written answered ${status || 'nothing'}`);
  }
});

it('answers methods and paths outside the route table like API Gateway', async () => {
  for (const [method, path] of [
    ['GET', '/chat'],
    ['PUT', '/chat/stream'],
    ['DELETE', '/reports/abc'],
    ['POST', '/reports/abc'],
    ['POST', '/'],
    ['GET', '/chat/stream/abc/extra'],
    ['GET', '/assets'],
    ['GET', '/index.htm'],
  ]) {
    const res = await send(method, path, '{}');
    expect(res.status).toBe(403);
    expect(res.json).toEqual({ message: 'Missing Authentication Token' });
  }
});

/** A gateway rejection: API Gateway's `{"message": …}` shape, as JSON. */
function expectGatewayRejection(res: RawResponse, status: number, what: string): void {
  const json = jsonOf(res) as { message?: unknown } | undefined;
  if (
    res.status !== status ||
    typeof json?.message !== 'string' ||
    res.headers['content-type'] !== 'application/json'
  ) {
    throw new Error(
      `${what}: expected ${status} with a JSON {"message"} body, got ${res.status ?? (res.hung ? 'no answer' : 'a closed connection')}: ${res.body.toString().slice(0, 200)}`,
    );
  }
}

it('answers an unparsable request target with 400 and a JSON body, not a 5xx', async () => {
  for (const request of [
    'GET http://[/ HTTP/1.1\r\nHost: x\r\n\r\n',
    `GET http://[/reports/abc HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY}\r\n\r\n`,
    `POST http://[::1/chat HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY}\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{"message":"hi"}`,
    'GET http://[/_local/model HTTP/1.1\r\nHost: x\r\n\r\n',
  ]) {
    const res = await rawRequest(cloud.url, request);
    expectGatewayRejection(res, 400, request.split('\r\n')[0]);
    expect((jsonOf(res) as { message: string }).message).toMatch(/request target/);
  }
});

it('answers a body shorter than its Content-Length with 408 once it stalls, and closes the connection', async () => {
  const calls = cloud.simulator.stats.calls;
  const res = await rawRequest(
    cloud.url,
    `POST /chat HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"message":"hi"}`,
    { waitMs: TIMEOUTS.requestMs * 3, untilClosed: true },
  );
  expectGatewayRejection(res, 408, 'a short body');
  expect(res.closed).toBe(true);
  expect(res.elapsedMs).toBeGreaterThanOrEqual(TIMEOUTS.bodyIdleMs - 50);
  expect(cloud.simulator.stats.calls).toBe(calls);
});

it('answers a client that trickles its headers or its body past the timeouts with 408', async () => {
  // Each part comes well within the body idle timeout; together they take longer than the header and request timeouts.
  const headers = await rawRequest(cloud.url, 'POST /chat HTTP/1.1\r\nHost: x\r\n', {
    drip: Array.from({ length: 20 }, (_, i) => `x-slow-${i}: 1\r\n`),
    dripMs: 200,
    waitMs: TIMEOUTS.requestMs * 3,
  });
  expectGatewayRejection(headers, 408, 'trickled headers');
  expect(headers.elapsedMs).toBeLessThan(TIMEOUTS.requestMs);

  const body = await rawRequest(
    cloud.url,
    `POST /reports HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`,
    { drip: Array.from({ length: 40 }, () => ' '), dripMs: 200, waitMs: TIMEOUTS.requestMs * 3, untilClosed: true },
  );
  expectGatewayRejection(body, 408, 'a trickled body');
  expect(body.closed).toBe(true);
  expect(body.elapsedMs).toBeGreaterThanOrEqual(TIMEOUTS.requestMs - 50);
});

it('answers malformed request lines and headers with a JSON 4xx instead of an empty answer or a reset', async () => {
  const cases: [string, string, number][] = [
    ['a lower-case method', 'post /chat HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['an unknown HTTP version', 'GET /reports/abc HTTP/9.9\r\nHost: x\r\n\r\n', 400],
    ['a space in a header name', 'GET /reports/abc HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', 400],
    ['two Content-Lengths', 'POST /chat HTTP/1.1\r\nHost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab', 400],
    [
      'Content-Length with chunked encoding',
      'POST /chat HTTP/1.1\r\nHost: x\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'a bad chunk size',
      'POST /chat HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      400,
    ],
    ['binary garbage', '\u0000\u0001\u0002 hello\r\n\r\n', 400],
    ['no Host header', 'GET /reports/abc HTTP/1.1\r\n\r\n', 400],
    ['a CONNECT request', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 400],
    [
      'oversized chunk extensions',
      `POST /chat HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\n2;${'e'.repeat(20_000)}\r\n{}\r\n0\r\n\r\n`,
      413,
    ],
    ['headers over 10,240 bytes', `GET /reports/abc HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(11_000)}\r\n\r\n`, 431],
    ['an unknown expectation', 'GET /reports/abc HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n', 417],
  ];
  for (const [what, request, status] of cases)
    expectGatewayRejection(await rawRequest(cloud.url, request), status, what);
});

it('answers a body over the 10 MB payload limit with a readable 413', async () => {
  const res = await fetch(`${cloud.url}/reports`, {
    method: 'POST',
    headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'x'.repeat(10 * 1024 * 1024 + 1) }),
  });
  expect(res.status).toBe(413);
  expect(await res.json()).toEqual({ message: 'Request Too Long' });
});

it('never cuts a stream that stays silent between keep-alives for longer than the request timeouts', async () => {
  expect(KEEP_ALIVE_MS).toBeGreaterThan(Math.max(TIMEOUTS.headersMs, TIMEOUTS.bodyIdleMs));
  cloud.simulator.configure({ mode: 'slow', ttftMs: TIMEOUTS.requestMs + 500, tokensPerSecond: 100 });
  try {
    const started = performance.now();
    const result = await streamChat(cloud.url, { apiKey: KEY, body: { message: 'Stay with me', maxTokens: 50 } });
    expect(result.status).toBe(200);
    expect(result.events.at(-1)?.event).toBe('end');
    expect(result.comments).toContain('keep-alive');
    expect(performance.now() - started).toBeGreaterThan(TIMEOUTS.requestMs + 500);
  } finally {
    cloud.simulator.configure({ mode: 'normal' });
  }
});
