/**
 * What the reports pipeline shares between the functions, the CDK stack and the local cloud, so the three agree:
 * the reports table's keys, the report events on the EventBridge bus, and the rule patterns that route them.
 *
 * An event's `detail` is `{ payload, callbackUrl? }`: `payload` is exactly the webhook body of the client contract;
 * `callbackUrl` is present only for reports submitted with one. Deploy-time subscribers receive `$.detail.payload`.
 */
import { worstCaseBackoffMs, type BackoffPolicy } from './backoff';
import { TABLES } from './tables';

/** The reports table: partition key `pk` (`report#<id>` or `idem#<user>#<key hash>`), TTL on `expiresAt`. */
export const REPORTS_TABLE = TABLES.reports;

/** `source` of every report event. */
export const REPORT_EVENT_SOURCE = 'genai-api.reports';

export const REPORT_EVENT_TYPES = ['report.completed', 'report.failed', 'report.cancelled'] as const;
export type ReportEventType = (typeof REPORT_EVENT_TYPES)[number];

/** The webhook body of the client contract (docs/reports.md, "Payload"). */
export interface ReportWebhookPayload {
  type: ReportEventType;
  reportId: string;
  status: 'COMPLETED' | 'FAILED' | 'CANCELLED';
  result?: {
    text: string;
    usage: {
      inputTokens: number;
      outputTokens: number;
      cacheReadInputTokens?: number;
      cacheWriteInputTokens?: number;
    };
    /** The model call's cost in US dollars, when the model has a price (`models.prices`). */
    costUsd?: number;
    /** Set when the result came from the response cache (`cache.enabled`). */
    cached?: true;
  };
  error?: { code: string; message: string };
  /** When the report finished (ISO 8601); the same on every re-publication. */
  occurredAt: string;
}

/** `detail` of a report event. */
export interface ReportEventDetail {
  payload: ReportWebhookPayload;
  /** The report's own `callbackUrl`, when it was submitted with one. */
  callbackUrl?: string;
}

/** An EventBridge event pattern (the subset of the pattern language our rules use is all plain JSON). */
export type EventPattern = Record<string, unknown>;

/** Every finished report (completed, failed or cancelled): what deploy-time subscribers (API destinations) receive. */
export const FINISHED_REPORTS_PATTERN: EventPattern = {
  source: [REPORT_EVENT_SOURCE],
  'detail-type': [...REPORT_EVENT_TYPES],
};

/** Finished reports that carry a per-report `callbackUrl`: what the webhook sender receives. */
export const REPORT_CALLBACKS_PATTERN: EventPattern = {
  source: [REPORT_EVENT_SOURCE],
  'detail-type': [...REPORT_EVENT_TYPES],
  detail: { callbackUrl: [{ exists: true }] },
};

/** JSON path of the webhook body inside an event: the input transformation of subscriber targets. */
export const WEBHOOK_PAYLOAD_PATH = '$.detail.payload';

/**
 * Per-report webhook retries: 1 s, doubled per attempt up to 60 s, scaled by a random factor in [0.5, 1] (equal jitter),
 * so the receiver gets a pause of at least half the schedule.
 */
export const WEBHOOK_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 60_000, jitter: 'equal' };

/** Longest `maxAttempts` deliveries with their timeouts and backoff can take. */
export function worstCaseWebhookDeliveryMs(webhooks: { maxAttempts: number; deliveryTimeoutMs: number }): number {
  return (
    webhooks.maxAttempts * webhooks.deliveryTimeoutMs + worstCaseBackoffMs(WEBHOOK_BACKOFF, webhooks.maxAttempts - 1)
  );
}

/** The webhook sender's timeout: every attempt and backoff, plus room to dead-letter; Lambda allows at most 900 s. */
export function webhookSenderTimeoutSeconds(webhooks: { maxAttempts: number; deliveryTimeoutMs: number }): number {
  return Math.min(900, Math.ceil(worstCaseWebhookDeliveryMs(webhooks) / 1000) + 15);
}
