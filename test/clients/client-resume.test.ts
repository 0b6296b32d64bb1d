/**
 * The typed client's cancel and resume against the local cloud run as on Lambda (`signalDisconnect: false`: a client
 * that leaves is never reported to the function): `cancelStream` stops generation at the simulator, `resumeStream`
 * reads the same events again, `chatStream` resumes a connection cut mid-way by itself without yielding an event twice,
 * and `reports.cancel` cancels a queued report.
 */
import { type ChatStreamEvent, GenAIClient, GenAIError, type StreamResumeInfo } from '../../clients/typescript/src';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { ROOMY_PLAN } from '../helpers/local-cloud';
import { eventually } from '../helpers/sse';
import { droppingFetch } from './dropping-fetch';

const KEY = 'alice-resume-client-key-0000000';
const OTHER_KEY = 'bob-resume-client-key-000000000';

let cloud: LocalCloud;

beforeAll(async () => {
  cloud = await startLocalCloud({
    port: 0,
    quiet: true,
    signalDisconnect: false,
    apiKeys: `alice:roomy:${KEY},bob:roomy:${OTHER_KEY}`,
    config: {
      plans: { roomy: ROOMY_PLAN },
      streams: { flushIntervalMs: 100 },
      chat: { keepAliveMs: 100 },
    },
  });
});

afterAll(async () => {
  await cloud?.stop();
});

afterEach(() => {
  cloud.simulator.configure({ mode: 'normal', ttftMs: 50, tokensPerSecond: 200 });
});

const client = (options: { fetch?: typeof fetch; apiKey?: string } = {}) =>
  new GenAIClient({
    baseUrl: cloud.url,
    apiKey: options.apiKey ?? KEY,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });

async function collect(stream: AsyncIterable<ChatStreamEvent>): Promise<ChatStreamEvent[]> {
  const events: ChatStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const textOf = (events: ChatStreamEvent[]) => events.map((e) => (e.type === 'delta' ? e.text : '')).join('');

describe('resume', () => {
  it('chatStream resumes a connection cut mid-answer by itself: every event once, the same as the stored stream', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 20, tokensPerSecond: 60 });
    const { fetch: dropping, dropped, urls } = droppingFetch(3);
    const resumes: StreamResumeInfo[] = [];
    const events = await collect(
      client({ fetch: dropping }).chatStream(
        { message: 'Tell me about resumable streams', maxTokens: 80 },
        { onResume: (info) => resumes.push(info) },
      ),
    );
    expect(dropped()).toBe(true);
    expect(resumes).toHaveLength(1);
    expect(resumes[0]).toMatchObject({ attempt: 1, cause: { code: 'STREAM_INTERRUPTED' } });
    const start = events[0] as Extract<ChatStreamEvent, { type: 'start' }>;
    expect(start.type).toBe('start');
    expect(resumes[0]!.requestId).toBe(start.requestId);
    expect(Number(resumes[0]!.lastEventId)).toBeGreaterThanOrEqual(3);
    expect(urls).toEqual(['POST /chat/stream', `GET /chat/stream/${start.requestId}`]);
    // Ids 1, 2, 3, … each once, ending with end.
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => String(i + 1)));
    expect(events.at(-1)!.type).toBe('end');

    // The whole stream read back from the log is the same sequence, payloads included.
    const stored = await collect(client().resumeStream(start.requestId));
    expect(events).toEqual(stored);
    expect(textOf(events).length).toBeGreaterThan(0);
  });

  it('resumeStream after an id yields the rest of a finished stream with the same ids and payloads', async () => {
    const all = await collect(client().chatStream({ message: 'A short answer', maxTokens: 30 }));
    const requestId = (all[0] as Extract<ChatStreamEvent, { type: 'start' }>).requestId;
    const rest = await collect(client().resumeStream(requestId, { lastEventId: '2' }));
    expect(rest).toEqual(all.slice(2));
  });

  it('resume: false rejects at the drop with STREAM_INTERRUPTED after the events read', async () => {
    const { fetch: dropping, urls } = droppingFetch(2);
    const events: ChatStreamEvent[] = [];
    const error = await rejectionOf(
      (async () => {
        for await (const e of client({ fetch: dropping }).chatStream({ message: 'Hi' }, { resume: false }))
          events.push(e);
      })(),
    );
    expect(error).toBeInstanceOf(GenAIError);
    expect(error).toMatchObject({ code: 'STREAM_INTERRUPTED', retryable: true });
    expect(events[0]!.type).toBe('start');
    expect(urls).toEqual(['POST /chat/stream']);
  });

  it('resumeStream refuses another user’s stream as NOT_FOUND and a bad lastEventId with a TypeError', async () => {
    const all = await collect(client().chatStream({ message: 'Mine', maxTokens: 10 }));
    const requestId = (all[0] as Extract<ChatStreamEvent, { type: 'start' }>).requestId;
    const error = await rejectionOf(collect(client({ apiKey: OTHER_KEY }).resumeStream(requestId)));
    expect(error).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    expect(() => client().resumeStream(requestId, { lastEventId: 'abc' })).toThrow(TypeError);
  });
});

