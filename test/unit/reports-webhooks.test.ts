/** Per-report webhook delivery with an injected sender, resolver and clock: signing, retries, dead-lettering, SSRF. */
import { Webhook } from 'standardwebhooks';
import { backoffMs } from '../../config/backoff';
import {
  WEBHOOK_BACKOFF,
  webhookSenderTimeoutSeconds,
  worstCaseWebhookDeliveryMs,
  type ReportWebhookPayload,
} from '../../config/reports';
import { parseConfig } from '../../config/schema';
import type { Resolver } from '../../lambda/core/callback-url';
import { TUNNELLED_INTERNAL_ADDRESSES } from '../helpers/ssrf-addresses';
import {
  deliverWebhook,
  isRetryableStatus,
  signWebhook,
  type AttemptRequest,
  type AttemptResponse,
  type DeadLetter,
  type WebhookDeliveryDeps,
} from '../../lambda/core/webhooks';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const config = parseConfig({ webhooks: { maxAttempts: 4, deliveryTimeoutMs: 1000 } });
const payload: ReportWebhookPayload = {
  type: 'report.completed',
  reportId: 'r-1',
  status: 'COMPLETED',
  result: { text: 'done', usage: { inputTokens: 1, outputTokens: 2 } },
  occurredAt: '2026-01-01T00:00:00.000Z',
};
const publicDns: Resolver = async () => ['93.184.216.34'];

function harness(responses: AttemptResponse[], overrides: Partial<WebhookDeliveryDeps> = {}) {
  const requests: AttemptRequest[] = [];
  const letters: DeadLetter[] = [];
  const sleeps: number[] = [];
  const deps: WebhookDeliveryDeps = {
    config,
    secret: async () => SECRET,
    deadLetter: async (letter) => {
      letters.push(letter);
    },
    resolve: publicDns,
    send: async (request) => {
      requests.push(request);
      return responses.shift() ?? { status: 200 };
    },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 1,
    ...overrides,
  };
  return { deps, requests, letters, sleeps };
}

const delivery = { url: 'https://hooks.example.com/reports', webhookId: 'msg_r-1', payload };

test('signs per Standard Webhooks: the receiver verifies the body with the secret', async () => {
  const { deps, requests } = harness([{ status: 204 }]);
  const result = await deliverWebhook(delivery, deps);
  expect(result).toEqual({ delivered: true, attempts: 1, status: 204 });
  const [request] = requests;
  expect(request.headers['webhook-id']).toBe('msg_r-1');
  expect(request.headers['content-type']).toBe('application/json');
  expect(request.address).toEqual({ address: '93.184.216.34', family: 4 });
  expect(new Webhook(SECRET).verify(request.body, request.headers)).toEqual(payload);
  expect(() =>
    new Webhook('whsec_' + Buffer.from('another secret').toString('base64')).verify(request.body, request.headers),
  ).toThrow();
});

test('retries 5xx, 429 and network errors with exponential backoff, then succeeds with the same webhook-id', async () => {
  const { deps, requests, sleeps, letters } = harness([
    { status: 503 },
    { error: 'connect ECONNREFUSED' },
    { status: 429 },
    { status: 200 },
  ]);
  const result = await deliverWebhook(delivery, deps);
  expect(result).toEqual({ delivered: true, attempts: 4, status: 200 });
  expect(sleeps).toEqual([1000, 2000, 4000]);
  expect(new Set(requests.map((r) => r.headers['webhook-id']))).toEqual(new Set(['msg_r-1']));
  expect(letters).toEqual([]);
});

test('dead-letters with the reason after maxAttempts', async () => {
  const { deps, letters, requests } = harness([{ status: 500 }, { status: 502 }, { status: 503 }, { status: 504 }]);
  const result = await deliverWebhook(delivery, deps);
  expect(result).toEqual({ delivered: false, attempts: 4, reason: 'HTTP 504' });
  expect(requests).toHaveLength(4);
  expect(letters).toEqual([
    expect.objectContaining({ webhookId: 'msg_r-1', url: delivery.url, payload, attempts: 4, reason: 'HTTP 504' }),
  ]);
});

test('a 4xx that will not change is dead-lettered without retrying', async () => {
  const { deps, letters, requests } = harness([{ status: 410 }]);
  expect(await deliverWebhook(delivery, deps)).toMatchObject({ delivered: false, attempts: 1, reason: 'HTTP 410' });
  expect(requests).toHaveLength(1);
  expect(letters).toHaveLength(1);
});

test('re-checks the address at delivery: a name that now resolves to the metadata service is never requested', async () => {
  const { deps, letters, requests } = harness([], { resolve: async () => ['169.254.169.254'] });
  const result = await deliverWebhook(delivery, deps);
  expect(result.delivered).toBe(false);
  expect(requests).toHaveLength(0);
  expect(letters[0].reason).toMatch(/^blocked: .*metadata/);
});

