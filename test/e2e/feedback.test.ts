/**
 * `POST /feedback` over real HTTP against the local cloud: a client rates the answers it got, by the id each path
 * hands out (the stream's `start.requestId`, `/chat`'s `requestId`, an OpenAI completion's `id` or the `x-request-id`
 * header, a report's `reportId`), and the rating lands on the request record in DynamoDB. Someone else's request and an
 * unknown one are the same 404; a bad body is a 400 that changes nothing.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import OpenAI from 'openai';
import { ENV } from '../../config/runtime';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { documentClient, dynamoClient } from '../helpers/dynalite';
import { reportsApi, waitForReport } from '../helpers/reports';
import { postJson, streamChat } from '../helpers/sse';

const ALICE = 'alice-pro-key-0000000000000000';
const BOB = 'bob-pro-key-000000000000000000';
const DAY_SECONDS = 86_400;

let cloud: LocalCloud;
let db: DynamoDBClient;
let doc: DynamoDBDocumentClient;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `alice:pro:${ALICE},bob:pro:${BOB}`,
    config: { feedback: { retentionDays: 7 } },
  });
  db = dynamoClient(cloud.dynamoEndpoint);
  doc = documentClient(db);
});

afterAll(async () => {
  db?.destroy();
  await cloud?.stop();
});

/** The request record as stored, every attribute included. */
async function recordOf(requestId: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await doc.send(
    new GetCommand({ TableName: cloud.env[ENV.requestsTable], Key: { requestId }, ConsistentRead: true }),
  );
  return Item;
}

