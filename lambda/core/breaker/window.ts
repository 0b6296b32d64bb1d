/**
 * The sliding window of outcome counts: buckets of `ceil(windowSeconds / 10)` seconds; a trip decision sums the
 * current bucket and the `ceil(windowSeconds / bucket)` buckets before it (so it sees between `windowSeconds` and one
 * bucket more). Completed buckets never change, so each instance reads them once and keeps them.
 */
import { ZERO_COUNTS, type BreakerStore, type WindowCounts } from './store';

const BUCKETS_PER_WINDOW = 10;
/**
 * A completed bucket may still receive writes for a moment after it ends (writes in flight, clock skew between
 * instances, which Amazon Time Sync keeps far below this). Until then it is re-read rather than cached.
 */
const BUCKET_SETTLE_MAX_MS = 1_000;
/** Cached buckets kept before old ones are pruned. */
const PRUNE_AT = 512;
/** Seconds a bucket is kept after it can no longer be read by a window (TTL; cleanup only). */
const EXPIRY_MARGIN_SECONDS = 300;

export class BreakerWindow {
  readonly bucketMs: number;
  /** Buckets before the current one that a window covers. */
  readonly pastBuckets: number;
  private readonly settleMs: number;
  /** Totals of completed buckets, by `model#generation#bucketStart`. */
  private readonly completed = new Map<string, WindowCounts>();

  constructor(private readonly windowSeconds: number) {
    this.bucketMs = Math.max(1, Math.ceil(windowSeconds / BUCKETS_PER_WINDOW)) * 1000;
    this.pastBuckets = Math.ceil((windowSeconds * 1000) / this.bucketMs);
    this.settleMs = Math.min(BUCKET_SETTLE_MAX_MS, this.bucketMs / 4);
  }

  bucketStart(now: number): number {
    return Math.floor(now / this.bucketMs) * this.bucketMs;
  }

  /** The starts of the buckets before `current` that the window covers, newest first. */
  pastBucketStarts(current: number): number[] {
    return Array.from({ length: this.pastBuckets }, (_, i) => current - (i + 1) * this.bucketMs);
  }

  /** When the store may forget a bucket (epoch seconds): well after no window can include it any more. */
  expiresAt(bucketStart: number): number {
    return Math.ceil((bucketStart + this.bucketMs) / 1000) + 2 * this.windowSeconds + EXPIRY_MARGIN_SECONDS;
  }

  /** Totals of the buckets before `current`, from memory where they are complete, else from the store. */
  async completedCounts(
    store: BreakerStore,
    modelId: string,
    generation: number,
    current: number,
    now: number,
  ): Promise<WindowCounts[]> {
    const starts = this.pastBucketStarts(current);
    const key = (b: number) => `${modelId}#${generation}#${b}`;
    const missing = starts.filter((b) => !this.completed.has(key(b)));
    const fetched = missing.length
      ? await store.readCounters(modelId, generation, missing)
      : new Map<number, WindowCounts>();
    const result = starts.map((b) => {
      const cached = this.completed.get(key(b));
      if (cached) return cached;
      const counts = fetched.get(b) ?? ZERO_COUNTS;
      if (now >= b + this.bucketMs + this.settleMs) this.completed.set(key(b), counts);
      return counts;
    });
    this.prune(now);
    return result;
  }

  private prune(now: number): void {
    if (this.completed.size < PRUNE_AT) return;
    const oldest = this.bucketStart(now) - (this.pastBuckets + 2) * this.bucketMs;
    for (const k of this.completed.keys()) {
      if (Number(k.slice(k.lastIndexOf('#') + 1)) < oldest) this.completed.delete(k);
    }
  }
}

export function sumCounts(counts: readonly WindowCounts[]): WindowCounts {
  return counts.reduce(
    (a, c) => ({ calls: a.calls + c.calls, failures: a.failures + c.failures, slow: a.slow + c.slow }),
    ZERO_COUNTS,
  );
}
