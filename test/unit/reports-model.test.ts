/** Pure rules of reports: the client's views, the webhook body, event size, retry delays. */
import { parseConfig } from '../../config/schema';
import { MAX_EVENT_DETAIL_BYTES, reportEventDetail } from '../../lambda/core/reports/events';
import { reportRetryPolicy, retryDelaySeconds } from '../../lambda/core/reports/worker';
import {
  isReportId,
  metadataJsonOf,
  toView,
  webhookIdOf,
  webhookPayloadOf,
  type ReportItem,
} from '../../lambda/core/reports/model';

const base: ReportItem = {
  pk: 'report#r',
  reportId: '6a1f3c2e-8d4b-4f7a-9c1e-2b3d4e5f6a7b',
  userId: 'alice',
  plan: 'free',
  status: 'QUEUED',
  prompt: 'secret prompt',
  metadata: { ticket: 1 },
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  attempts: 0,
  expiresAt: 0,
};
const completed: ReportItem = {
  ...base,
  status: 'COMPLETED',
  attempts: 1,
  result: { text: 'answer', usage: { inputTokens: 1, outputTokens: 2 } },
  model: 'm',
  finishedAt: '2026-01-01T00:00:05.000Z',
  updatedAt: '2026-01-01T00:00:05.000Z',
  callbackUrl: 'https://hooks.example.com/x',
};

test('the status view holds exactly the contract fields', () => {
  expect(toView(base)).toEqual({
    reportId: base.reportId,
    status: 'QUEUED',
    createdAt: base.createdAt,
    updatedAt: base.updatedAt,
  });
  expect(toView(completed)).toEqual({
    reportId: base.reportId,
    status: 'COMPLETED',
    createdAt: base.createdAt,
    updatedAt: completed.updatedAt,
    result: { text: 'answer', usage: { inputTokens: 1, outputTokens: 2 } },
  });
  const failed = {
    ...base,
    status: 'FAILED' as const,
    error: { code: 'MODEL_UNAVAILABLE', message: 'down' },
    lastError: { code: 'X', message: 'y' },
  };
  expect(toView(failed)).toEqual({
    reportId: base.reportId,
    status: 'FAILED',
    createdAt: base.createdAt,
    updatedAt: base.updatedAt,
    error: failed.error,
  });
});

test('the webhook body holds exactly the contract fields, stamped with the finish time', () => {
  expect(webhookPayloadOf(completed)).toEqual({
    type: 'report.completed',
    reportId: base.reportId,
    status: 'COMPLETED',
    result: completed.result,
    occurredAt: completed.finishedAt,
  });
  expect(webhookPayloadOf({ ...base, status: 'FAILED', error: { code: 'C', message: 'm' }, finishedAt: 'f' })).toEqual({
    type: 'report.failed',
    reportId: base.reportId,
    status: 'FAILED',
    error: { code: 'C', message: 'm' },
    occurredAt: 'f',
  });
  expect(() => webhookPayloadOf(base)).toThrow('not finished');
  expect(webhookIdOf('r')).toBe('msg_r');
});

test('the event carries the payload and the callbackUrl, and is cut to fit an EventBridge entry', () => {
  expect(reportEventDetail(completed)).toEqual({
    payload: webhookPayloadOf(completed),
    callbackUrl: completed.callbackUrl,
  });
  expect(reportEventDetail({ ...completed, callbackUrl: undefined })).toEqual({ payload: webhookPayloadOf(completed) });
  const huge = { ...completed, result: { text: 'x'.repeat(300_000), usage: { inputTokens: 1, outputTokens: 1 } } };
  const detail = reportEventDetail(huge);
  expect(Buffer.byteLength(JSON.stringify(detail))).toBeLessThanOrEqual(MAX_EVENT_DETAIL_BYTES);
  expect(detail.payload.result!.text.length).toBeGreaterThan(150_000);
});

test('retry delays grow exponentially, honour Retry-After, and stay under the cap', () => {
  const policy = { baseMs: 5_000, capMs: 300_000, jitter: 'equal' } as const;
  const top = () => 1;
  const mid = () => 0.5;
  expect([1, 2, 3, 4].map((n) => retryDelaySeconds(policy, n, { random: top }))).toEqual([5, 10, 20, 40]);
  // Equal jitter: between half the delay and all of it, in whole seconds rounded up.
  expect([1, 2, 3, 4].map((n) => retryDelaySeconds(policy, n, { random: mid }))).toEqual([4, 8, 15, 30]);
  expect(retryDelaySeconds(policy, 1, { random: () => 0 })).toBe(3);
  expect(retryDelaySeconds(policy, 1, { retryAfterSeconds: 30, random: mid })).toBe(30);
  expect(retryDelaySeconds(policy, 1, { retryAfterSeconds: 30, random: () => 0 })).toBe(30);
  expect(retryDelaySeconds({ ...policy, capMs: 15_000 }, 9, { random: top })).toBe(15);
  expect(retryDelaySeconds({ ...policy, capMs: 15_000 }, 1, { retryAfterSeconds: 300, random: () => 0 })).toBe(15);
});

test('report retries wait at most half the visibility timeout and 300 s', () => {
  expect(
    reportRetryPolicy(parseConfig({ reports: { workerTimeoutSeconds: 30, visibilityTimeoutSeconds: 40 } })),
  ).toEqual({ baseMs: 5_000, capMs: 20_000, jitter: 'equal' });
  expect(reportRetryPolicy(parseConfig({})).capMs).toBe(300_000);
});

test('report ids are UUIDs', () => {
  expect(isReportId(base.reportId)).toBe(true);
  expect(isReportId('../../etc')).toBe(false);
  expect(isReportId('')).toBe(false);
});

test('metadata reads the same whether stored as JSON text or, before that, as a map; views and webhooks never carry it', () => {
  const asText: ReportItem = { ...completed, metadata: undefined, metadataJson: '{"ticket":1}' };
  expect(metadataJsonOf(asText)).toBe('{"ticket":1}');
  expect(metadataJsonOf(completed)).toBe('{"ticket":1}');
  expect(metadataJsonOf({ ...base, metadata: undefined })).toBeUndefined();
  expect(toView(asText)).toEqual(toView(completed));
  expect(webhookPayloadOf(asText)).toEqual(webhookPayloadOf(completed));
  expect(JSON.stringify(reportEventDetail(asText))).not.toContain('ticket');
});
