/**
 * Running one report job, and the dead-letter backstop. The SQS handler maps the outcomes: `retry` becomes a batch item
 * failure (after shortening the message's visibility to the backoff), `paced` sends the job again as a new message
 * delayed until the model quota has room, and everything else acknowledges the message.
 *
 * Why nothing runs twice and nothing stays stuck:
 * - The model is called only after a conditional claim (`QUEUED`, or `RUNNING` with an expired lease). A redelivered
 *   message for a finished report never reaches the model; it only publishes the event if that is still owed.
 * - A worker that dies keeps its message in flight until the visibility timeout, which exceeds the lease (the worker's
 *   timeout), so the redelivery finds the lease expired and takes over. A duplicate message that finds a live lease is
 *   acknowledged: the holder's own message stays in flight and comes back if the holder dies.
 * - Finishing is conditional on still holding the lease (`attempts`), so a worker that overran cannot overwrite the
 *   result of the one that took over.
 * - A cancel is settled by the same conditions: a `QUEUED` report is cancelled at once, so its message finds nothing to
 *   claim and is acknowledged without a model call. For a `RUNNING` one the owner sets `cancelRequested`; the holder's
 *   lease heartbeat (every `reports.cancelCheckIntervalMs`, a conditional write that returns the flag) sees it, aborts
 *   the model call (the budget is settled with the tokens used and the breaker is not told, as for a client that left)
 *   and finishes the report as `CANCELLED`. Finishing or releasing is refused once a cancel is requested, so a cancel
 *   that got in before the result wins, and a result written first makes the cancel a `409`.
 * - The message is acknowledged only after the event is on the bus. On the last allowed receive a retryable failure
 *   fails the report instead of retrying; if that receive dies too, the message reaches the dead-letter queue, whose
 *   consumer fails the report (`RETRIES_EXHAUSTED`) and publishes its event.
 */
import { backoffMs, type BackoffPolicy } from '../../../config/backoff';
import { RATED_ENDPOINTS } from '../../../config/metrics';
import type { AppConfig } from '../../../config/schema';
import type { ChatContext, ChatResult } from '../chat';
import {
  ApiError,
  CostBudgetExceededError,
  ModelQuotaExceededError,
  TokenBudgetExceededError,
  toApiError,
} from '../errors';
import type { RequestRecorder } from '../feedback';
import type { ModelRequest } from '../model';
import { delayUntil } from '../model-attempt';
import { isFinished, type ReportError, type ReportItem } from './model';
import type { Outcome, ReportEventPublisher, ReportStore } from './ports';

/** One guarded model call (token budget, breaker, fallbacks): `generate` in `lambda/core/runtime.ts`. */
export type GenerateFn = (
  request: ModelRequest,
  ctx: ChatContext,
) => Promise<Pick<ChatResult, 'text' | 'model' | 'usage' | 'metrics' | 'cached' | 'costUsd'>>;

export interface ReportWorkerDeps {
  repo: ReportStore;
  publisher: ReportEventPublisher;
  generate: GenerateFn;
  config: Pick<AppConfig, 'reports'>;
  /**
   * Where a finished report is recorded as its owner's request (keyed by `reportId`), so the owner can rate it
   * (`POST /feedback`); unset: reports cannot be rated.
   */
  requests?: Pick<RequestRecorder, 'record'>;
  now?: () => number;
  random?: () => number;
  /** Told about a lease heartbeat that failed (an outage): the job goes on, and the next heartbeat tries again. */
  onHeartbeatError?: (err: unknown, reportId: string) => void;
}

export interface JobDelivery {
  /** SQS `ApproximateReceiveCount` of the message: 1 on the first delivery. */
  receiveCount: number;
  /** Epoch ms by which the model call must end, leaving time to record the outcome and publish. */
  deadlineAt: number;
}

