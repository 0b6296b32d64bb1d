/**
 * `POST /chat/stream/{requestId}/cancel` end to end, with the local gateway's disconnect signal turned off through
 * LOCAL_SIGNAL_DISCONNECT=false, as on Lambda: the only way the generating function can learn of a cancel is the
 * stream log's head, so these tests prove the AWS path. A slow answer cancelled mid-stream stops generating at the
 * simulator within a second, its client sees `event: error` CANCELLED, the budget is settled with the tokens used and
 * the breaker is not blamed; cancelling a finished stream is 409 with its status; someone else's or an unknown id is
 * 404; the OpenAI route honours the same cancel; and an outage of the log table does not break a live stream.
 */
import { DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createParser } from 'eventsource-parser';
import OpenAI from 'openai';
import { ENV } from '../../config/runtime';
import { TABLES } from '../../config/tables';
import { DynamoTokenBudgetStore } from '../../lambda/aws/token-budget-store';
import { estimateTokens } from '../../lambda/core/chat-call';
import { type LocalCloud, SIGNAL_DISCONNECT_ENV, startLocalCloud } from '../../local/cloud';
import { createTable } from '../../local/dynamodb';
import { documentClient, dynamoClient } from '../helpers/dynalite';
import { cloudBreaker, ROOMY_PLAN } from '../helpers/local-cloud';
import { eventually } from '../helpers/sse';

const KEYS = {
  alice: 'alice-cancel-key-00000000000000',
  bob: 'bob-cancel-key-0000000000000000',
  carol: 'carol-cancel-key-00000000000000',
  dave: 'dave-cancel-key-000000000000000',
};
/** The writer flushes every 200 ms here: a cancel is learnt within that plus one DynamoDB round trip. */
const FLUSH_MS = 200;
/** Slow enough that an answer of `maxTokens: 400` takes 20 s: a cancel always lands mid-stream. */
const SLOW = { mode: 'normal', ttftMs: 20, tokensPerSecond: 20 } as const;

let cloud: LocalCloud;
let db: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let previousEnv: string | undefined;

beforeAll(async () => {
  // The environment variable, not the option: `LOCAL_SIGNAL_DISCONNECT=false npm start` works the same way.
  previousEnv = process.env[SIGNAL_DISCONNECT_ENV];
  process.env[SIGNAL_DISCONNECT_ENV] = 'false';
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: Object.entries(KEYS)
      .map(([user, key]) => `${user}:roomy:${key}`)
      .join(','),
    config: {
      plans: { roomy: ROOMY_PLAN },
      streams: { flushIntervalMs: FLUSH_MS },
      chat: { keepAliveMs: 200 },
      breaker: { cacheMs: 0 },
    },
  });
  db = dynamoClient(cloud.dynamoEndpoint);
  doc = documentClient(db);
});

afterAll(async () => {
  if (previousEnv === undefined) delete process.env[SIGNAL_DISCONNECT_ENV];
  else process.env[SIGNAL_DISCONNECT_ENV] = previousEnv;
  db?.destroy();
  await cloud?.stop();
});

beforeEach(() => cloud.simulator.configure({ mode: 'normal', ttftMs: 20, tokensPerSecond: 2000 }));

interface Event {
  id?: string;
  event: string;
  data: any;
}

/** A stream being read: its events as they come, and the promise of its end. */
interface LiveStream {
  status: number;
  headers: Headers;
  events: Event[];
  /** Resolves when the server ends the stream. */
  done: Promise<void>;
  /** Resolves once `n` deltas arrived. */
  deltas(n: number): Promise<void>;
  requestId(): string;
}

async function openStream(key: string, body: unknown): Promise<LiveStream> {
  const res = await fetch(`${cloud.url}/chat/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify(body),
  });
  const events: Event[] = [];
  const waiting: { n: number; resolve: () => void }[] = [];
  const countDeltas = () => events.filter((e) => e.event === 'delta').length;
  const parser = createParser({
    onEvent: (m) => {
      events.push({ id: m.id, event: m.event ?? 'message', data: JSON.parse(m.data) });
      for (const w of waiting.filter((w) => countDeltas() >= w.n)) w.resolve();
    },
  });
  const decoder = new TextDecoder();
  const done = (async () => {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    events,
    done,
    deltas: (n) => (countDeltas() >= n ? Promise.resolve() : new Promise((resolve) => waiting.push({ n, resolve }))),
    requestId: () => events[0]?.data.requestId,
  };
}

async function cancel(requestId: string, key: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${cloud.url}/chat/stream/${encodeURIComponent(requestId)}/cancel`, {
    method: 'POST',
    headers: { 'x-api-key': key },
  });
  return { status: res.status, json: await res.json() };
}

interface SimulatorCounters {
  calls: number;
  byModel: Record<string, number>;
  tokensSent: number;
  active: number;
  cancelled: number;
}

async function stats(): Promise<SimulatorCounters> {
  const body = (await fetch(`${cloud.url}/_local/model`).then((r) => r.json())) as { stats: SimulatorCounters };
  return body.stats;
}