describe('cancelStream', () => {
  it('stops a running stream at the model within a second, though the client never closed its connection', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 10, tokensPerSecond: 20 });
    const cancelledBefore = cloud.simulator.stats.cancelled;
    const api = client();
    const events: ChatStreamEvent[] = [];
    let cancelledAt = 0;
    for await (const event of api.chatStream({ message: 'A long answer please', maxTokens: 400 })) {
      events.push(event);
      if (event.type === 'delta' && cancelledAt === 0) {
        const start = events[0] as Extract<ChatStreamEvent, { type: 'start' }>;
        await expect(api.cancelStream(start.requestId)).resolves.toEqual({
          requestId: start.requestId,
          status: 'CANCELLING',
        });
        cancelledAt = performance.now();
      }
    }
    const last = events.at(-1)!;
    expect(last).toMatchObject({ type: 'error', error: { code: 'CANCELLED', retryable: false } });
    expect(performance.now() - cancelledAt).toBeLessThan(1_500);
    await eventually(() => (cloud.simulator.stats.cancelled > cancelledBefore ? true : undefined), 3_000);

    // Cancelling it again: 202 while the writer records the end (idempotent), then 409 with its final state.
    const start = events[0] as Extract<ChatStreamEvent, { type: 'start' }>;
    const again = await eventually(
      () =>
        api.cancelStream(start.requestId).then(
          () => undefined,
          (err: unknown) => err,
        ),
      3_000,
    );
    expect(again).toBeInstanceOf(GenAIError);
    expect(again).toMatchObject({ status: 409, code: 'ALREADY_FINISHED', finalStatus: 'CANCELLED' });
  });

  it('a finished stream is ALREADY_FINISHED with finalStatus COMPLETED; another user’s id is NOT_FOUND', async () => {
    const all = await collect(client().chatStream({ message: 'Quick', maxTokens: 10 }));
    const requestId = (all[0] as Extract<ChatStreamEvent, { type: 'start' }>).requestId;
    // The writer records the final state right after sending `end`.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const finished = await rejectionOf(client().cancelStream(requestId));
    expect(finished).toMatchObject({ status: 409, code: 'ALREADY_FINISHED', finalStatus: 'COMPLETED' });
    const error = await rejectionOf(client({ apiKey: OTHER_KEY }).cancelStream(requestId));
    expect(error).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    await expect(client().cancelStream('')).rejects.toThrow(TypeError);
  });
});

describe('reports.cancel', () => {
  it('cancels a report: the view comes back CANCELLED (or cancelling), waitFor ends CANCELLED, a second cancel is 409', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 400, tokensPerSecond: 10 });
    const api = client();
    const { reportId } = await api.reports.create({ prompt: 'A long report to cancel' });
    const view = await api.reports.cancel(reportId);
    expect(view.reportId).toBe(reportId);
    if (view.status === 'CANCELLED') expect(typeof view.cancelledAt).toBe('string');
    else expect(view).toMatchObject({ status: 'RUNNING', cancelRequestedAt: expect.any(String) });
    const done = await api.reports.waitFor(reportId, { timeoutMs: 10_000, minIntervalMs: 100, maxIntervalMs: 250 });
    expect(done).toMatchObject({ status: 'CANCELLED', cancelledAt: expect.any(String) });
    expect(done.result).toBeUndefined();

    const again = await rejectionOf(api.reports.cancel(reportId));
    expect(again).toMatchObject({ status: 409, code: 'ALREADY_FINISHED', finalStatus: 'CANCELLED' });
    const other = await rejectionOf(client({ apiKey: OTHER_KEY }).reports.cancel(reportId));
    expect(other).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });
});
