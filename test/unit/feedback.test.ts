/**
 * Satisfaction feedback's decisions against the in-memory requests table (no server, no network): parsing a rating,
 * who may rate what, the request record a chat request and a finished report leave, and what is logged and counted.
 * The table's own behaviour is the shared suite (test/suites/request-records.suite.ts), run here against the fake and
 * in test/integration/request-records.test.ts against the DynamoDB adapter.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { parseConfig } from '../../config/schema';
import type { ChatResult } from '../../lambda/core/chat';
import { ClientGoneError } from '../../lambda/core/chat';
import { ModelUnavailableError, NotFoundError, ValidationError } from '../../lambda/core/errors';
import {
  parseFeedbackRequest,
  ratedRequestId,
  reportFeedback,
  RequestRecorder,
  submitFeedback,
  type NewRequestRecord,
} from '../../lambda/core/feedback';
import { ChatRequestRecord } from '../../lambda/core/observability';
import { runReportJob } from '../../lambda/core/reports/worker';
import { InMemoryRequestRecordStore } from '../helpers/feedback-fakes';
import { FakeBus, InMemoryReportStore } from '../helpers/reports-fakes';
import { requestRecordSuite } from '../suites/request-records.suite';

requestRecordSuite('in-memory requests table', async () => {
  const store = new InMemoryRequestRecordStore();
  return { store, read: async (id) => store.get(id) as Record<string, unknown> | undefined };
});

/** A logger and a metrics object that keep what they were given. */
function observed() {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const log =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) =>
      void lines.push({ level, message, fields });
  const logger = { info: log('info'), warn: log('warn'), error: log('error') };
  const emitted: { name: string; unit: string; value: number; dimensions: Record<string, string> }[] = [];
  const single: { name: string; value: number }[] = [];
  let dimensions: Record<string, string> = {};
  const metrics = {
    addDimensions: (d: Record<string, string>) => void Object.assign(dimensions, d),
    addMetric: (name: string, unit: string, value: number) =>
      void emitted.push({ name, unit, value, dimensions: { ...dimensions } }),
    publishStoredMetrics: () => void (dimensions = {}),
    singleMetric: () => ({
      addMetric: (name: string, _unit: string, value: number) => void single.push({ name, value }),
    }),
  };
  return {
    lines,
    emitted,
    single,
    logger: logger as unknown as Logger,
    metrics: metrics as unknown as Metrics,
  };
}

const body = (value: unknown) => JSON.stringify(value);
const REQUEST_ID = '6f1c2d3e-4b5a-4c6d-8e7f-001122334455';

