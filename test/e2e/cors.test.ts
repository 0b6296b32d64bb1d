/**
 * CORS through the local cloud, configured as a deployment would be (`api.cors.allowOrigins`): preflights on every
 * route answered without a key, and CORS headers on every answer for an allowed origin (the functions' own, the
 * streams', the gateway's errors and its local-only routes); nothing for any other origin.
 */
import { CORS_ALLOW_HEADERS, preflightMethods } from '../../config/headers';
import { ROUTES } from '../../config/routes';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { type HttpAnswer, send } from '../helpers/http';
import { ROOMY_PLAN, TRICKLE_PLAN } from '../helpers/local-cloud';
import { sseMessages } from '../helpers/sse';

const ORIGIN = 'http://app.example.test:8080';
const SECOND = 'https://second.example.test';
const STRANGER = 'https://stranger.example.test';
const PRO = 'cors-pro-key-00000000000000000000';
const FREE = 'cors-free-key-0000000000000000000';
const MODEL = 'us.anthropic.claude-sonnet-4-20250514-v1:0';

let cloud: LocalCloud;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `alice:pro:${PRO},bob:free:${FREE}`,
    config: {
      api: { cors: { allowOrigins: [ORIGIN, SECOND], maxAgeSeconds: 300 } },
      plans: { pro: ROOMY_PLAN, free: TRICKLE_PLAN },
    },
  });
});

afterAll(async () => {
  await cloud?.stop();
});

const call = (
  method: string,
  path: string,
  options: { origin?: string; key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> =>
  send(cloud.url, method, path, {
    headers: { ...options.headers, origin: options.origin, 'x-api-key': options.key },
    body: options.body,
  });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An answer a page on `origin` may read: its origin allowed, the request id and Retry-After readable. */
function expectAllowed(answer: HttpAnswer, origin: string): void {
  expect(answer.headers.get('access-control-allow-origin')).toBe(origin);
  expect(answer.headers.get('access-control-expose-headers')?.split(',')).toEqual(
    expect.arrayContaining(['x-request-id', 'retry-after', 'location']),
  );
  expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
  expect(answer.headers.get('vary')).toMatch(/\bOrigin\b/);
  expect(answer.headers.get('x-request-id')).toMatch(UUID);
}

/** An answer that lends a page on another origin nothing: no CORS header, and still its request id. */
function expectRefused(answer: HttpAnswer): void {
  const cors = [...answer.headers.keys()].filter((h) => h.startsWith('access-control-'));
  expect(cors).toEqual([]);
  expect(answer.headers.get('vary')).toMatch(/\bOrigin\b/);
  expect(answer.headers.get('x-request-id')).toMatch(UUID);
}

/** A concrete path for a route path (`{id}` filled in). */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, 'rpt_00000000000000000000000000');
const routePaths = [...new Set(ROUTES.map((r) => r.path))];
const methodsAt = (path: string) => preflightMethods(ROUTES.filter((r) => r.path === path).map((r) => r.method));

describe('preflight', () => {
  const cases = routePaths.flatMap((path) => [
    [path, concrete(path)],
    [path, `/v1${concrete(path)}`],
  ]);

  it.each(cases)('of %s (%s) is answered without a key: 204 with the allowed methods and headers', async (path, at) => {
    const answer = await call('OPTIONS', at, {
      origin: ORIGIN,
      headers: {
        'access-control-request-method': methodsAt(path)[1],
        'access-control-request-headers': 'content-type,x-api-key,idempotency-key',
      },
    });
    expect(answer.status).toBe(204);
    expect(answer.text).toBe('');
    expect(answer.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(answer.headers.get('access-control-allow-methods')).toBe(methodsAt(path).join(','));
    expect(answer.headers.get('access-control-allow-headers')?.split(',')).toEqual([...CORS_ALLOW_HEADERS]);
    expect(answer.headers.get('access-control-max-age')).toBe('300');
    expect(answer.headers.get('vary')).toMatch(/\bOrigin\b/);
    expect(answer.headers.get('x-request-id')).toMatch(UUID);
  });

  it('names the second configured origin when it asks', async () => {
    const answer = await call('OPTIONS', '/chat/stream', { origin: SECOND });
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe(SECOND);
  });

  it('gives another origin no CORS header, so its browser refuses the call', async () => {
    const answer = await call('OPTIONS', '/chat/stream', {
      origin: STRANGER,
      headers: { 'access-control-request-method': 'POST' },
    });
    expect(answer.status).toBe(204);
    expectRefused(answer);
  });

  it("is answered for the local cloud's own endpoints too", async () => {
    const answer = await call('OPTIONS', '/_local/model', { origin: ORIGIN });
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(answer.headers.get('access-control-allow-methods')).toBe('OPTIONS,GET,POST');
  });

  it('is refused where API Gateway has no resource', async () => {
    const answer = await call('OPTIONS', '/nowhere', { origin: ORIGIN });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text)).toEqual({ message: 'Missing Authentication Token' });
    expectAllowed(answer, ORIGIN);
  });
});

