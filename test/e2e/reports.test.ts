/**
 * Async reports over real HTTP against the local cloud: submit, poll, owner isolation, idempotency, signed webhooks,
 * deploy-time subscribers, and the SSRF guard at submit and at delivery. Clients here are written from the contract.
 */
import { randomUUID } from 'node:crypto';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Webhook } from 'standardwebhooks';
import { REPORT_EVENT_SOURCE } from '../../config/reports';
import { ENV } from '../../config/runtime';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { documentClient, dynamoClient } from '../helpers/dynalite';
import { webhookSigningSecret } from '../helpers/local-cloud';
import { reportsApi, startReceiver, waitFor, waitForReport, type Receiver } from '../helpers/reports';

jest.setTimeout(60_000);

const SECRET = webhookSigningSecret('reports-e2e-signing-secret-0123456789');
const ALICE = 'alice-reports-key-000000000000';
const BOB = 'bob-reports-key-00000000000000';
const SUBSCRIBER_SECRET_NAME = 'audit-subscriber-key';

let cloud: LocalCloud;
let hooks: Receiver;
let audit: Receiver;
let alice: ReturnType<typeof reportsApi>;
let bob: ReturnType<typeof reportsApi>;

beforeAll(async () => {
  hooks = await startReceiver('/hook');
  audit = await startReceiver('/audit');
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `alice:pro:${ALICE},bob:pro:${BOB}`,
    webhookSecret: SECRET,
    config: {
      webhooks: { subscribers: [{ name: 'audit', endpoint: audit.url, apiKeySecretName: SUBSCRIBER_SECRET_NAME }] },
    },
  });
  alice = reportsApi(cloud.url, ALICE);
  bob = reportsApi(cloud.url, BOB);
});

afterAll(async () => {
  await cloud?.reports.bus.idle(5_000);
  await cloud?.stop();
  await hooks?.close();
  await audit?.close();
});

const webhooksFor = (receiver: Receiver, reportId: string) =>
  receiver.received.filter((w) => w.json.reportId === reportId);

