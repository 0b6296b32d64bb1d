/**
 * What the report lifecycle needs from the outside world, as small interfaces: the store (`lambda/aws/reports-repository.ts`
 * on DynamoDB), the job queue (`lambda/aws/report-queue.ts` on SQS) and the event publisher (`lambda/aws/report-events.ts`
 * on EventBridge). The core decides; the adapters keep the item shapes, keys and condition expressions.
 *
 * Every state change of the store is conditional and says so by its result: `false` or `undefined` means the condition
 * did not hold (a lost race, a stale lease), never an outage; outages throw.
 */
import type { IdempotencyItem, ReportError, ReportItem, ReportResult } from './model';

export type NewReport = Pick<ReportItem, 'reportId' | 'userId' | 'plan' | 'prompt' | 'callbackUrl' | 'metadataJson'>;

export type CreateResult =
  | { created: true; item: ReportItem }
  /** A report with this id exists already (or existed for an instant: undefined when it is gone again). */
  | { created: false; existing: ReportItem | undefined };

export type IdempotencyClaim =
  | { created: true }
  /** The key is taken and still valid: the report it belongs to, and the hash of the request that created it. */
  | { created: false; existing: IdempotencyItem };

export type Outcome =
  | { status: 'COMPLETED'; result: ReportResult; model: string; modelLatencyMs: number }
  | { status: 'FAILED'; error: ReportError };

/** The reports table: reports and `Idempotency-Key` records, every transition a conditional write. */
export interface ReportStore {
  get(reportId: string): Promise<ReportItem | undefined>;
  /**
   * Writes a new `QUEUED` report, unless one with this id exists already: then it returns that one, so the caller can
   * tell its own write (applied by an SDK retry, or by a concurrent replay of the same submission) from a stranger's.
   */
  create(report: NewReport, now: number): Promise<CreateResult>;
  /** Removes a report that was never enqueued (its submit failed), only while nobody has touched it. */
  deleteUnstarted(reportId: string): Promise<boolean>;
  /** Reserves an `Idempotency-Key` for a report: succeeds when the key is unused or its record has expired. */
  claimIdempotencyKey(
    userId: string,
    key: string,
    record: { reportId: string; requestHash: string },
    now: number,
    validHours: number,
  ): Promise<IdempotencyClaim>;
  /** The record of an `Idempotency-Key`, whether or not it has expired. */
  getIdempotencyKey(userId: string, key: string): Promise<IdempotencyItem | undefined>;
  /** Frees a key whose submit created nothing; false when the key no longer names this report or a replay pinned it. */
  releaseIdempotencyKey(userId: string, key: string, reportId: string): Promise<boolean>;
  /** Marks a key as answered by a replay; false when the key no longer names this report. */
  pinIdempotencyKey(userId: string, key: string, reportId: string, now: number): Promise<boolean>;
  /**
   * `QUEUED → RUNNING`, or takes over a `RUNNING` report whose lease has expired. The report with its new attempt number
   * (the lease token), or undefined when it is not claimable (finished, leased, unknown).
   */
  claim(reportId: string, now: number, leaseMs: number): Promise<ReportItem | undefined>;
  /**
   * The lease holder's heartbeat (every `reports.cancelCheckIntervalMs`): one conditional write that checks the lease is
   * still `attempt`'s and returns whether the owner asked to cancel, without a separate read.
   */
  heartbeat(reportId: string, attempt: number, now: number): Promise<Heartbeat>;
  /**
   * The owner's cancel of a report nobody is working on: `QUEUED` (or `RUNNING` whose lease expired) → `CANCELLED`. The
   * cancelled report, or undefined when it is not the caller's or not in such a state.
   */
  cancelIdle(reportId: string, userId: string, now: number): Promise<ReportItem | undefined>;
  /**
   * The owner's cancel of a `RUNNING` report with a live lease: sets `cancelRequested` (idempotent; the first request's
   * time is kept). The report, or undefined when it is not the caller's or not in that state.
   */
  requestCancel(reportId: string, userId: string, now: number): Promise<ReportItem | undefined>;
  /** `RUNNING (cancel requested) → CANCELLED` by the lease holder; undefined if it lost the lease. */
  finishCancelled(reportId: string, attempt: number, now: number): Promise<ReportItem | undefined>;
  /**
   * `RUNNING → QUEUED` after a retryable failure, by the lease holder only, unless a cancel was requested; false if it
   * no longer holds it or the report is to be cancelled.
   */
  release(reportId: string, attempt: number, lastError: ReportError, now: number): Promise<boolean>;
  /**
   * `RUNNING → COMPLETED | FAILED` by the lease holder, unless a cancel was requested (the cancel won the race); the
   * finished report, or undefined if it lost the lease or the report is to be cancelled.
   */
  finish(reportId: string, attempt: number, outcome: Outcome, now: number): Promise<ReportItem | undefined>;
  /** `QUEUED | RUNNING (lease expired) → FAILED`: the dead-letter backstop. Undefined when finished or leased. */
  failAbandoned(reportId: string, error: ReportError, now: number): Promise<ReportItem | undefined>;
  /** Records that the report's event is on the bus (once, and only for a finished report). */
  markEventPublished(reportId: string, now: number): Promise<void>;
}

/** What a lease heartbeat learnt: whether the caller still holds the lease, and whether a cancel was requested. */
export type Heartbeat = { held: false } | { held: true; cancelRequested: boolean };

/** The job queue; a message is `{"reportId"}` (the prompt stays in the table). */
export interface ReportQueue {
  /** Sends the job's message; with `delaySeconds` (at most 900), it is delivered no sooner than that. */
  enqueue(reportId: string, delaySeconds?: number): Promise<void>;
}

/** Puts a finished report's `report.completed | report.failed` event on the bus. */
export interface ReportEventPublisher {
  publish(report: ReportItem): Promise<void>;
}
