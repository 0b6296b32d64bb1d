/**
 * The durable stream log, writer side: every event of a streamed answer is recorded under its `requestId` in batches,
 * so that the answer can be resumed by another function, and the head's cancel flag is read back on every flush, so
 * that the generating function learns of a cancel (`POST /chat/stream/{requestId}/cancel`) within a flush interval
 * without an extra read. The table's format is in lambda/aws/stream-log-store.ts.
 *
 * Nothing here is on the path of the live answer:
 * - {@link StreamLogWriter.record} only appends the event's bytes to the pending batch (no I/O, no await);
 * - the head is written in the background from {@link StreamLogWriter.start}, while the model is called;
 * - a batch is written when the interval passes or its bytes reach `maxBatchBytes`, one write at a time, in the
 *   background; the interval also runs with nothing new (a heartbeat), so a stream still waiting for its first token
 *   learns of a cancel too;
 * - a failed write stops the log for that stream ({@link StreamLogWriter.broken}), is reported once through `onError`,
 *   and never reaches the live stream.
 */
import type { AppConfig } from '../../../config/schema';

/** How a logged stream ended (the head's `status` once finished). */
export type StreamFinalStatus = 'COMPLETED' | 'FAILED' | 'CANCELLED';
/** The head's `status`. */
export type StreamStatus = 'STREAMING' | StreamFinalStatus;

/** What the head holds when it is first written. */
export interface StreamHeadStart {
  readonly requestId: string;
  readonly userId: string;
  /** The endpoint that answers (config/metrics.ts `ENDPOINTS`). */
  readonly endpoint: string;
  /** The model called first. */
  readonly model: string;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms after which the stream can no longer be resumed or cancelled (`410`). */
  readonly retainUntil: number;
}

/** One batch of events: the exact bytes of consecutive SSE events, as the client received them. */
export interface StreamBatch {
  readonly requestId: string;
  /** 1, 2, … in order. */
  readonly part: number;
  readonly firstEventId: number;
  readonly lastEventId: number;
  readonly sse: string;
  /** Epoch ms, as the head's. */
  readonly retainUntil: number;
}

/** The head's progress, written on every flush. */
export interface StreamProgress {
  /** The last event id written so far (0: none yet). */
  readonly lastEventId: number;
  /** Batches written so far. */
  readonly parts: number;
  /** Epoch ms. */
  readonly updatedAt: number;
}

/** The result of a cancel request on the head. */
export type CancelOutcome =
  | { readonly kind: 'requested' }
  | { readonly kind: 'notFound' }
  | { readonly kind: 'finished'; readonly status: StreamFinalStatus }
  | { readonly kind: 'expired' };

/** The stream log table (the port; lambda/aws/stream-log-store.ts on DynamoDB). */
export interface StreamLogStore {
  /** Writes the head once (`STREAMING`, not cancelled); a head that exists already is an error. */
  start(head: StreamHeadStart): Promise<void>;
  /** Writes one batch. */
  append(batch: StreamBatch): Promise<void>;
  /** Updates the head's progress; returns whether a cancel was requested. */
  progress(requestId: string, progress: StreamProgress): Promise<{ cancelRequested: boolean }>;
  /**
   * Marks the head finished, with its last progress in the same write (`progress.updatedAt` is the finish time): the
   * final status and the count of batches before it land together.
   */
  finish(requestId: string, status: StreamFinalStatus, progress: StreamProgress): Promise<void>;
  /** Sets the cancel flag when `userId` owns a stream still `STREAMING` and not expired at `now`; else says why not. */
  requestCancel(requestId: string, userId: string, now: number): Promise<CancelOutcome>;
}

export type StreamsConfig = AppConfig['streams'];

export interface StreamLogWriterOptions {
  readonly store: StreamLogStore;
  readonly config: Pick<StreamsConfig, 'retentionMinutes' | 'flushIntervalMs' | 'maxBatchBytes'>;
  /** Called once, when a write fails and the log stops for this stream. */
  readonly onError: (err: unknown) => void;
  /** @default Date.now */
  readonly clock?: () => number;
}

/** When a stream can no longer be resumed or cancelled, for one that starts at `createdAt`. */
export function retainUntilOf(createdAt: number, retentionMinutes: number): number {
  return createdAt + retentionMinutes * 60_000;
}

