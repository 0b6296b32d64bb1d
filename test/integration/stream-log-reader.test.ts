/**
 * Resuming from the stream log on DynamoDB (dynalite, in-process, loopback only), with items written by hand in the
 * table's format (lambda/aws/stream-log-store.ts), as a writer in another function would write them: the reader
 * replays after an id, follows batches as they appear, stops at the final status, answers 410 past retention and 404
 * for someone else's stream, and pages through a log larger than one Query answer.
 */
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '../../config/tables';
import { DynamoStreamLogReader } from '../../lambda/aws/stream-log-reader';
import { NotFoundError, StreamExpiredError, type ApiError } from '../../lambda/core/errors';
import { followStream, type FollowTiming, openStream } from '../../lambda/core/streams/resume';
import { createTable, documentClient, dynamoClient, startDynalite, type DynaliteHandle } from '../helpers/dynalite';

const TABLE = 'streams-test';
const TIMING: FollowTiming = { pollIntervalMs: 50, heartbeatTimeoutMs: 5_000, maxStreamMs: 65_000 };
const ev = (id: number, event: string, data: unknown) =>
  `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

let db: DynaliteHandle;
let client: ReturnType<typeof dynamoClient>;
let doc: ReturnType<typeof documentClient>;
let reader: DynamoStreamLogReader;
let seq = 0;

beforeAll(async () => {
  db = await startDynalite();
  client = dynamoClient(db.endpoint);
  await createTable(client, TABLE, TABLES.streams);
  doc = documentClient(client);
  reader = new DynamoStreamLogReader({ tableName: TABLE, documentClient: doc });
});

afterAll(async () => {
  client.destroy();
  await db.close();
});

/** A stream log written as the writer writes it: the head at start, then each batch before the head's progress. */
async function newStream(overrides: Record<string, unknown> = {}) {
  const requestId = `req-${++seq}`;
  const now = Date.now();
  const retainUntil = now + 60 * 60_000;
  await doc.send(
    new PutCommand({
      TableName: TABLE,
      Item: {
        requestId,
        part: 0,
        userId: 'alice',
        endpoint: 'chat-stream',
        model: 'm',
        status: 'STREAMING',
        lastEventId: 0,
        parts: 0,
        cancelRequested: false,
        createdAt: now,
        updatedAt: now,
        retainUntil,
        expiresAt: Math.ceil((retainUntil + 86_400_000) / 1000),
        ...overrides,
      },
    }),
  );
  let parts = 0;
  return {
    requestId,
    async batch(...events: string[]) {
      parts++;
      const ids = events.map((e) => Number(/^id: (\d+)/.exec(e)?.[1]));
      await doc.send(
        new PutCommand({
          TableName: TABLE,
          Item: {
            requestId,
            part: parts,
            firstEventId: ids[0],
            lastEventId: ids.at(-1),
            sse: events.join(''),
            expiresAt: Math.ceil(retainUntil / 1000),
          },
        }),
      );
      await doc.send(
        new UpdateCommand({
          TableName: TABLE,
          Key: { requestId, part: 0 },
          UpdateExpression: 'SET lastEventId = :l, parts = :p, updatedAt = :u',
          ExpressionAttributeValues: { ':l': ids.at(-1), ':p': parts, ':u': Date.now() },
        }),
      );
    },
    async finish(status: string) {
      await doc.send(
        new UpdateCommand({
          TableName: TABLE,
          Key: { requestId, part: 0 },
          UpdateExpression: 'SET #s = :s, finishedAt = :f, updatedAt = :f',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':s': status, ':f': Date.now() },
        }),
      );
    },
  };
}

async function resume(requestId: string, lastEventId: number | undefined, userId = 'alice') {
  const head = await openStream(reader, requestId, userId, lastEventId, Date.now());
  const sent: { bytes: string; at: number }[] = [];
  const errors: ApiError[] = [];
  const result = await followStream({
    reader,
    head,
    lastEventId,
    timing: TIMING,
    deadlineAt: Date.now() + 30_000,
    send: (bytes) => {
      sent.push({ bytes, at: Date.now() });
      return true;
    },
    sendError: (err) => void errors.push(err),
  });
  return { result, bytes: sent.map((s) => s.bytes).join(''), sent, errors };
}

const START = ev(1, 'start', { requestId: 'x', model: 'm' });
const D = (id: number, text: string) => ev(id, 'delta', { text });
const END = (id: number) => ev(id, 'end', { model: 'm', stopReason: 'end_turn' });

describe('DynamoStreamLogReader + followStream', () => {
  it('replays a finished stream after Last-Event-ID with the same bytes, and from the start without one', async () => {
    const s = await newStream();
    await s.batch(START, D(2, 'Hel'));
    await s.batch(D(3, 'lo 👋'), END(4));
    await s.finish('COMPLETED');
    const after2 = await resume(s.requestId, 2);
    expect(after2.bytes).toBe(D(3, 'lo 👋') + END(4));
    expect(after2.result).toEqual({ outcome: 'finished', events: 2, lastEventId: 4 });
    const all = await resume(s.requestId, undefined);
    expect(all.bytes).toBe(START + D(2, 'Hel') + D(3, 'lo 👋') + END(4));
  });

  it('follows batches as the writer adds them, within a poll of each write, until the final status', async () => {
    const s = await newStream();
    await s.batch(START);
    const written: number[] = [];
    const writer = (async () => {
      for (let id = 2; id <= 6; id++) {
        await new Promise((r) => setTimeout(r, 150));
        written.push(Date.now());
        await s.batch(D(id, `t${id}`));
      }
      await s.batch(END(7));
      await s.finish('COMPLETED');
    })();
    const { sent, result, errors } = await resume(s.requestId, 1);
    await writer;
    expect(sent.map((e) => e.bytes)).toEqual([D(2, 't2'), D(3, 't3'), D(4, 't4'), D(5, 't5'), D(6, 't6'), END(7)]);
    for (const [i, at] of written.entries()) expect((sent[i]?.at ?? 0) - at).toBeLessThan(500);
    expect(result.outcome).toBe('finished');
    expect(errors).toEqual([]);
  });

  it('ends at the logged error of a cancelled stream', async () => {
    const s = await newStream();
    const cancelled = ev(3, 'error', { error: { code: 'CANCELLED', message: 'Cancelled', retryable: false } });
    await s.batch(START, D(2, 'a'), cancelled);
    await s.finish('CANCELLED');
    const { bytes, result } = await resume(s.requestId, 1);
    expect(bytes).toBe(D(2, 'a') + cancelled);
    expect(result.outcome).toBe('finished');
  });

  it('answers 410 after retainUntil, and 404 to another user and for an unknown id', async () => {
    const expired = await newStream({ retainUntil: Date.now() - 1 });
    await expect(resume(expired.requestId, undefined)).rejects.toThrow(StreamExpiredError);
    const s = await newStream();
    await expect(resume(s.requestId, undefined, 'bob')).rejects.toThrow(NotFoundError);
    await expect(resume(expired.requestId, undefined, 'bob')).rejects.toThrow(NotFoundError);
    await expect(resume('no-such-stream', undefined)).rejects.toThrow(NotFoundError);
  });

  it('ends with STREAM_INTERRUPTED when the writer stopped updating the head', async () => {
    const s = await newStream({ updatedAt: Date.now() - 10_000 });
    await doc.send(
      new PutCommand({
        TableName: TABLE,
        Item: { requestId: s.requestId, part: 1, firstEventId: 1, lastEventId: 1, sse: START },
      }),
    );
    await doc.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: { requestId: s.requestId, part: 0 },
        UpdateExpression: 'SET lastEventId = :one, parts = :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    const { bytes, result, errors } = await resume(s.requestId, undefined);
    expect(bytes).toBe(START);
    expect(result.outcome).toBe('interrupted');
    expect(errors.map((e) => e.code)).toEqual(['STREAM_INTERRUPTED']);
  });

  it('pages through batches beyond one Query answer (1 MB)', async () => {
    const s = await newStream();
    const big = 'x'.repeat(60_000);
    const expected: string[] = [START];
    await s.batch(START);
    for (let id = 2; id <= 25; id++) {
      expected.push(D(id, big));
      await s.batch(D(id, big));
    }
    expected.push(END(26));
    await s.batch(END(26));
    await s.finish('COMPLETED');
    const { bytes, result } = await resume(s.requestId, undefined);
    expect(bytes).toBe(expected.join(''));
    expect(result.events).toBe(26);
  });

  it('treats an item that is not a head of this format as no stream', async () => {
    await doc.send(new PutCommand({ TableName: TABLE, Item: { requestId: 'odd', part: 0, userId: 'alice' } }));
    await expect(resume('odd', undefined)).rejects.toThrow(NotFoundError);
  });
});
