/**
 * `GET /chat/stream/{requestId}` over real HTTP against the local cloud, with the gateway's disconnect signal off (as on
 * Lambda, so a client that drops does not stop the answer): a stream cut by its client and resumed with Last-Event-ID
 * yields exactly the original events (ids, names, payloads, bytes; nothing missing or doubled), both while the answer
 * is still being generated and after it ended; `?lastEventId=` does the same for clients that cannot set headers;
 * without either it replays from the start; another user, unknown ids, malformed ids and expired streams get their
 * 404/400/410. Streams are parsed with eventsource-parser, as a real client would.
 */
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createParser } from 'eventsource-parser';
import { ENV } from '../../config/runtime';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { documentClient, dynamoClient } from '../helpers/dynalite';
import { ROOMY_PLAN } from '../helpers/local-cloud';

const ALICE = 'alice-resume-key-00000000000000';
const BOB = 'bob-resume-key-0000000000000000';
/** The writer flushes every 200 ms here, so a resumed client trails the live one by at most that plus a poll. */
const FLUSH_MS = 200;

let cloud: LocalCloud;
let db: DynamoDBClient;
let doc: DynamoDBDocumentClient;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    signalDisconnect: false,
    apiKeys: `alice:roomy:${ALICE},bob:roomy:${BOB}`,
    config: { plans: { roomy: ROOMY_PLAN }, streams: { flushIntervalMs: FLUSH_MS }, chat: { keepAliveMs: 100 } },
  });
  db = dynamoClient(cloud.dynamoEndpoint);
  doc = documentClient(db);
});

afterAll(async () => {
  db?.destroy();
  await cloud?.stop();
});

beforeEach(() => cloud.simulator.configure({ mode: 'normal', ttftMs: 20, tokensPerSecond: 2000 }));

interface Received {
  id: string | undefined;
  event: string;
  data: string;
  at: number;
}

interface Read {
  status: number;
  headers: Headers;
  events: Received[];
  comments: string[];
  /** The body as received, keep-alive comments removed: what the log holds of it. */
  bytes: string;
  json?: { error: { code: string; message: string; retryable: boolean } };
}

/**
 * Reads an event stream with eventsource-parser; `stopAfter` cuts the connection once it returns true (the client
 * drops), as a real client's network would.
 */
