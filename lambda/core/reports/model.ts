/**
 * A report's record, the views of it clients see (status response, webhook body), and the pure rules about it.
 *
 * Lifecycle: `QUEUED → RUNNING → COMPLETED | FAILED`, and `QUEUED | RUNNING → CANCELLED` by its owner: a `QUEUED` report
 * is cancelled at once; a `RUNNING` one gets `cancelRequested`, which its worker learns from its lease heartbeat, stops
 * the model call and finishes it as `CANCELLED`. A `RUNNING` report is held by one worker through a lease
 * (`leaseUntil`, epoch ms) and an attempt number (`attempts`, the lease token); a lease that has expired may be taken over
 * by a redelivered message. A finished report without `eventPublishedAt` still owes its event; whoever sees it next
 * (a redelivery, the dead-letter backstop) publishes it without calling the model.
 */
import type { TokenUsage } from '../model';
import { createHash } from 'node:crypto';
import type { ReportEventType, ReportWebhookPayload } from '../../../config/reports';
import type { ReportStatusBody } from '../../../config/responses';

export type ReportStatus = ReportStatusBody['status'];
export type FinishedStatus = Extract<ReportStatus, 'COMPLETED' | 'FAILED' | 'CANCELLED'>;

export interface ReportResult {
  text: string;
  usage: TokenUsage;
  /** The answer came from the response cache (`cache.enabled`); absent otherwise. */
  cached?: true;
  /** What the model call cost in US dollars, when the model has a price (`models.prices`). */
  costUsd?: number;
}

export interface ReportError {
  code: string;
  message: string;
}

export interface ReportItem {
  pk: string;
  reportId: string;
  userId: string;
  /** The owner's plan at submit time (the token budget of the model call). */
  plan: string;
  status: ReportStatus;
  prompt: string;
  callbackUrl?: string;
  /**
   * The client's `metadata` as JSON text. A string attribute, so DynamoDB's number range, its 32-level nesting limit
   * and its document mapping (which refuses an object with a `constructor` key) never apply to what a client sent.
   */
  metadataJson?: string;
  /** `metadata` of reports written before it was kept as JSON text: a map. Read either with {@link metadataJsonOf}. */
  metadata?: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  /** Times a worker has claimed the report; the current holder's lease token. */
  attempts: number;
  /** While `RUNNING`: until when (epoch ms) the holder owns it. */
  leaseUntil?: number;
  /** The last failure that was retried, kept for the final error message. */
  lastError?: ReportError;
  result?: ReportResult;
  /** The model that produced `result`, and how long its call took (the rest of the turnaround is the pipeline's). */
  model?: string;
  modelLatencyMs?: number;
  error?: ReportError;
  finishedAt?: string;
  /** While `RUNNING`: its owner asked to cancel it; the lease holder stops and finishes it as `CANCELLED`. */
  cancelRequested?: boolean;
  cancelRequestedAt?: string;
  /** When it became `CANCELLED`. */
  cancelledAt?: string;
  /** The lease holder's last heartbeat (epoch ms). */
  heartbeatAt?: number;
  /** Set once the report's `report.completed|failed|cancelled` event is on the bus. */
  eventPublishedAt?: string;
  /** DynamoDB TTL (epoch seconds): cleanup only. */
  expiresAt: number;
}

/** The `Idempotency-Key` record: the report a key created, valid until `expiresAt`. */
export interface IdempotencyItem {
  pk: string;
  reportId: string;
  /** Hash of the request body; a reuse with another body is refused. */
  requestHash: string;
  createdAt: string;
  expiresAt: number;
  /**
   * Set by the first replay that answers with the report: from then on the report is promised to a client, so a first
   * submit that fails afterwards may neither free the key nor delete the report.
   */
  replayedAt?: string;
}

/** `GET /reports/{id}` body (the client contract: docs/reports.md, "Polling"), as its schema in config/responses.ts. */
export type ReportView = ReportStatusBody;

export const reportKey = (reportId: string): string => `report#${reportId}`;

/** The partition key of a user's `Idempotency-Key` record; the key is hashed, so any printable key fits. */
export const idempotencyKeyOf = (userId: string, key: string): string =>
  `idem#${userId}#${createHash('sha256').update(key).digest('base64url')}`;

/** The report's `metadata` as JSON text, whichever way it was stored; undefined when it was submitted without. */
export function metadataJsonOf(item: Pick<ReportItem, 'metadataJson' | 'metadata'>): string | undefined {
  if (item.metadataJson !== undefined) return item.metadataJson;
  return item.metadata === undefined ? undefined : JSON.stringify(item.metadata);
}

export function isFinished(status: ReportStatus): status is FinishedStatus {
  return status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED';
}

export function toView(item: ReportItem): ReportView {
  const view: ReportView = {
    reportId: item.reportId,
    status: item.status,
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
  };
  if (item.status === 'COMPLETED' && item.result) view.result = item.result;
  if (item.status === 'FAILED' && item.error) view.error = item.error;
  if (item.status === 'RUNNING' && item.cancelRequested && item.cancelRequestedAt)
    view.cancelRequestedAt = item.cancelRequestedAt;
  if (item.status === 'CANCELLED') view.cancelledAt = item.cancelledAt ?? item.finishedAt ?? item.updatedAt;
  return view;
}

/** Report ids are random UUIDs; anything else is unknown without a read. */
const REPORT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isReportId = (value: string): boolean => REPORT_ID.test(value);

/**
 * The webhook body for a finished report. `occurredAt` is the finish time, so a re-published event carries the same
 * body as the first one.
 */
export function webhookPayloadOf(item: ReportItem): ReportWebhookPayload {
  if (!isFinished(item.status)) throw new Error(`Report ${item.reportId} is ${item.status}, not finished`);
  const type: ReportEventType = EVENT_TYPE_OF[item.status];
  const payload: ReportWebhookPayload = {
    type,
    reportId: item.reportId,
    status: item.status,
    occurredAt: item.finishedAt ?? item.updatedAt,
  };
  if (item.status === 'COMPLETED' && item.result) payload.result = item.result;
  if (item.status === 'FAILED') payload.error = item.error ?? { code: 'INTERNAL_ERROR', message: 'The report failed' };
  return payload;
}

const EVENT_TYPE_OF: Record<FinishedStatus, ReportEventType> = {
  COMPLETED: 'report.completed',
  FAILED: 'report.failed',
  CANCELLED: 'report.cancelled',
};

/** Standard Webhooks `webhook-id`: one message per report (it finishes once), the same on every retry and re-publish. */
export const webhookIdOf = (reportId: string): string => `msg_${reportId}`;

/** Epoch seconds `days` after `nowMs`. */
export const epochSecondsAfterDays = (nowMs: number, days: number): number => Math.floor(nowMs / 1000) + days * 86_400;
