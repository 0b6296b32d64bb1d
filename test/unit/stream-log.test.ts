/** The stream log writer's policy: batches by time and size, heartbeat, cancel flag → abort, failures stay off the stream. */
import {
  type CancelOutcome,
  type StreamBatch,
  type StreamHeadStart,
  type StreamLogStore,
  StreamLogWriter,
  type StreamProgress,
} from '../../lambda/core/streams/log';

/** An in-memory store that records every write, with switches for latency, a cancel flag and failures. */
class RecordingStore implements StreamLogStore {
  heads: StreamHeadStart[] = [];
  batches: StreamBatch[] = [];
  progresses: StreamProgress[] = [];
  finished: string[] = [];
  /** The progress each final write carried. */
  finalProgress: StreamProgress[] = [];
  cancelFlag = false;
  failWith: Error | undefined;
  headDelayMs = 0;

  async start(head: StreamHeadStart): Promise<void> {
    if (this.headDelayMs) await new Promise((r) => setTimeout(r, this.headDelayMs));
    this.maybeFail();
    this.heads.push(head);
  }
  async append(batch: StreamBatch): Promise<void> {
    this.maybeFail();
    this.batches.push(batch);
  }
  async progress(_id: string, progress: StreamProgress): Promise<{ cancelRequested: boolean }> {
    this.maybeFail();
    this.progresses.push(progress);
    return { cancelRequested: this.cancelFlag };
  }
  async finish(_id: string, status: string, progress: StreamProgress): Promise<void> {
    this.maybeFail();
    this.finished.push(status);
    this.finalProgress.push(progress);
  }
  async requestCancel(): Promise<CancelOutcome> {
    return { kind: 'requested' };
  }
  private maybeFail(): void {
    if (this.failWith) throw this.failWith;
  }
}

