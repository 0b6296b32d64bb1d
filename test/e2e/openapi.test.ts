/**
 * The OpenAPI description against the running API: the local cloud serves it at `/openapi.json` without a key, and
 * every route's real answers fit it. Each status must be documented for its route, each body must fit the schema
 * documented for its status and content type (every event of a stream too), with no field the schema does not list,
 * and every header the description marks required must be sent.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventSourceMessage } from 'eventsource-parser';
import type { CircuitBreaker } from '../../lambda/core/breaker';
import { ROUTES, type RouteDefinition } from '../../config/routes';
import { modelChain } from '../../config/schema';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { buildOpenApiDocument, type OpenApiDocument } from '../../openapi/document';
import { send } from '../helpers/http';
import { cloudBreaker, ROOMY_PLAN } from '../helpers/local-cloud';
import {
  type ItemSchema,
  pointerSegment,
  type Ref,
  resolveRef,
  type SpecHeader,
  type SpecPaths,
  type SpecSchemas,
  specSchemas,
} from '../helpers/openapi';
import { eventually, postJson, sseMessages } from '../helpers/sse';

const PRO = 'olga-pro-key-00000000000000000';
const OTHER = 'omar-pro-key-00000000000000000';
const TINY = 'tess-tiny-key-0000000000000000';
const QUOTA = 'quin-quota-key-000000000000000';

let cloud: LocalCloud;
let spec: OpenApiDocument;
let schemas: SpecSchemas;
let model: string;
const covered = new Map<string, Set<number>>(ROUTES.map((r) => [r.id, new Set<number>()]));

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `olga:pro:${PRO},omar:pro:${OTHER},tess:tiny:${TINY},quin:quota:${QUOTA}`,
    config: {
      chat: { syncTimeoutSeconds: 5, retryRounds: 0 },
      // Failures here are on purpose; the breaker is opened and closed by hand.
      breaker: { minimumCalls: 100_000, cacheMs: 0 },
      plans: {
        pro: ROOMY_PLAN,
        // A request for 1,000 tokens is more than the whole day's budget: 429 before any model call.
        tiny: { ...ROOMY_PLAN, tokensPerDay: 100 },
        quota: { ...ROOMY_PLAN, requestsPerDay: 1 },
      },
    },
  });
  model = cloud.config.models.primary;
  const res = await fetch(`${cloud.url}/openapi.json`);
  spec = (await res.json()) as OpenApiDocument;
  schemas = specSchemas(spec, { closed: true });
});

afterAll(async () => {
  await cloud?.stop();
});

afterEach(async () => {
  await postJson(`${cloud.url}/_local/model`, { mode: 'normal' });
});

const route = (id: string): RouteDefinition => ROUTES.find((r) => r.id === id)!;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

interface Checked extends Answer {
  json?: any;
  events?: EventSourceMessage[];
}

/** Calls a route as a client would: the key in `x-api-key` (or as a bearer token), a JSON body. */
async function call(
  id: string,
  options: { key?: string; bearer?: string; body?: unknown; path?: string; headers?: Record<string, string> } = {},
): Promise<Checked> {
  const r = route(id);
  const { status, headers, text } = await send(cloud.url, r.method, options.path ?? r.path, {
    headers: {
      ...options.headers,
      'x-api-key': options.key,
      authorization: options.bearer ? `Bearer ${options.bearer}` : undefined,
    },
    body: options.body,
  });
  return check(r, { status, headers, text });
}

