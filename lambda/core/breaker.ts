/**
 * A circuit breaker per model id, shared by every Lambda instance through the guard table (DynamoDB).
 *
 * States: `CLOSED` (calls flow) → `OPEN` (calls skip this model) → `HALF_OPEN` (one probe call) → `CLOSED` or `OPEN`.
 *
 * - **Trip.** CLOSED → OPEN when, over the last `windowSeconds`, there were at least `minimumCalls` counted calls and
 *   the failure share reached `failureRateThreshold`, or the share of calls whose first token took longer than
 *   `slowCallTtftMs` reached `slowCallRateThreshold`. Which failures count is decided by {@link classifyOutcome}.
 * - **Wait.** OPEN lasts `openSeconds`, doubled for every consecutive trip without a successful probe in between, up
 *   to `maxOpenSeconds`.
 * - **Probe.** Once the wait is over, the first caller to win a conditional write takes a probe lease of
 *   `probeLeaseSeconds`; every other caller, on every instance, is refused until the probe reports or its lease runs
 *   out (then the next caller may probe). Probe success (and not slow) closes the breaker and resets the trip count;
 *   probe failure re-opens it with the doubled wait. A probe that outlives its lease may still report, as long as no
 *   other caller has taken the probe since; once one has, only the new holder decides. A probe released without a
 *   verdict (client abort, a failure that does not count) frees the lease at once.
 * - **Generations.** Every state change is a conditional PutItem that requires the generation it read and writes the
 *   next one. A permit carries the generation it was granted in, so an outcome from a call that started before a
 *   transition can neither trip the breaker again nor close it: only the current probe holder, in the probe's own
 *   generation, can close it. Outcome counters are keyed by generation too, so a closed breaker starts a fresh window.
 * - **Forced.** `forceOpen` holds the breaker open until `forceClose` or the given number of seconds; no probe is let
 *   through before then.
 *
 * Items in the guard table (partition key `pk`):
 *
 * | `pk` | attributes | written by |
 * | --- | --- | --- |
 * | `breaker#<model>` | `state`, `generation`, `trips`, `openedAt`, `openUntil`, `forced`, `probeHolder`, `probeLeaseUntil`, `reason`, `updatedAt` (times in epoch ms) | conditional PutItem on `generation` |
 * | `breaker#<model>#w#<generation>#<bucketStart>` | `calls`, `failures`, `slow`, `expiresAt` (epoch s, TTL) | UpdateItem `ADD` |
 *
 * The window is split into buckets of `ceil(windowSeconds / 10)` seconds; a trip decision sums the current bucket and
 * the `ceil(windowSeconds / bucket)` buckets before it (so it sees between `windowSeconds` and one bucket more).
 *
 * **Cost model**, per model and instance, in DynamoDB requests:
 * - `acquire`: 0 while the cached state is younger than `cacheMs`; otherwise 1 strongly consistent GetItem
 *   (concurrent acquires on one instance share it). An instance that serves `n` calls per `cacheMs` reads
 *   `1 / n` times per call, at most once per call. When an open wait ends: 1 conditional write per instance that tries
 *   to probe, plus 1 read for each that loses.
 * - `success` (not slow): 1 UpdateItem `ADD`, no read. This is the steady state: 1 write per call.
 * - counted `failure` or slow `success`: the same 1 UpdateItem, returning the current bucket (no extra read units),
 *   plus a BatchGetItem for past buckets this instance has not cached (completed buckets never change, so after the
 *   first failure in a generation that is about 1 item per bucket period), plus 1 conditional PutItem when the rate
 *   crosses a threshold (only one instance wins it).
 * - `release` and non-counting failures: 0. Probe outcomes: 1 conditional PutItem.
 *
 * **If DynamoDB fails**, the breaker fails open: `acquire` uses the last state it knew (or allows the call when it knew
 * none) and outcome writes are dropped with a warning. The guard table never takes the models down with it.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ tableName: process.env.GUARD_TABLE_NAME!, settings: config.breaker, metrics, logger });
 * const decision = await breaker.acquire(modelId);
 * if (!decision.allowed) return tryNextModel(decision.retryAfterSeconds);
 * try {
 *   const answer = await callModel(modelId);
 *   await decision.permit.success({ ttftMs: answer.ttftMs });
 * } catch (err) {
 *   if (clientWentAway) await decision.permit.release();
 *   else await decision.permit.failure(err); // counted only if classifyOutcome(err).counts
 *   throw err;
 * }
 * ```
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { AppConfig } from '../../config/schema';
import { dynamoDocumentClient } from '../aws/clients';
import { classifyOutcome, type OutcomeClass } from './breaker-taxonomy';

export { classifyOutcome, TtftTimeoutError, type OutcomeClass, type OutcomeKind } from './breaker-taxonomy';

export type BreakerSettings = AppConfig['breaker'];
export type BreakerStateName = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

/** The part of Powertools `Metrics` the breaker uses. */
export type BreakerMetrics = Pick<Metrics, 'singleMetric'>;
/** The part of Powertools `Logger` the breaker uses. */
export type BreakerLogger = Pick<Logger, 'info' | 'warn'>;