describe('POST /reports and GET /reports/{id}', () => {
  test('answers 202 at once with the report id, a status URL and Location; polling sees it finish with its result', async () => {
    const submitted = await alice.submit({ prompt: 'Summarise the quarterly numbers', metadata: { ticket: 'T-1' } });
    expect(submitted.status).toBe(202);
    expect(submitted.body).toEqual({ reportId: expect.any(String), status: 'QUEUED', statusUrl: expect.any(String) });
    expect(submitted.body.statusUrl).toBe(`${cloud.url}/reports/${submitted.body.reportId}`);
    expect(submitted.headers.get('location')).toBe(submitted.body.statusUrl);

    const { report, seen, retryAfter } = await waitForReport(alice, submitted.body.reportId);
    expect(seen[seen.length - 1]).toBe('COMPLETED');
    expect(report).toEqual({
      reportId: submitted.body.reportId,
      status: 'COMPLETED',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      result: {
        text: expect.any(String),
        usage: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) },
        costUsd: expect.any(Number),
      },
    });
    expect(report.result!.text.split(/\s+/).length).toBeGreaterThanOrEqual(20);
    expect(Date.parse(report.updatedAt)).toBeGreaterThanOrEqual(Date.parse(report.createdAt));
    // Retry-After while not finished, none once finished.
    expect(retryAfter[retryAfter.length - 1]).toBeNull();
    expect(retryAfter.slice(0, -1).every((v) => v === String(cloud.config.reports.pollAfterSeconds))).toBe(true);

    const viaStatusUrl = await alice.getUrl(submitted.body.statusUrl);
    expect(viaStatusUrl.status).toBe(200);
    expect(viaStatusUrl.body.status).toBe('COMPLETED');
  });

  test('a report not yet finished answers with its status and Retry-After', async () => {
    await cloud.simulator.configure({ mode: 'slow', ttftMs: 1500 });
    try {
      const { body } = await alice.submit({ prompt: 'Take your time' });
      const running = await alice.get(body.reportId);
      expect(running.status).toBe(200);
      expect(['QUEUED', 'RUNNING']).toContain(running.body.status);
      expect(running.headers.get('retry-after')).toBe(String(cloud.config.reports.pollAfterSeconds));
      expect(running.body.result).toBeUndefined();
      await waitForReport(alice, body.reportId, { timeoutMs: 20_000 });
    } finally {
      cloud.simulator.configure({ mode: 'normal' });
    }
  });

  test("another user's report and unknown ids are 404, never 403", async () => {
    const { body } = await alice.submit({ prompt: 'Private to alice' });
    await waitForReport(alice, body.reportId);
    for (const [api, id] of [
      [bob, body.reportId],
      [alice, randomUUID()],
      [alice, 'not-a-report-id'],
    ] as const) {
      const res = await api.get(id);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String), retryable: false } });
    }
  });

  test('an Idempotency-Key returns the same report; reused with another body it is refused', async () => {
    const key = `order-${randomUUID()}`;
    const first = await alice.submit({ prompt: 'Exactly once please' }, { 'Idempotency-Key': key });
    const again = await alice.submit({ prompt: 'Exactly once please' }, { 'idempotency-key': key });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');

    // The same key from another user is another report.
    const bobs = await bob.submit({ prompt: 'Exactly once please' }, { 'Idempotency-Key': key });
    expect(bobs.body.reportId).not.toBe(first.body.reportId);

    const reused = await alice.submit({ prompt: 'Something else' }, { 'Idempotency-Key': key });
    expect(reused.status).toBe(422);
    expect(reused.body).toMatchObject({ error: { code: 'IDEMPOTENCY_KEY_REUSED', retryable: false } });

    await waitForReport(alice, first.body.reportId);
    const afterwards = await alice.submit({ prompt: 'Exactly once please' }, { 'Idempotency-Key': key });
    expect(afterwards.body.reportId).toBe(first.body.reportId);
  });

  test.each([
    ['no prompt', { metadata: {} }, 'prompt'],
    ['an unknown field', { prompt: 'x', priority: 'high' }, 'priority'],
    ['a non-object metadata', { prompt: 'x', metadata: 'nope' }, 'metadata'],
    ['http to a public host', { prompt: 'x', callbackUrl: 'http://hooks.example.com/x' }, 'https'],
    ['a private address', { prompt: 'x', callbackUrl: 'https://10.0.0.8/hook' }, 'private'],
    ['the metadata service', { prompt: 'x', callbackUrl: 'https://169.254.169.254/latest/meta-data/' }, 'metadata'],
    ['an IPv4-mapped loopback', { prompt: 'x', callbackUrl: 'https://[::ffff:127.0.0.1]/hook' }, 'loopback'],
    ['the IPv6 metadata address', { prompt: 'x', callbackUrl: 'https://[fd00:ec2::254]/' }, 'metadata'],
    ['a unique-local IPv6 address', { prompt: 'x', callbackUrl: 'https://[fc00::5]/' }, 'unique-local'],
    ['localhost by name', { prompt: 'x', callbackUrl: 'https://localhost:8443/hook' }, 'loopback'],
    ['loopback other than 127.0.0.1', { prompt: 'x', callbackUrl: 'http://127.0.0.2:9/hook' }, 'https'],
  ])('rejects %s with 400 naming the field', async (_label, body, mentions) => {
    const res = await alice.submit(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'VALIDATION_ERROR', retryable: false });
    expect(res.body.error!.message).toContain(mentions);
  });
});