describe('parseFeedbackRequest', () => {
  test('accepts a rating with an optional comment', () => {
    expect(parseFeedbackRequest(body({ requestId: REQUEST_ID, rating: 'up' }))).toEqual({
      requestId: REQUEST_ID,
      rating: 'up',
    });
    expect(parseFeedbackRequest(body({ requestId: REQUEST_ID, rating: 'down', comment: 'Off topic' }))).toEqual({
      requestId: REQUEST_ID,
      rating: 'down',
      comment: 'Off topic',
    });
  });

  test('takes a blank comment as none', () => {
    expect(parseFeedbackRequest(body({ requestId: REQUEST_ID, rating: 'up', comment: ' \n ' }))).toEqual({
      requestId: REQUEST_ID,
      rating: 'up',
    });
  });

  test('accepts a comment of exactly 2,000 characters, counting an emoji as two', () => {
    const comment = `${'😀'.repeat(500)}${'x'.repeat(1_000)}`;
    expect(parseFeedbackRequest(body({ requestId: REQUEST_ID, rating: 'up', comment })).comment).toBe(comment);
  });

  test.each([
    ['an unknown field', { requestId: REQUEST_ID, rating: 'up', userId: 'bob' }, 'userId: is not a known field'],
    ['a missing requestId', { rating: 'up' }, 'requestId: is required'],
    ['an empty requestId', { requestId: '', rating: 'up' }, 'requestId: must not be empty'],
    ['a requestId over 128 characters', { requestId: 'a'.repeat(129), rating: 'up' }, 'at most 128 characters'],
    ['a requestId with a slash', { requestId: '../reports/x', rating: 'up' }, 'requestId: must be a request id'],
    ['a requestId that is a number', { requestId: 42, rating: 'up' }, 'requestId: must be a string'],
    ['a missing rating', { requestId: REQUEST_ID }, 'rating: must be one of "up", "down"'],
    ['another rating', { requestId: REQUEST_ID, rating: 'meh' }, 'rating: must be one of "up", "down"'],
    [
      'a comment over 2,000 characters',
      { requestId: REQUEST_ID, rating: 'up', comment: 'x'.repeat(2_001) },
      'comment: must be at most 2000 characters',
    ],
    [
      'a comment that is not a string',
      { requestId: REQUEST_ID, rating: 'up', comment: ['x'] },
      'comment: must be a string',
    ],
    [
      'an unpaired surrogate',
      { requestId: REQUEST_ID, rating: 'up', comment: 'a\ud800b' },
      'comment: must be valid Unicode',
    ],
  ])('refuses %s with a 400 naming the field', (_what, value, message) => {
    expect(() => parseFeedbackRequest(body(value))).toThrow(ValidationError);
    expect(() => parseFeedbackRequest(body(value))).toThrow(message);
  });

  test('refuses a body that is not a JSON object', () => {
    for (const raw of ['', 'not json', '[]', '"up"', 'null'])
      expect(() => parseFeedbackRequest(raw)).toThrow(ValidationError);
  });

  test('reads a base64-encoded body', () => {
    const encoded = Buffer.from(body({ requestId: REQUEST_ID, rating: 'down' })).toString('base64');
    expect(parseFeedbackRequest(encoded, true)).toEqual({ requestId: REQUEST_ID, rating: 'down' });
  });
});

describe('ratedRequestId', () => {
  test('an OpenAI completion id names its request', () => {
    expect(ratedRequestId(`chatcmpl-${REQUEST_ID}`)).toBe(REQUEST_ID);
  });

  test('any other id is taken as it is', () => {
    expect(ratedRequestId(REQUEST_ID)).toBe(REQUEST_ID);
    expect(ratedRequestId('chatcmpl-')).toBe('chatcmpl-');
  });
});