/** Holds an answer to the description; returns it with its parsed body or events. */
function check(r: RouteDefinition, answer: Answer): Checked {
  const where = `${r.id} (${r.method} ${r.path}) ${answer.status}`;
  const method = r.method.toLowerCase();
  const response = (spec.paths as SpecPaths)[r.path]?.[method]?.responses[String(answer.status)];
  if (!response) throw new Error(`${where} is not documented; the body was ${answer.text.slice(0, 500)}`);
  covered.get(r.id)!.add(answer.status);

  for (const [name, declared] of Object.entries(response.headers ?? {})) {
    const header = '$ref' in declared ? resolveRef<SpecHeader>(spec, declared.$ref) : declared;
    const value = answer.headers.get(name);
    if (header.required)
      expect({ where, header: name, sent: value !== null }).toEqual({ where, header: name, sent: true });
    if (value !== null && header.schema?.type === 'integer') expect(value).toMatch(/^\d+$/);
  }

  if (!response.content) {
    expect({ where, body: answer.text }).toEqual({ where, body: '' });
    return answer;
  }
  const contentType = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const media = response.content[contentType];
  if (!media) throw new Error(`${where}: content type "${contentType}" is not documented`);
  const base = `/paths/${pointerSegment(r.path)}/${method}/responses/${answer.status}/content/${pointerSegment(contentType)}`;
  if (contentType === 'application/json') {
    const json = JSON.parse(answer.text);
    expect({ where, problems: schemas.problems(`${base}/schema`, json) }).toEqual({ where, problems: undefined });
    return { ...answer, json };
  }
  const events = sseMessages(answer.text);
  const itemPointer = (media['x-itemSchema'] as Ref).$ref.slice(1);
  for (const event of events) {
    const item: Record<string, string> = { data: event.data };
    if (event.event !== undefined) item.event = event.event;
    if (event.id !== undefined) item.id = event.id;
    expect({ where, item, problems: schemas.problems(itemPointer, item) }).toEqual({
      where,
      item,
      problems: undefined,
    });
    expect({ where, item, fits: dataFits(resolveRef<ItemSchema>(spec, `#${itemPointer}`), item) }).toEqual({
      where,
      item,
      fits: true,
    });
  }
  return { ...answer, events };
}

/** Whether an event's data fits a branch of the item schema whose other fields match: its constant or its JSON. */
function dataFits(itemSchema: ItemSchema, item: Record<string, string>): boolean {
  const branches = itemSchema.oneOf ?? itemSchema.anyOf ?? [];
  return branches.some(({ properties }) => {
    if (properties.event && properties.event.const !== item.event) return false;
    const data = properties.data;
    if (data.const !== undefined) return data.const === item.data;
    if (!data.contentSchema) return false;
    let parsed: unknown;
    try {
      parsed = JSON.parse(item.data!);
    } catch {
      return false;
    }
    return schemas.problems(data.contentSchema.$ref.slice(1), parsed) === undefined;
  });
}

const setModel = async (settings: Record<string, unknown>) => {
  const res = await postJson(`${cloud.url}/_local/model`, settings);
  expect(res.status).toBe(200);
};

const question = { message: 'Explain circuit breakers' };
const completion = (extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'Explain circuit breakers' }],
  ...extra,
});

