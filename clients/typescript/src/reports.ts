/**
 * Async reports: submit (`POST /reports`), read (`GET /reports/{id}`), cancel (`POST /reports/{id}/cancel`), and wait
 * for the end by polling.
 */
import { abortReason, sleep, throwIfAborted } from './abort.js';
import { GenAIError, invalidResponse, parseRetryAfter } from './errors.js';
import type { Transport } from './http.js';
import type { Report, ReportAccepted, ReportStatus, SubmitReportRequest } from './types.js';

export interface CreateReportOptions {
  /**
   * Makes retries safe: within the API's window (24 h by default) the same key with the same body returns the same
   * report instead of creating another; the same key with another body is refused (`IDEMPOTENCY_KEY_REUSED`).
   * 1–255 printable ASCII characters without spaces.
   */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface WaitForReportOptions {
  signal?: AbortSignal;
  /**
   * How long to wait for the report to finish before rejecting with a `TIMEOUT` {@link GenAIError}; `Infinity` waits
   * until the report ends or the signal aborts.
   * @default 600000 (10 minutes)
   */
  timeoutMs?: number;
  /** Called with the report after every successful poll (so on every status change too). */
  onProgress?: (report: Report) => void;
  /** Shortest wait between two polls, whatever `Retry-After` says. @default 250 */
  minIntervalMs?: number;
  /** Longest wait between two polls, whatever `Retry-After` says. @default 10000 */
  maxIntervalMs?: number;
}

/** The statuses a report never leaves. */
export const FINISHED_REPORT_STATUSES: ReadonlySet<ReportStatus> = new Set<ReportStatus>([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
]);

const DEFAULT_TIMEOUT_MS = 600_000;
const DEFAULT_MIN_INTERVAL_MS = 250;
const DEFAULT_MAX_INTERVAL_MS = 10_000;
/** The wait when the API names none (it sends `Retry-After` with every unfinished report). */
const DEFAULT_POLL_MS = 1_000;
/** First wait after a failed poll that named no `Retry-After`; doubles with each failure in a row. */
const FIRST_BACKOFF_MS = 500;

export class ReportsApi {
  constructor(private readonly transport: Transport) {}

  /** `POST /reports`: accepts the job and answers at once (`202`) with the id to poll. */
  async create(request: SubmitReportRequest, options: CreateReportOptions = {}): Promise<ReportAccepted> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    const { body, response } = await this.transport.json<Partial<ReportAccepted>>('POST', '/reports', {
      body: request,
      headers,
      signal: options.signal,
    });
    if (typeof body?.reportId !== 'string' || typeof body.statusUrl !== 'string' || typeof body.status !== 'string')
      throw invalidResponse('POST /reports answered without reportId, status and statusUrl', response.status);
    return {
      reportId: body.reportId,
      status: body.status,
      statusUrl: body.statusUrl,
      location: response.headers.get('location') ?? body.statusUrl,
      replayed: response.headers.get('idempotent-replayed') === 'true',
    };
  }

  /** `GET /reports/{id}`: the report now; `retryAfterSeconds` says when to look again while it is not finished. */
  async get(reportId: string, options: { signal?: AbortSignal } = {}): Promise<Report> {
    if (typeof reportId !== 'string' || reportId === '') throw new TypeError('reportId must be a non-empty string');
    const { body, response } = await this.transport.json<Report>('GET', `/reports/${encodeURIComponent(reportId)}`, {
      signal: options.signal,
    });
    if (typeof body?.reportId !== 'string' || typeof body.status !== 'string')
      throw invalidResponse('GET /reports/{id} answered without reportId and status', response.status);
    const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'));
    return retryAfterSeconds === undefined ? body : { ...body, retryAfterSeconds };
  }

