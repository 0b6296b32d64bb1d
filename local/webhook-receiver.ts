/**
 * A webhook subscriber inside the local cloud (local only, never deployed), so a person or a test can point a report's
 * `callbackUrl` at `http://127.0.0.1:<port>/_local/webhooks` and watch the signed delivery arrive:
 *
 * - `POST /_local/webhooks` records the delivery: its Standard Webhooks headers, its payload, and whether the
 *   signature verifies against the local cloud's signing secret (the check a real subscriber makes, see
 *   docs/reports.md). A verified delivery is answered `204`; one that does not verify `401`, as a subscriber should,
 *   so the sender's retries and dead-lettering can be watched too.
 * - `GET /_local/webhooks[?reportId=…]` lists what arrived, oldest first.
 * - `DELETE /_local/webhooks` forgets them.
 *
 * Memory is bounded: the newest {@link LocalWebhookReceiverOptions.capacity} deliveries are kept, and a body over
 * {@link LocalWebhookReceiverOptions.maxBodyBytes} is refused with `413` without being recorded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';
import type { ExtraRoute } from './gateway';
import { pathOf, replyError, replyJson, replyMethodNotAllowed } from './local-routes';

export const WEBHOOK_RECEIVER_PATH = '/_local/webhooks';

/** The headers a delivery is recorded with: the Standard Webhooks trio and what names the sender and the body. */
const RECORDED_HEADERS = [
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'content-type',
  'user-agent',
] as const;

export type RecordedHeaderName = (typeof RECORDED_HEADERS)[number];

export interface ReceivedWebhook {
  /** Order of arrival, from 1. */
  readonly sequence: number;
  /** ISO 8601. */
  readonly receivedAt: string;
  /** The recorded headers the delivery carried. */
  readonly headers: Partial<Record<RecordedHeaderName, string>>;
  /** The signature verifies against the signing secret and the timestamp is within 5 minutes of now. */
  readonly verified: boolean;
  /** Why it did not verify. */
  readonly verificationError?: string;
  /** The body, parsed, when it is JSON. */
  readonly payload?: unknown;
  /** The body as text, when it is not JSON. */
  readonly body?: string;
}

export interface LocalWebhookReceiverOptions {
  /** Deliveries kept; older ones are dropped. @default 100 */
  readonly capacity?: number;
  /** Largest body recorded; larger ones get `413`. @default 262_144 (256 KiB) */
  readonly maxBodyBytes?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export class LocalWebhookReceiver {
  private readonly capacity: number;
  private readonly maxBodyBytes: number;
  private readonly now: () => number;
  private readonly received: ReceivedWebhook[] = [];
  private sequence = 0;
  private verifier?: Webhook;

  constructor(options: LocalWebhookReceiverOptions = {}) {
    this.capacity = options.capacity ?? 100;
    this.maxBodyBytes = options.maxBodyBytes ?? 262_144;
    this.now = options.now ?? Date.now;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) throw new RangeError('capacity: must be at least 1');
  }

  /** Verifies deliveries against `secret` (`whsec_…`), the local cloud's signing secret once its reports run. */
  useSecret(secret: string): void {
    this.verifier = new Webhook(secret);
  }

  /** What arrived, oldest first; only the deliveries about `reportId` when given. */
  list(reportId?: string): ReceivedWebhook[] {
    if (reportId === undefined) return [...this.received];
    return this.received.filter((d) => (d.payload as { reportId?: unknown } | undefined)?.reportId === reportId);
  }

  clear(): void {
    this.received.length = 0;
  }

  /** The gateway route serving {@link WEBHOOK_RECEIVER_PATH}. */
  readonly route: ExtraRoute = async (req, res, body) => {
    if (pathOf(req) !== WEBHOOK_RECEIVER_PATH) return false;
    switch (req.method) {
      case 'POST':
        this.receive(req, res, body);
        break;
      case 'GET':
      case 'HEAD': {
        const reportId = new URL(req.url ?? '/', 'http://localhost').searchParams.get('reportId') ?? undefined;
        replyJson(res, 200, { deliveries: this.list(reportId) });
        break;
      }
      case 'DELETE':
        this.clear();
        res.writeHead(204).end();
        break;
      default:
        replyMethodNotAllowed(res, ['GET', 'POST', 'DELETE']);
    }
    return true;
  };

  private receive(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    if (body.length > this.maxBodyBytes) {
      replyError(res, 413, 'PAYLOAD_TOO_LARGE', `the receiver records bodies up to ${this.maxBodyBytes} bytes`);
      return;
    }
    if (!this.verifier) {
      replyError(res, 503, 'SERVICE_UNAVAILABLE', 'the signing secret is not known yet; retry');
      return;
    }
    const headers: Partial<Record<RecordedHeaderName, string>> = {};
    for (const name of RECORDED_HEADERS) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const text = body.toString('utf8');
    let verificationError: string | undefined;
    try {
      // The library reads the three webhook-* headers and compares in constant time; the raw body is what was signed.
      this.verifier.verify(text, {
        'webhook-id': headers['webhook-id'] ?? '',
        'webhook-timestamp': headers['webhook-timestamp'] ?? '',
        'webhook-signature': headers['webhook-signature'] ?? '',
      });
    } catch (err) {
      verificationError = err instanceof Error ? err.message : String(err);
    }
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      payload = undefined;
    }
    this.record({
      sequence: ++this.sequence,
      receivedAt: new Date(this.now()).toISOString(),
      headers,
      verified: verificationError === undefined,
      ...(verificationError === undefined ? {} : { verificationError }),
      ...(payload === undefined ? { body: text } : { payload }),
    });
    if (verificationError === undefined) res.writeHead(204).end();
    else replyError(res, 401, 'INVALID_SIGNATURE', `webhook not verified: ${verificationError}`);
  }

  private record(delivery: ReceivedWebhook): void {
    this.received.push(delivery);
    if (this.received.length > this.capacity) this.received.splice(0, this.received.length - this.capacity);
  }
}