describe('answers to an allowed origin', () => {
  it('on POST /chat: the answer, a bad body and a missing key', async () => {
    const ok = await call('POST', '/chat', { origin: ORIGIN, key: PRO, body: { message: 'Hello', maxTokens: 20 } });
    expect(ok.status).toBe(200);
    expectAllowed(ok, ORIGIN);
    const bad = await call('POST', '/chat', { origin: ORIGIN, key: PRO, body: {} });
    expect(bad.status).toBe(400);
    expectAllowed(bad, ORIGIN);
    const noKey = await call('POST', '/chat', { origin: SECOND, body: { message: 'Hello' } });
    expect(noKey.status).toBe(403);
    expect(JSON.parse(noKey.text)).toEqual({ message: 'Forbidden' });
    expectAllowed(noKey, SECOND);
  });

  it('on POST /chat/stream: the stream, and an error before it commits', async () => {
    const stream = await call('POST', '/chat/stream', { origin: ORIGIN, key: PRO, body: { message: 'Hi' } });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expectAllowed(stream, ORIGIN);
    const events = sseMessages(stream.text).map((e) => e.event ?? 'message');
    expect(events[0]).toBe('start');
    expect(events.at(-1)).toBe('end');
    const bad = await call('POST', '/chat/stream', { origin: ORIGIN, key: PRO, body: { message: '' } });
    expect(bad.status).toBe(400);
    expectAllowed(bad, ORIGIN);
  });

  it('on the OpenAI routes: JSON, chunks, the model list and a bad key', async () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    const json = await call('POST', '/v1/chat/completions', {
      origin: ORIGIN,
      key: PRO,
      body: { model: MODEL, messages },
    });
    expect(json.status).toBe(200);
    expectAllowed(json, ORIGIN);
    const chunks = await call('POST', '/v1/chat/completions', {
      origin: ORIGIN,
      key: PRO,
      body: { model: MODEL, messages, stream: true },
    });
    expect(chunks.status).toBe(200);
    expect(chunks.text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expectAllowed(chunks, ORIGIN);
    const models = await call('GET', '/v1/models', { origin: ORIGIN, key: PRO });
    expect(models.status).toBe(200);
    expectAllowed(models, ORIGIN);
    const badKey = await call('GET', '/v1/models', { origin: ORIGIN, key: 'not-a-key-0000000000000000' });
    expect(badKey.status).toBe(401);
    expectAllowed(badKey, ORIGIN);
  });

  it('on reports: the 202 with its Location, the status with Retry-After, and a 404', async () => {
    const submitted = await call('POST', '/reports', { origin: ORIGIN, key: PRO, body: { prompt: 'Summarise' } });
    expect(submitted.status).toBe(202);
    expectAllowed(submitted, ORIGIN);
    expect(submitted.headers.get('location')).toBeTruthy();
    const { reportId } = JSON.parse(submitted.text) as { reportId: string };
    const status = await call('GET', `/reports/${reportId}`, { origin: ORIGIN, key: PRO });
    expect(status.status).toBe(200);
    expectAllowed(status, ORIGIN);
    const missing = await call('GET', '/reports/rpt_00000000000000000000000000', { origin: ORIGIN, key: PRO });
    expect(missing.status).toBe(404);
    expectAllowed(missing, ORIGIN);
  });

  it('on POST /feedback', async () => {
    const chat = await call('POST', '/chat', { origin: ORIGIN, key: PRO, body: { message: 'Rate me', maxTokens: 20 } });
    const requestId = chat.headers.get('x-request-id');
    const rated = await call('POST', '/feedback', { origin: ORIGIN, key: PRO, body: { requestId, rating: 'up' } });
    expect(rated.status).toBe(204);
    expectAllowed(rated, ORIGIN);
    const unknown = await call('POST', '/feedback', {
      origin: ORIGIN,
      key: PRO,
      body: { requestId: '00000000-0000-4000-8000-000000000000', rating: 'down' },
    });
    expect(unknown.status).toBe(404);
    expectAllowed(unknown, ORIGIN);
  });

  it('on a usage-plan 429, whose Retry-After-less body a page can still read', async () => {
    let throttled: HttpAnswer | undefined;
    for (let i = 0; i < 10 && !throttled; i++) {
      const answer = await call('GET', '/v1/models', { origin: ORIGIN, key: FREE });
      if (answer.status === 429) throttled = answer;
    }
    expect(throttled).toBeDefined();
    expect(JSON.parse(throttled!.text)).toEqual({ message: 'Too Many Requests' });
    expectAllowed(throttled!, ORIGIN);
  });

  it("on the local cloud's own endpoints", async () => {
    const settings = await call('GET', '/_local/model', { origin: ORIGIN });
    expect(settings.status).toBe(200);
    expectAllowed(settings, ORIGIN);
  });
});

describe('answers to another origin', () => {
  it('carry no CORS header, from a function or from the gateway', async () => {
    const ok = await call('POST', '/chat', { origin: STRANGER, key: PRO, body: { message: 'Hello', maxTokens: 20 } });
    expect(ok.status).toBe(200);
    expectRefused(ok);
    const stream = await call('POST', '/chat/stream', { origin: STRANGER, key: PRO, body: { message: 'Hi' } });
    expect(stream.status).toBe(200);
    expectRefused(stream);
    const noKey = await call('POST', '/chat', { origin: STRANGER, body: { message: 'Hello' } });
    expect(noKey.status).toBe(403);
    expectRefused(noKey);
  });

  it('nor do answers to a request without Origin (a server, not a page)', async () => {
    const ok = await call('GET', '/v1/models', { key: PRO });
    expect(ok.status).toBe(200);
    expectRefused(ok);
  });
});