export type JobOutcome =
  /** This delivery finished the report and published its event. */
  | { kind: 'completed' | 'failed'; report: ReportItem }
  /** Its owner cancelled it while this delivery held it: the model call was stopped and `report.cancelled` is out. */
  | { kind: 'cancelled'; report: ReportItem }
  /** The report was finished before; its owed event is out now. */
  | { kind: 'republished'; report: ReportItem }
  /** Nothing to do: finished and published, or a live worker holds it. */
  | { kind: 'duplicate' }
  | { kind: 'missing' }
  /** Try again after `delaySeconds` (the report is back to `QUEUED`, or a live worker may still finish it). */
  | { kind: 'retry'; delaySeconds: number; error: ReportError }
  /**
   * Every model is at its quota (`models.quotas`): the report is back to `QUEUED` and waits `delaySeconds` for room, as
   * a new message, so the wait is not a delivery: it never moves the job toward `FAILED` or the dead-letter queue.
   */
  | { kind: 'paced'; delaySeconds: number };

/** First retry delay; doubled per delivery. */
export const RETRY_BASE_SECONDS = 5;
/** Longest retry delay. */
export const RETRY_MAX_SECONDS = 300;
/** Longest a paced job waits in one go: SQS's largest message delay. */
export const PACE_MAX_SECONDS = 900;

/** Runs the job of one delivered message. */
export async function runReportJob(
  reportId: string,
  delivery: JobDelivery,
  deps: ReportWorkerDeps,
): Promise<JobOutcome> {
  const now = deps.now ?? Date.now;
  const { reports } = deps.config;
  const claimed = await deps.repo.claim(reportId, now(), reports.workerTimeoutSeconds * 1000);
  if (!claimed) return settleUnclaimable(reportId, deps);
  // Taken over from a worker that died after its owner asked to cancel: finish the cancel, never call the model.
  if (claimed.cancelRequested) return settleCancelRequested(reportId, claimed.attempts, deps);

  const lastDelivery = delivery.receiveCount >= reports.maxReceiveCount;
  const controller = new AbortController();
  const lease = watchLease(claimed, controller, deps);
  let outcome: Outcome;
  try {
    const result = await callModel(claimed, delivery.deadlineAt, controller, deps);
    outcome = {
      status: 'COMPLETED',
      result: {
        text: result.text,
        usage: { ...result.usage },
        ...(result.cached ? { cached: true as const } : {}),
        ...(result.costUsd === undefined ? {} : { costUsd: result.costUsd }),
      },
      model: result.model,
      modelLatencyMs: result.metrics.latencyMs,
    };
  } catch (err) {
    await lease.stop();
    if (lease.state === 'cancelled') return settleCancelRequested(reportId, claimed.attempts, deps);
    if (lease.state === 'lost') return settleUnclaimable(reportId, deps);
    const error = reportErrorOf(err);
    if (err instanceof ModelQuotaExceededError) {
      // Our own quota, not a failure: the job waits for room however many deliveries it has had.
      if (!(await deps.repo.release(reportId, claimed.attempts, error, now())))
        return settleCancelRequested(reportId, claimed.attempts, deps);
      return { kind: 'paced', delaySeconds: paceDelaySeconds(err.retryAfterSeconds, deps.random) };
    }
    if (isRetryable(err) && !lastDelivery) {
      if (!(await deps.repo.release(reportId, claimed.attempts, error, now())))
        return settleCancelRequested(reportId, claimed.attempts, deps);
      const delaySeconds = retryDelaySeconds(reportRetryPolicy(deps.config), delivery.receiveCount, {
        retryAfterSeconds: err instanceof ApiError ? err.retryAfterSeconds : undefined,
        random: deps.random,
      });
      return { kind: 'retry', delaySeconds, error };
    }
    outcome = {
      status: 'FAILED',
      error: isRetryable(err)
        ? { ...error, message: `${error.message} (gave up after ${delivery.receiveCount} attempts)` }
        : error,
    };
  } finally {
    await lease.stop();
  }

  // Recorded before the report shows as finished, so an owner who sees it finished can rate it at once. If this
  // delivery then turns out to have lost its lease, the record still names the right owner (it is written only once).
  await deps.requests?.record({
    requestId: reportId,
    userId: claimed.userId,
    endpoint: RATED_ENDPOINTS.reports,
    model: outcome.status === 'COMPLETED' ? outcome.model : 'none',
  });
  const finished = await deps.repo.finish(reportId, claimed.attempts, outcome, now());
  // The owner's cancel got in first (it wins), or this delivery lost the lease while working (overran it and another
  // delivery took over, which then owns the outcome).
  if (!finished) return settleCancelRequested(reportId, claimed.attempts, deps);
  await publishOwedEvent(finished, deps);
  return { kind: finished.status === 'COMPLETED' ? 'completed' : 'failed', report: finished };
}