async function rate(key: string, body: unknown): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${cloud.url}/feedback`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function chatRequestId(key = ALICE): Promise<string> {
  const res = await postJson(`${cloud.url}/chat`, { message: 'Rate me' }, key);
  expect(res.status).toBe(200);
  return res.json.requestId as string;
}

const NOT_FOUND = { error: { code: 'NOT_FOUND', message: 'Request not found', retryable: false } };

describe('rating each kind of answer', () => {
  test('a streamed answer, by the requestId of its start event: 204, and the record holds the rating', async () => {
    const streamed = await streamChat(cloud.url, { apiKey: ALICE, body: { message: 'Explain TTFT' } });
    const [start, end] = [streamed.events[0], streamed.events.at(-1)];
    expect([start?.event, end?.event]).toEqual(['start', 'end']);
    const requestId = start?.data.requestId as string;
    const servedBy = end?.data.model as string;

    const res = await rate(ALICE, { requestId, rating: 'up', comment: 'Fast and right' });

    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    // The rating's own answer names its own request, like every answer.
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('x-request-id')).not.toBe(requestId);
    const record = await recordOf(requestId);
    expect(record).toMatchObject({
      requestId,
      userId: 'alice',
      endpoint: 'chat-stream',
      model: servedBy,
      rating: 'up',
      comment: 'Fast and right',
      ratedAt: expect.any(String),
    });
    // Kept feedback.retentionDays (DynamoDB TTL attribute, epoch seconds).
    const expiresAt = record?.expiresAt as number;
    expect(Math.abs(expiresAt - (Date.now() / 1000 + 7 * DAY_SECONDS))).toBeLessThan(120);
  });

  test('a synchronous answer, by the requestId of its body', async () => {
    const requestId = await chatRequestId();
    expect((await rate(ALICE, { requestId, rating: 'down' })).status).toBe(204);
    expect(await recordOf(requestId)).toMatchObject({ userId: 'alice', endpoint: 'chat', rating: 'down' });
  });

  test('an OpenAI completion, by its id (chatcmpl-…) or by the x-request-id header of its answer', async () => {
    const client = new OpenAI({ apiKey: ALICE, baseURL: `${cloud.url}/v1`, maxRetries: 0 });
    const model = cloud.config.models.primary;

    const { data: completion, response } = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: 'Hello' }] })
      .withResponse();
    const headerId = response.headers.get('x-request-id');
    expect(completion.id).toBe(`chatcmpl-${headerId}`);
    expect((await rate(ALICE, { requestId: completion.id, rating: 'up' })).status).toBe(204);
    expect(await recordOf(headerId as string)).toMatchObject({ endpoint: 'openai-chat', model, rating: 'up' });

    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Hello again' }],
      stream: true,
    });
    let streamedId = '';
    for await (const chunk of stream) streamedId = chunk.id;
    const requestId = streamedId.replace(/^chatcmpl-/, '');
    expect((await rate(ALICE, { requestId, rating: 'down', comment: 'Too chatty' })).status).toBe(204);
    expect(await recordOf(requestId)).toMatchObject({ endpoint: 'openai-chat', rating: 'down', comment: 'Too chatty' });
  });

  test('a completed report, by its reportId, with the model that served it', async () => {
    const api = reportsApi(cloud.url, ALICE);
    const submitted = await api.submit({ prompt: 'A short report to rate' });
    expect(submitted.status).toBe(202);
    const { reportId } = submitted.body;
    const { report } = await waitForReport(api, reportId, { timeoutMs: 30_000 });
    expect(report.status).toBe('COMPLETED');

    expect((await rate(ALICE, { requestId: reportId, rating: 'up' })).status).toBe(204);
    expect(await recordOf(reportId)).toMatchObject({
      userId: 'alice',
      endpoint: 'reports',
      model: cloud.config.models.primary,
      rating: 'up',
    });
  });
});

describe('who may rate what', () => {
  test("another user's request is a 404 like an unknown one, and stays unrated", async () => {
    const requestId = await chatRequestId(ALICE);
    const foreign = await rate(BOB, { requestId, rating: 'down', comment: 'sabotage' });
    const unknown = await rate(BOB, { requestId: '00000000-0000-4000-8000-000000000000', rating: 'down' });

    for (const res of [foreign, unknown]) {
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(JSON.parse(res.text)).toEqual(NOT_FOUND);
    }
    const record = await recordOf(requestId);
    expect(record).toMatchObject({ userId: 'alice' });
    expect(record).not.toHaveProperty('rating');
  });

  test('rated again, the last rating wins, and a rating without a comment drops the earlier one', async () => {
    const requestId = await chatRequestId();
    expect((await rate(ALICE, { requestId, rating: 'down', comment: 'Wrong year' })).status).toBe(204);
    expect((await rate(ALICE, { requestId, rating: 'up' })).status).toBe(204);
    const record = await recordOf(requestId);
    expect(record).toMatchObject({ rating: 'up' });
    expect(record).not.toHaveProperty('comment');
  });

  test('a request that failed validation was never recorded, so it cannot be rated', async () => {
    const res = await postJson(`${cloud.url}/chat`, { message: '' }, ALICE);
    expect(res.status).toBe(400);
    const requestId = res.headers.get('x-request-id') ?? res.headers.get('x-amzn-requestid');
    expect(requestId).toBeTruthy();
    expect((await rate(ALICE, { requestId, rating: 'down' })).status).toBe(404);
  });

  test('without an API key there is nothing to rate with', async () => {
    const res = await fetch(`${cloud.url}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ requestId: 'x', rating: 'up' }),
    });
    expect(res.status).toBe(403);
  });
});

describe('bad bodies', () => {
  let requestId: string;

  beforeAll(async () => {
    requestId = await chatRequestId();
  });

  test.each([
    ['not JSON', '{"requestId":', 'body: is not valid JSON'],
    ['an unknown field', { rating: 'up', userId: 'bob' }, 'userId: is not a known field'],
    ['a rating that is neither up nor down', { rating: 'meh' }, 'rating: must be one of "up", "down"'],
    ['no rating', {}, 'rating: must be one of "up", "down"'],
    ['a comment over 2,000 characters', { rating: 'up', comment: 'x'.repeat(2_001) }, 'comment: must be at most 2000'],
    ['a requestId over 128 characters', { rating: 'up', requestId: 'r'.repeat(129) }, 'requestId: must be at most 128'],
    ['a requestId that is not an id', { rating: 'up', requestId: '../../reports' }, 'requestId: must be a request id'],
  ])('%s: 400 naming the field, and the record is unchanged', async (_what, value, message) => {
    const body = typeof value === 'string' ? value : { requestId, ...value };
    const res = await rate(ALICE, body);
    expect(res.status).toBe(400);
    const json = JSON.parse(res.text) as { error: { code: string; message: string; retryable: boolean } };
    expect(json.error).toMatchObject({ code: 'VALIDATION_ERROR', retryable: false });
    expect(json.error.message).toContain(message);
    expect(await recordOf(requestId)).not.toHaveProperty('rating');
  });
});
