/**
 * The typed client's reports and webhooks against the local cloud: submit, wait honouring `Retry-After` with progress,
 * time out, abort, back off through throttled polls, idempotent replays, and the signed webhook of a finished report
 * verified (and forgeries refused) with the client's `webhooks` entry.
 */
import { Webhook } from 'standardwebhooks';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { GenAIClient, GenAIError, type Report } from '../../clients/typescript/src';
import { GenAIWebhookError, verifyWebhook, webhooks } from '../../clients/typescript/src/webhooks';
import { ROOMY_PLAN, TRICKLE_PLAN, webhookSigningSecret } from '../helpers/local-cloud';
import { type Receiver, startReceiver, waitFor } from '../helpers/reports';

const SECRET = webhookSigningSecret('client-webhook-signing-secret-01');
const KEY = 'alice-reports-key-000000000000';
const OTHER_KEY = 'bob-reports-key-00000000000000';
const TRICKLE_KEY = 'pat-reports-key-00000000000000';

let cloud: LocalCloud;
let receiver: Receiver;

beforeAll(async () => {
  [cloud, receiver] = await Promise.all([
    startLocalCloud({
      port: 0,
      quiet: true,
      webhookSecret: SECRET,
      apiKeys: `alice:pro:${KEY},bob:pro:${OTHER_KEY},pat:trickle:${TRICKLE_KEY}`,
      config: {
        // Polls are told to come back after 2 s: longer than the client's 1 s fallback and its 250 ms floor, so
        // honouring Retry-After shows, within a short test.
        reports: { pollAfterSeconds: 2 },
        plans: { pro: ROOMY_PLAN, trickle: TRICKLE_PLAN },
      },
    }),
    startReceiver('/reports-hook'),
  ]);
});

afterAll(async () => {
  await receiver?.close();
  await cloud?.stop();
});

afterEach(() => {
  cloud.simulator.configure({ mode: 'normal' });
});

const client = (apiKey = KEY, fetch?: typeof globalThis.fetch) =>
  new GenAIClient({ baseUrl: cloud.url, apiKey, ...(fetch ? { fetch } : {}) });