/** `openUntil` of a breaker forced open with no end. */
export const OPEN_UNTIL_FORCE_CLOSE = 8_640_000_000_000_000;

/** Value of the `BreakerState` gauge per state. */
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerStateName, number>> = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 };

/**
 * A completed bucket may still receive writes for a moment after it ends (writes in flight, clock skew between
 * instances, which Amazon Time Sync keeps far below this). Until then it is re-read rather than cached.
 */
const BUCKET_SETTLE_MAX_MS = 1_000;
const BUCKETS_PER_WINDOW = 10;
const FORCE_ATTEMPTS = 10;

// ---------------------------------------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------------------------------------

/** The breaker state item, as stored. Times are epoch milliseconds. */
export interface StoredBreakerState {
  readonly state: BreakerStateName;
  /** Incremented by every state change; 0 for a model never seen (no item). */
  readonly generation: number;
  /** Consecutive trips since the last close; sets the open wait. */
  readonly trips: number;
  readonly openedAt?: number;
  /** OPEN only: when a probe may start. */
  readonly openUntil?: number;
  /** Opened by an operator rather than by the failure rate. */
  readonly forced?: boolean;
  /** HALF_OPEN only: the probe's holder id and the end of its lease. */
  readonly probeHolder?: string;
  readonly probeLeaseUntil?: number;
  readonly reason?: string;
  readonly updatedAt?: number;
}

export interface WindowCounts {
  readonly calls: number;
  readonly failures: number;
  readonly slow: number;
}

/** What a conditional state write requires of the stored item. */
export interface StateCondition {
  /** The generation the writer read. */
  readonly generation: number;
  readonly state?: BreakerStateName;
  readonly probeHolder?: string;
  /** The open wait (OPEN) or the probe lease (HALF_OPEN) must have ended by this time. */
  readonly probeAvailableAt?: number;
}

const CLOSED_INITIAL: StoredBreakerState = { state: 'CLOSED', generation: 0, trips: 0 };
const ZERO: WindowCounts = { calls: 0, failures: 0, slow: 0 };

function isConditionalFailure(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'ConditionalCheckFailedException')
  );
}

function num(v: unknown, fallback = 0): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** The breaker's reads and writes in the guard table. Every state change is a conditional write. */
export class BreakerStore {
  constructor(
    readonly tableName: string,
    readonly client: DynamoDBDocumentClient,
  ) {}

  static stateKey(modelId: string): string {
    return `breaker#${modelId}`;
  }

  static counterKey(modelId: string, generation: number, bucketStartMs: number): string {
    return `breaker#${modelId}#w#${generation}#${Math.floor(bucketStartMs / 1000)}`;
  }