describe('submitFeedback', () => {
  const NOW = Date.parse('2026-03-01T12:00:00.000Z');
  let store: InMemoryRequestRecordStore;
  let recorder: RequestRecorder;

  beforeEach(() => {
    store = new InMemoryRequestRecordStore();
    const { logger, metrics } = observed();
    recorder = new RequestRecorder({ store, retentionDays: 30, logger, metrics, now: () => NOW });
  });

  const record = (entry: Partial<NewRequestRecord> = {}) =>
    recorder.record({ requestId: REQUEST_ID, userId: 'alice', endpoint: 'chat', model: 'model-a', ...entry });

  test("stores the owner's rating with the time it was given and returns the rated request", async () => {
    await record();
    const rated = await submitFeedback({ requestId: REQUEST_ID, rating: 'up', comment: 'Spot on' }, 'alice', {
      store,
      now: () => NOW + 5_000,
    });
    expect(rated).toMatchObject({ endpoint: 'chat', model: 'model-a', rating: 'up', comment: 'Spot on' });
    expect(store.get(REQUEST_ID)).toMatchObject({
      rating: 'up',
      comment: 'Spot on',
      ratedAt: '2026-03-01T12:00:05.000Z',
    });
  });

  test("someone else's request, an unknown one and an expired one are the same 404", async () => {
    await record();
    const attempts = [
      submitFeedback({ requestId: REQUEST_ID, rating: 'down' }, 'mallory', { store, now: () => NOW }),
      submitFeedback({ requestId: `${REQUEST_ID.slice(0, -1)}6`, rating: 'down' }, 'alice', { store, now: () => NOW }),
      submitFeedback({ requestId: REQUEST_ID, rating: 'down' }, 'alice', { store, now: () => NOW + 31 * 86_400_000 }),
    ];
    const errors = await Promise.all(
      attempts.map((a) =>
        a.then(
          () => undefined,
          (err: unknown) => err,
        ),
      ),
    );
    for (const err of errors) {
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as NotFoundError).toBody()).toEqual({
        error: { code: 'NOT_FOUND', message: 'Request not found', retryable: false },
      });
    }
    expect(store.get(REQUEST_ID)).not.toHaveProperty('rating');
  });

  test('rates an OpenAI answer by its completion id', async () => {
    await record({ endpoint: 'openai-chat' });
    await submitFeedback({ requestId: `chatcmpl-${REQUEST_ID}`, rating: 'up' }, 'alice', { store, now: () => NOW });
    expect(store.get(REQUEST_ID)).toMatchObject({ endpoint: 'openai-chat', rating: 'up' });
  });

  test('rated again, the last rating wins', async () => {
    await record();
    await submitFeedback({ requestId: REQUEST_ID, rating: 'down', comment: 'Wrong' }, 'alice', {
      store,
      now: () => NOW,
    });
    await submitFeedback({ requestId: REQUEST_ID, rating: 'up' }, 'alice', { store, now: () => NOW + 1 });
    expect(store.get(REQUEST_ID)).toMatchObject({ rating: 'up', ratedAt: '2026-03-01T12:00:00.001Z' });
    expect(store.get(REQUEST_ID)).not.toHaveProperty('comment');
  });
});

describe('reportFeedback', () => {
  test('counts one Feedback by rating, model and endpoint, and logs the rating without the comment', () => {
    const { logger, metrics, lines, emitted } = observed();
    const rated = {
      requestId: REQUEST_ID,
      userId: 'alice',
      endpoint: 'reports',
      model: 'model-b',
      rating: 'down' as const,
      comment: 'my secret thoughts',
    };
    reportFeedback(logger, metrics, rated, 'feedback-request-1');
    expect(emitted).toEqual([
      {
        name: 'Feedback',
        unit: 'Count',
        value: 1,
        dimensions: { rating: 'down', model: 'model-b', endpoint: 'reports' },
      },
    ]);
    expect(lines).toEqual([
      {
        level: 'info',
        message: 'feedback recorded',
        fields: expect.objectContaining({
          requestId: 'feedback-request-1',
          rated_request_id: REQUEST_ID,
          user_id: 'alice',
          rating: 'down',
          comment_chars: 18,
        }),
      },
    ]);
    expect(JSON.stringify(lines)).not.toContain('secret');
  });
});

describe('RequestRecorder', () => {
  const NOW = Date.parse('2026-03-01T12:00:00.000Z');
  const entry = { requestId: REQUEST_ID, userId: 'alice', endpoint: 'chat-stream', model: 'model-a' };

  test('records the request with its creation time, expiring after feedback.retentionDays', async () => {
    const store = new InMemoryRequestRecordStore();
    const { logger, metrics } = observed();
    const recorder = new RequestRecorder({ store, retentionDays: 7, logger, metrics, now: () => NOW });
    expect(await recorder.record(entry)).toBe(true);
    expect(store.get(REQUEST_ID)).toEqual({
      ...entry,
      createdAt: '2026-03-01T12:00:00.000Z',
      expiresAt: NOW / 1000 + 7 * 86_400,
    });
  });

  test('a failed write is logged and counted as RequestRecordErrors, never thrown', async () => {
    const store = new InMemoryRequestRecordStore();
    store.failWith = Object.assign(new Error('Throughput exceeds the current capacity'), {
      name: 'ProvisionedThroughputExceededException',
    });
    const { logger, metrics, lines, single } = observed();
    const recorder = new RequestRecorder({ store, retentionDays: 30, logger, metrics });
    await expect(recorder.record(entry)).resolves.toBe(false);
    expect(single).toEqual([{ name: 'RequestRecordErrors', value: 1 }]);
    expect(lines).toEqual([
      {
        level: 'warn',
        message: 'request record not written; the request cannot be rated',
        fields: expect.objectContaining({ requestId: REQUEST_ID, endpoint: 'chat-stream' }),
      },
    ]);
  });

  test('feedback.retentionDays defaults to 30 and refuses values that are not whole days from 1 to 3650', () => {
    expect(parseConfig({}).feedback.retentionDays).toBe(30);
    for (const retentionDays of [0, 1.5, 3651, '30'])
      expect(() => parseConfig({ feedback: { retentionDays } })).toThrow(/feedback\.retentionDays/);
    expect(() => parseConfig({ feedback: { retentionDays: 30, other: 1 } })).toThrow(/feedback\.other/);
  });
});