/** One stream's log writer. One use: {@link start}, any number of {@link record}s, then {@link end}. */
export class StreamLogWriter {
  private readonly cancelController = new AbortController();
  private readonly clock: () => number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private firstPendingId = 0;
  private lastRecordedId = 0;
  private lastWrittenId = 0;
  private parts = 0;
  private retainUntil = 0;
  private requestId = '';
  private head: Promise<void> | undefined;
  /** The write in progress, if any; writes never overlap, so batches land in order. */
  private inFlight: Promise<void> | undefined;
  /** A flush was asked for while one was in progress. */
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private failed = false;
  private ended = false;

  constructor(private readonly options: StreamLogWriterOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** Aborted once the head's cancel flag is seen set. */
  get cancelSignal(): AbortSignal {
    return this.cancelController.signal;
  }

  /** Whether a cancel was requested (and seen). */
  get cancelled(): boolean {
    return this.cancelController.signal.aborted;
  }

  /** Whether a write failed, so the log stopped for this stream. */
  get broken(): boolean {
    return this.failed;
  }

  /** Batches written so far. */
  get partsWritten(): number {
    return this.parts;
  }

  /**
   * Starts the head's write and the flush interval, and returns at once: the caller goes on to call the model.
   */
  start(head: Omit<StreamHeadStart, 'createdAt' | 'retainUntil'>): void {
    if (this.head) throw new Error('A StreamLogWriter starts once');
    const createdAt = this.clock();
    this.requestId = head.requestId;
    this.retainUntil = retainUntilOf(createdAt, this.options.config.retentionMinutes);
    this.head = this.options.store
      .start({ ...head, createdAt, retainUntil: this.retainUntil })
      .catch((err: unknown) => this.fail(err));
    this.timer = setInterval(() => this.kick(), this.options.config.flushIntervalMs);
    this.timer.unref?.();
  }

  /**
   * Records one event (its exact bytes, as sent to the client). Never waits and never throws; a batch that reaches
   * `maxBatchBytes` is written in the background.
   */
  record(eventId: number, sse: string): void {
    if (!this.head || this.failed || this.ended) return;
    if (this.pending.length === 0) this.firstPendingId = eventId;
    this.pending.push(sse);
    this.lastRecordedId = eventId;
    this.pendingBytes += Buffer.byteLength(sse, 'utf8');
    if (this.pendingBytes >= this.options.config.maxBatchBytes) this.kick();
  }

  /**
   * Writes what is pending, then the final status with the progress (one head write, not a heartbeat and then the
   * status). The function awaits it before it returns (Lambda freezes unfinished work); never throws.
   */
  async end(status: StreamFinalStatus): Promise<void> {
    if (!this.head || this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    // A flush in progress lands first: writes never overlap, so the last batch is written before the final status.
    while (this.inFlight) await this.inFlight;
    if (this.failed) return;
    await this.writeOnce(status);
  }

  /** Stops the interval without a final write (the function ends without having started the answer). */
  stop(): void {
    this.ended = true;
    clearInterval(this.timer);
  }

  /** Starts a flush in the background unless one runs (then one more follows it). */
  private kick(): void {
    void this.flush();
  }

  /** Writes the pending batch (if any) and the head's progress; at most one write sequence at a time. */
  private flush(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    const run = async (): Promise<void> => {
      do {
        this.again = false;
        await this.writeOnce();
      } while (this.again && !this.failed);
    };
    this.inFlight = run().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Writes the pending batch, if any, then the head: its progress (a heartbeat), or with `final` its final status. */
  private async writeOnce(final?: StreamFinalStatus): Promise<void> {
    await this.head;
    if (this.failed) return;
    const { store } = this.options;
    try {
      if (this.pending.length > 0) {
        const batch: StreamBatch = {
          requestId: this.requestId,
          part: this.parts + 1,
          firstEventId: this.firstPendingId,
          lastEventId: this.lastRecordedId,
          sse: this.pending.join(''),
          retainUntil: this.retainUntil,
        };
        this.pending = [];
        this.pendingBytes = 0;
        await store.append(batch);
        this.parts = batch.part;
        this.lastWrittenId = batch.lastEventId;
      }
      const progress = { lastEventId: this.lastWrittenId, parts: this.parts, updatedAt: this.clock() };
      if (final) {
        await store.finish(this.requestId, final, progress);
        return;
      }
      const { cancelRequested } = await store.progress(this.requestId, progress);
      if (cancelRequested && !this.cancelled) this.cancelController.abort();
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.pending = [];
    this.pendingBytes = 0;
    clearInterval(this.timer);
    this.options.onError(err);
  }
}
