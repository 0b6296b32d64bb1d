/**
 * Resuming a stream from its log, without I/O: the stored bytes are cut back into the events the client saw, the ones
 * after Last-Event-ID are picked, a malformed id is a 400, and the follow loop (over an in-memory log that grows as a
 * writer would write it) sends each event once, in order, ending with the logged end or with STREAM_INTERRUPTED.
 */
import { type ApiError, NotFoundError, StreamExpiredError, ValidationError } from '../../lambda/core/errors';
import { eventsAfter, lastEventIdOf, parseLoggedEvents, StreamLogFormatError } from '../../lambda/core/streams/replay';
import {
  type FollowTiming,
  followStream,
  followTiming,
  type LoggedBatch,
  openStream,
  reportResume,
  type StreamHead,
  type StreamLogReader,
} from '../../lambda/core/streams/resume';

const ev = (id: number, event: string, data: unknown) =>
  `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const START = ev(1, 'start', { requestId: 'r-1', model: 'm' });
const D2 = ev(2, 'delta', { text: 'Hel' });
const D3 = ev(3, 'delta', { text: 'lo, wörld 👋\nsecond line' });
const END = ev(4, 'end', { model: 'm', stopReason: 'end_turn' });

describe('parseLoggedEvents', () => {
  it('cuts a batch into its events, each with its id, name and exact bytes', () => {
    const events = parseLoggedEvents(START + D2 + D3);
    expect(events.map((e) => [e.id, e.event])).toEqual([
      [1, 'start'],
      [2, 'delta'],
      [3, 'delta'],
    ]);
    expect(events.map((e) => e.bytes).join('')).toBe(START + D2 + D3);
    expect(events[2]?.bytes).toBe(D3);
  });

  it('reads an empty batch as no events and skips comment-only blocks', () => {
    expect(parseLoggedEvents('')).toEqual([]);
    expect(parseLoggedEvents(`: keep-alive\n\n${D2}`).map((e) => e.id)).toEqual([2]);
  });

  it('refuses bytes that are not the writer’s: a cut event, an event without id, ids going backwards', () => {
    expect(() => parseLoggedEvents(START + D2.slice(0, -1))).toThrow(StreamLogFormatError);
    expect(() => parseLoggedEvents('event: delta\ndata: {}\n\n')).toThrow(StreamLogFormatError);
    expect(() => parseLoggedEvents(D3 + D2)).toThrow(StreamLogFormatError);
    expect(() => parseLoggedEvents('id: x1\nevent: delta\ndata: {}\n\n')).toThrow(StreamLogFormatError);
  });
});

describe('eventsAfter', () => {
  const events = parseLoggedEvents(START + D2 + D3 + END);
  it('picks the events after an id, all of them without one, none after the last', () => {
    expect(eventsAfter(events, 2).map((e) => e.id)).toEqual([3, 4]);
    expect(eventsAfter(events, undefined).map((e) => e.id)).toEqual([1, 2, 3, 4]);
    expect(eventsAfter(events, 0).map((e) => e.id)).toEqual([1, 2, 3, 4]);
    expect(eventsAfter(events, 4)).toEqual([]);
    expect(eventsAfter(events, 99)).toEqual([]);
  });
});

describe('lastEventIdOf', () => {
  it('reads the header first, then the query parameter; neither or empty means from the start', () => {
    expect(lastEventIdOf('7', '3')).toBe(7);
    expect(lastEventIdOf(undefined, '3')).toBe(3);
    expect(lastEventIdOf('', '3')).toBe(3);
    expect(lastEventIdOf(' 12 ', undefined)).toBe(12);
    expect(lastEventIdOf(undefined, undefined)).toBeUndefined();
    expect(lastEventIdOf('', '')).toBeUndefined();
    expect(lastEventIdOf('0', undefined)).toBe(0);
  });

  it.each(['-1', '1.5', 'abc', '0x10', '1e3', '007', '99999999999999999', '1 2'])('refuses %j with a 400', (bad) => {
    expect(() => lastEventIdOf(bad, undefined)).toThrow(ValidationError);
    expect(() => lastEventIdOf(undefined, bad)).toThrow(/lastEventId/);
  });

  it('names the header when the header is malformed, even with a good query parameter', () => {
    expect(() => lastEventIdOf('x', '3')).toThrow(/Last-Event-ID/);
  });
});

/** A log in memory that a test grows as the writer would: batch first, then the head. */
class MemoryLog implements StreamLogReader {
  batches: LoggedBatch[] = [];
  head_: StreamHead;
  headReads = 0;
  queries = 0;
  constructor(overrides: Partial<StreamHead> = {}) {
    this.head_ = {
      requestId: 'r-1',
      userId: 'alice',
      endpoint: 'chat-stream',
      status: 'STREAMING',
      lastEventId: 0,
      parts: 0,
      createdAtMs: 1_000,
      updatedAtMs: 1_000,
      retainUntil: 10_000_000,
      ...overrides,
    };
  }
  write(sse: string, at: number) {
    const part = this.head_.parts + 1;
    this.batches.push({ part, sse });
    const last = parseLoggedEvents(sse).at(-1)?.id ?? this.head_.lastEventId;
    this.head_ = { ...this.head_, parts: part, lastEventId: last, updatedAtMs: at };
  }
  finish(status: StreamHead['status']) {
    this.head_ = { ...this.head_, status };
  }
  async head(requestId: string) {
    this.headReads++;
    return requestId === this.head_.requestId ? this.head_ : undefined;
  }
  async batchesAfter(_requestId: string, afterPart: number) {
    this.queries++;
    return this.batches.filter((b) => b.part > afterPart);
  }
}

const TIMING: FollowTiming = { pollIntervalMs: 100, heartbeatTimeoutMs: 5_000, maxStreamMs: 65_000 };

/** Follows with a fake clock: each sleep advances it and lets `onSleep` grow the log. */
async function follow(log: MemoryLog, lastEventId: number | undefined, onSleep: (now: number) => void = () => {}) {
  let now = 1_000;
  const sent: string[] = [];
  const errors: ApiError[] = [];
  const result = await followStream({
    reader: log,
    head: (await log.head('r-1')) as StreamHead,
    lastEventId,
    timing: TIMING,
    deadlineAt: 1_000 + 120_000,
    send: (bytes) => {
      sent.push(bytes);
      return true;
    },
    sendError: (err) => void errors.push(err),
    now: () => now,
    sleep: async (ms) => {
      now += ms;
      onSleep(now);
    },
  });
  return { result, sent, errors, ended: now };
}

describe('followStream', () => {
  it('replays a finished stream after the id with the same bytes, then stops', async () => {
    const log = new MemoryLog();
    log.write(START + D2, 1_100);
    log.write(D3 + END, 1_200);
    log.finish('COMPLETED');
    const { result, sent, errors } = await follow(log, 2);
    expect(sent.join('')).toBe(D3 + END);
    expect(result).toEqual({ outcome: 'finished', events: 2, lastEventId: 4 });
    expect(errors).toEqual([]);
  });

  it('follows batches as they are written, skipping events the client saw live before the log had them', async () => {
    const log = new MemoryLog();
    log.write(START, 1_000);
    // The client saw event 3 live; the log has only event 1 yet.
    const { result, sent } = await follow(log, 3, (now) => {
      if (now === 1_300) log.write(D2 + D3, now);
      if (now === 1_600) log.write(END, now);
      if (now === 1_700) log.finish('COMPLETED');
    });
    expect(sent).toEqual([END]);
    expect(result.outcome).toBe('finished');
  });

  it('queries only when the head says a batch was written, and sends every event once', async () => {
    const log = new MemoryLog();
    const { sent } = await follow(log, undefined, (now) => {
      if (now === 1_200) log.write(START, now);
      if (now === 1_500) log.write(D2, now);
      if (now === 2_000) log.write(D3 + END, now);
    });
    expect(sent.join('')).toBe(START + D2 + D3 + END);
    expect(log.queries).toBe(3);
  });

  it('ends a stream whose head is final without an end event (the client had it all) with nothing more', async () => {
    const log = new MemoryLog();
    log.write(START + D2 + D3 + END, 1_100);
    log.finish('COMPLETED');
    const { result, sent } = await follow(log, 4);
    expect(sent).toEqual([]);
    expect(result.outcome).toBe('finished');
  });

  it.each([
    ['FAILED', 'STREAM_INTERRUPTED', false],
    ['CANCELLED', 'CANCELLED', false],
  ] as const)('ends a %s log that holds no end or error with its own %s event', async (status, code, retryable) => {
    // The writer stopped generating without a last event, as when the platform reported its live client gone.
    const log = new MemoryLog();
    log.write(START + D2, 1_100);
    log.finish(status);
    const { result, sent, errors } = await follow(log, 1);
    expect(sent).toEqual([D2]);
    expect(result.outcome).toBe('finished');
    expect(errors.map((e) => [e.code, e.retryable])).toEqual([[code, retryable]]);
  });

  it('ends with STREAM_INTERRUPTED (retryable) once the writer stops touching the head', async () => {
    const log = new MemoryLog();
    log.write(START + D2, 1_000);
    const { result, sent, errors, ended } = await follow(log, undefined);
    expect(sent.join('')).toBe(START + D2);
    expect(result).toEqual({ outcome: 'interrupted', events: 2, lastEventId: 2 });
    expect(errors.map((e) => [e.code, e.retryable])).toEqual([['STREAM_INTERRUPTED', true]]);
    expect(ended - 1_000).toBeGreaterThan(TIMING.heartbeatTimeoutMs);
    expect(ended - 1_000).toBeLessThanOrEqual(TIMING.heartbeatTimeoutMs + TIMING.pollIntervalMs);
  });

  it('stops at the function’s deadline with STREAM_INTERRUPTED, so the client resumes again', async () => {
    const log = new MemoryLog();
    log.write(START, 1_000);
    let now = 1_000;
    const errors: ApiError[] = [];
    const result = await followStream({
      reader: log,
      head: log.head_,
      lastEventId: undefined,
      timing: TIMING,
      deadlineAt: 2_000,
      send: () => true,
      sendError: (err) => void errors.push(err),
      now: () => now,
      sleep: async (ms) => {
        now += ms;
        log.head_ = { ...log.head_, updatedAtMs: now };
      },
    });
    expect(result.outcome).toBe('deadline');
    expect(errors[0]?.code).toBe('STREAM_INTERRUPTED');
    expect(now).toBeLessThan(2_000);
  });

  it('stops when the client is gone', async () => {
    const log = new MemoryLog();
    log.write(START + D2, 1_000);
    const sent: string[] = [];
    const result = await followStream({
      reader: log,
      head: log.head_,
      lastEventId: undefined,
      timing: TIMING,
      deadlineAt: Number.MAX_SAFE_INTEGER,
      send: (bytes) => sent.push(bytes) < 1,
      sendError: () => {},
    });
    expect(result.outcome).toBe('client-gone');
    expect(sent).toEqual([START]);
  });
});

describe('openStream', () => {
  it('answers 404 for an unknown id, another user’s stream, a stream of another endpoint and an absurd id', async () => {
    const log = new MemoryLog();
    await expect(openStream(log, 'r-2', 'alice', undefined, 2_000)).rejects.toThrow(NotFoundError);
    await expect(openStream(log, 'r-1', 'bob', undefined, 2_000)).rejects.toThrow(NotFoundError);
    await expect(openStream(log, 'x'.repeat(129), 'alice', undefined, 2_000)).rejects.toThrow(NotFoundError);
    await expect(openStream(log, undefined, 'alice', undefined, 2_000)).rejects.toThrow(NotFoundError);
    const openai = new MemoryLog({ endpoint: 'openai-chat' });
    await expect(openStream(openai, 'r-1', 'alice', undefined, 2_000)).rejects.toThrow(NotFoundError);
  });

  it('reads a missing head once more after a moment, as a head may still be on its way when its client resumes', async () => {
    const log = new MemoryLog();
    const waits: number[] = [];
    const late = { ...log, head_: log.head_, head: log.head.bind(log), batchesAfter: log.batchesAfter.bind(log) };
    let reads = 0;
    late.head = async (requestId: string) => (++reads === 1 ? undefined : log.head(requestId));
    const sleep = async (ms: number) => void waits.push(ms);
    await expect(openStream(late, 'r-1', 'alice', undefined, 2_000, sleep)).resolves.toMatchObject({ userId: 'alice' });
    expect(waits).toEqual([250]);
    await expect(openStream(log, 'r-9', 'alice', undefined, 2_000, sleep)).rejects.toThrow(NotFoundError);
    expect(waits).toEqual([250, 250]);
    // Someone else's head is there: no wait.
    await expect(openStream(log, 'r-1', 'bob', undefined, 2_000, sleep)).rejects.toThrow(NotFoundError);
    expect(waits).toEqual([250, 250]);
  });

  it('answers 410 past retention, to the owner only', async () => {
    const log = new MemoryLog({ retainUntil: 5_000 });
    await expect(openStream(log, 'r-1', 'alice', undefined, 5_000)).rejects.toThrow(StreamExpiredError);
    await expect(openStream(log, 'r-1', 'bob', undefined, 5_000)).rejects.toThrow(NotFoundError);
  });

  it('answers 400 for an id after the end of a finished stream, and accepts one ahead of a running log', async () => {
    const log = new MemoryLog();
    log.write(START + D2, 1_000);
    await expect(openStream(log, 'r-1', 'alice', 9, 2_000)).resolves.toMatchObject({ lastEventId: 2 });
    log.finish('COMPLETED');
    await expect(openStream(log, 'r-1', 'alice', 9, 2_000)).rejects.toThrow(ValidationError);
    await expect(openStream(log, 'r-1', 'alice', 2, 2_000)).resolves.toMatchObject({ status: 'COMPLETED' });
  });
});

describe('followTiming', () => {
  it('polls within a quarter of the flush interval and waits ten flushes (at least 5 s) for a silent writer', () => {
    expect(followTiming({ flushIntervalMs: 500 }, { streamTimeoutSeconds: 60 })).toEqual({
      pollIntervalMs: 125,
      heartbeatTimeoutMs: 5_000,
      maxStreamMs: 65_000,
    });
    expect(followTiming({ flushIntervalMs: 1000 }, { streamTimeoutSeconds: 300 }).heartbeatTimeoutMs).toBe(10_000);
    expect(followTiming({ flushIntervalMs: 50 }, { streamTimeoutSeconds: 60 }).pollIntervalMs).toBe(50);
  });
});

describe('reportResume', () => {
  const logger = () => {
    const lines: [string, Record<string, unknown>][] = [];
    return { lines, info: (message: string, fields: Record<string, unknown>) => void lines.push([message, fields]) };
  };
  const metrics = () => {
    const added: unknown[][] = [];
    let published = 0;
    return {
      added,
      get published() {
        return published;
      },
      addMetric: (...args: unknown[]) => void added.push(args),
      publishStoredMetrics: () => void published++,
    };
  };

  it('logs one line per resume (who, which stream, from where, how it ended) and counts Resumed once', () => {
    const log = logger();
    const m = metrics();
    reportResume(log as never, m as never, {
      requestId: 'resume-1',
      streamRequestId: 'r-1',
      userId: 'alice',
      status: 200,
      lastEventId: 3,
      result: { outcome: 'finished', events: 5, lastEventId: 8 },
      errorCode: undefined,
      durationMs: 1_234,
    });
    expect(log.lines).toEqual([
      [
        'stream resumed',
        expect.objectContaining({
          requestId: 'resume-1',
          stream_request_id: 'r-1',
          user_id: 'alice',
          status: 200,
          last_event_id: 3,
          events_sent: 5,
          last_event_sent: 8,
          outcome: 'finished',
          duration: 1_234,
        }),
      ],
    ]);
    expect(m.added).toEqual([['Resumed', 'Count', 1, expect.anything()]]);
    expect(m.published).toBe(1);
  });

  it('logs a refused resume with its error code, and counts nothing', () => {
    const log = logger();
    const m = metrics();
    reportResume(log as never, m as never, {
      requestId: 'resume-2',
      streamRequestId: 'r-1',
      userId: 'bob',
      status: 404,
      lastEventId: undefined,
      result: undefined,
      errorCode: 'NOT_FOUND',
      durationMs: 3,
    });
    expect(log.lines[0]?.[1]).toMatchObject({ status: 404, error: 'NOT_FOUND', user_id: 'bob' });
    expect(m.added).toEqual([]);
  });
});