describe('ChatRequestRecord', () => {
  const result: ChatResult = {
    requestId: REQUEST_ID,
    model: 'model-fallback',
    text: 'answer',
    stopReason: 'end_turn',
    usage: { inputTokens: 3, outputTokens: 5 },
    metrics: { ttftMs: 10, latencyMs: 40 },
  };

  function setup() {
    const store = new InMemoryRequestRecordStore();
    const o = observed();
    const recorder = new RequestRecorder({ store, retentionDays: 30, logger: o.logger, metrics: o.metrics });
    return { store, recorder, ...o };
  }

  test('an answered request is recorded with the model that served it, before its log line', async () => {
    const { store, recorder, logger, metrics, lines } = setup();
    const record = new ChatRequestRecord('chat-stream', REQUEST_ID, recorder);
    record.userId = 'alice';
    record.model = 'model-primary';
    record.answered(result);
    await record.report(logger, metrics);
    expect(store.get(REQUEST_ID)).toMatchObject({ userId: 'alice', endpoint: 'chat-stream', model: 'model-fallback' });
    expect(lines.map((l) => l.message)).toEqual(['request completed']);
  });

  test('a request that reached a model and failed is recorded too: its owner may rate the failure', async () => {
    const { store, recorder, logger, metrics } = setup();
    const record = new ChatRequestRecord('chat', REQUEST_ID, recorder);
    record.userId = 'alice';
    record.model = 'model-primary';
    record.failed(new ModelUnavailableError('No model could answer'), logger);
    await record.report(logger, metrics);
    expect(store.get(REQUEST_ID)).toMatchObject({ userId: 'alice', endpoint: 'chat', model: 'model-primary' });
  });

  test('a request refused before any model was chosen, or without a caller, is not recorded', async () => {
    const { store, recorder, logger, metrics } = setup();
    const refused = new ChatRequestRecord('chat', REQUEST_ID, recorder);
    refused.userId = 'alice';
    refused.failed(new ValidationError('message: is required'), logger);
    await refused.report(logger, metrics);
    const anonymous = new ChatRequestRecord('chat', 'other-request', recorder);
    anonymous.model = 'model-primary';
    await anonymous.report(logger, metrics);
    expect(store.items.size).toBe(0);
  });

  test('a client that went away leaves a record too, written once however often the outcome is reported', async () => {
    const { store, recorder, logger, metrics } = setup();
    const put = jest.spyOn(store, 'put');
    const record = new ChatRequestRecord('openai-chat', REQUEST_ID, recorder);
    record.userId = 'alice';
    record.model = 'model-primary';
    expect(record.failed(new ClientGoneError(), logger)).toBeUndefined();
    await record.report(logger, metrics);
    await record.report(logger, metrics);
    expect(put).toHaveBeenCalledTimes(1);
    expect(store.get(REQUEST_ID)).toMatchObject({ endpoint: 'openai-chat' });
  });

  test('recorded() waits for the record (a stream closes after it), and the report that follows writes nothing more', async () => {
    const { store, recorder, logger, metrics } = setup();
    const put = jest.spyOn(store, 'put');
    const record = new ChatRequestRecord('chat-stream', REQUEST_ID, recorder);
    record.userId = 'alice';
    record.answered(result);
    await record.recorded();
    expect(store.get(REQUEST_ID)).toMatchObject({ model: 'model-fallback' });
    await record.report(logger, metrics);
    expect(put).toHaveBeenCalledTimes(1);
  });

  test('a failed record write still leaves the log line and metrics of the request', async () => {
    const { store, recorder, logger, metrics, lines, emitted, single } = setup();
    store.failWith = new Error('unreachable');
    const record = new ChatRequestRecord('chat', REQUEST_ID, recorder);
    record.userId = 'alice';
    record.answered(result);
    await expect(record.report(logger, metrics)).resolves.toBeUndefined();
    expect(lines.map((l) => l.message)).toEqual([
      'request record not written; the request cannot be rated',
      'request completed',
    ]);
    expect(emitted.map((m) => m.name)).toContain('Requests');
    expect(single).toEqual([{ name: 'RequestRecordErrors', value: 1 }]);
  });

  test("logs OpenAI's user as client_user on the request's own line", async () => {
    const { logger, metrics, lines } = setup();
    const record = new ChatRequestRecord('openai-chat', REQUEST_ID);
    record.clientUser = 'end-user-7';
    await record.report(logger, metrics);
    expect(lines[0]?.fields).toMatchObject({ client_user: 'end-user-7' });
  });
});