describe('GET /openapi.json', () => {
  it('serves the generated description without a key, at the root and under the stage', async () => {
    for (const path of ['/openapi.json', '/v1/openapi.json']) {
      const res = await fetch(`${cloud.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(await res.json()).toEqual(buildOpenApiDocument());
    }
    const head = await fetch(`${cloud.url}/openapi.json`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('answers other methods 405, naming the ones it allows', async () => {
    const res = await fetch(`${cloud.url}/openapi.json`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('native chat answers fit the description', () => {
  it('POST /chat/stream: start, deltas and end', async () => {
    const res = await call('ChatStream', { key: PRO, body: question });
    expect(res.status).toBe(200);
    const names = res.events!.map((e) => e.event);
    expect(names[0]).toBe('start');
    expect(names.at(-1)).toBe('end');
    expect(names.filter((n) => n === 'delta').length).toBeGreaterThan(0);
  });

  it('POST /chat/stream: an error event when the model fails after content', async () => {
    await setModel({ mode: 'midstream-error' });
    const res = await call('ChatStream', { key: PRO, body: question });
    expect(res.status).toBe(200);
    expect(res.events!.at(-1)).toMatchObject({ event: 'error' });
    expect(JSON.parse(res.events!.at(-1)!.data).error.code).toBe('MODEL_STREAM_ERROR');
  });

  it('POST /chat/stream: an error event with retryAfterSeconds when every model fails before answering', async () => {
    await setModel({ mode: 'error', ttftMs: 0 });
    const res = await call('ChatStream', { key: PRO, body: question });
    expect(res.status).toBe(200);
    const error = JSON.parse(res.events!.at(-1)!.data).error;
    expect(error).toMatchObject({ code: 'MODEL_UNAVAILABLE', retryAfterSeconds: expect.any(Number) });
  });

  it('POST /chat: the whole answer', async () => {
    const res = await call('Chat', { key: PRO, body: question });
    expect(res.status).toBe(200);
    expect(res.json.text.length).toBeGreaterThan(0);
  });

  it('POST /chat: 504 DEADLINE_EXCEEDED when the answer outlasts the sync deadline', async () => {
    await setModel({ mode: 'slow', ttftMs: 8_000 });
    const res = await call('Chat', { key: PRO, body: question });
    expect(res.status).toBe(504);
    expect(res.json.error.code).toBe('DEADLINE_EXCEEDED');
  });

  it.each(['ChatStream', 'Chat'])('%s: bad input, no key, a spent token budget', async (id) => {
    expect((await call(id, { key: PRO, body: { message: '' } })).status).toBe(400);
    expect((await call(id, { body: question })).json).toEqual({ message: 'Forbidden' });
    const limited = await call(id, { key: TINY, body: { ...question, maxTokens: 1_000 } });
    expect(limited.status).toBe(429);
    expect(limited.json.error.code).toBe('TOKEN_BUDGET_EXCEEDED');
  });
});

describe('answers while every breaker is open fit the description', () => {
  let breaker: CircuitBreaker;
  let db: DynamoDBClient;

  beforeAll(async () => {
    ({ breaker, db } = cloudBreaker(cloud));
    for (const id of modelChain(cloud.config)) await breaker.forceOpen(id);
  });

  afterAll(async () => {
    for (const id of modelChain(cloud.config)) await breaker.forceClose(id);
    db.destroy();
  });

  it.each([
    ['ChatStream', () => question],
    ['Chat', () => question],
    ['OpenAIChatCompletions', () => completion()],
  ])('%s: 503 with Retry-After', async (id, body) => {
    const res = await call(id, { key: PRO, body: body() });
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('report answers fit the description', () => {
  let receiver: Server;
  const webhooks: { headers: IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        webhooks.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('POST /reports, replayed with its Idempotency-Key, polled until it is COMPLETED, and its webhook', async () => {
    const key = `openapi-${Date.now()}`;
    const callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/reports`;
    const body = { prompt: 'Write a one-line summary', callbackUrl, metadata: { ticket: 'OPS-1' } };
    const accepted = await call('SubmitReport', { key: PRO, body, headers: { 'Idempotency-Key': key } });
    expect(accepted.status).toBe(202);
    const replayed = await call('SubmitReport', { key: PRO, body, headers: { 'Idempotency-Key': key } });
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    const reused = await call('SubmitReport', {
      key: PRO,
      body: { prompt: 'Another prompt' },
      headers: { 'Idempotency-Key': key },
    });
    expect(reused.status).toBe(422);

    const path = `/reports/${accepted.json.reportId}`;
    const done = await eventually(async () => {
      const res = await call('GetReport', { key: PRO, path });
      expect(res.status).toBe(200);
      return res.json.status === 'COMPLETED' ? res : undefined;
    }, 30_000);
    expect(done.json.result.text.length).toBeGreaterThan(0);
    expect(done.headers.get('retry-after')).toBeNull();

    const othersReport = await call('GetReport', { key: OTHER, path });
    expect(othersReport.status).toBe(404);

    // The webhook: its body as the description's `webhooks` say, with the signature headers they name.
    const webhook = await eventually(() => webhooks.find((w) => w.body.includes(accepted.json.reportId)), 30_000);
    const post = resolveRef<{ parameters: { name: string }[] }>(spec, '#/webhooks/reportFinished/post');
    for (const { name } of post.parameters)
      expect({ name, sent: typeof webhook.headers[name] }).toEqual({ name, sent: 'string' });
    const bodyPointer = '/webhooks/reportFinished/post/requestBody/content/application~1json/schema';
    expect(schemas.problems(bodyPointer, JSON.parse(webhook.body))).toBeUndefined();
    expect(JSON.parse(webhook.body)).toMatchObject({ type: 'report.completed', reportId: accepted.json.reportId });
  });

  it('refusals: bad input, no key, an unknown report', async () => {
    expect((await call('SubmitReport', { key: PRO, body: { prompt: 7 } })).status).toBe(400);
    expect((await call('SubmitReport', { body: { prompt: 'p' } })).status).toBe(403);
    expect((await call('GetReport', { key: PRO, path: `/reports/${crypto.randomUUID()}` })).status).toBe(404);
    expect((await call('GetReport', { path: `/reports/${crypto.randomUUID()}` })).status).toBe(403);
  });
});

describe('OpenAI-compatible answers fit the description', () => {
  it('a chat.completion, and a stream of chunks with usage, then [DONE]', async () => {
    const whole = await call('OpenAIChatCompletions', { bearer: PRO, body: completion() });
    expect(whole.json.object).toBe('chat.completion');
    const stream = await call('OpenAIChatCompletions', {
      bearer: PRO,
      body: completion({ stream: true, stream_options: { include_usage: true } }),
    });
    expect(stream.events!.at(-1)!.data).toBe('[DONE]');
    expect(JSON.parse(stream.events!.at(-2)!.data).usage).toEqual(
      expect.objectContaining({ total_tokens: expect.any(Number) }),
    );
  });

  it('tool calls, whole and streamed', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const body = completion({ tools, tool_choice: 'required' });
    const whole = await call('OpenAIChatCompletions', { bearer: PRO, body });
    expect(whole.json.choices[0].message).toMatchObject({ content: null, tool_calls: [expect.any(Object)] });
    const stream = await call('OpenAIChatCompletions', { bearer: PRO, body: { ...body, stream: true } });
    expect(stream.events!.some((e) => e.data.includes('"tool_calls"'))).toBe(true);
  });

  it('a stream that fails after content ends with an error object and no [DONE]', async () => {
    await setModel({ mode: 'midstream-error' });
    const stream = await call('OpenAIChatCompletions', { bearer: PRO, body: completion({ stream: true }) });
    expect(stream.status).toBe(200);
    expect(JSON.parse(stream.events!.at(-1)!.data)).toHaveProperty('error');
  });

  it('refusals: bad input, no key, an unknown model, a spent token budget', async () => {
    expect((await call('OpenAIChatCompletions', { bearer: PRO, body: { model } })).status).toBe(400);
    expect((await call('OpenAIChatCompletions', { body: completion() })).status).toBe(401);
    expect((await call('OpenAIChatCompletions', { bearer: PRO, body: completion({ model: 'gpt-4o' }) })).status).toBe(
      404,
    );
    const limited = await call('OpenAIChatCompletions', { bearer: TINY, body: completion({ max_tokens: 1_000 }) });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-should-retry')).toBe('false');
  });

  it('GET /models: the list; 401 without a key; 429 past the usage plan quota', async () => {
    expect((await call('OpenAIModels', { bearer: PRO })).json.object).toBe('list');
    expect((await call('OpenAIModels')).status).toBe(401);
    expect((await call('OpenAIModels', { bearer: QUOTA })).status).toBe(200);
    expect((await call('OpenAIModels', { bearer: QUOTA })).json).toEqual({ message: 'Limit Exceeded' });
  });
});

describe('feedback answers fit the description', () => {
  it("204 for the caller's own answer, 404 for someone else's, 400 and 403", async () => {
    const answer = await call('Chat', { key: PRO, body: question });
    const requestId = answer.json.requestId as string;
    // The request is recorded once its answer is complete, off the path to the client.
    await eventually(async () => {
      const res = await call('Feedback', { key: PRO, body: { requestId, rating: 'up' } });
      return res.status === 204 ? res : undefined;
    });
    expect((await call('Feedback', { key: OTHER, body: { requestId, rating: 'down' } })).status).toBe(404);
    expect((await call('Feedback', { key: PRO, body: { requestId, rating: 'meh' } })).status).toBe(400);
    expect((await call('Feedback', { body: { requestId, rating: 'up' } })).status).toBe(403);
  });
});

describe('resumed streams fit the description', () => {
  it('GET /chat/stream/{requestId}: the events after Last-Event-ID; 400, 403 and 404', async () => {
    const live = await call('ChatStream', { key: PRO, body: question });
    const requestId = JSON.parse(live.events![0]!.data).requestId as string;
    const path = `/chat/stream/${requestId}`;
    const resumed = await call('ResumeChatStream', { key: PRO, path, headers: { 'Last-Event-ID': '1' } });
    expect(resumed.status).toBe(200);
    expect(resumed.events!.map((e) => [e.id, e.event, e.data])).toEqual(
      live.events!.slice(1).map((e) => [e.id, e.event, e.data]),
    );
    expect((await call('ResumeChatStream', { key: PRO, path, headers: { 'Last-Event-ID': 'x' } })).status).toBe(400);
    expect((await call('ResumeChatStream', { key: OTHER, path })).status).toBe(404);
    expect((await call('ResumeChatStream', { path })).status).toBe(403);
  });
});

describe('report cancel answers fit the description', () => {
  it('POST /reports/{id}/cancel: 200 CANCELLED while queued, 409 once finished, 404 and 403', async () => {
    await cloud.reports.worker.stop();
    try {
      const submitted = await call('SubmitReport', { key: PRO, body: { prompt: 'A report to cancel' } });
      const path = `/reports/${submitted.json.reportId}/cancel`;
      expect((await call('CancelReport', { key: OTHER, path })).status).toBe(404);
      const cancelled = await call('CancelReport', { key: PRO, path });
      expect(cancelled.status).toBe(200);
      expect(cancelled.json).toMatchObject({ status: 'CANCELLED', cancelledAt: expect.any(String) });
      const again = await call('CancelReport', { key: PRO, path });
      expect(again.status).toBe(409);
      expect(again.json.error).toMatchObject({ code: 'ALREADY_FINISHED', status: 'CANCELLED' });
      const polled = await call('GetReport', { key: PRO, path: `/reports/${submitted.json.reportId}` });
      expect(polled.json).toEqual(cancelled.json);
      expect((await call('CancelReport', { path })).status).toBe(403);
    } finally {
      cloud.reports.worker.start();
    }
  });

  it('POST /reports/{id}/cancel: 202 with cancelRequestedAt while running', async () => {
    await postJson(`${cloud.url}/_local/model`, { mode: 'slow', ttftMs: 5_000 });
    const submitted = await call('SubmitReport', { key: PRO, body: { prompt: 'A slow report to cancel' } });
    const reportPath = `/reports/${submitted.json.reportId}`;
    await eventually(async () =>
      (await call('GetReport', { key: PRO, path: reportPath })).json.status === 'RUNNING' ? true : undefined,
    );
    const requested = await call('CancelReport', { key: PRO, path: `${reportPath}/cancel` });
    expect(requested.status).toBe(202);
    expect(requested.json).toMatchObject({ status: 'RUNNING', cancelRequestedAt: expect.any(String) });
    const polled = await eventually(async () => {
      const res = await call('GetReport', { key: PRO, path: reportPath });
      return res.json.status === 'CANCELLED' ? res : undefined;
    });
    expect(polled.json).toMatchObject({ status: 'CANCELLED', cancelledAt: expect.any(String) });
  });
});

describe('stream cancel answers fit the description', () => {
  it('POST /chat/stream/{requestId}/cancel: 202 while running, 409 once finished, 404 and 403', async () => {
    await postJson(`${cloud.url}/_local/model`, { mode: 'normal', ttftMs: 20, tokensPerSecond: 20 });
    try {
      const live = await fetch(`${cloud.url}/chat/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': PRO },
        body: JSON.stringify({ message: 'A long answer to cancel', maxTokens: 400 }),
      });
      const requestId = live.headers.get('x-request-id') ?? '';
      const path = `/chat/stream/${requestId}/cancel`;
      expect((await call('CancelChatStream', { key: OTHER, path })).status).toBe(404);
      // The stream's log is written while the model is called: the first cancel can precede it by a moment.
      const accepted = await eventually(async () => {
        const res = await call('CancelChatStream', { key: PRO, path });
        return res.status === 202 ? res : undefined;
      });
      expect(accepted.json).toEqual({ requestId, status: 'CANCELLING' });
      const last = sseMessages(await live.text()).at(-1);
      expect(last?.event).toBe('error');
      expect(JSON.parse(last?.data ?? '{}').error.code).toBe('CANCELLED');
      const finished = await call('CancelChatStream', { key: PRO, path });
      expect(finished.status).toBe(409);
      expect(finished.json.error).toMatchObject({ code: 'ALREADY_FINISHED', status: 'CANCELLED' });
      expect((await call('CancelChatStream', { path })).status).toBe(403);
    } finally {
      await postJson(`${cloud.url}/_local/model`, { mode: 'normal' });
    }
  });
});

describe('coverage', () => {
  it('every route was called, and answered each of these statuses', () => {
    const statuses = Object.fromEntries([...covered].map(([id, set]) => [id, [...set].sort()]));
    expect(statuses).toEqual({
      ChatStream: [200, 400, 403, 429, 503],
      Chat: [200, 400, 403, 429, 503, 504],
      SubmitReport: [202, 400, 403, 422],
      GetReport: [200, 403, 404],
      OpenAIChatCompletions: [200, 400, 401, 404, 429, 503],
      OpenAIModels: [200, 401, 429],
      Feedback: [204, 400, 403, 404],
      CancelReport: [200, 202, 403, 404, 409],
      CancelChatStream: [202, 403, 404, 409],
      ResumeChatStream: [200, 400, 403, 404],
    });
  });
});
