/**
 * Resuming a stream (`GET /chat/stream/{requestId}`) from the stream log alone: the reader runs in another function
 * than the writer and shares nothing with it but the table (config/tables.ts `streams`).
 *
 * ```
 * open:   head (part 0) ── unknown or someone else's → 404 · past retainUntil → 410 · id after a finished stream → 400
 * follow: replay every logged event after Last-Event-ID, then poll the head; a new batch (parts grew) is queried and
 *         its new events sent; the stream ends with the logged `end` or `error`, or, once the writer has gone silent,
 *         with this reader's own `error` STREAM_INTERRUPTED (retryable).
 * ```
 *
 * Ordering makes the end exact: the writer puts a batch before it updates the head, and sets the final status only
 * after its last batch. A head read before a query that says the stream is finished therefore means the query saw
 * every batch. The reader's own `error` event carries no `id:`, so a client's last event id stays at the last logged
 * event and a later resume continues from there.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS } from '../../../config/metrics';
import {
  type ApiError,
  CancelledError,
  NotFoundError,
  StreamExpiredError,
  StreamInterruptedError,
  ValidationError,
} from '../errors';
import { addMetric } from '../observability';
import type { StreamStatus } from './log';
import { eventsAfter, FINAL_EVENTS, parseLoggedEvents } from './replay';

/** What the reader needs of the head item (`part` 0). */
export interface StreamHead {
  readonly requestId: string;
  readonly userId: string;
  /** The endpoint that wrote it (config/metrics.ts ENDPOINTS); only the native stream's events carry ids to resume by. */
  readonly endpoint: string;
  readonly status: StreamStatus;
  /** The id of the last event written to the log. */
  readonly lastEventId: number;
  /** How many batches are written (parts 1..parts). */
  readonly parts: number;
  /** When the writer started (epoch ms). */
  readonly createdAtMs: number;
  /** When the writer last flushed, its heartbeat (epoch ms). */
  readonly updatedAtMs: number;
  /** Past it the stream answers 410 (epoch ms). */
  readonly retainUntil: number;
}

/** One batch item (`part` ≥ 1): the exact bytes of its events. */
export interface LoggedBatch {
  readonly part: number;
  readonly sse: string;
}

/** Reads of the stream log, strongly consistent (lambda/aws/stream-log-reader.ts). */
export interface StreamLogReader {
  /** The head, or undefined when there is none. */
  head(requestId: string): Promise<StreamHead | undefined>;
  /** The batches after `afterPart`, in order. */
  batchesAfter(requestId: string, afterPart: number): Promise<LoggedBatch[]>;
}

/** How the follow loop waits and when it gives up on a writer. */
export interface FollowTiming {
  /** Pause between two reads of the head while the stream is running. */
  readonly pollIntervalMs: number;
  /** A running stream whose head was not updated for longer than this has lost its writer. */
  readonly heartbeatTimeoutMs: number;
  /** Longest a writer can run (its function's stream timeout); a running stream older than this has lost its writer. */
  readonly maxStreamMs: number;
}

/** How the {@link FollowTiming} follows from the configuration. */
export function followTiming(
  streams: { flushIntervalMs: number },
  chat: { streamTimeoutSeconds: number },
): FollowTiming {
  return {
    // A quarter of the writer's flush interval, so the reader adds little to the lag the batching already has.
    pollIntervalMs: Math.max(50, Math.min(250, Math.floor(streams.flushIntervalMs / 4))),
    // The writer touches the head every flush even with nothing new; ten missed flushes, and never under 5 s, leaves
    // room for DynamoDB's retries of a slow write before the stream is declared interrupted.
    heartbeatTimeoutMs: Math.max(5_000, 10 * streams.flushIntervalMs),
    maxStreamMs: chat.streamTimeoutSeconds * 1000 + 5_000,
  };
}

/** The endpoint whose log can be resumed: its events are numbered `id:` lines (lambda/core/sse.ts). */
export const RESUMABLE_ENDPOINT = 'chat-stream';

/** Ids a client may name: API Gateway's and Lambda's request ids are far shorter; longer is never a stream of ours. */
const MAX_REQUEST_ID_LENGTH = 128;

/**
 * How long an id without a head is given before it is `404`: the writer puts the head in the background while its
 * client already reads `start`, so a client that drops and resumes at once can arrive a moment before its head.
 */
export const MISSING_HEAD_WAIT_MS = 250;

/**
 * The head of the caller's stream, checked before the response commits: `404` for an unknown id (read again once after
 * {@link MISSING_HEAD_WAIT_MS}), someone else's, or a stream that cannot be resumed by id (the OpenAI-compatible route logs no
 * events); `410` once retention has passed; `400` for an id after the end of a finished stream (no event of it could
 * have been seen).
 */
export async function openStream(
  reader: StreamLogReader,
  requestId: string | undefined,
  userId: string,
  lastEventId: number | undefined,
  now: number,
  sleep: (ms: number) => Promise<void> = delay,
): Promise<StreamHead> {
  const notFound = () => new NotFoundError('No stream with this requestId');
  if (!requestId || requestId.length > MAX_REQUEST_ID_LENGTH) throw notFound();
  let head = await reader.head(requestId);
  if (!head) {
    await sleep(MISSING_HEAD_WAIT_MS);
    head = await reader.head(requestId);
  }
  if (!head || head.userId !== userId || head.endpoint !== RESUMABLE_ENDPOINT) throw notFound();
  if (head.retainUntil <= now) throw new StreamExpiredError('The stream is past its retention and cannot be resumed');
  if (head.status !== 'STREAMING' && lastEventId !== undefined && lastEventId > head.lastEventId) {
    throw new ValidationError(`Last-Event-ID is after the stream's last event (${head.lastEventId})`);
  }
  return head;
}