describe('report worker', () => {
  const config = parseConfig({
    reports: { maxReceiveCount: 3, workerTimeoutSeconds: 30, visibilityTimeoutSeconds: 40 },
  });

  async function finishedReport(generate: Parameters<typeof runReportJob>[2]['generate']) {
    const repo = new InMemoryReportStore();
    const store = new InMemoryRequestRecordStore();
    const o = observed();
    const requests = new RequestRecorder({ store, retentionDays: 30, logger: o.logger, metrics: o.metrics });
    const reportId = '00000000-0000-4000-8000-000000000001';
    await repo.create({ reportId, userId: 'alice', plan: 'free', prompt: 'Write a report' }, Date.now());
    // The record must exist by the time anyone can see the report finished.
    const finish = repo.finish.bind(repo);
    let recordedBeforeFinish: boolean | undefined;
    jest.spyOn(repo, 'finish').mockImplementation(async (...args) => {
      recordedBeforeFinish = store.get(reportId) !== undefined;
      return finish(...args);
    });
    const outcome = await runReportJob(
      reportId,
      { receiveCount: 3, deadlineAt: Date.now() + 60_000 },
      { repo, publisher: new FakeBus(), generate, config, requests },
    );
    return { outcome, record: store.get(reportId), recordedBeforeFinish };
  }

  test('records a completed report as its owner’s request, keyed by reportId, with the serving model, before it shows as finished', async () => {
    const { outcome, record, recordedBeforeFinish } = await finishedReport(async () => ({
      text: 'the report',
      model: 'model-b',
      usage: { inputTokens: 3, outputTokens: 5 },
      metrics: { ttftMs: 10, latencyMs: 40 },
    }));
    expect(outcome.kind).toBe('completed');
    expect(record).toMatchObject({
      requestId: '00000000-0000-4000-8000-000000000001',
      userId: 'alice',
      endpoint: 'reports',
      model: 'model-b',
    });
    expect(recordedBeforeFinish).toBe(true);
  });

  test('records a failed report with model "none"', async () => {
    const { outcome, record } = await finishedReport(async () => {
      throw new ModelUnavailableError('No model could answer');
    });
    expect(outcome.kind).toBe('failed');
    expect(record).toMatchObject({ userId: 'alice', endpoint: 'reports', model: 'none' });
  });
});
