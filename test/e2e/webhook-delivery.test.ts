/**
 * Per-report webhook delivery over real HTTP: the sender against receivers on 127.0.0.1 that answer at once but send
 * their body slowly or never, and the whole pipeline (submit → worker → bus → webhook sender) against such a receiver.
 * Also the callback policy at submit for the IPv6 forms that can reach an internal address.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { httpSender } from '../../lambda/core/webhooks';
import { webhookSigningSecret } from '../helpers/local-cloud';
import { reportsApi, waitFor, waitForReport } from '../helpers/reports';
import { TUNNELLED_INTERNAL_ADDRESSES } from '../helpers/ssrf-addresses';

jest.setTimeout(60_000);

const SECRET = webhookSigningSecret('webhook-delivery-signing-secret-1');
const KEY = 'alice-delivery-key-000000000000';
/** Short, so a body that outlasts it does so within a fast test. */
const DELIVERY_TIMEOUT_MS = 1_000;

interface SeenRequest {
  body: string;
  host: string | undefined;
  /** When the status line and headers were flushed to the sender. */
  headersSentAt: number;
  /** When the sender's side of the connection went away, if it did. */
  closedAt?: number;
  /** Whether the whole body was written before the connection closed. */
  bodyFinished: boolean;
}

interface SlowReceiver {
  readonly url: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

/**
 * A receiver that reads the webhook, answers `200` with its headers at once, and then either sends its 20-byte body
 * one byte every `DELIVERY_TIMEOUT_MS / 5` (`dribble`: done after four timeouts) or never sends it (`stall`).
 */
async function startSlowReceiver(mode: 'dribble' | 'stall'): Promise<SlowReceiver> {
  const requests: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen: SeenRequest = {
        body: Buffer.concat(chunks).toString('utf8'),
        host: req.headers.host,
        headersSentAt: 0,
        bodyFinished: false,
      };
      requests.push(seen);
      const bodyBytes = 20;
      res.writeHead(
        200,
        mode === 'dribble'
          ? { 'content-type': 'text/plain', 'content-length': String(bodyBytes) }
          : { 'content-type': 'text/plain' },
      );
      res.flushHeaders();
      seen.headersSentAt = Date.now();
      let written = 0;
      const dribble =
        mode === 'dribble'
          ? setInterval(() => {
              res.write('.');
              if (++written === bodyBytes) {
                clearInterval(dribble);
                res.end();
              }
            }, DELIVERY_TIMEOUT_MS / 5)
          : undefined;
      res.on('finish', () => {
        seen.bodyFinished = true;
      });
      res.on('close', () => {
        clearInterval(dribble);
        seen.closedAt ??= Date.now();
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const request = (url: string) => ({
  url: new URL(url),
  address: { address: '127.0.0.1', family: 4 as const },
  headers: { 'content-type': 'application/json' },
  body: '{"type":"report.completed"}',
  timeoutMs: DELIVERY_TIMEOUT_MS,
});

describe('httpSender', () => {
  test.each(['dribble', 'stall'] as const)(
    'a 200 sent at once is the answer even when the body then %ss past the timeout; the connection is closed at once',
    async (mode) => {
      const receiver = await startSlowReceiver(mode);
      try {
        const started = Date.now();
        const response = await httpSender(request(receiver.url));
        expect(response).toEqual({ status: 200 });
        expect(Date.now() - started).toBeLessThan(DELIVERY_TIMEOUT_MS);
        const [seen] = receiver.requests;
        // The sender hung up right after the status, long before the body (or the timeout) would have ended it.
        const closedAt = await waitFor(() => seen.closedAt, {
          timeoutMs: DELIVERY_TIMEOUT_MS / 2,
          intervalMs: 10,
          what: 'the sender to close',
        });
        expect(closedAt - seen.headersSentAt).toBeLessThan(DELIVERY_TIMEOUT_MS / 2);
        expect(seen.bodyFinished).toBe(false);
        expect(receiver.requests).toHaveLength(1);
      } finally {
        await receiver.close();
      }
    },
  );

  test('connects to the pinned address, not to what the name resolves to, and sends the name as Host', async () => {
    const receiver = await startSlowReceiver('dribble');
    try {
      // `.invalid` never resolves (RFC 6761): reaching the receiver proves the checked address was used.
      const url = `http://receiver.invalid:${receiver.port}/hook`;
      expect(await httpSender(request(url))).toEqual({ status: 200 });
      expect(receiver.requests[0]).toMatchObject({
        host: `receiver.invalid:${receiver.port}`,
        body: '{"type":"report.completed"}',
      });
    } finally {
      await receiver.close();
    }
  });

  test('a receiver that sends no status within the timeout is a timed-out attempt', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer(() => undefined);
    silent.on('connection', (s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      expect(await httpSender(request(`http://127.0.0.1:${port}/hook`))).toEqual({
        error: `timed out after ${DELIVERY_TIMEOUT_MS} ms`,
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(DELIVERY_TIMEOUT_MS - 50);
      await waitFor(() => ([...sockets].every((s) => s.destroyed) ? true : undefined), {
        timeoutMs: 1_000,
        what: 'the timed-out socket to close',
      });
    } finally {
      await new Promise<void>((resolve) => {
        silent.close(() => resolve());
        silent.closeAllConnections();
      });
    }
  });
});

describe('through the local cloud', () => {
  let cloud: LocalCloud;
  let api: ReturnType<typeof reportsApi>;
  let receiver: SlowReceiver;

  beforeAll(async () => {
    receiver = await startSlowReceiver('dribble');
    cloud = await startLocalCloud({
      quiet: true,
      apiKeys: `alice:pro:${KEY}`,
      webhookSecret: SECRET,
      config: { webhooks: { deliveryTimeoutMs: DELIVERY_TIMEOUT_MS, maxAttempts: 3 } },
    });
    api = reportsApi(cloud.url, KEY);
  });

  afterAll(async () => {
    await cloud?.reports.bus.idle(10_000);
    await cloud?.stop();
    await receiver?.close();
  });

  test('a receiver that answers 200 at once and then sends its body slowly gets the webhook exactly once, and nothing is dead-lettered', async () => {
    const { status, body } = await api.submit({ prompt: 'Deliver me to a slow reader', callbackUrl: receiver.url });
    expect(status).toBe(202);
    await waitForReport(api, body.reportId);
    await waitFor(() => (receiver.requests.some((r) => r.body.includes(body.reportId)) ? true : undefined), {
      what: 'the webhook',
    });
    // The sender's invocation (with any retries it would make) is over once the bus is idle.
    await cloud.reports.bus.idle(20_000);

    const deliveries = receiver.requests.filter((r) => r.body.includes(body.reportId));
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0].bodyFinished).toBe(false);
    const letters = (await cloud.reports.sqs.drain(cloud.reports.queues.webhookDeadLetter.url))
      .map((m) => m.Body ?? '')
      .filter((b) => b.includes(body.reportId));
    expect(letters).toEqual([]);
  });

  test.each(TUNNELLED_INTERNAL_ADDRESSES)(
    'a callbackUrl at [%s] is refused at submit with 400 (%s address)',
    async (address, kind) => {
      const { status, body } = await api.submit({ prompt: 'Reach inside', callbackUrl: `https://[${address}]/hook` });
      expect(status).toBe(400);
      expect(body.error).toEqual({
        code: 'VALIDATION_ERROR',
        message: expect.stringMatching(new RegExp(`^callbackUrl: must not point at ${kind} address`)),
        retryable: false,
      });
      expect(body).not.toHaveProperty('reportId');
    },
  );
});