  /** Strongly consistent read; a model never seen is CLOSED in generation 0. */
  async readState(modelId: string): Promise<StoredBreakerState> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: BreakerStore.stateKey(modelId) }, ConsistentRead: true }),
    );
    const item = out.Item;
    if (!item) return CLOSED_INITIAL;
    const state: BreakerStateName =
      item.state === 'OPEN' || item.state === 'HALF_OPEN' || item.state === 'CLOSED' ? item.state : 'CLOSED';
    return {
      state,
      generation: num(item.generation),
      trips: num(item.trips),
      openedAt: typeof item.openedAt === 'number' ? item.openedAt : undefined,
      openUntil: typeof item.openUntil === 'number' ? item.openUntil : undefined,
      forced: item.forced === true ? true : undefined,
      probeHolder: typeof item.probeHolder === 'string' ? item.probeHolder : undefined,
      probeLeaseUntil: typeof item.probeLeaseUntil === 'number' ? item.probeLeaseUntil : undefined,
      reason: typeof item.reason === 'string' ? item.reason : undefined,
      updatedAt: typeof item.updatedAt === 'number' ? item.updatedAt : undefined,
    };
  }

  /** Replaces the state item if it still matches `condition`. False when another writer got there first. */
  async writeState(modelId: string, next: StoredBreakerState, condition: StateCondition): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    let expression: string;
    if (condition.generation === 0) {
      // Generation 0 is the implicit CLOSED state of a missing item; nothing else can match it.
      if ((condition.state && condition.state !== 'CLOSED') || condition.probeHolder || condition.probeAvailableAt !== undefined) {
        return false;
      }
      expression = 'attribute_not_exists(pk)';
    } else {
      const parts = ['#gen = :gen'];
      names['#gen'] = 'generation';
      values[':gen'] = condition.generation;
      if (condition.state) {
        parts.push('#state = :state');
        names['#state'] = 'state';
        values[':state'] = condition.state;
      }
      if (condition.probeHolder) {
        parts.push('#holder = :holder');
        names['#holder'] = 'probeHolder';
        values[':holder'] = condition.probeHolder;
      }
      if (condition.probeAvailableAt !== undefined) {
        // Expiry is compared here, in the write, not trusted from an earlier read.
        parts.push('((#state = :open AND #openUntil <= :at) OR (#state = :half AND #lease <= :at))');
        Object.assign(names, { '#state': 'state', '#openUntil': 'openUntil', '#lease': 'probeLeaseUntil' });
        Object.assign(values, { ':open': 'OPEN', ':half': 'HALF_OPEN', ':at': condition.probeAvailableAt });
      }
      expression = parts.join(' AND ');
    }
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: compact({ pk: BreakerStore.stateKey(modelId), ...next }),
          ConditionExpression: expression,
          ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
          ExpressionAttributeValues: Object.keys(values).length ? values : undefined,
        }),
      );
      return true;
    } catch (err) {
      if (isConditionalFailure(err)) return false;
      throw err;
    }
  }

  /** Adds one call to a counter bucket; returns the bucket's new totals when asked (no extra read units). */
  async addOutcome(
    modelId: string,
    generation: number,
    bucketStartMs: number,
    outcome: { failure: boolean; slow: boolean },
    expiresAt: number,
    returnCounts: boolean,
  ): Promise<WindowCounts | undefined> {
    const out = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: BreakerStore.counterKey(modelId, generation, bucketStartMs) },
        UpdateExpression: 'ADD #calls :one, #failures :failures, #slow :slow SET #expiresAt = :expiresAt',
        ExpressionAttributeNames: { '#calls': 'calls', '#failures': 'failures', '#slow': 'slow', '#expiresAt': 'expiresAt' },
        ExpressionAttributeValues: {
          ':one': 1,
          ':failures': outcome.failure ? 1 : 0,
          ':slow': outcome.slow ? 1 : 0,
          ':expiresAt': expiresAt,
        },
        ReturnValues: returnCounts ? 'ALL_NEW' : 'NONE',
      }),
    );
    if (!returnCounts) return undefined;
    const a = out.Attributes ?? {};
    return { calls: num(a.calls), failures: num(a.failures), slow: num(a.slow) };
  }

  /** Reads counter buckets (strongly consistent); missing buckets are absent from the result. */
  async readCounters(modelId: string, generation: number, bucketStarts: readonly number[]): Promise<Map<number, WindowCounts>> {
    const result = new Map<number, WindowCounts>();
    const byKey = new Map(bucketStarts.map((b) => [BreakerStore.counterKey(modelId, generation, b), b]));
    for (let i = 0; i < bucketStarts.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = [...byKey.keys()].slice(i, i + 100).map((pk) => ({ pk }));
      for (let attempt = 0; keys && keys.length > 0 && attempt < 5; attempt++) {
        const out = await this.client.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
        );
        for (const item of out.Responses?.[this.tableName] ?? []) {
          const bucket = byKey.get(String(item.pk));
          if (bucket !== undefined) {
            result.set(bucket, { calls: num(item.calls), failures: num(item.failures), slow: num(item.slow) });
          }
        }
        keys = out.UnprocessedKeys?.[this.tableName]?.Keys as Record<string, unknown>[] | undefined;
      }
    }
    return result;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Breaker
// ---------------------------------------------------------------------------------------------------------------

export interface CircuitBreakerOptions {
  /** The guard table. */
  readonly tableName: string;
  /** `config.breaker`. */
  readonly settings: BreakerSettings;
  /** @default dynamoDocumentClient() from lambda/aws/clients.ts */
  readonly documentClient?: DynamoDBDocumentClient;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Emits `BreakerTransition` and `BreakerState` as single metrics. @default none */
  readonly metrics?: BreakerMetrics;
  /** One structured line per transition, warnings when DynamoDB fails. @default none */
  readonly logger?: BreakerLogger;
}