  /**
   * `POST /reports/{id}/cancel`: cancels a report of the caller's. A `QUEUED` report is `CANCELLED` at once (`200`,
   * with `cancelledAt`) and never reaches the model; a `RUNNING` one answers `202`, still `RUNNING` with
   * `cancelRequestedAt`, and the worker stops it within about two seconds (`waitFor` then resolves with it
   * `CANCELLED`). Either way the report's webhook, if any, is `report.cancelled`. Rejects with a {@link GenAIError}:
   * `ALREADY_FINISHED` (409) when it had ended, its state in `finalStatus`; `NOT_FOUND` for an unknown id or another
   * user's.
   *
   * @example
   * const report = await client.reports.cancel(reportId);
   * if (report.status !== 'CANCELLED') await client.reports.waitFor(reportId);
   */
  async cancel(reportId: string, options: { signal?: AbortSignal } = {}): Promise<Report> {
    if (typeof reportId !== 'string' || reportId === '') throw new TypeError('reportId must be a non-empty string');
    throwIfAborted(options.signal);
    const { body, response } = await this.transport.json<Report>(
      'POST',
      `/reports/${encodeURIComponent(reportId)}/cancel`,
      { signal: options.signal },
    );
    if (typeof body?.reportId !== 'string' || typeof body.status !== 'string')
      throw invalidResponse('POST /reports/{id}/cancel answered without reportId and status', response.status);
    const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'));
    return retryAfterSeconds === undefined ? body : { ...body, retryAfterSeconds };
  }

  /**
   * Polls until the report is `COMPLETED`, `FAILED` or `CANCELLED` and resolves with it (a failed report resolves: its
   * `error` says why). Waits as `Retry-After` says, within `[minIntervalMs, maxIntervalMs]`. A poll that fails with a
   * retryable error (`429`, `5xx`, the network) is retried after its `Retry-After`, or a growing backoff, until the
   * timeout; any other error rejects at once. Rejects with a `TIMEOUT` {@link GenAIError} after `timeoutMs`, and with
   * the signal's reason when it aborts; either ends the poll in flight.
   */
  async waitFor(reportId: string, options: WaitForReportOptions = {}): Promise<Report> {
    const { signal, onProgress } = options;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const minMs = options.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS;
    const maxMs = options.maxIntervalMs ?? DEFAULT_MAX_INTERVAL_MS;
    if (!(timeoutMs > 0)) throw new RangeError('timeoutMs must be a positive number of milliseconds');
    if (!(minMs >= 0 && maxMs >= minMs && Number.isFinite(maxMs)))
      throw new RangeError('minIntervalMs and maxIntervalMs must be finite, with 0 <= minIntervalMs <= maxIntervalMs');
    throwIfAborted(signal);

    // One signal ends everything in flight: the caller's abort, or the deadline.
    const stop = new AbortController();
    let last: Report | undefined;
    const onAbort = () => stop.abort(abortReason(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          const lastStatus = last ? ` (last status ${last.status})` : '';
          stop.abort(
            new GenAIError(`Report ${reportId} did not finish within ${timeoutMs} ms${lastStatus}`, {
              status: 0,
              code: 'TIMEOUT',
              retryable: true,
            }),
          );
        }, timeoutMs)
      : undefined;
    try {
      let failuresInARow = 0;
      for (;;) {
        let waitMs: number;
        try {
          const report = await this.get(reportId, { signal: stop.signal });
          last = report;
          failuresInARow = 0;
          onProgress?.(report);
          if (FINISHED_REPORT_STATUSES.has(report.status)) return report;
          waitMs = report.retryAfterSeconds === undefined ? DEFAULT_POLL_MS : report.retryAfterSeconds * 1000;
        } catch (err) {
          if (stop.signal.aborted || !(err instanceof GenAIError) || !err.retryable) throw err;
          failuresInARow += 1;
          waitMs =
            err.retryAfterSeconds === undefined
              ? FIRST_BACKOFF_MS * 2 ** (failuresInARow - 1) * (0.5 + Math.random() / 2)
              : err.retryAfterSeconds * 1000;
        }
        await sleep(Math.min(maxMs, Math.max(minMs, waitMs)), stop.signal);
      }
    } catch (err) {
      throw stop.signal.aborted ? stop.signal.reason : err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
