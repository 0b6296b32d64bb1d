/**
 * Per-report callbacks, signed per the Standard Webhooks specification (https://www.standardwebhooks.com):
 * `webhook-id` (the same on every retry), `webhook-timestamp` (epoch seconds of the attempt) and `webhook-signature`
 * (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed by the base64-decoded secret).
 *
 * Every attempt re-checks the URL (`callback-url.ts`) and connects only to an address that check accepted. It succeeds
 * on a `2xx` status received within `webhooks.deliveryTimeoutMs` (the response body is not waited for), and is
 * otherwise retried with exponential backoff and jitter up to `webhooks.maxAttempts`.
 * What cannot be delivered goes to the webhook dead-letter queue with the reason.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { LookupFunction } from 'node:net';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { backoffMs } from '../../config/backoff';
import { WEBHOOK_BACKOFF, type ReportWebhookPayload } from '../../config/reports';
import type { AppConfig } from '../../config/schema';
import { checkCallbackUrl, type Resolver } from './callback-url';

export interface WebhookDelivery {
  url: string;
  webhookId: string;
  payload: ReportWebhookPayload;
}

export interface DeadLetter {
  webhookId: string;
  url: string;
  payload: ReportWebhookPayload;
  attempts: number;
  reason: string;
  failedAt: string;
}

export type DeliveryResult =
  | { delivered: true; attempts: number; status: number }
  | { delivered: false; attempts: number; reason: string };

/** One HTTP attempt against an already-checked address. */
export interface AttemptRequest {
  url: URL;
  address: { address: string; family: 4 | 6 };
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}
export type AttemptResponse = { status: number } | { error: string };
export type Sender = (request: AttemptRequest) => Promise<AttemptResponse>;

/** The signing secret (`whsec_…` or bare base64): Secrets Manager in `lambda/aws/webhook-secret.ts`. */
export type WebhookSecretSource = () => Promise<string>;
/** Where undeliverable webhooks go: an SQS queue in `lambda/aws/webhook-dead-letter.ts`. */
export type DeadLetterSink = (letter: DeadLetter) => Promise<void>;

export interface WebhookDeliveryDeps {
  config: Pick<AppConfig, 'webhooks'>;
  secret: WebhookSecretSource;
  deadLetter: DeadLetterSink;
  resolve?: Resolver;
  send?: Sender;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
  /** Epoch ms after which no attempt is started (the function's own deadline). */
  deadlineAt?: number;
}

/** A backoff wait that does not by itself keep the process alive (the awaiting invocation does). */
const unrefSleep = (ms: number): Promise<void> => sleepFor(ms, undefined, { ref: false });

/** Statuses worth retrying: the receiver is busy, down or briefly confused. Other 3xx/4xx will not change. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 409 || status === 425 || status === 429;
}

/** Standard Webhooks headers for one attempt. */
export function signWebhook(secret: string, webhookId: string, body: string, at: Date): Record<string, string> {
  return {
    'webhook-id': webhookId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(webhookId, at, body),
  };
}

export async function deliverWebhook(delivery: WebhookDelivery, deps: WebhookDeliveryDeps): Promise<DeliveryResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? unrefSleep;
  const send = deps.send ?? httpSender;
  const { maxAttempts, deliveryTimeoutMs, allowLoopbackCallbacks } = deps.config.webhooks;
  const body = JSON.stringify(delivery.payload);
  const secret = await deps.secret();

  let reason = 'not attempted';
  let attempts = 0;
  while (attempts < maxAttempts) {
    if (deps.deadlineAt !== undefined && now() + deliveryTimeoutMs > deps.deadlineAt) {
      reason = 'out of time before the first attempt';
      break;
    }
    attempts++;
    const check = await checkCallbackUrl(delivery.url, {
      allowLoopbackHttp: allowLoopbackCallbacks,
      resolve: deps.resolve,
    });
    if (!check.ok && !check.retryable) {
      reason = `blocked: ${check.reason}`;
      break;
    }
    let retry = true;
    if (!check.ok) {
      reason = check.reason;
    } else {
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'genai-api-webhooks/1',
        ...signWebhook(secret, delivery.webhookId, body, new Date(now())),
      };
      const response = await send({
        url: check.url,
        address: check.addresses[0],
        headers,
        body,
        timeoutMs: deliveryTimeoutMs,
      });
      if ('status' in response && response.status >= 200 && response.status < 300) {
        return { delivered: true, attempts, status: response.status };
      }
      if ('status' in response) {
        reason = `HTTP ${response.status}`;
        retry = isRetryableStatus(response.status);
      } else {
        reason = response.error;
      }
    }
    if (!retry || attempts >= maxAttempts) break;
    const waitMs = backoffMs(WEBHOOK_BACKOFF, attempts, { random: deps.random });
    if (deps.deadlineAt !== undefined && now() + waitMs + deliveryTimeoutMs > deps.deadlineAt) {
      reason = `out of time after ${attempts} attempts; last: ${reason}`;
      break;
    }
    await sleep(waitMs);
  }

  await deps.deadLetter({
    webhookId: delivery.webhookId,
    url: delivery.url,
    payload: delivery.payload,
    attempts,
    reason,
    failedAt: new Date(now()).toISOString(),
  });
  return { delivered: false, attempts, reason };
}

/**
 * POSTs over `node:http(s)`, connecting to the checked address whatever DNS says now (the host name still goes in the
 * `Host` header and TLS SNI, so certificates are verified against it). Redirects are not followed.
 *
 * The attempt is decided by the status line: a receiver may answer `200` at once and then send its body slowly or never,
 * and that is a delivered webhook. So the response is destroyed as soon as its status is known; reading the body would
 * only let a slow receiver turn a success into a timeout and a retry, and keep the socket open.
 */
export const httpSender: Sender = (request) =>
  new Promise((resolve) => {
    const { url, address } = request;
    const lookup: LookupFunction = (_hostname, options, callback) => {
      if ((options as { all?: boolean }).all)
        (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [address]);
      else callback(null, address.address, address.family);
    };
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), request.timeoutMs);
    const transport = url.protocol === 'https:' ? https : http;
    let settled = false;
    const done = (value: AttemptResponse) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(value);
      }
    };
    const req = transport.request(
      url,
      {
        method: 'POST',
        headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
        lookup,
        signal: timeout.signal,
        agent: false,
      },
      (res) => {
        done({ status: res.statusCode ?? 0 });
        res.destroy();
      },
    );
    req.on('error', (err) =>
      done({ error: timeout.signal.aborted ? `timed out after ${request.timeoutMs} ms` : err.message }),
    );
    req.end(request.body);
  });