/** Permission to call a model once. Report exactly one outcome; later reports are ignored. */
export interface BreakerPermit {
  readonly modelId: string;
  /** The breaker generation the permit was granted in (-1 when DynamoDB could not be read). */
  readonly generation: number;
  /** True for the one half-open probe: its outcome closes or re-opens the breaker. */
  readonly probe: boolean;
  /** The model answered. `ttftMs` over `slowCallTtftMs` counts as a slow call. */
  success(outcome?: { ttftMs?: number }): Promise<void>;
  /** The call failed; counted only when {@link classifyOutcome} says so (returned for logging). */
  failure(err: unknown): Promise<OutcomeClass>;
  /** The outcome says nothing about the model (client abort, our own limit): nothing is counted. */
  release(): Promise<void>;
}

export type BreakerDecision =
  | { readonly allowed: true; readonly permit: BreakerPermit }
  | {
      readonly allowed: false;
      readonly state: 'OPEN' | 'HALF_OPEN';
      /** When trying this model again may help (for `Retry-After`); at least 1. */
      readonly retryAfterSeconds: number;
    };

export interface BreakerStatus {
  readonly modelId: string;
  /** OPEN whose wait is over reads as HALF_OPEN: the next caller may probe. */
  readonly state: BreakerStateName;
  readonly storedState: BreakerStateName;
  readonly generation: number;
  readonly trips: number;
  readonly forced: boolean;
  readonly reason?: string;
  readonly openedAt?: string;
  /** null when forced open until `forceClose`. */
  readonly openUntil?: string | null;
  readonly retryAfterSeconds?: number;
  readonly probe?: { readonly holder: string; readonly leaseUntil: string; readonly leaseActive: boolean };
  /** Counted calls in the current window (CLOSED only; a new generation starts an empty window). */
  readonly window: WindowCounts & { readonly failureRate: number; readonly slowCallRate: number; readonly seconds: number };
  readonly updatedAt?: string;
}

interface CachedState {
  state: StoredBreakerState;
  fetchedAt: number;
}

/**
 * The shared circuit breaker. Create one per execution environment (module scope) and reuse it: its cache is what
 * keeps reads far below one per call.
 */
export class CircuitBreaker {
  readonly store: BreakerStore;
  private readonly settings: BreakerSettings;
  private readonly now: () => number;
  private readonly metrics?: BreakerMetrics;
  private readonly logger?: BreakerLogger;
  private readonly bucketMs: number;
  private readonly pastBuckets: number;
  private readonly settleMs: number;
  private readonly states = new Map<string, CachedState>();
  private readonly reads = new Map<string, Promise<StoredBreakerState>>();
  /** Totals of completed buckets, by `model#generation#bucketStart`; completed buckets no longer change. */
  private readonly completedBuckets = new Map<string, WindowCounts>();
  private readonly gaugeAt = new Map<string, number>();

  constructor(options: CircuitBreakerOptions) {
    this.settings = options.settings;
    this.store = new BreakerStore(options.tableName, options.documentClient ?? dynamoDocumentClient());
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.bucketMs = Math.max(1, Math.ceil(this.settings.windowSeconds / BUCKETS_PER_WINDOW)) * 1000;
    this.pastBuckets = Math.ceil((this.settings.windowSeconds * 1000) / this.bucketMs);
    this.settleMs = Math.min(BUCKET_SETTLE_MAX_MS, this.bucketMs / 4);
  }

  /** Asks to call `modelId` now. Not allowed means: skip to the next model in the chain. */
  async acquire(modelId: string): Promise<BreakerDecision> {
    let state: StoredBreakerState;
    try {
      state = await this.current(modelId);
    } catch (err) {
      const stale = this.states.get(modelId);
      this.warn('breaker state unreadable', modelId, err, { usingCachedState: Boolean(stale) });
      if (!stale) return { allowed: true, permit: this.untrackedPermit(modelId) };
      // Retry the read at most once per cacheMs rather than on every call while DynamoDB is failing.
      stale.fetchedAt = this.now();
      state = stale.state;
      if (state.state === 'CLOSED') return { allowed: true, permit: this.untrackedPermit(modelId) };
    }
    return this.decide(modelId, state, true);
  }

