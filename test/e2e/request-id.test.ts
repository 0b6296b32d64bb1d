/**
 * `x-request-id` on every answer through the local cloud (default configuration, CORS off): the id of the call, the
 * one the chat bodies, the stream's `start` event and the OpenAI completion ids carry, on successes, on the functions'
 * errors and on the gateway's own; a client can quote it to rate the answer.
 */
import { connect } from 'node:net';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { type HttpAnswer, send } from '../helpers/http';
import { ROOMY_PLAN, TRICKLE_PLAN } from '../helpers/local-cloud';
import { sseMessages } from '../helpers/sse';

const PRO = 'rid-pro-key-000000000000000000000';
const FREE = 'rid-free-key-00000000000000000000';
const MODEL = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let cloud: LocalCloud;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `carol:pro:${PRO},dave:free:${FREE}`,
    config: { plans: { pro: ROOMY_PLAN, free: TRICKLE_PLAN } },
  });
});

afterAll(async () => {
  await cloud?.stop();
});

interface Answer extends HttpAnswer {
  /** The answer's `x-request-id`, checked to be a request id. */
  readonly id: string;
}

/** Ids seen so far: each answer must have its own. */
const seen = new Set<string>();

async function call(method: string, path: string, options: { key?: string; body?: unknown } = {}): Promise<Answer> {
  const answer = await send(cloud.url, method, path, {
    headers: { authorization: options.key ? `Bearer ${options.key}` : undefined },
    body: options.body,
  });
  const id = answer.headers.get('x-request-id') ?? '';
  expect(id).toMatch(UUID);
  // The same id API Gateway itself reports (and its access log records).
  expect(answer.headers.get('x-amzn-requestid')).toBe(id);
  expect(seen.has(id)).toBe(false);
  seen.add(id);
  // CORS is off by default: no answer lends itself to another origin.
  expect([...answer.headers.keys()].filter((h) => h.startsWith('access-control-'))).toEqual([]);
  return { ...answer, id };
}

describe('x-request-id', () => {
  it('is the requestId of the POST /chat answer', async () => {
    const answer = await call('POST', '/chat', { key: PRO, body: { message: 'Hello', maxTokens: 20 } });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text).requestId).toBe(answer.id);
  });

  it("is the requestId of the stream's start event", async () => {
    const answer = await call('POST', '/chat/stream', { key: PRO, body: { message: 'Hello' } });
    expect(answer.status).toBe(200);
    const [start, ...rest] = sseMessages(answer.text);
    expect(start.event).toBe('start');
    expect(JSON.parse(start.data).requestId).toBe(answer.id);
    expect(rest.at(-1)?.event).toBe('end');
  });

  it('names the OpenAI completion and every chunk of its stream', async () => {
    const messages = [{ role: 'user', content: 'Hello' }];
    const json = await call('POST', '/v1/chat/completions', { key: PRO, body: { model: MODEL, messages } });
    expect(json.status).toBe(200);
    expect(JSON.parse(json.text).id).toBe(`chatcmpl-${json.id}`);
    const stream = await call('POST', '/v1/chat/completions', {
      key: PRO,
      body: { model: MODEL, messages, stream: true },
    });
    expect(stream.status).toBe(200);
    const chunks = sseMessages(stream.text)
      .map((e) => e.data)
      .filter((d) => d !== '[DONE]');
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(JSON.parse(chunk).id).toBe(`chatcmpl-${stream.id}`);
  });

  it('can be quoted to rate the answer (POST /feedback), whose own answer has its own id', async () => {
    const chat = await call('POST', '/chat', { key: PRO, body: { message: 'Rate me', maxTokens: 20 } });
    const rated = await call('POST', '/feedback', { key: PRO, body: { requestId: chat.id, rating: 'up' } });
    expect(rated.status).toBe(204);
    expect(rated.id).not.toBe(chat.id);
    const stream = await call('POST', '/chat/stream', { key: PRO, body: { message: 'Rate me too' } });
    const ratedStream = await call('POST', '/feedback', { key: PRO, body: { requestId: stream.id, rating: 'down' } });
    expect(ratedStream.status).toBe(204);
  });

  it('is on the report routes, the model list and their errors', async () => {
    const submitted = await call('POST', '/reports', { key: PRO, body: { prompt: 'Summarise' } });
    expect(submitted.status).toBe(202);
    const { reportId } = JSON.parse(submitted.text) as { reportId: string };
    expect((await call('GET', `/reports/${reportId}`, { key: PRO })).status).toBe(200);
    expect((await call('GET', '/reports/rpt_00000000000000000000000000', { key: PRO })).status).toBe(404);
    expect((await call('POST', '/reports', { key: PRO, body: { prompt: '' } })).status).toBe(400);
    expect((await call('GET', '/v1/models', { key: PRO })).status).toBe(200);
  });

  it("is on the functions' errors before a stream commits", async () => {
    const chat = await call('POST', '/chat/stream', { key: PRO, body: { message: '' } });
    expect(chat.status).toBe(400);
    const openai = await call('POST', '/v1/chat/completions', { key: PRO, body: { model: 'no-such-model' } });
    expect(openai.status).toBe(400);
  });

  it("is on the gateway's own answers: missing key, bad key, unknown route, throttle, oversized body", async () => {
    expect((await call('POST', '/chat', { body: { message: 'Hello' } })).status).toBe(403);
    expect((await call('GET', '/v1/models', { key: 'wrong-key-0000000000000000000' })).status).toBe(401);
    const unknown = await call('GET', '/nowhere', { key: PRO });
    expect(unknown.status).toBe(403);
    expect(JSON.parse(unknown.text)).toEqual({ message: 'Missing Authentication Token' });
    // No OPTIONS method while CORS is off, as on AWS.
    expect((await call('OPTIONS', '/chat', {})).status).toBe(403);
    let throttled = 0;
    for (let i = 0; i < 10 && throttled === 0; i++) {
      if ((await call('GET', '/v1/models', { key: FREE })).status === 429) throttled++;
    }
    expect(throttled).toBe(1);
    const oversized = await call('POST', '/chat', { key: PRO, body: { message: 'x'.repeat(10 * 1024 * 1024) } });
    expect(oversized.status).toBe(413);
  });

  it('is on the answer to a request the gateway cannot even parse', async () => {
    const url = new URL(cloud.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write('GET /chat HTTP/1.1\r\nHost: localhost\r\nBroken header line\r\n\r\n');
      });
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk.toString('latin1');
      });
      socket.on('end', () => resolve(received));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/);
  });
});