/** How a follow ended. */
export type FollowOutcome =
  /** The logged `end` or `error` was sent (or had been seen already), and the stream is finished. */
  | 'finished'
  /** The writer stopped updating the log; this reader sent `error` STREAM_INTERRUPTED. */
  | 'interrupted'
  /** This function ran out of time before the stream finished; it sent `error` STREAM_INTERRUPTED. */
  | 'deadline'
  /** The client went away. */
  | 'client-gone';

export interface FollowResult {
  readonly outcome: FollowOutcome;
  /** Events sent from the log. */
  readonly events: number;
  /** The id of the last event sent, or the one resumed after when none was. */
  readonly lastEventId: number | undefined;
}

export interface FollowOptions {
  readonly reader: StreamLogReader;
  readonly head: StreamHead;
  readonly lastEventId: number | undefined;
  readonly timing: FollowTiming;
  /** When to stop following (the function's deadline less a margin), epoch ms. */
  readonly deadlineAt: number;
  /** Writes bytes to the client; false once they can no longer be written. */
  readonly send: (bytes: string) => boolean;
  /** Writes this reader's own `error` event (no id), for an interrupted stream. */
  readonly sendError: (err: ApiError) => void;
  /** Aborted when the client goes away (where the platform reports it). */
  readonly signal?: AbortSignal;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default a timer, woken early by `signal` */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const WRITER_GONE = 'The stream stopped before it finished; its answer is incomplete';
const OUT_OF_TIME = 'The resumed stream reached its time limit; resume again from the last event id';
const CANCELLED_UNFINISHED = 'The stream was cancelled before it finished';
const ENDED_UNFINISHED = 'The stream ended without its last event; its answer is incomplete';

/** Replays the log after `lastEventId`, then follows the live answer until it ends. */
export async function followStream(options: FollowOptions): Promise<FollowResult> {
  const { reader, timing, deadlineAt, send, signal } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? delay;
  let head = options.head;
  let seenPart = 0;
  let sentId = options.lastEventId;
  let events = 0;
  // Whether the log holds the stream's `end` or `error`, sent now or seen by the client before it resumed.
  let loggedFinal = false;
  const result = (outcome: FollowOutcome): FollowResult => ({ outcome, events, lastEventId: sentId });

  for (;;) {
    if (head.parts > seenPart) {
      for (const batch of await reader.batchesAfter(head.requestId, seenPart)) {
        const logged = parseLoggedEvents(batch.sse);
        if (logged.some((event) => FINAL_EVENTS.has(event.event))) loggedFinal = true;
        for (const event of eventsAfter(logged, sentId)) {
          if (!send(event.bytes) || signal?.aborted) return result('client-gone');
          sentId = event.id;
          events++;
          if (FINAL_EVENTS.has(event.event)) return result('finished');
        }
        seenPart = Math.max(seenPart, batch.part);
      }
    }
    // Read before the query above: every batch of a finished stream has been seen. A final log without its last event
    // (the writer stopped generating without one, as when the platform reported its client gone) still ends with one.
    if (head.status !== 'STREAMING') {
      if (!loggedFinal)
        options.sendError(
          head.status === 'CANCELLED'
            ? new CancelledError(CANCELLED_UNFINISHED)
            : new StreamInterruptedError(ENDED_UNFINISHED, { retryable: false }),
        );
      return result('finished');
    }
    const at = now();
    if (at - head.updatedAtMs > timing.heartbeatTimeoutMs || at - head.createdAtMs > timing.maxStreamMs) {
      options.sendError(new StreamInterruptedError(WRITER_GONE));
      return result('interrupted');
    }
    if (at + timing.pollIntervalMs >= deadlineAt) {
      options.sendError(new StreamInterruptedError(OUT_OF_TIME));
      return result('deadline');
    }
    await sleep(timing.pollIntervalMs, signal);
    if (signal?.aborted) return result('client-gone');
    const next = await reader.head(head.requestId);
    // The head outlives retention by a day, so it disappears only under a stream that ran for a day: the writer is gone.
    if (!next) {
      options.sendError(new StreamInterruptedError(WRITER_GONE));
      return result('interrupted');
    }
    head = next;
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** What one resume request did, for its log line and metric. */
export interface ResumeOutcome {
  /** This request's own id. */
  readonly requestId: string;
  /** The stream it asked for (the path's `requestId`), when it named one. */
  readonly streamRequestId: string | undefined;
  readonly userId: string | undefined;
  /** `200` once the stream committed, else the error's status. */
  readonly status: number;
  /** The id resumed after; undefined: from the start. */
  readonly lastEventId: number | undefined;
  /** How the follow ended, once the stream committed. */
  readonly result: FollowResult | undefined;
  /** The error code the client saw, if any. */
  readonly errorCode: string | undefined;
  readonly durationMs: number;
}

/**
 * The one log line of a resume (who, which stream, from where, how far, how it ended; never an event's content), and
 * the `Resumed` metric, published for each stream that was resumed (answered `200`).
 */
export function reportResume(logger: Logger, metrics: Metrics, o: ResumeOutcome): void {
  logger.info('stream resumed', {
    requestId: o.requestId,
    stream_request_id: o.streamRequestId,
    user_id: o.userId,
    status: o.status,
    last_event_id: o.lastEventId,
    events_sent: o.result?.events,
    last_event_sent: o.result?.lastEventId,
    outcome: o.result?.outcome,
    error: o.errorCode,
    duration: o.durationMs,
  });
  if (o.status !== 200) return;
  addMetric(metrics, METRICS.resumed, 1);
  metrics.publishStoredMetrics();
}
