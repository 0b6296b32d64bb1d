/**
 * The stream log through its DynamoDB adapter against dynalite (in-process, loopback only): the head is written once,
 * batches land as written, a flush's head update returns the cancel flag, and the cancel's condition tells the owner's
 * running stream (202) from unknown and others' ids (404), finished streams (409 with their status) and expired ones
 * (410). Also the writer over the real adapter, and its request count per flush.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '../../config/tables';
import { HEAD_GRACE_MS, DynamoStreamLogStore } from '../../lambda/aws/stream-log-store';
import { cancelStream } from '../../lambda/core/streams/cancel';
import { StreamLogWriter } from '../../lambda/core/streams/log';
import {
  countRequests,
  createTable,
  documentClient,
  dynamoClient,
  startDynalite,
  type DynaliteHandle,
} from '../helpers/dynalite';

const TABLE = 'streams-test';
let db: DynaliteHandle;
let client: ReturnType<typeof dynamoClient>;
let store: DynamoStreamLogStore;
let doc: ReturnType<typeof documentClient>;
let n = 0;
const nextId = () => `req-${++n}-${Date.now()}`;

beforeAll(async () => {
  db = await startDynalite();
  client = dynamoClient(db.endpoint);
  await createTable(client, TABLE, TABLES.streams);
  doc = documentClient(client);
  store = new DynamoStreamLogStore({ documentClient: doc, tableName: TABLE });
});

afterAll(async () => {
  client.destroy();
  await db.close();
});

const headOf = async (requestId: string) =>
  (await doc.send(new GetCommand({ TableName: TABLE, Key: { requestId, part: 0 }, ConsistentRead: true }))).Item;

async function startHead(requestId: string, userId = 'alice', createdAt = Date.now(), retentionMs = 3_600_000) {
  await store.start({
    requestId,
    userId,
    endpoint: 'chat-stream',
    model: 'model-a',
    createdAt,
    retainUntil: createdAt + retentionMs,
  });
}

describe('DynamoStreamLogStore', () => {
  it('writes the head once: STREAMING, no progress, not cancelled, expiresAt a day after retention', async () => {
    const id = nextId();
    const createdAt = Date.now();
    await startHead(id, 'alice', createdAt);
    expect(await headOf(id)).toEqual({
      requestId: id,
      part: 0,
      userId: 'alice',
      endpoint: 'chat-stream',
      model: 'model-a',
      status: 'STREAMING',
      lastEventId: 0,
      parts: 0,
      cancelRequested: false,
      createdAt,
      updatedAt: createdAt,
      retainUntil: createdAt + 3_600_000,
      expiresAt: Math.ceil((createdAt + 3_600_000 + HEAD_GRACE_MS) / 1000),
    });
    // A second head for the same id (another writer, a replay) is refused and changes nothing.
    await expect(startHead(id, 'mallory')).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
    expect((await headOf(id))?.userId).toBe('alice');
  });

  it('appends batches and returns the cancel flag from the progress update', async () => {
    const id = nextId();
    await startHead(id);
    const retainUntil = Date.now() + 3_600_000;
    await store.append({ requestId: id, part: 1, firstEventId: 1, lastEventId: 3, sse: 'id: 1\n...', retainUntil });
    expect(await store.progress(id, { lastEventId: 3, parts: 1, updatedAt: Date.now() })).toEqual({
      cancelRequested: false,
    });
    const { Items } = await doc.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'requestId = :id AND part > :zero',
        ExpressionAttributeValues: { ':id': id, ':zero': 0 },
      }),
    );
    expect(Items).toEqual([
      {
        requestId: id,
        part: 1,
        firstEventId: 1,
        lastEventId: 3,
        sse: 'id: 1\n...',
        expiresAt: Math.ceil(retainUntil / 1000),
      },
    ]);
    expect(await headOf(id)).toMatchObject({ lastEventId: 3, parts: 1 });

    expect(await store.requestCancel(id, 'alice', Date.now())).toEqual({ kind: 'requested' });
    expect(await store.progress(id, { lastEventId: 3, parts: 1, updatedAt: Date.now() })).toEqual({
      cancelRequested: true,
    });
    expect(await headOf(id)).toMatchObject({ cancelRequested: true, cancelRequestedAt: expect.any(Number) });
  });

  it('a progress update never creates a headless item', async () => {
    const id = nextId();
    await expect(store.progress(id, { lastEventId: 0, parts: 0, updatedAt: Date.now() })).rejects.toMatchObject({
      name: 'ConditionalCheckFailedException',
    });
    expect(await headOf(id)).toBeUndefined();
  });

  it('cancel: 202 for the owner while streaming (again on a second cancel, keeping the first time)', async () => {
    const id = nextId();
    await startHead(id);
    const first = Date.now();
    await expect(cancelStream(id, 'alice', { store, enabled: true, now: first })).resolves.toEqual({
      requestId: id,
      status: 'CANCELLING',
    });
    await expect(cancelStream(id, 'alice', { store, enabled: true, now: first + 500 })).resolves.toEqual({
      requestId: id,
      status: 'CANCELLING',
    });
    expect((await headOf(id))?.cancelRequestedAt).toBe(first);
  });

  it('cancel: 404 for unknown ids and for other users, changing nothing', async () => {
    const id = nextId();
    await startHead(id);
    await expect(cancelStream(nextId(), 'alice', { store, enabled: true })).rejects.toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });
    await expect(cancelStream(id, 'bob', { store, enabled: true })).rejects.toMatchObject({ status: 404 });
    expect(await headOf(id)).toMatchObject({ cancelRequested: false });
    expect((await headOf(id))?.cancelRequestedAt).toBeUndefined();
    // The log off: every id is unknown, without a read.
    await expect(cancelStream(id, 'alice', { store, enabled: false })).rejects.toMatchObject({ status: 404 });
  });

  it.each(['COMPLETED', 'FAILED', 'CANCELLED'] as const)(
    'cancel: 409 with the final status once %s',
    async (status) => {
      const id = nextId();
      await startHead(id);
      await store.finish(id, status, { lastEventId: 2, parts: 1, updatedAt: Date.now() });
      const refused = cancelStream(id, 'alice', { store, enabled: true });
      await expect(refused).rejects.toMatchObject({ status: 409, code: 'ALREADY_FINISHED', finalStatus: status });
      await refused.catch((err: { toBody(): unknown }) =>
        expect(err.toBody()).toEqual({
          error: { code: 'ALREADY_FINISHED', message: expect.any(String), retryable: false, status },
        }),
      );
      expect(await headOf(id)).toMatchObject({
        status,
        cancelRequested: false,
        finishedAt: expect.any(Number),
        lastEventId: 2,
        parts: 1,
      });
    },
  );

  it('cancel: 410 past retention (the head is still there), 404 for someone else even then', async () => {
    const id = nextId();
    await startHead(id, 'alice', Date.now() - 10_000, 5_000);
    await expect(cancelStream(id, 'alice', { store, enabled: true })).rejects.toMatchObject({
      status: 410,
      code: 'STREAM_EXPIRED',
    });
    await expect(cancelStream(id, 'bob', { store, enabled: true })).rejects.toMatchObject({ status: 404 });
  });
});

describe('StreamLogWriter over DynamoDB', () => {
  it('writes the head, batches with the exact bytes, the final status; learns a cancel within an interval', async () => {
    const id = nextId();
    const errors: unknown[] = [];
    const log = new StreamLogWriter({
      store,
      config: { retentionMinutes: 60, flushIntervalMs: 100, maxBatchBytes: 65536 },
      onError: (err) => errors.push(err),
    });
    log.start({ requestId: id, userId: 'alice', endpoint: 'chat-stream', model: 'model-a' });
    const events = [1, 2, 3].map((i) => `id: ${i}\nevent: delta\ndata: {"text":"é${i}"}\n\n`);
    for (const [i, e] of events.entries()) log.record(i + 1, e);
    await new Promise((r) => setTimeout(r, 250));
    await cancelStream(id, 'alice', { store, enabled: true });
    const askedAt = Date.now();
    await new Promise((r) => log.cancelSignal.addEventListener('abort', r));
    expect(Date.now() - askedAt).toBeLessThan(1000);
    await log.end('CANCELLED');
    expect(errors).toEqual([]);
    const { Items } = await doc.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'requestId = :id',
        ExpressionAttributeValues: { ':id': id },
      }),
    );
    const [head, ...batches] = Items ?? [];
    expect(head).toMatchObject({ status: 'CANCELLED', lastEventId: 3, parts: 1, cancelRequested: true });
    expect(batches.map((b) => b.sse).join('')).toBe(events.join(''));
  });

  it('costs one PutItem and one UpdateItem per flush with events, one UpdateItem per heartbeat', async () => {
    const counting = dynamoClient(db.endpoint);
    const counts = countRequests(counting);
    const countingStore = new DynamoStreamLogStore({ documentClient: documentClient(counting), tableName: TABLE });
    const log = new StreamLogWriter({
      store: countingStore,
      config: { retentionMinutes: 60, flushIntervalMs: 1000, maxBatchBytes: 65536 },
      onError: () => undefined,
    });
    log.start({ requestId: nextId(), userId: 'alice', endpoint: 'chat-stream', model: 'model-a' });
    for (let i = 1; i <= 50; i++) log.record(i, `id: ${i}\nevent: delta\ndata: {"text":"x"}\n\n`);
    await log.end('COMPLETED');
    // The head, one batch, the final status with the progress.
    expect(counts.byOperation).toEqual({ PutItem: 2, UpdateItem: 1 });
    counting.destroy();
  });
});