/**
 * The dead-letter backstop: a message whose deliveries are exhausted. Fails the report if nobody is working on it and it
 * has not finished, and publishes its event if that is still owed.
 */
export async function failExhaustedReport(
  reportId: string,
  deps: Omit<ReportWorkerDeps, 'generate'>,
): Promise<JobOutcome> {
  const now = deps.now ?? Date.now;
  const report = await deps.repo.get(reportId);
  if (!report) return { kind: 'missing' };
  if (report.cancelRequested && !isFinished(report.status)) {
    // Its owner asked to cancel it: it ends as cancelled, not failed, once nobody holds it.
    const cancelled = await deps.repo.cancelIdle(reportId, report.userId, now());
    if (cancelled) {
      await publishOwedEvent(cancelled, deps);
      return { kind: 'cancelled', report: cancelled };
    }
  }
  if (!isFinished(report.status)) {
    const last = report.lastError ? `; last error ${report.lastError.code}: ${report.lastError.message}` : '';
    const error: ReportError = {
      code: 'RETRIES_EXHAUSTED',
      message: `The report could not be processed in ${deps.config.reports.maxReceiveCount} attempts${last}`,
    };
    const failed = await deps.repo.failAbandoned(reportId, error, now());
    if (failed) {
      await publishOwedEvent(failed, deps);
      return { kind: 'failed', report: failed };
    }
    const current = await deps.repo.get(reportId);
    if (current && !isFinished(current.status)) {
      // A live worker still holds it: look again once its lease has run out.
      const waitMs = Math.max(1000, (current.leaseUntil ?? now()) - now());
      return { kind: 'retry', delaySeconds: Math.ceil(waitMs / 1000), error };
    }
    return settleUnclaimable(reportId, deps);
  }
  return settleUnclaimable(reportId, deps);
}