async function read(
  path: string,
  init: { method?: string; key?: string; headers?: Record<string, string>; body?: unknown } = {},
  stopAfter?: (e: Received) => boolean,
): Promise<Read> {
  const controller = new AbortController();
  const res = await fetch(`${cloud.url}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      'x-api-key': init.key ?? ALICE,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: controller.signal,
  });
  const out: Read = { status: res.status, headers: res.headers, events: [], comments: [], bytes: '' };
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    out.json = JSON.parse(await res.text());
    return out;
  }
  let cut = false;
  const parser = createParser({
    onEvent: (m) => {
      // A chunk can carry several events: the ones after the cut are what the dropped client never saw.
      if (cut) return;
      const e = { id: m.id, event: m.event ?? 'message', data: m.data, at: performance.now() };
      out.events.push(e);
      if (stopAfter?.(e)) {
        cut = true;
        controller.abort();
      }
    },
    onComment: (c) => out.comments.push(c.trim()),
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const text = decoder.decode(chunk, { stream: true });
      out.bytes += text;
      parser.feed(text);
      if (cut) break;
    }
  } catch (err) {
    if (!cut) throw err;
  }
  out.bytes = out.bytes.replace(/^: keep-alive\n/gm, '');
  return out;
}

const startStream = (stopAfter?: (e: Received) => boolean, key = ALICE) =>
  read('/chat/stream', { method: 'POST', key, body: { message: 'Tell me about resumable streams' } }, stopAfter);
const resume = (requestId: string, headers: Record<string, string> = {}, query = '', key = ALICE) =>
  read(`/chat/stream/${requestId}${query}`, { key, headers });
const requestIdOf = (r: Read) => (JSON.parse(r.events[0]?.data ?? '{}') as { requestId: string }).requestId;
const shape = (events: Received[]) => events.map(({ id, event, data }) => ({ id, event, data }));

/** Waits until the simulator has no stream open: the answer is fully generated and the writer has finished. */
async function untilGenerated(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { stats } = (await (await fetch(`${cloud.url}/_local/model`)).json()) as { stats: { active: number } };
    if (stats.active === 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the simulator is still generating');
}

/** Asserts ids 1..n in order, each once, ending with `end`. */
function expectWholeStream(events: Received[]): void {
  expect(events.map((e) => e.id)).toEqual(events.map((_, i) => String(i + 1)));
  expect(events[0]?.event).toBe('start');
  expect(events.at(-1)?.event).toBe('end');
}

describe('resuming a dropped stream', () => {
  test('while the answer is still running: before the cut + after the resume = the whole stream, live to its end', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 20, tokensPerSecond: 15 });
    const cut = await startStream((e) => e.id === '4');
    expect(cut.events.map((e) => e.id)).toEqual(['1', '2', '3', '4']);
    const requestId = requestIdOf(cut);

    const resumedAt = performance.now();
    const resumed = await resume(requestId, { 'Last-Event-ID': '4' });
    expect(resumed.status).toBe(200);
    expect(resumed.headers.get('content-type')).toMatch(/^text\/event-stream/);
    // It was followed live: the answer was still being generated well after the resume began.
    expect((resumed.events.at(-1)?.at ?? 0) - resumedAt).toBeGreaterThan(500);

    const whole = [...cut.events, ...resumed.events];
    expectWholeStream(whole);
    const replay = await resume(requestId);
    expect(shape(whole)).toEqual(shape(replay.events));
    // The same bytes: what the resumed client read is the replay's text after event 4.
    expect(replay.bytes.endsWith(resumed.bytes)).toBe(true);
    expect(cut.bytes.startsWith(replay.bytes.slice(0, replay.bytes.indexOf('id: 5\n')))).toBe(true);
  });

  test('after the answer ended: the events after Last-Event-ID, at once, then the connection closes', async () => {
    const live = await startStream();
    expectWholeStream(live.events);
    const cut = live.events.slice(0, 3);
    await untilGenerated();
    const resumed = await resume(requestIdOf(live), { 'last-event-id': '3' });
    expect(shape([...cut, ...resumed.events])).toEqual(shape(live.events));
    // Byte for byte what the uninterrupted client read after event 3.
    expect(resumed.bytes).toBe(live.bytes.slice(live.bytes.indexOf('id: 4\n')));
  });

  test('without Last-Event-ID: the whole stream from `start`, the same bytes the live client read', async () => {
    const live = await startStream();
    await untilGenerated();
    const replay = await resume(requestIdOf(live));
    expect(replay.bytes).toBe(live.bytes);
    expect(shape(replay.events)).toEqual(shape(live.events));
  });

  test('?lastEventId= for clients that cannot set headers; the header wins over it', async () => {
    const live = await startStream();
    await untilGenerated();
    const id = requestIdOf(live);
    const byQuery = await resume(id, {}, '?lastEventId=2');
    expect(shape(byQuery.events)).toEqual(shape(live.events.slice(2)));
    const both = await resume(id, { 'Last-Event-ID': '5' }, '?lastEventId=2');
    expect(shape(both.events)).toEqual(shape(live.events.slice(5)));
  });

  test('a resumed client trails the live one by less than 500 ms, with keep-alives while the model thinks', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 600, tokensPerSecond: 20 });
    let requestId: string | undefined;
    let follower: Promise<Read> | undefined;
    const live = await startStream((e) => {
      if (e.event === 'start') {
        requestId = (JSON.parse(e.data) as { requestId: string }).requestId;
        follower = resume(requestId);
      }
      return false;
    });
    const followed = await (follower as Promise<Read>);
    expect(shape(followed.events)).toEqual(shape(live.events));
    const lags = live.events.map((e, i) => (followed.events[i]?.at ?? Number.POSITIVE_INFINITY) - e.at);
    expect(Math.max(...lags)).toBeLessThan(500);
    expect(followed.comments).toContain('keep-alive');
  });

  test('an answer that ended in error ends the resumed stream with the same error', async () => {
    cloud.simulator.configure({ mode: 'midstream-error', ttftMs: 20, tokensPerSecond: 2000, failRate: 1 });
    const live = await startStream();
    expect(live.events.at(-1)?.event).toBe('error');
    await untilGenerated();
    const replay = await resume(requestIdOf(live), { 'Last-Event-ID': '1' });
    expect(shape(replay.events)).toEqual(shape(live.events.slice(1)));
  });
});

describe('who may resume what', () => {
  let requestId: string;
  beforeAll(async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 20, tokensPerSecond: 2000 });
    const live = await startStream();
    requestId = requestIdOf(live);
    await untilGenerated();
  });

  const notFound = { error: { code: 'NOT_FOUND', message: 'No stream with this requestId', retryable: false } };

  test("another user's stream and an unknown id are the same 404, with this request's x-request-id", async () => {
    const bob = await resume(requestId, {}, '', BOB);
    expect(bob.status).toBe(404);
    expect(bob.json).toEqual(notFound);
    expect(bob.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(bob.headers.get('x-request-id')).not.toBe(requestId);
    const unknown = await resume('00000000-0000-4000-8000-000000000000');
    expect([unknown.status, unknown.json]).toEqual([404, notFound]);
  });

  test.each([['abc'], ['-1'], ['1.5'], ['12345678901234567890']])('Last-Event-ID %j is a 400', async (bad) => {
    const res = await resume(requestId, { 'Last-Event-ID': bad });
    expect(res.status).toBe(400);
    expect(res.json?.error.code).toBe('VALIDATION_ERROR');
    const byQuery = await resume(requestId, {}, `?lastEventId=${encodeURIComponent(bad)}`);
    expect(byQuery.status).toBe(400);
  });

  test('a Last-Event-ID after the end of a finished stream is a 400', async () => {
    const res = await resume(requestId, { 'Last-Event-ID': '999' });
    expect(res.status).toBe(400);
    expect(res.json?.error.message).toMatch(/after the stream's last event/);
  });

  test('past its retention a stream is 410 STREAM_EXPIRED to its owner, still 404 to others', async () => {
    const live = await startStream();
    const id = requestIdOf(live);
    await untilGenerated();
    await doc.send(
      new UpdateCommand({
        TableName: cloud.env[ENV.streamsTable],
        Key: { requestId: id, part: 0 },
        UpdateExpression: 'SET retainUntil = :past',
        ExpressionAttributeValues: { ':past': Date.now() - 1 },
      }),
    );
    const res = await resume(id);
    expect(res.status).toBe(410);
    expect(res.json?.error).toMatchObject({ code: 'STREAM_EXPIRED', retryable: false });
    expect((await resume(id, {}, '', BOB)).status).toBe(404);
  });
});
