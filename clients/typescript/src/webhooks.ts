/**
 * `@serverless-genai/client/webhooks`: verifies the signed webhooks the API sends when a report ends (Standard
 * Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`; docs/reports.md, "Webhooks"). For the receiving
 * server; it works wherever `TextEncoder` does (Node.js, Deno, Bun, Workers, browsers).
 *
 * @example
 * import { webhooks } from '@serverless-genai/client/webhooks';
 *
 * // Express: verify the raw body, before parsing it.
 * app.post('/reports-hook', express.raw({ type: 'application/json' }), (req, res) => {
 *   const event = webhooks.verify(process.env.WEBHOOK_SECRET!, req.body, req.headers); // throws GenAIWebhookError
 *   res.sendStatus(204); // answer fast; deduplicate on req.headers['webhook-id'], delivery is at least once
 * });
 */
import { Webhook } from 'standardwebhooks';
import type { ReportWebhookEvent } from './types.js';

/** Why a webhook was refused. */
export type WebhookFailure =
  | 'MISSING_HEADERS'
  | 'INVALID_TIMESTAMP'
  | 'TIMESTAMP_TOO_OLD'
  | 'TIMESTAMP_TOO_NEW'
  | 'INVALID_SIGNATURE'
  | 'INVALID_PAYLOAD';

/** A webhook that must not be trusted: forged, altered, replayed too late, or not a report event. */
export class GenAIWebhookError extends Error {
  readonly reason: WebhookFailure;

  constructor(reason: WebhookFailure, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GenAIWebhookError';
    this.reason = reason;
  }
}

/** Request headers as `fetch` (`Headers`) or Node.js (`IncomingHttpHeaders`) give them. */
export type WebhookHeaders = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/** How far `webhook-timestamp` may be from now: the Standard Webhooks tolerance, which `standardwebhooks` applies. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

const SIGNATURE_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/**
 * Verifies a report webhook and returns its event. `body` must be the raw body exactly as received (a re-serialised
 * JSON object no longer matches its signature). `secret` is the signing secret as `whsec_<base64>`.
 *
 * @throws GenAIWebhookError when a signature header is missing, the timestamp is more than 5 minutes from now, no
 *   signature matches, or the signed body is not a report event.
 * @throws TypeError when `secret` is not a usable signing secret.
 */
export function verifyWebhook(secret: string, body: string | Uint8Array, headers: WebhookHeaders): ReportWebhookEvent {
  let verifier: Webhook;
  try {
    verifier = new Webhook(secret);
  } catch (err) {
    throw new TypeError('secret must be the signing secret as whsec_<base64>', { cause: err });
  }
  const signed = signatureHeaders(headers);
  if (!signed)
    throw new GenAIWebhookError('MISSING_HEADERS', `A webhook needs the ${SIGNATURE_HEADERS.join(', ')} headers`);

  // Checked here, before the signature, so that the reason is told apart; standardwebhooks applies the same bounds.
  const timestamp = signed['webhook-timestamp'];
  if (!/^\d{1,15}$/.test(timestamp))
    throw new GenAIWebhookError('INVALID_TIMESTAMP', 'webhook-timestamp is not a Unix time in seconds');
  const age = Math.floor(Date.now() / 1000) - Number(timestamp);
  if (age > WEBHOOK_TOLERANCE_SECONDS)
    throw new GenAIWebhookError(
      'TIMESTAMP_TOO_OLD',
      `The webhook was signed ${age} s ago (at most ${WEBHOOK_TOLERANCE_SECONDS} s)`,
    );
  if (-age > WEBHOOK_TOLERANCE_SECONDS)
    throw new GenAIWebhookError('TIMESTAMP_TOO_NEW', `The webhook is timestamped ${-age} s in the future`);

  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  try {
    verifier.verify(text, signed, { jsonParse: false });
  } catch (err) {
    throw new GenAIWebhookError('INVALID_SIGNATURE', 'No webhook-signature matches the body', { cause: err });
  }
  return reportEvent(text);
}

/** The same function as an object, for `webhooks.verify(secret, body, headers)`. */
export const webhooks = { verify: verifyWebhook } as const;

/** The three signature headers, whatever the case of their names; undefined when one is missing or empty. */
function signatureHeaders(headers: WebhookHeaders): Record<(typeof SIGNATURE_HEADERS)[number], string> | undefined {
  const read = (name: string): string | undefined => {
    if (typeof Headers !== 'undefined' && headers instanceof Headers) return headers.get(name) ?? undefined;
    for (const [key, value] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
      if (key.toLowerCase() !== name) continue;
      // Repeated `webhook-signature` headers each hold space-separated signatures.
      return typeof value === 'string' ? value : value?.join(' ');
    }
    return undefined;
  };
  const out: Partial<Record<(typeof SIGNATURE_HEADERS)[number], string>> = {};
  for (const name of SIGNATURE_HEADERS) {
    const value = read(name)?.trim();
    if (!value) return undefined;
    out[name] = value;
  }
  return out as Record<(typeof SIGNATURE_HEADERS)[number], string>;
}

function reportEvent(text: string): ReportWebhookEvent {
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch (err) {
    throw new GenAIWebhookError('INVALID_PAYLOAD', 'The signed body is not JSON', { cause: err });
  }
  const e = event as Partial<ReportWebhookEvent> | null;
  // Any `report.*` type: a receiver built against this version keeps accepting event types a newer API adds.
  if (
    typeof e !== 'object' ||
    e === null ||
    typeof e.type !== 'string' ||
    !e.type.startsWith('report.') ||
    typeof e.reportId !== 'string' ||
    typeof e.status !== 'string' ||
    typeof e.occurredAt !== 'string'
  )
    throw new GenAIWebhookError('INVALID_PAYLOAD', 'The signed body is not a report event');
  return e as ReportWebhookEvent;
}

export type { ReportWebhookEvent } from './types.js';
