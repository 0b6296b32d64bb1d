/**
 * Reports when things fail: a model that always fails, a webhook receiver or subscriber that is down for a while, and
 * one that refuses for good (the dead-letter queue holds it).
 */
import { Webhook } from 'standardwebhooks';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { webhookSigningSecret } from '../helpers/local-cloud';
import { reportsApi, startReceiver, waitFor, waitForReport, type Receiver } from '../helpers/reports';

jest.setTimeout(60_000);

const SECRET = webhookSigningSecret('reports-failures-signing-secret-7');
const KEY = 'alice-failures-key-00000000000';

let cloud: LocalCloud;
let hooks: Receiver;
let audit: Receiver;
let api: ReturnType<typeof reportsApi>;

beforeAll(async () => {
  hooks = await startReceiver('/hook');
  audit = await startReceiver('/audit');
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `alice:pro:${KEY}`,
    webhookSecret: SECRET,
    // Four attempts: a receiver down for a second or two still gets its webhook, one down for good is dead-lettered
    // within seconds.
    config: {
      webhooks: {
        maxAttempts: 4,
        subscribers: [{ name: 'audit', endpoint: audit.url, apiKeySecretName: 'audit-key' }],
      },
    },
  });
  api = reportsApi(cloud.url, KEY);
});

afterAll(async () => {
  await cloud?.reports.bus.idle(10_000);
  await cloud?.stop();
  await hooks?.close();
  await audit?.close();
});

afterEach(() => {
  cloud.simulator.configure({ mode: 'normal' });
  hooks.status = () => 200;
  audit.status = () => 200;
});

const webhooksFor = (receiver: Receiver, reportId: string) =>
  receiver.received.filter((w) => w.json.reportId === reportId);

test('a report whose model always fails ends FAILED with a reason within 60 s, and its report.failed webhook is signed', async () => {
  cloud.simulator.configure({ mode: 'error', ttftMs: 0 });
  const { body } = await api.submit({ prompt: 'Doomed', callbackUrl: hooks.url });
  // Bounded by the design's promise (FAILED within 60 s locally), not a measurement.
  const { report, seen } = await waitForReport(api, body.reportId, { timeoutMs: 55_000, intervalMs: 250 });
  expect(report.status).toBe('FAILED');
  expect(seen).not.toContain('COMPLETED');
  expect(report.error).toEqual({
    code: 'MODEL_UNAVAILABLE',
    message: expect.stringContaining(`gave up after ${cloud.config.reports.maxReceiveCount} attempts`),
  });

  const [hook] = await waitFor(
    () => (webhooksFor(hooks, body.reportId).length ? webhooksFor(hooks, body.reportId) : undefined),
    {
      what: 'report.failed',
    },
  );
  expect(new Webhook(SECRET).verify(hook.body, hook.headers as Record<string, string>)).toEqual({
    type: 'report.failed',
    reportId: body.reportId,
    status: 'FAILED',
    error: report.error,
    occurredAt: report.updatedAt,
  });
  // The subscriber hears about failures too.
  await waitFor(() => (webhooksFor(audit, body.reportId).length ? true : undefined), {
    what: 'the subscriber delivery',
  });
  expect(webhooksFor(audit, body.reportId)[0].json).toMatchObject({ type: 'report.failed', status: 'FAILED' });
});

test('a callback receiver and a subscriber that are down get the webhook once they come back', async () => {
  await hooks.down();
  await audit.down();
  const { body } = await api.submit({ prompt: 'Deliver me later', callbackUrl: hooks.url });
  await waitForReport(api, body.reportId);
  // Both deliveries fail while the receivers are down (connection refused) and are retried with backoff.
  await waitFor(() => (cloud.reports.bus.stats.failedAttempts > 0 ? true : undefined), {
    what: 'a failed subscriber attempt',
  });
  await new Promise((r) => setTimeout(r, 1_200));
  await hooks.open();
  await audit.open();

  const [hook] = await waitFor(
    () => (webhooksFor(hooks, body.reportId).length ? webhooksFor(hooks, body.reportId) : undefined),
    {
      what: 'the callback after the receiver came back',
      timeoutMs: 20_000,
    },
  );
  expect(new Webhook(SECRET).verify(hook.body, hook.headers as Record<string, string>)).toMatchObject({
    reportId: body.reportId,
  });
  await waitFor(() => (webhooksFor(audit, body.reportId).length ? true : undefined), {
    what: 'the subscriber delivery after it came back',
    timeoutMs: 30_000,
  });
});

test('a receiver that keeps failing: the webhook dead-letter queue holds the webhook with the reason', async () => {
  hooks.status = () => 503;
  audit.status = () => 400; // not retried by EventBridge: straight to the subscriber dead-letter queue
  const { body } = await api.submit({ prompt: 'Nobody wants me', callbackUrl: hooks.url });
  await waitForReport(api, body.reportId);

  const letter = await waitFor(
    async () => {
      const messages = await cloud.reports.sqs.drain(cloud.reports.queues.webhookDeadLetter.url, 1);
      return messages
        .map((m) => JSON.parse(m.Body!) as Record<string, unknown>)
        .find((l) => l.webhookId === `msg_${body.reportId}`);
    },
    { what: 'the dead-lettered webhook', timeoutMs: 20_000 },
  );
  expect(letter).toMatchObject({
    url: hooks.url,
    attempts: cloud.config.webhooks.maxAttempts,
    reason: 'HTTP 503',
    payload: { type: 'report.completed', reportId: body.reportId, status: 'COMPLETED' },
  });

  const subscriberLetter = await waitFor(
    async () => {
      const messages = await cloud.reports.sqs.drain(cloud.reports.queues.subscriberDeadLetter.url, 1);
      return messages.find(
        (m) =>
          (JSON.parse(m.Body!) as { detail: { payload: { reportId: string } } }).detail.payload.reportId ===
          body.reportId,
      );
    },
    { what: 'the dead-lettered subscriber event', timeoutMs: 20_000 },
  );
  expect(subscriberLetter.MessageAttributes?.ERROR_MESSAGE?.StringValue).toContain('HTTP 400');
});