describe('metadata', () => {
  const stored = async (reportId: string) => {
    const db = documentClient(dynamoClient(cloud.dynamoEndpoint));
    const { Item } = await db.send(
      new GetCommand({ TableName: cloud.env[ENV.reportsTable], Key: { pk: `report#${reportId}` } }),
    );
    db.destroy();
    return Item;
  };
  const deep = (levels: number) => `{"a":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;

  test.each([
    [
      '"constructor" keys, nested and in arrays',
      '{"constructor":{"list":[{"constructor":1}]},"b":{"constructor":"x"}}',
    ],
    ['a "__proto__" key', '{"__proto__":{"admin":true},"n":1}'],
    ["numbers outside DynamoDB's range", '{"huge":1e+126,"tiny":1e-131}'],
    ['nesting at the documented limit of 32 levels', deep(32)],
  ])('%s: stored exactly as sent, and the report completes', async (_label, metadata) => {
    const res = await alice.submit(`{"prompt":"Keep my metadata","metadata":${metadata}}`, {
      'Idempotency-Key': randomUUID(),
    });
    expect(res.status).toBe(202);
    expect((await stored(res.body.reportId))?.metadataJson).toBe(metadata);
    expect((await waitForReport(alice, res.body.reportId)).report.status).toBe('COMPLETED');
  });

  test.each([
    ['an integer beyond 2^53', '{"orderId":12345678901234567890}', /^metadata\.orderId: .*send it as a string/],
    [
      '5,000 levels of nesting in a 10 KB body',
      deep(5_000),
      /^metadata: must nest objects and arrays at most 32 levels deep$/,
    ],
    ['33 levels of nesting', deep(33), /^metadata: must nest objects and arrays at most 32 levels deep$/],
  ])('%s: 400 naming metadata, every time, and the Idempotency-Key stays free', async (_label, metadata, message) => {
    const key = randomUUID();
    for (let i = 0; i < 2; i++) {
      const res = await alice.submit(`{"prompt":"Bad metadata","metadata":${metadata}}`, { 'Idempotency-Key': key });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({
        code: 'VALIDATION_ERROR',
        retryable: false,
        message: expect.stringMatching(message),
      });
    }
    const corrected = await alice.submit(
      { prompt: 'Bad metadata', metadata: { orderId: '12345678901234567890' } },
      { 'Idempotency-Key': key },
    );
    expect(corrected.status).toBe(202);
    expect(corrected.headers.get('idempotent-replayed')).toBeNull();
  });

  test('a replay of a body with unusual keys is recognised as the same request', async () => {
    const key = randomUUID();
    const body = '{"prompt":"Same again","metadata":{"__proto__":{"a":1},"constructor":[2]}}';
    const first = await alice.submit(body, { 'Idempotency-Key': key });
    const again = await alice.submit(body, { 'Idempotency-Key': key });
    expect(first.status).toBe(202);
    expect(again.body).toEqual(first.body);
    const withoutProto = await alice.submit('{"prompt":"Same again","metadata":{"constructor":[2]}}', {
      'Idempotency-Key': key,
    });
    expect(withoutProto.status).toBe(422);
  });
});

describe('status URL', () => {
  test('statusUrl and Location come from the stage, not from X-Forwarded-Proto or Host', async () => {
    const res = await alice.submit(
      { prompt: 'Where do I poll?' },
      { 'X-Forwarded-Proto': 'javascript', 'X-Forwarded-Host': 'evil.example.com', Host: 'evil.example.com' },
    );
    expect(res.status).toBe(202);
    expect(res.body.statusUrl).toBe(`${cloud.url}/reports/${res.body.reportId}`);
    expect(res.headers.get('location')).toBe(res.body.statusUrl);
  });
});

describe('webhooks', () => {
  test('a per-report callback is signed per Standard Webhooks and verifies with the secret', async () => {
    const { body } = await alice.submit({ prompt: 'Call me back', callbackUrl: hooks.url });
    const { report } = await waitForReport(alice, body.reportId);
    const [hook] = await waitFor(
      () => (webhooksFor(hooks, body.reportId).length ? webhooksFor(hooks, body.reportId) : undefined),
      {
        what: 'the callback',
      },
    );
    expect(hook.headers['content-type']).toBe('application/json');
    expect(hook.headers['webhook-id']).toBe(`msg_${body.reportId}`);
    expect(Number(hook.headers['webhook-timestamp'])).toBeGreaterThan(Date.now() / 1000 - 60);
    const verified = new Webhook(SECRET).verify(hook.body, {
      'webhook-id': String(hook.headers['webhook-id']),
      'webhook-timestamp': String(hook.headers['webhook-timestamp']),
      'webhook-signature': String(hook.headers['webhook-signature']),
    });
    expect(verified).toEqual({
      type: 'report.completed',
      reportId: body.reportId,
      status: 'COMPLETED',
      result: report.result,
      occurredAt: report.updatedAt,
    });
    const tampered = hook.body.replace('COMPLETED', 'FAILED');
    expect(() => new Webhook(SECRET).verify(tampered, hook.headers as Record<string, string>)).toThrow();
  });

  test('the deploy-time subscriber receives every finished report with the connection API-key header', async () => {
    const { body } = await bob.submit({ prompt: 'For the audit trail' });
    const { report } = await waitForReport(bob, body.reportId);
    const [delivery] = await waitFor(
      () => (webhooksFor(audit, body.reportId).length ? webhooksFor(audit, body.reportId) : undefined),
      {
        what: 'the subscriber delivery',
      },
    );
    expect(delivery.headers['x-api-key']).toBe(`local-${SUBSCRIBER_SECRET_NAME}`);
    expect(delivery.json).toEqual({
      type: 'report.completed',
      reportId: body.reportId,
      status: 'COMPLETED',
      result: report.result,
      occurredAt: report.updatedAt,
    });
    // Without a callbackUrl, nothing goes to per-report callbacks.
    expect(webhooksFor(hooks, body.reportId)).toEqual([]);
  });

  test('a callback that resolves to a blocked address at delivery is dead-lettered without a request', async () => {
    // Submit-time checks would refuse these; put the events on the bus directly, as if DNS had changed since.
    const events = new EventBridgeClient({ maxAttempts: 1 });
    const reportId = randomUUID();
    const blocked = [`https://[::ffff:7f00:1]:${hooks.port}/hook`, 'https://169.254.169.254/latest/meta-data/'];
    for (const callbackUrl of blocked) {
      const payload = { type: 'report.completed', reportId, status: 'COMPLETED', occurredAt: new Date().toISOString() };
      const out = await events.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: cloud.env[ENV.eventBusName],
              Source: REPORT_EVENT_SOURCE,
              DetailType: 'report.completed',
              Detail: JSON.stringify({ payload, callbackUrl }),
            },
          ],
        }),
      );
      expect(out.FailedEntryCount).toBe(0);
    }
    events.destroy();
    const letters = await waitFor(
      async () => {
        const got = await cloud.reports.sqs.drain(cloud.reports.queues.webhookDeadLetter.url, 1);
        return got.length ? got : undefined;
      },
      { what: 'dead letters', timeoutMs: 15_000 },
    );
    while (letters.length < 2)
      letters.push(...(await cloud.reports.sqs.drain(cloud.reports.queues.webhookDeadLetter.url, 1)));
    const reasons = letters.map((m) => JSON.parse(m.Body!) as { reason: string; attempts: number; webhookId: string });
    expect(reasons).toHaveLength(2);
    expect(reasons.map((r) => r.reason)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^blocked: .*loopback/),
        expect.stringMatching(/^blocked: .*metadata/),
      ]),
    );
    expect(reasons.every((r) => r.attempts === 1 && r.webhookId === `msg_${reportId}`)).toBe(true);
    expect(webhooksFor(hooks, reportId)).toEqual([]);
  });

  test('an event the bus refused at first is published by the redelivery: the report still produces its webhook', async () => {
    const calls = cloud.simulator.stats.calls;
    const failedBefore = cloud.reports.worker.stats.recordsFailed;
    // Every attempt of the worker's first PutEvents call (the SDK retries 3 times) fails.
    cloud.reports.bus.failPutEvents(3);
    const { body } = await alice.submit({ prompt: 'Publish me eventually', callbackUrl: hooks.url });
    const [hook] = await waitFor(
      () => (webhooksFor(hooks, body.reportId).length ? webhooksFor(hooks, body.reportId) : undefined),
      {
        what: 'the webhook after a failed publish',
        timeoutMs: 30_000,
      },
    );
    expect(hook.json).toMatchObject({ type: 'report.completed', reportId: body.reportId });
    expect(cloud.reports.bus.stats.injectedFailures).toBe(3);
    expect(cloud.reports.worker.stats.recordsFailed).toBeGreaterThan(failedBefore);
    // The redelivery only published: the model was called once for this report.
    expect(cloud.simulator.stats.calls - calls).toBe(1);
  });
});