const HEAD = { requestId: 'req-1', userId: 'alice', endpoint: 'chat-stream', model: 'm' };
const event = (id: number, text: string) => `id: ${id}\nevent: delta\ndata: {"text":"${text}"}\n\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writer(store: StreamLogStore, config: Partial<{ flushIntervalMs: number; maxBatchBytes: number }> = {}) {
  const errors: unknown[] = [];
  const log = new StreamLogWriter({
    store,
    config: { retentionMinutes: 60, flushIntervalMs: 50, maxBatchBytes: 65536, ...config },
    onError: (err) => errors.push(err),
  });
  return { log, errors };
}

describe('StreamLogWriter', () => {
  it('writes the head with its retention, without waiting for it', async () => {
    const store = new RecordingStore();
    store.headDelayMs = 30;
    const { log } = writer(store);
    const before = Date.now();
    log.start(HEAD);
    // start() returned before the head's write finished: the model call is not delayed by it.
    expect(store.heads).toHaveLength(0);
    await log.end('COMPLETED');
    expect(store.heads).toHaveLength(1);
    const head = store.heads[0]!;
    expect(head.retainUntil - head.createdAt).toBe(60 * 60_000);
    expect(head.createdAt).toBeGreaterThanOrEqual(before);
    expect(store.finished).toEqual(['COMPLETED']);
  });

  it('batches the events of one interval into one write, in order, with their exact bytes', async () => {
    const store = new RecordingStore();
    const { log } = writer(store, { flushIntervalMs: 1000 });
    log.start(HEAD);
    for (let id = 1; id <= 20; id++) log.record(id, event(id, `t${id}`));
    // Recording never writes by itself before the interval (nor the size limit) is reached.
    await sleep(20);
    expect(store.batches).toHaveLength(0);
    await log.end('COMPLETED');
    expect(store.batches).toHaveLength(1);
    const [batch] = store.batches;
    expect(batch).toMatchObject({ part: 1, firstEventId: 1, lastEventId: 20 });
    expect(batch!.sse).toBe(Array.from({ length: 20 }, (_, i) => event(i + 1, `t${i + 1}`)).join(''));
    // The final status carries the progress: no heartbeat write of its own at the end.
    expect(store.progresses).toHaveLength(0);
    expect(store.finalProgress).toEqual([{ lastEventId: 20, parts: 1, updatedAt: expect.any(Number) }]);
  });

  it('flushes when the interval passes', async () => {
    const store = new RecordingStore();
    const { log } = writer(store, { flushIntervalMs: 50 });
    log.start(HEAD);
    log.record(1, event(1, 'a'));
    await sleep(120);
    expect(store.batches.map((b) => b.lastEventId)).toEqual([1]);
    log.record(2, event(2, 'b'));
    log.record(3, event(3, 'c'));
    await sleep(120);
    expect(store.batches.map((b) => [b.part, b.firstEventId, b.lastEventId])).toEqual([
      [1, 1, 1],
      [2, 2, 3],
    ]);
    await log.end('COMPLETED');
    expect(store.batches).toHaveLength(2);
  });

  it('flushes as soon as a batch reaches maxBatchBytes, without waiting for the interval', async () => {
    const store = new RecordingStore();
    const { log } = writer(store, { flushIntervalMs: 1000, maxBatchBytes: 1024 });
    log.start(HEAD);
    const big = 'x'.repeat(400);
    log.record(1, event(1, big));
    log.record(2, event(2, big));
    await sleep(10);
    expect(store.batches).toHaveLength(0);
    log.record(3, event(3, big));
    await sleep(10);
    expect(store.batches.map((b) => [b.firstEventId, b.lastEventId])).toEqual([[1, 3]]);
    await log.end('COMPLETED');
  });

  it('heartbeats with no events, and a cancel flag seen on it aborts cancelSignal', async () => {
    const store = new RecordingStore();
    const { log } = writer(store, { flushIntervalMs: 50 });
    log.start(HEAD);
    await sleep(130);
    expect(store.progresses.length).toBeGreaterThanOrEqual(2);
    expect(store.batches).toHaveLength(0);
    expect(log.cancelled).toBe(false);
    const aborted = new Promise((r) => log.cancelSignal.addEventListener('abort', r));
    const flaggedAt = Date.now();
    store.cancelFlag = true;
    await aborted;
    expect(Date.now() - flaggedAt).toBeLessThan(200);
    expect(log.cancelled).toBe(true);
    await log.end('CANCELLED');
    expect(store.finished).toEqual(['CANCELLED']);
  });

  it('a failing table stops the log once, reports it once, and never throws into the stream', async () => {
    const store = new RecordingStore();
    const { log, errors } = writer(store, { flushIntervalMs: 30 });
    log.start(HEAD);
    log.record(1, event(1, 'a'));
    await sleep(60);
    store.failWith = Object.assign(new Error('down'), { name: 'InternalServerError' });
    log.record(2, event(2, 'b'));
    await sleep(100);
    expect(() => log.record(3, event(3, 'c'))).not.toThrow();
    await expect(log.end('COMPLETED')).resolves.toBeUndefined();
    expect(log.broken).toBe(true);
    expect(errors).toHaveLength(1);
    expect(store.finished).toEqual([]);
    expect(log.cancelled).toBe(false);
  });

  it('a head that cannot be written stops the log before any batch', async () => {
    const store = new RecordingStore();
    store.failWith = new Error('no table');
    const { log, errors } = writer(store);
    log.start(HEAD);
    log.record(1, event(1, 'a'));
    await log.end('COMPLETED');
    expect(errors).toHaveLength(1);
    expect(store.batches).toHaveLength(0);
    expect(store.progresses).toHaveLength(0);
  });

  it('writes never overlap: batches land in order even when the size limit triggers during a write', async () => {
    const store = new RecordingStore();
    let inFlight = 0;
    let maxInFlight = 0;
    const append = store.append.bind(store);
    store.append = async (batch) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(15);
      await append(batch);
      inFlight--;
    };
    const { log } = writer(store, { flushIntervalMs: 1000, maxBatchBytes: 1024 });
    log.start(HEAD);
    for (let id = 1; id <= 30; id++) {
      log.record(id, event(id, 'y'.repeat(300)));
      await sleep(2);
    }
    await log.end('COMPLETED');
    expect(maxInFlight).toBe(1);
    const ids = store.batches.flatMap((b) => [b.firstEventId, b.lastEventId]);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    // The final status, written after the last batch, counts every event.
    expect(store.finalProgress).toEqual([
      { lastEventId: 30, parts: store.batches.length, updatedAt: expect.any(Number) },
    ]);
    expect(store.batches.map((b) => b.part)).toEqual(store.batches.map((_, i) => i + 1));
    expect(store.batches.at(-1)!.lastEventId).toBe(30);
    expect(store.batches[0]!.firstEventId).toBe(1);
  });
});