describe('reports', () => {
  it('create answers QUEUED with its status URL; waitFor reports each poll and resolves COMPLETED, polling as Retry-After says', async () => {
    // The model takes about two seconds, so the report is seen unfinished on a few polls.
    cloud.simulator.configure({ mode: 'slow', ttftMs: 2_000, tokensPerSecond: 500 });
    const accepted = await client().reports.create({ prompt: 'Summarise the quarter', metadata: { ticket: 'T-1' } });
    expect(accepted).toEqual({
      reportId: expect.any(String),
      status: 'QUEUED',
      statusUrl: `${cloud.url}/reports/${accepted.reportId}`,
      location: accepted.statusUrl,
      replayed: false,
    });

    const progress: { report: Report; at: number }[] = [];
    const report = await client().reports.waitFor(accepted.reportId, {
      timeoutMs: 20_000,
      onProgress: (r) => progress.push({ report: r, at: Date.now() }),
    });

    expect(report).toEqual({
      reportId: accepted.reportId,
      status: 'COMPLETED',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      result: {
        text: expect.stringMatching(/\S/),
        usage: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) },
        costUsd: expect.any(Number),
      },
    });
    const statuses = progress.map((p) => p.report.status);
    expect(statuses.at(-1)).toBe('COMPLETED');
    expect(statuses.length).toBeGreaterThanOrEqual(2);
    for (const status of statuses.slice(0, -1)) expect(['QUEUED', 'RUNNING']).toContain(status);
    // Unfinished reports carry Retry-After: 2, and the next poll waited for it.
    for (const [i, { report: seen, at }] of progress.slice(0, -1).entries()) {
      expect(seen.retryAfterSeconds).toBe(2);
      expect(progress[i + 1]!.at - at).toBeGreaterThanOrEqual(1_950);
    }
  });

  it('waitFor rejects with TIMEOUT once timeoutMs has passed, naming the last status', async () => {
    cloud.simulator.configure({ mode: 'slow', ttftMs: 10_000 });
    const { reportId } = await client().reports.create({ prompt: 'A very slow report' });
    const started = Date.now();
    const err = await client()
      .reports.waitFor(reportId, { timeoutMs: 1_500 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(GenAIError);
    expect(err).toMatchObject({ code: 'TIMEOUT', status: 0, retryable: true });
    expect((err as GenAIError).message).toMatch(/last status (QUEUED|RUNNING)/);
    expect(elapsed).toBeGreaterThanOrEqual(1_500);
    expect(elapsed).toBeLessThan(2_500);
  });

  it('waitFor rejects with the AbortError as soon as the signal aborts', async () => {
    cloud.simulator.configure({ mode: 'slow', ttftMs: 10_000 });
    const { reportId } = await client().reports.create({ prompt: 'Another slow report' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const err = await client()
      .reports.waitFor(reportId, { signal: controller.signal })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(Date.now() - started).toBeLessThan(800);
    expect(err).toBe(controller.signal.reason);
    expect((controller.signal.reason as DOMException).name).toBe('AbortError');
  });

  it('waitFor backs off through throttled polls (429) instead of failing, and still resolves', async () => {
    // One request per second on this key: the submit takes the only token, so the first polls are throttled.
    const statuses: number[] = [];
    const countingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      statuses.push(response.status);
      return response;
    };
    const trickle = client(TRICKLE_KEY, countingFetch);
    const { reportId } = await trickle.reports.create({ prompt: 'Polled by a throttled key' });
    const report = await trickle.reports.waitFor(reportId, { timeoutMs: 20_000 });
    expect(report.status).toBe('COMPLETED');
    expect(statuses).toContain(429);
    expect(statuses.at(-1)).toBe(200);
  });

  it('get refuses unknown ids and other users’ reports alike with 404 NOT_FOUND', async () => {
    const { reportId } = await client().reports.create({ prompt: 'Mine only' });
    for (const [apiKey, id] of [
      [KEY, '00000000-0000-4000-8000-000000000000'],
      [OTHER_KEY, reportId],
    ] as const) {
      await expect(client(apiKey).reports.get(id)).rejects.toMatchObject({
        status: 404,
        code: 'NOT_FOUND',
        retryable: false,
      });
    }
    // waitFor gives up at once on an error that retrying cannot fix.
    await expect(client(OTHER_KEY).reports.waitFor(reportId, { timeoutMs: 5_000 })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('an Idempotency-Key replay returns the same report; the same key with another body is IDEMPOTENCY_KEY_REUSED', async () => {
    const idempotencyKey = `client-test-${Date.now()}`;
    const request = { prompt: 'Exactly once, please', metadata: { order: 7431 } };
    const first = await client().reports.create(request, { idempotencyKey });
    const again = await client().reports.create(request, { idempotencyKey });
    expect(again).toEqual({ ...first, replayed: true });
    expect(first.replayed).toBe(false);

    await expect(client().reports.create({ prompt: 'Something else' }, { idempotencyKey })).rejects.toMatchObject({
      status: 422,
      code: 'IDEMPOTENCY_KEY_REUSED',
      retryable: false,
    });
  });
});

describe('webhooks', () => {
  it('verifies a real delivery of a finished report, and refuses a tampered body, a stale timestamp and a wrong secret', async () => {
    const { reportId } = await client().reports.create({ prompt: 'Call me back', callbackUrl: receiver.url });
    const delivery = await waitFor(() => receiver.received.find((r) => r.json.reportId === reportId), {
      timeoutMs: 20_000,
      what: `the webhook of ${reportId}`,
    });
    const headers = delivery.headers as Record<string, string>;

    const event = verifyWebhook(SECRET, delivery.body, delivery.headers);
    expect(event).toEqual({
      type: 'report.completed',
      reportId,
      status: 'COMPLETED',
      result: {
        text: expect.any(String),
        usage: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) },
        costUsd: expect.any(Number),
      },
      occurredAt: expect.any(String),
    });
    // The same through the `webhooks` object, with fetch's Headers, and from the body's bytes.
    expect(webhooks.verify(SECRET, new TextEncoder().encode(delivery.body), new Headers(headers))).toEqual(event);

    const refusal = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(GenAIWebhookError);
        return (err as GenAIWebhookError).reason;
      }
      throw new Error('the webhook was accepted');
    };
    // Another last character (a fixed one would leave an id that already ends with it unchanged).
    const tampered = delivery.body.replace(reportId, `${reportId.slice(0, -1)}${reportId.endsWith('0') ? '1' : '0'}`);
    expect(tampered).not.toBe(delivery.body);
    expect(refusal(() => verifyWebhook(SECRET, tampered, headers))).toBe('INVALID_SIGNATURE');

    // Signed correctly, but ten minutes ago: a replay.
    const signer = new Webhook(SECRET);
    const tenMinutesAgo = new Date(Date.now() - 10 * 60_000);
    const stale = {
      ...headers,
      'webhook-timestamp': String(Math.floor(tenMinutesAgo.getTime() / 1000)),
      'webhook-signature': signer.sign(headers['webhook-id']!, tenMinutesAgo, delivery.body),
    };
    expect(refusal(() => verifyWebhook(SECRET, delivery.body, stale))).toBe('TIMESTAMP_TOO_OLD');
    // The real signature under a moved timestamp no longer matches.
    const moved = { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) + 1) };
    expect(refusal(() => verifyWebhook(SECRET, delivery.body, moved))).toBe('INVALID_SIGNATURE');

    const otherSecret = 'whsec_' + Buffer.from('another-secret-entirely-000000000').toString('base64');
    expect(refusal(() => verifyWebhook(otherSecret, delivery.body, headers))).toBe('INVALID_SIGNATURE');
    const { 'webhook-signature': _dropped, ...unsigned } = headers;
    expect(refusal(() => verifyWebhook(SECRET, delivery.body, unsigned))).toBe('MISSING_HEADERS');
    expect(() => verifyWebhook('', delivery.body, headers)).toThrow(TypeError);
  });
});