const head = async (requestId: string) =>
  (
    await doc.send(
      new GetCommand({ TableName: cloud.env[ENV.streamsTable], Key: { requestId, part: 0 }, ConsistentRead: true }),
    )
  ).Item;

/** Tokens the user's budget counter holds for today (the token budget's item in the guard table). */
async function budgetUsed(userId: string): Promise<number> {
  const store = new DynamoTokenBudgetStore({ tableName: cloud.env[ENV.guardTable], documentClient: doc });
  return store.used({ userId, window: new Date().toISOString().slice(0, 10) });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('POST /chat/stream/{requestId}/cancel without a disconnect signal (as on Lambda)', () => {
  it('reports the simulator counters in GET /_local/model', async () => {
    const before = await stats();
    const stream = await openStream(KEYS.alice, { message: 'count me', maxTokens: 10 });
    await stream.done;
    const after = await stats();
    expect(after.calls).toBe(before.calls + 1);
    expect(after.tokensSent).toBeGreaterThan(before.tokensSent);
    expect(after).toEqual(
      expect.objectContaining({
        active: expect.any(Number),
        cancelled: expect.any(Number),
        byModel: expect.any(Object),
      }),
    );
  });

  it('stops the model within a second, ends the stream with CANCELLED, settles the budget with the tokens used', async () => {
    cloud.simulator.configure(SLOW);
    const maxTokens = 400;
    const model = cloud.config.models.primary;
    const before = await stats();
    const usedBefore = await budgetUsed('carol');
    const stream = await openStream(KEYS.carol, { message: 'Tell me a long story', maxTokens });
    expect(stream.status).toBe(200);
    await stream.deltas(5);
    const requestId = stream.requestId();

    const cancelled = await cancel(requestId, KEYS.carol);
    const cancelledAt = Date.now();
    expect(cancelled).toEqual({ status: 202, json: { requestId, status: 'CANCELLING' } });
    // Idempotent while it stops.
    expect((await cancel(requestId, KEYS.carol)).status).toBeLessThan(500);

    await stream.done;
    const endedAfterMs = Date.now() - cancelledAt;
    expect(endedAfterMs).toBeLessThan(1000);
    const last = stream.events.at(-1)!;
    expect(last.event).toBe('error');
    expect(last.data).toEqual({ error: { code: 'CANCELLED', message: expect.any(String), retryable: false } });
    expect(stream.events.some((e) => e.event === 'end')).toBe(false);

    // Generation stopped at the simulator within a second of the cancel, and stays stopped.
    await sleep(Math.max(0, 1000 - (Date.now() - cancelledAt)));
    const atOneSecond = await stats();
    await sleep(600);
    const later = await stats();
    expect(later.tokensSent).toBe(atOneSecond.tokensSent);
    expect(later.cancelled).toBe(before.cancelled + 1);
    expect(later.active).toBe(before.active);
    // Far fewer tokens than the 400 the answer would have had.
    const sentForThisCall = atOneSecond.tokensSent - before.tokensSent;
    expect(sentForThisCall).toBeLessThan(100);

    // The budget holds what the call used (its input and the answer so far), not its 400-token reservation.
    const received = stream.events
      .filter((e) => e.event === 'delta')
      .map((e) => e.data.text as string)
      .join('');
    // Settled before the stream closed.
    const used = (await budgetUsed('carol')) - usedBefore;
    expect(used).toBeGreaterThanOrEqual(estimateTokens(received.length));
    expect(used).toBeLessThan(maxTokens / 2);

    // The model is not blamed: the breaker stays CLOSED with no failure counted.
    const { breaker, db: breakerDb } = cloudBreaker(cloud);
    try {
      const status = await breaker.status(model);
      expect(status.state).toBe('CLOSED');
      expect(JSON.stringify(status)).not.toMatch(/"failures":[1-9]/);
    } finally {
      breakerDb.destroy();
    }

    // The log says how it ended, and a cancel now is 409 with that status.
    expect(await head(requestId)).toMatchObject({ status: 'CANCELLED', cancelRequested: true, userId: 'carol' });
    expect(await cancel(requestId, KEYS.carol)).toEqual({
      status: 409,
      json: { error: { code: 'ALREADY_FINISHED', message: expect.any(String), retryable: false, status: 'CANCELLED' } },
    });
  });

  it('learns of a cancel sent before the first token (the heartbeat flush)', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 3000, tokensPerSecond: 50 });
    const stream = await openStream(KEYS.alice, { message: 'Think first', maxTokens: 100 });
    await eventually(() => stream.requestId());
    await sleep(FLUSH_MS);
    const cancelledAt = Date.now();
    expect((await cancel(stream.requestId(), KEYS.alice)).status).toBe(202);
    await stream.done;
    expect(Date.now() - cancelledAt).toBeLessThan(1000);
    expect(stream.events.map((e) => e.event)).toEqual(['start', 'error']);
    expect(stream.events[1]?.data.error.code).toBe('CANCELLED');
  });

  it('answers 409 with COMPLETED for a finished stream, and the answer is intact', async () => {
    const stream = await openStream(KEYS.alice, { message: 'Short answer', maxTokens: 20 });
    await stream.done;
    expect(stream.events.at(-1)?.event).toBe('end');
    expect(await cancel(stream.requestId(), KEYS.alice)).toEqual({
      status: 409,
      json: { error: { code: 'ALREADY_FINISHED', message: expect.any(String), retryable: false, status: 'COMPLETED' } },
    });
  });

  it("answers 404 for someone else's stream (which goes on) and for unknown ids", async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 20, tokensPerSecond: 100 });
    const stream = await openStream(KEYS.alice, { message: 'Mine', maxTokens: 60 });
    await stream.deltas(2);
    const requestId = stream.requestId();
    const refused = await cancel(requestId, KEYS.bob);
    expect(refused).toEqual({
      status: 404,
      json: { error: { code: 'NOT_FOUND', message: expect.any(String), retryable: false } },
    });
    const unknown = await cancel('00000000-0000-4000-8000-000000000000', KEYS.alice);
    expect(unknown.status).toBe(404);
    // The same body for both: nothing tells whether someone else's stream exists.
    expect(unknown.json.error.code).toBe(refused.json.error.code);
    await stream.done;
    expect(stream.events.at(-1)?.event).toBe('end');
    expect(await head(requestId)).toMatchObject({ status: 'COMPLETED', cancelRequested: false });
  });

  it('cancels an OpenAI streaming completion by its x-request-id: the SDK stream ends with an error', async () => {
    cloud.simulator.configure(SLOW);
    const client = new OpenAI({ apiKey: KEYS.dave, baseURL: `${cloud.url}/v1`, maxRetries: 0 });
    const { data: stream, response } = await client.chat.completions
      .create({
        model: cloud.config.models.primary,
        messages: [{ role: 'user', content: 'A long one' }],
        stream: true,
        max_tokens: 400,
      })
      .withResponse();
    const requestId = response.headers.get('x-request-id')!;
    expect(requestId).toBeTruthy();
    const before = await stats();
    let chunks = 0;
    let cancelledAt = 0;
    const consumed = (async () => {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) chunks++;
        if (chunks === 3 && !cancelledAt) {
          cancelledAt = Date.now();
          // By the completion id, as a client holding only the body would.
          const answer = await cancel(`chatcmpl-${requestId}`, KEYS.dave);
          expect(answer).toEqual({ status: 202, json: { requestId, status: 'CANCELLING' } });
        }
      }
    })();
    const failure = await consumed.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as InstanceType<typeof OpenAI.APIError>).code).toBe('cancelled');
    expect(Date.now() - cancelledAt).toBeLessThan(1000);
    await sleep(300);
    const after = await stats();
    await sleep(500);
    expect((await stats()).tokensSent).toBe(after.tokensSent);
    expect(after.tokensSent - before.tokensSent).toBeLessThan(100);
    expect(await head(requestId)).toMatchObject({ status: 'CANCELLED', endpoint: 'openai-chat' });
  });

  it('cancels a non-streaming OpenAI completion: 499 with the cancelled error', async () => {
    cloud.simulator.configure(SLOW);
    const pending = fetch(`${cloud.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.dave}` },
      body: JSON.stringify({
        model: cloud.config.models.primary,
        messages: [{ role: 'user', content: 'Whole' }],
        max_tokens: 400,
      }),
    });
    // The request id is only in the answer's header, which comes with the answer: find the stream by its head.
    const requestId = await eventually(async () => {
      const { Items } = await doc.send(
        new ScanCommand({
          TableName: cloud.env[ENV.streamsTable],
          FilterExpression: 'userId = :u AND #s = :streaming',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':u': 'dave', ':streaming': 'STREAMING' },
        }),
      );
      return Items?.[0]?.requestId as string | undefined;
    });
    expect((await cancel(requestId, KEYS.dave)).status).toBe(202);
    const res = await pending;
    expect(res.status).toBe(499);
    expect(res.headers.get('x-request-id')).toBe(requestId);
    expect(await res.json()).toEqual({
      error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'cancelled' },
    });
  });

  it('a stream log outage does not break the live stream; the stream then cannot be cancelled (404)', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 20, tokensPerSecond: 100 });
    const table = cloud.env[ENV.streamsTable];
    const stream = await openStream(KEYS.bob, { message: 'Through the outage', maxTokens: 80 });
    await stream.deltas(3);
    // The table disappears mid-stream: every later write of the log fails.
    await db.send(new DeleteTableCommand({ TableName: table }));
    try {
      await stream.done;
      const names = stream.events.map((e) => e.event);
      expect(names.at(-1)).toBe('end');
      expect(names.filter((n) => n === 'delta').length).toBeGreaterThan(3);
      expect(stream.events.map((e) => Number(e.id))).toEqual(stream.events.map((_, i) => i + 1));
      // A stream started during the outage is answered too.
      const during = await openStream(KEYS.bob, { message: 'Started in the outage', maxTokens: 20 });
      await during.done;
      expect(during.events.at(-1)?.event).toBe('end');
    } finally {
      await createTable(db, table, TABLES.streams);
    }
    expect((await cancel(stream.requestId(), KEYS.bob)).status).toBe(404);
  });
});
