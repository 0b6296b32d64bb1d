/**
 * Each instance's view of the stored breaker states: fresh for `cacheMs`, then read again, with one read in flight
 * per model shared by concurrent callers. This cache is what keeps reads far below one per call.
 */
import type { BreakerStore, StoredBreakerState } from './store';

interface CachedState {
  state: StoredBreakerState;
  fetchedAt: number;
}

export class StateCache {
  private readonly states = new Map<string, CachedState>();
  private readonly reads = new Map<string, Promise<StoredBreakerState>>();

  constructor(
    private readonly store: BreakerStore,
    private readonly cacheMs: number,
    private readonly now: () => number,
    /** Called whenever the instance learns a state, with the one it knew before. */
    private readonly onLearn: (
      modelId: string,
      previous: StoredBreakerState | undefined,
      state: StoredBreakerState,
      now: number,
    ) => void,
  ) {}

  /** The cached state while fresh, else a read. */
  current(modelId: string): Promise<StoredBreakerState> {
    const hit = this.states.get(modelId);
    if (hit && this.now() - hit.fetchedAt < this.cacheMs) return Promise.resolve(hit.state);
    return this.refresh(modelId);
  }

  /** One read in flight per model per instance; concurrent callers share it. */
  refresh(modelId: string): Promise<StoredBreakerState> {
    let read = this.reads.get(modelId);
    if (!read) {
      read = this.store
        .readState(modelId)
        .then((s) => {
          this.remember(modelId, s, this.now());
          return s;
        })
        .finally(() => this.reads.delete(modelId));
      this.reads.set(modelId, read);
    }
    return read;
  }

  /** The last state known, however old, marked fresh again so a failing store is retried at most once per cacheMs. */
  stale(modelId: string): StoredBreakerState | undefined {
    const hit = this.states.get(modelId);
    if (hit) hit.fetchedAt = this.now();
    return hit?.state;
  }

  /** The last state known, however old, without touching it. */
  peek(modelId: string): StoredBreakerState | undefined {
    return this.states.get(modelId)?.state;
  }

  remember(modelId: string, state: StoredBreakerState, now: number): void {
    const previous = this.states.get(modelId)?.state;
    // A slower read must not replace a newer state this instance already knows.
    if (previous && previous.generation > state.generation) return;
    this.states.set(modelId, { state, fetchedAt: now });
    this.onLearn(modelId, previous, state, now);
  }

  /** Our view is out of date (another writer moved the breaker on). */
  forget(modelId: string): void {
    this.states.delete(modelId);
  }
}
