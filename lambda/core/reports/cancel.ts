/**
 * The owner's cancel of a report (`POST /reports/{id}/cancel`). Every decision is a conditional write, so a cancel
 * racing the worker's claim, its result or a redelivery settles on exactly one outcome:
 * - `QUEUED` (or `RUNNING` whose lease ran out: its worker died) → `CANCELLED` at once, and `report.cancelled` is
 *   published. The job's message, when it arrives, finds nothing to claim and is acknowledged; the model is never
 *   called and nothing is reserved.
 * - `RUNNING` with a live lease → `cancelRequested`; the holder's lease heartbeat sees it within
 *   `reports.cancelCheckIntervalMs`, aborts the model call and finishes the report as `CANCELLED`
 *   (`lambda/core/reports/worker.ts`). Asking again is the same answer.
 * - `COMPLETED | FAILED | CANCELLED` → `409 ALREADY_FINISHED` with that status; unknown or someone else's → `404`.
 */
import { AlreadyFinishedError, NotFoundError, ServiceUnavailableError } from '../errors';
import { isFinished, type ReportItem } from './model';
import type { ReportEventPublisher, ReportStore } from './ports';

export interface CancelReportDeps {
  repo: Pick<ReportStore, 'get' | 'cancelIdle' | 'requestCancel' | 'markEventPublished'>;
  publisher: ReportEventPublisher;
  now?: () => number;
  /**
   * Told when `report.cancelled` could not be published. The cancel stands: the report's queued message reaches the
   * worker, which publishes the owed event then (as for any finished report whose event is owed).
   */
  onPublishError?: (err: unknown, report: ReportItem) => void;
}

export type CancelOutcome =
  /** It was cancelled now (`200`): it had not started, or its worker had died. */
  | { kind: 'cancelled'; report: ReportItem }
  /** It is running: the cancel is requested and its worker stops within about two seconds (`202`). */
  | { kind: 'requested'; report: ReportItem };

/** Attempts of the read-decide-write round; each lost race means the report moved on, which it can do only so often. */
const MAX_ROUNDS = 4;

export async function cancelReport(
  reportId: string,
  caller: { userId: string },
  deps: CancelReportDeps,
): Promise<CancelOutcome> {
  const now = deps.now ?? Date.now;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const report = await deps.repo.get(reportId);
    // 404, not 403: whether someone else's report exists is not this caller's business.
    if (!report || report.userId !== caller.userId) throw new NotFoundError('Report not found');
    if (isFinished(report.status)) {
      throw new AlreadyFinishedError(`The report has already finished: ${report.status}`, report.status);
    }
    const at = now();
    if (report.status === 'QUEUED' || (report.leaseUntil ?? 0) < at) {
      const cancelled = await deps.repo.cancelIdle(reportId, caller.userId, at);
      if (cancelled) {
        await publishCancelled(cancelled, deps);
        return { kind: 'cancelled', report: cancelled };
      }
    } else {
      const requested = await deps.repo.requestCancel(reportId, caller.userId, at);
      if (requested) return { kind: 'requested', report: requested };
    }
    // The report changed between the read and the write (claimed, finished, released): decide again on what it is now.
  }
  throw new ServiceUnavailableError('The report is changing state; retry the cancel', { retryAfterSeconds: 1 });
}

async function publishCancelled(report: ReportItem, deps: CancelReportDeps): Promise<void> {
  try {
    await deps.publisher.publish(report);
    await deps.repo.markEventPublished(report.reportId, (deps.now ?? Date.now)());
  } catch (err) {
    deps.onPublishError?.(err, report);
  }
}