  /** The stored state, read fresh, with the current window's counts. */
  async status(modelId: string): Promise<BreakerStatus> {
    const s = await this.store.readState(modelId);
    const now = this.now();
    this.remember(modelId, s, now);
    let window: WindowCounts = ZERO;
    if (s.state === 'CLOSED') {
      const current = this.bucketStart(now);
      const starts = [current, ...this.pastBucketStarts(current)];
      const counts = await this.store.readCounters(modelId, s.generation, starts);
      window = sum([...counts.values()]);
    }
    const effective = effectiveState(s, now);
    const waitEnd = s.state === 'OPEN' ? s.openUntil : s.state === 'HALF_OPEN' ? s.probeLeaseUntil : undefined;
    return {
      modelId,
      state: effective,
      storedState: s.state,
      generation: s.generation,
      trips: s.trips,
      forced: s.forced === true,
      reason: s.reason,
      openedAt: iso(s.openedAt),
      openUntil: s.openUntil === undefined ? undefined : s.openUntil >= OPEN_UNTIL_FORCE_CLOSE ? null : iso(s.openUntil),
      retryAfterSeconds: waitEnd !== undefined && waitEnd > now ? this.retryAfter(s, now) : undefined,
      probe:
        s.state === 'HALF_OPEN' && s.probeHolder && s.probeLeaseUntil !== undefined
          ? { holder: s.probeHolder, leaseUntil: iso(s.probeLeaseUntil)!, leaseActive: s.probeLeaseUntil > now }
          : undefined,
      window: {
        ...window,
        failureRate: window.calls ? window.failures / window.calls : 0,
        slowCallRate: window.calls ? window.slow / window.calls : 0,
        seconds: this.settings.windowSeconds,
      },
      updatedAt: iso(s.updatedAt),
    };
  }