async function callModel(report: ReportItem, deadlineAt: number, controller: AbortController, deps: ReportWorkerDeps) {
  const timer = setTimeout(() => controller.abort(), delayUntil(deadlineAt, (deps.now ?? Date.now)()));
  try {
    return await deps.generate(
      { messages: [{ role: 'user', content: report.prompt }], maxTokens: deps.config.reports.maxTokens },
      {
        caller: { userId: report.userId, plan: report.plan },
        requestId: report.reportId,
        deadlineAt,
        signal: controller.signal,
        // Reports do not take one of the owner's concurrent slots: the queue and reports.maxConcurrency pace them.
        countsInFlight: false,
      },
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What a lease heartbeat has learnt: `running` (nothing yet), `cancelled` (the owner asked to cancel: the model call was
 * aborted), or `lost` (another delivery holds the report now, or it was cancelled while the lease had run out: the
 * model call was aborted, as its result could not be written).
 */
export type LeaseState = 'running' | 'cancelled' | 'lost';

export interface LeaseWatch {
  readonly state: LeaseState;
  /** Stops the heartbeat and waits for one in flight, so nothing writes after the job has moved on. */
  stop(): Promise<void>;
}

/**
 * The lease heartbeat of a claimed report: every `reports.cancelCheckIntervalMs`, one conditional write on the holder's
 * own lease that returns `cancelRequested`; a cancel or a lost lease aborts `controller` (the model call). A heartbeat
 * that fails (an outage) is reported and the next one tries again: the model call is never stopped by our own store.
 */
export function watchLease(report: ReportItem, controller: AbortController, deps: ReportWorkerDeps): LeaseWatch {
  const now = deps.now ?? Date.now;
  const intervalMs = deps.config.reports.cancelCheckIntervalMs;
  let state: LeaseState = 'running';
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const beat = async () => {
    try {
      const heartbeat = await deps.repo.heartbeat(report.reportId, report.attempts, now());
      if (stopped) return;
      if (!heartbeat.held) state = 'lost';
      else if (heartbeat.cancelRequested) state = 'cancelled';
    } catch (err) {
      deps.onHeartbeatError?.(err, report.reportId);
    }
    if (state !== 'running') controller.abort();
    else schedule();
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = beat();
    }, intervalMs);
  };
  schedule();
  return {
    get state() {
      return state;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}

/**
 * This delivery could not finish or release the report it claimed: its owner asked to cancel it (then this delivery,
 * still holding the lease, finishes it as `CANCELLED` and publishes `report.cancelled`), or it lost the lease.
 */
async function settleCancelRequested(reportId: string, attempt: number, deps: ReportWorkerDeps): Promise<JobOutcome> {
  const cancelled = await deps.repo.finishCancelled(reportId, attempt, (deps.now ?? Date.now)());
  if (!cancelled) return settleUnclaimable(reportId, deps);
  await publishOwedEvent(cancelled, deps);
  return { kind: 'cancelled', report: cancelled };
}

/** The claim did not apply: the report is finished (maybe owing its event), held by a live worker, or unknown. */
async function settleUnclaimable(reportId: string, deps: Omit<ReportWorkerDeps, 'generate'>): Promise<JobOutcome> {
  const report = await deps.repo.get(reportId);
  if (!report) return { kind: 'missing' };
  if (isFinished(report.status) && !report.eventPublishedAt) {
    await publishOwedEvent(report, deps);
    return { kind: 'republished', report };
  }
  return { kind: 'duplicate' };
}

/** Puts the event on the bus, then records it; a failure propagates so the message is retried (and republishes). */
async function publishOwedEvent(report: ReportItem, deps: Omit<ReportWorkerDeps, 'generate'>): Promise<void> {
  await deps.publisher.publish(report);
  await deps.repo.markEventPublished(report.reportId, (deps.now ?? Date.now)());
}

/**
 * Whether a later delivery may succeed. A spent token or dollar budget will not come back within the retry window, and
 * bad input never changes, so those fail the report at once; unknown errors (our own dependencies) are retried.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof TokenBudgetExceededError || err instanceof CostBudgetExceededError) return false;
  if (err instanceof ApiError) return err.retryable;
  return true;
}

export function reportErrorOf(err: unknown): ReportError {
  const apiError = toApiError(err);
  return { code: apiError.code, message: apiError.message };
}

/**
 * How long a job paced by a model quota waits: until the quota has room (`Retry-After`), stretched by up to as much
 * again at random (equal jitter), so the jobs that met a full quota together come back spread over the next window
 * rather than all at the instant it opens. Whole seconds, as SQS takes them, at least 1.
 */
export function paceDelaySeconds(retryAfterSeconds: number | undefined, random: () => number = Math.random): number {
  const base = Math.max(1, retryAfterSeconds ?? 1);
  return Math.min(PACE_MAX_SECONDS, Math.ceil(base * (1 + random())));
}

/** Retries wait at most half the visibility timeout (and at most {@link RETRY_MAX_SECONDS}). */
export function retryCapSeconds(config: Pick<AppConfig, 'reports'>): number {
  return Math.max(1, Math.min(RETRY_MAX_SECONDS, Math.floor(config.reports.visibilityTimeoutSeconds / 2)));
}

/**
 * Report job retries: {@link RETRY_BASE_SECONDS} doubled per delivery, at most {@link retryCapSeconds}, scaled by a random
 * factor in [0.5, 1] (equal jitter) so a burst of failures spreads out while every job still waits about its turn.
 */
export function reportRetryPolicy(config: Pick<AppConfig, 'reports'>): BackoffPolicy {
  return { baseMs: RETRY_BASE_SECONDS * 1000, capMs: retryCapSeconds(config) * 1000, jitter: 'equal' };
}

/**
 * The visibility delay (whole seconds, as SQS takes it) before delivery `receiveCount + 1`: the backoff, at least the
 * `Retry-After` the model layer gave (rounded up, so it is never undercut).
 */
export function retryDelaySeconds(
  policy: BackoffPolicy,
  receiveCount: number,
  options: { retryAfterSeconds?: number; random?: () => number } = {},
): number {
  const atLeastMs = (options.retryAfterSeconds ?? 0) * 1000;
  return Math.ceil(backoffMs(policy, receiveCount, { random: options.random, atLeastMs }) / 1000);
}