test.each(TUNNELLED_INTERNAL_ADDRESSES)(
  're-checks the address at delivery: a name that now resolves to %s (%s) is never requested',
  async (address, kind) => {
    const { deps, letters, requests } = harness([], { resolve: async () => ['93.184.216.34', address] });
    const result = await deliverWebhook(delivery, deps);
    expect(result).toMatchObject({ delivered: false, attempts: 1 });
    expect(requests).toHaveLength(0);
    expect(letters[0].reason).toBe(`blocked: must not point at ${kind} address (hooks.example.com → ${address})`);
  },
);

test('connects to the address the check accepted, whatever the name resolves to later', async () => {
  const answers = [['2606:2800:220:1:248:1893:25c8:1946'], ['93.184.216.34'], ['2001:0:4136:e378:8000:63bf:3fff:fdd2']];
  const { deps, requests, letters } = harness([{ status: 503 }, { status: 503 }], {
    resolve: async () => answers.shift() ?? [],
  });
  const result = await deliverWebhook(delivery, deps);
  expect(requests.map((r) => r.address)).toEqual([
    { address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 },
    { address: '93.184.216.34', family: 4 },
  ]);
  expect(requests.map((r) => r.url.hostname)).toEqual(['hooks.example.com', 'hooks.example.com']);
  // The third answer is a Teredo address: that attempt is never made.
  expect(result).toMatchObject({ delivered: false, attempts: 3 });
  expect(letters[0].reason).toContain('a Teredo address');
});

test('DNS rebinding between attempts is caught on the next attempt', async () => {
  const answers = [['93.184.216.34'], ['10.0.0.7']];
  const { deps, requests, letters } = harness([{ status: 503 }], { resolve: async () => answers.shift() ?? [] });
  const result = await deliverWebhook(delivery, deps);
  expect(result).toMatchObject({ delivered: false, attempts: 2 });
  expect(requests).toHaveLength(1);
  expect(letters[0].reason).toContain('private');
});

test('http callbacks are refused unless the local loopback option is set', async () => {
  const local = { url: 'http://127.0.0.1:9/hook', webhookId: 'msg_r-1', payload };
  const refused = harness([]);
  expect(await deliverWebhook(local, refused.deps)).toMatchObject({
    delivered: false,
    reason: 'blocked: must use https',
  });
  const allowed = harness([{ status: 200 }], { config: parseConfig({ webhooks: { allowLoopbackCallbacks: true } }) });
  expect(await deliverWebhook(local, allowed.deps)).toMatchObject({ delivered: true });
});

test('stops before the function deadline and dead-letters what is left', async () => {
  let now = 0;
  const { deps, letters } = harness([{ status: 503 }, { status: 503 }], {
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    deadlineAt: 2500,
  });
  const result = await deliverWebhook(delivery, deps);
  // Attempt 1 at 0 ms fails; attempt 2 after 1 s fails; a third after 2 s more could not finish by 2.5 s.
  expect(result).toMatchObject({ delivered: false, attempts: 2 });
  expect(letters[0].reason).toBe('out of time after 2 attempts; last: HTTP 503');
});

test('the retry schedule and the sender timeout follow the configuration', () => {
  expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(WEBHOOK_BACKOFF, n, { random: () => 1 }))).toEqual([
    1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000,
  ]);
  expect(backoffMs(WEBHOOK_BACKOFF, 3, { random: () => 0 })).toBe(2000);
  expect(worstCaseWebhookDeliveryMs({ maxAttempts: 6, deliveryTimeoutMs: 5000 })).toBe(6 * 5000 + 31_000);
  expect(webhookSenderTimeoutSeconds({ maxAttempts: 6, deliveryTimeoutMs: 5000 })).toBe(76);
  expect(webhookSenderTimeoutSeconds({ maxAttempts: 20, deliveryTimeoutMs: 30_000 })).toBe(900);
});

test('retryable statuses', () => {
  expect([500, 502, 503, 504, 408, 409, 425, 429].every(isRetryableStatus)).toBe(true);
  expect([301, 400, 401, 403, 404, 410, 422].some(isRetryableStatus)).toBe(false);
});

test('signWebhook matches the reference implementation', () => {
  const at = new Date('2026-01-01T00:00:00Z');
  const headers = signWebhook(SECRET, 'msg_x', '{"a":1}', at);
  expect(headers['webhook-timestamp']).toBe(String(at.getTime() / 1000));
  expect(headers['webhook-signature']).toBe(new Webhook(SECRET).sign('msg_x', at, '{"a":1}'));
});