  /**
   * Opens the breaker now, for `seconds` or (without it) until {@link forceClose}. No probe runs before then.
   * Afterwards the breaker half-opens as usual.
   */
  async forceOpen(modelId: string, seconds?: number): Promise<BreakerStatus> {
    if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0)) {
      throw new RangeError(`seconds must be a positive number, got ${seconds}`);
    }
    await this.force(modelId, (s, now) => ({
      state: 'OPEN',
      generation: s.generation + 1,
      trips: s.trips,
      openedAt: now,
      openUntil: seconds === undefined ? OPEN_UNTIL_FORCE_CLOSE : now + Math.round(seconds * 1000),
      forced: true,
      reason: seconds === undefined ? 'forced open until force-close' : `forced open for ${seconds} s`,
      updatedAt: now,
    }));
    return this.status(modelId);
  }

  /** Closes the breaker now and resets its trip count; any probe in flight loses its right to report. */
  async forceClose(modelId: string): Promise<BreakerStatus> {
    await this.force(modelId, (s, now) => ({
      state: 'CLOSED',
      generation: s.generation + 1,
      trips: 0,
      reason: 'forced close',
      updatedAt: now,
    }));
    return this.status(modelId);
  }

  // --- decisions ---------------------------------------------------------------------------------------------

  private async decide(modelId: string, s: StoredBreakerState, mayRetry: boolean): Promise<BreakerDecision> {
    const now = this.now();
    if (s.state === 'CLOSED') return { allowed: true, permit: this.callPermit(modelId, s.generation) };

    const waitEnd = (s.state === 'OPEN' ? s.openUntil : s.probeLeaseUntil) ?? 0;
    if (waitEnd > now) return this.refuse(s, now);

    // The open wait, or an abandoned probe's lease, is over: try to become the one probe.
    const next: StoredBreakerState = {
      state: 'HALF_OPEN',
      generation: s.generation + 1,
      trips: s.trips,
      openedAt: s.openedAt,
      forced: s.forced,
      probeHolder: randomUUID(),
      probeLeaseUntil: now + this.settings.probeLeaseSeconds * 1000,
      reason: s.reason,
      updatedAt: now,
    };
    let won: boolean;
    try {
      won = await this.store.writeState(modelId, next, { generation: s.generation, probeAvailableAt: now });
    } catch (err) {
      this.warn('breaker probe lease write failed', modelId, err);
      return this.refuse(s, now);
    }
    if (won) {
      this.remember(modelId, next, now);
      if (s.state === 'OPEN') this.transitioned(modelId, s, next, 'open wait over, probing');
      else this.logger?.info('breaker probe lease re-granted', { modelId, generation: next.generation });
      return { allowed: true, permit: this.probePermit(modelId, next) };
    }
    if (!mayRetry) return this.refuse(s, now);
    // Someone else changed the item since we read it: look again, once.
    let fresh: StoredBreakerState;
    try {
      fresh = await this.refresh(modelId);
    } catch (err) {
      this.warn('breaker state unreadable', modelId, err);
      return this.refuse(s, now);
    }
    return this.decide(modelId, fresh, false);
  }

  private refuse(s: StoredBreakerState, now: number): BreakerDecision {
    return { allowed: false, state: s.state === 'OPEN' ? 'OPEN' : 'HALF_OPEN', retryAfterSeconds: this.retryAfter(s, now) };
  }

  private retryAfter(s: StoredBreakerState, now: number): number {
    if (s.state === 'OPEN' && (s.openUntil ?? 0) >= OPEN_UNTIL_FORCE_CLOSE) return this.settings.maxOpenSeconds;
    // A probe usually answers well before its lease ends; never suggest waiting longer than a first open wait.
    const end =
      s.state === 'OPEN'
        ? (s.openUntil ?? now)
        : Math.min(s.probeLeaseUntil ?? now, now + this.settings.openSeconds * 1000);
    return Math.max(1, Math.ceil((end - now) / 1000));
  }

  // --- permits -----------------------------------------------------------------------------------------------

  private callPermit(modelId: string, generation: number): BreakerPermit {
    return this.permit(modelId, generation, false, {
      success: (ttftMs) => this.recordCall(modelId, generation, false, this.isSlow(ttftMs)),
      failure: (c) => (c.counts ? this.recordCall(modelId, generation, true, false) : Promise.resolve()),
      release: () => Promise.resolve(),
    });
  }

  private probePermit(modelId: string, leased: StoredBreakerState): BreakerPermit {
    return this.permit(modelId, leased.generation, true, {
      success: (ttftMs) =>
        this.isSlow(ttftMs) ? this.reopen(modelId, leased, `probe slow (first token after ${ttftMs} ms)`) : this.close(modelId, leased),
      failure: (c) => (c.counts ? this.reopen(modelId, leased, `probe failed: ${c.kind} (${c.name})`) : this.releaseProbe(modelId, leased)),
      release: () => this.releaseProbe(modelId, leased),
    });
  }

  private untrackedPermit(modelId: string): BreakerPermit {
    const none = () => Promise.resolve();
    return this.permit(modelId, -1, false, { success: none, failure: none, release: none });
  }

  private permit(
    modelId: string,
    generation: number,
    probe: boolean,
    on: {
      success(ttftMs: number | undefined): Promise<void>;
      failure(c: OutcomeClass): Promise<void>;
      release(): Promise<void>;
    },
  ): BreakerPermit {
    let reported = false;
    const first = () => {
      if (reported) return false;
      reported = true;
      return true;
    };
    return {
      modelId,
      generation,
      probe,
      success: async (outcome) => {
        if (first()) await on.success(outcome?.ttftMs);
      },
      failure: async (err) => {
        const c = classifyOutcome(err);
        if (first()) await on.failure(c);
        return c;
      },
      release: async () => {
        if (first()) await on.release();
      },
    };
  }

  private isSlow(ttftMs: number | undefined): boolean {
    return ttftMs !== undefined && ttftMs > this.settings.slowCallTtftMs;
  }

  // --- outcomes ----------------------------------------------------------------------------------------------

  private async recordCall(modelId: string, generation: number, failure: boolean, slow: boolean): Promise<void> {
    const now = this.now();
    const bucket = this.bucketStart(now);
    const mayTrip = failure || slow;
    const expiresAt = Math.ceil((bucket + this.bucketMs) / 1000) + 2 * this.settings.windowSeconds + 300;
    let current: WindowCounts | undefined;
    try {
      current = await this.store.addOutcome(modelId, generation, bucket, { failure, slow }, expiresAt, mayTrip);
    } catch (err) {
      this.warn('breaker outcome not recorded', modelId, err);
      return;
    }
    if (!mayTrip || !current) return;

    // Only the generation that is still CLOSED can trip; skip the reads when we already know it is not.
    const cached = this.states.get(modelId)?.state;
    if (cached && (cached.generation > generation || (cached.generation === generation && cached.state !== 'CLOSED'))) return;

    let window: WindowCounts;
    try {
      window = sum([current, ...(await this.completedCounts(modelId, generation, bucket, now))]);
    } catch (err) {
      this.warn('breaker window unreadable', modelId, err);
      return;
    }
    const reason = this.tripReason(window);
    if (reason) await this.trip(modelId, generation, reason);
  }

  private tripReason(w: WindowCounts): string | undefined {
    if (w.calls < this.settings.minimumCalls) return undefined;
    const failureRate = w.failures / w.calls;
    const slowRate = w.slow / w.calls;
    if (failureRate >= this.settings.failureRateThreshold) {
      return `failure rate ${pct(failureRate)} over ${w.calls} calls (threshold ${pct(this.settings.failureRateThreshold)})`;
    }
    if (slowRate >= this.settings.slowCallRateThreshold) {
      return `slow-call rate ${pct(slowRate)} over ${w.calls} calls (threshold ${pct(this.settings.slowCallRateThreshold)})`;
    }
    return undefined;
  }

  private async trip(modelId: string, generation: number, reason: string): Promise<void> {
    const now = this.now();
    const from: StoredBreakerState = { state: 'CLOSED', generation, trips: 0 };
    const next: StoredBreakerState = {
      state: 'OPEN',
      generation: generation + 1,
      trips: 1,
      openedAt: now,
      openUntil: now + this.openWaitMs(1),
      reason,
      updatedAt: now,
    };
    await this.change(modelId, from, next, { generation, state: 'CLOSED' }, reason);
  }

  private close(modelId: string, leased: StoredBreakerState): Promise<void> {
    const now = this.now();
    const next: StoredBreakerState = {
      state: 'CLOSED',
      generation: leased.generation + 1,
      trips: 0,
      reason: 'probe succeeded',
      updatedAt: now,
    };
    return this.change(modelId, leased, next, this.probeCondition(leased), 'probe succeeded');
  }

  private reopen(modelId: string, leased: StoredBreakerState, reason: string): Promise<void> {
    const now = this.now();
    const trips = leased.trips + 1;
    const next: StoredBreakerState = {
      state: 'OPEN',
      generation: leased.generation + 1,
      trips,
      openedAt: now,
      openUntil: now + this.openWaitMs(trips),
      reason,
      updatedAt: now,
    };
    return this.change(modelId, leased, next, this.probeCondition(leased), reason);
  }

  /** Gives the probe lease back without a verdict, so the next caller may probe at once. Not a state change. */
  private async releaseProbe(modelId: string, leased: StoredBreakerState): Promise<void> {
    const now = this.now();
    const next: StoredBreakerState = { ...leased, probeHolder: undefined, probeLeaseUntil: now, updatedAt: now };
    try {
      if (await this.store.writeState(modelId, next, this.probeCondition(leased))) this.remember(modelId, next, now);
    } catch (err) {
      this.warn('breaker probe release failed', modelId, err);
    }
  }

  private probeCondition(leased: StoredBreakerState): StateCondition {
    return { generation: leased.generation, state: 'HALF_OPEN', probeHolder: leased.probeHolder };
  }

  private async change(
    modelId: string,
    from: StoredBreakerState,
    next: StoredBreakerState,
    condition: StateCondition,
    reason: string,
  ): Promise<void> {
    let won: boolean;
    try {
      won = await this.store.writeState(modelId, next, condition);
    } catch (err) {
      this.warn('breaker transition write failed', modelId, err, { from: from.state, to: next.state });
      return;
    }
    if (won) {
      this.remember(modelId, next, this.now());
      this.transitioned(modelId, from, next, reason);
    } else {
      // Stale (someone else moved the breaker on): our view is out of date too.
      this.states.delete(modelId);
    }
  }

  private async force(
    modelId: string,
    build: (current: StoredBreakerState, now: number) => StoredBreakerState,
  ): Promise<void> {
    for (let attempt = 0; attempt < FORCE_ATTEMPTS; attempt++) {
      const s = await this.store.readState(modelId);
      const now = this.now();
      const next = build(s, now);
      if (await this.store.writeState(modelId, next, { generation: s.generation })) {
        this.remember(modelId, next, now);
        this.transitioned(modelId, s, next, next.reason ?? 'forced');
        return;
      }
    }
    throw new Error(`Breaker for ${modelId} kept changing; gave up after ${FORCE_ATTEMPTS} attempts`);
  }

  private openWaitMs(trips: number): number {
    const seconds = Math.min(this.settings.openSeconds * 2 ** Math.max(0, trips - 1), this.settings.maxOpenSeconds);
    return seconds * 1000;
  }

  // --- state cache ---------------------------------------------------------------------------------------------

  private current(modelId: string): Promise<StoredBreakerState> {
    const hit = this.states.get(modelId);
    if (hit && this.now() - hit.fetchedAt < this.settings.cacheMs) return Promise.resolve(hit.state);
    return this.refresh(modelId);
  }

  /** One read in flight per model per instance; concurrent callers share it. */
  private refresh(modelId: string): Promise<StoredBreakerState> {
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

  private remember(modelId: string, state: StoredBreakerState, now: number): void {
    const previous = this.states.get(modelId)?.state;
    // A slower read must not replace a newer state this instance already knows.
    if (previous && previous.generation > state.generation) return;
    this.states.set(modelId, { state, fetchedAt: now });
    if (!previous || previous.state !== state.state || now - (this.gaugeAt.get(modelId) ?? 0) >= 60_000) {
      this.gauge(modelId, state.state, now);
    }
  }

  // --- window --------------------------------------------------------------------------------------------------

  private bucketStart(now: number): number {
    return Math.floor(now / this.bucketMs) * this.bucketMs;
  }

  private pastBucketStarts(current: number): number[] {
    return Array.from({ length: this.pastBuckets }, (_, i) => current - (i + 1) * this.bucketMs);
  }

  /** Totals of the buckets before the current one, from memory where they are complete, else from DynamoDB. */
  private async completedCounts(modelId: string, generation: number, current: number, now: number): Promise<WindowCounts[]> {
    const starts = this.pastBucketStarts(current);
    const key = (b: number) => `${modelId}#${generation}#${b}`;
    const missing = starts.filter((b) => !this.completedBuckets.has(key(b)));
    const fetched = missing.length ? await this.store.readCounters(modelId, generation, missing) : new Map<number, WindowCounts>();
    const result: WindowCounts[] = [];
    for (const b of starts) {
      const cached = this.completedBuckets.get(key(b));
      if (cached) {
        result.push(cached);
        continue;
      }
      const counts = fetched.get(b) ?? ZERO;
      if (now >= b + this.bucketMs + this.settleMs) this.completedBuckets.set(key(b), counts);
      result.push(counts);
    }
    this.pruneBuckets(now);
    return result;
  }

  private pruneBuckets(now: number): void {
    if (this.completedBuckets.size < 512) return;
    const oldest = this.bucketStart(now) - (this.pastBuckets + 2) * this.bucketMs;
    for (const k of this.completedBuckets.keys()) {
      if (Number(k.slice(k.lastIndexOf('#') + 1)) < oldest) this.completedBuckets.delete(k);
    }
  }

  // --- observability -------------------------------------------------------------------------------------------

  private transitioned(modelId: string, from: StoredBreakerState, to: StoredBreakerState, reason: string): void {
    this.logger?.info('breaker transition', {
      modelId,
      from: from.state,
      to: to.state,
      generation: to.generation,
      trips: to.trips,
      reason,
      openUntil: to.openUntil === undefined ? undefined : to.openUntil >= OPEN_UNTIL_FORCE_CLOSE ? 'force-close' : iso(to.openUntil),
    });
    if (!this.metrics || from.state === to.state) return;
    try {
      const m = this.metrics.singleMetric();
      m.addDimension('model', modelId);
      m.addDimension('from', from.state);
      m.addDimension('to', to.state);
      m.addMetric('BreakerTransition', 'Count', 1);
    } catch (err) {
      this.warn('breaker metric not emitted', modelId, err);
    }
  }

  private gauge(modelId: string, state: BreakerStateName, now: number): void {
    if (!this.metrics) return;
    this.gaugeAt.set(modelId, now);
    try {
      const m = this.metrics.singleMetric();
      m.addDimension('model', modelId);
      m.addMetric('BreakerState', 'None', BREAKER_STATE_VALUE[state]);
    } catch (err) {
      this.warn('breaker metric not emitted', modelId, err);
    }
  }

  private warn(message: string, modelId: string, err: unknown, extra: Record<string, unknown> = {}): void {
    this.logger?.warn(message, { modelId, ...extra, error: err instanceof Error ? { name: err.name, message: err.message } : String(err) });
  }
}

/** Drops undefined fields, so the write does not depend on the client's `removeUndefinedValues`. */
function compact<T extends object>(item: T): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined));
}

function effectiveState(s: StoredBreakerState, now: number): BreakerStateName {
  return s.state === 'OPEN' && (s.openUntil ?? 0) <= now ? 'HALF_OPEN' : s.state;
}

function sum(counts: readonly WindowCounts[]): WindowCounts {
  return counts.reduce((a, c) => ({ calls: a.calls + c.calls, failures: a.failures + c.failures, slow: a.slow + c.slow }), ZERO);
}

function pct(rate: number): string {
  return `${Math.round(rate * 1000) / 10}%`;
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
