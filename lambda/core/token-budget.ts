/**
 * The per-user limits checked before every model call, in one atomic write: the token budget (model tokens, input +
 * output, per user per UTC day, from `plans.<plan>.tokensPerDay`) and, for interactive calls, the concurrency limit
 * (model calls in flight per user, from `plans.<plan>.maxConcurrentRequests`).
 *
 * Both live in one record per user in a {@link TokenBudgetStore} shared by every Lambda instance (in AWS, one item of
 * the guard table: `lambda/aws/token-budget-store.ts`):
 *
 * - `reserve` adds the call's estimate under the condition `used + estimate <= limit` and, when the call takes a slot,
 *   records its lease (holder and expiry) under the condition that fewer than `maxConcurrentRequests` leases are held,
 *   in the same write. Concurrent calls can never reserve more than the budget nor hold more than the slots together.
 *   A refusal is a {@link TokenBudgetExceededError} (429, `Retry-After` until the UTC day ends) or a
 *   {@link ConcurrencyLimitExceededError} (429, `Retry-After` of a few seconds); neither reaches the circuit breaker.
 * - A lease expires at the call's deadline (`ChatContext.deadlineAt`): a function that crashed or was frozen never
 *   releases its slot, and the next call refused for want of one evicts the expired lease in its own retried write.
 * - `settle` replaces the estimate with the model's reported usage (an unconditional add of `actual - estimate`, in the
 *   window the reservation was made in) and releases the lease, in one write. It never fails a finished call: a write
 *   error is logged and dropped (the lease then expires at its deadline).
 * - `release` gives the estimate and the slot back when no model was called.
 *
 * The UTC day: budget counters are per window (`yyyy-mm-dd`) on the user's record, the leases are not. A call that
 * started before midnight keeps its slot after it, so the concurrency limit holds across the day boundary, and its
 * tokens are settled in the day it was reserved in, while the new day's budget starts from zero.
 *
 * Cost: 1 write per `reserve` (a second only to evict an expired lease, or after losing a race for the last slot to
 * an eviction), 1 per `settle` or `release` (none when the estimate was exact and no slot is held); no reads.
 *
 * @example
 * ```ts
 * const budget = new TokenBudget({ store: new DynamoTokenBudgetStore({ tableName }), plans: config.plans, logger });
 * const reservation = await budget.reserve(user.id, user.plan, estimatedTokens, { holder: requestId, expiresAt });
 * try {
 *   const answer = await callModel();
 *   await budget.settle(reservation, answer.usage.inputTokens + answer.usage.outputTokens);
 * } catch (err) {
 *   if (noModelWasCalled) await budget.release(reservation);
 *   throw err;
 * }
 * ```
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { PlanConfig } from '../../config/schema';
import { microOfUsd, usdOfMicro } from './cost';
import { ConcurrencyLimitExceededError, CostBudgetExceededError, TokenBudgetExceededError } from './errors';
import type { CallLimits, LeaseRequest } from './guards';

export type { CallLimits, LeaseRequest } from './guards';

const DAY_MS = 86_400_000;

/**
 * Seconds a refused call is told to wait for a slot (`Retry-After`), unless the earliest lease expires sooner: slots
 * free up whenever a call ends, which nothing predicts, and a short hint keeps a client's retry close to that moment.
 */
export const CONCURRENCY_RETRY_AFTER_SECONDS = 2;

/** Windows before the retained ones that each reservation drops from the user's record (a week of idle days). */
const STALE_WINDOWS_DROPPED = 7;

/** The UTC day containing `now`: its key (`yyyy-mm-dd`) and its bounds in epoch ms. */
export function budgetWindow(now: number): { key: string; start: number; end: number } {
  const start = Math.floor(now / DAY_MS) * DAY_MS;
  return { key: new Date(start).toISOString().slice(0, 10), start, end: start + DAY_MS };
}

/** The UTC calendar month containing `now`: its key (`yyyy-mm`) and its bounds in epoch ms. */
export function budgetMonth(now: number): { key: string; start: number; end: number } {
  const date = new Date(now);
  const start = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
  const end = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
  return { key: new Date(start).toISOString().slice(0, 7), start, end };
}

/** Months before the previous one that each reservation drops from the user's record. */
const STALE_MONTHS_DROPPED = 2;

/**
 * A call's spend, in whole micro-dollars, on the user's dollar counters: one per UTC day (`yyyy-mm-dd`) and one per UTC
 * month (`yyyy-mm`), each with the limit it may not pass (unset: counted, not limited).
 */
export interface SpendRequest {
  readonly microUsd: number;
  readonly day: { readonly window: string; readonly limit?: number };
  readonly month: { readonly window: string; readonly limit?: number };
  /** Older day and month windows whose counters the same write drops. */
  readonly staleWindows: readonly string[];
}

/** A change to the dollar counters of a reservation's day and month (settle, release). */
export interface SpendAdjustment {
  readonly microUsd: number;
  readonly day: string;
  readonly month: string;
}

/** One user's counter for one window (UTC day, `yyyy-mm-dd`). */
export interface BudgetCounter {
  readonly userId: string;
  readonly window: string;
}

/** One reservation as the store takes it, in one atomic write. */
export interface ReserveRequest {
  readonly counter: BudgetCounter;
  /** Tokens to add to the counter. */
  readonly tokens: number;
  /** The counter may not pass this once the tokens are added. */
  readonly limit: number;
  /** When the store may forget the user's record (epoch s); cleanup only. */
  readonly expiresAt: number;
  /** Older windows whose counters the same write drops (missing ones are ignored). */
  readonly staleWindows: readonly string[];
  /** A slot to take in the same write: refused when `max` leases are held that have not expired by `now`. */
  readonly lease?: {
    /** Who holds it (the request id); the store makes each lease unique. */
    readonly holder: string;
    /** Epoch ms after which the lease no longer counts (the call's deadline). */
    readonly expiresAt: number;
    readonly max: number;
    /** Epoch ms: leases that expired by then may be evicted. */
    readonly now: number;
  };
  /** Dollars to add to the user's day and month counters in the same write, each under its limit. */
  readonly spend?: SpendRequest;
}

/** What a reservation found. */
export type ReserveOutcome =
  | {
      readonly ok: true;
      /** The counter right after this reservation. */
      readonly used: number;
      /** The dollar counters right after this reservation (micro-dollars), when it spent. */
      readonly spent?: { readonly day: number; readonly month: number };
      /** The lease taken, when one was asked for. */
      readonly lease?: {
        /** The store's id of the lease, for its release. */
        readonly id: string;
        /** Leases held right after this one was taken, this one included. */
        readonly inFlight: number;
        /** Epoch ms when the last lease held then expires (all slots free by then at the latest). */
        readonly latestExpiry: number;
      };
    }
  | { readonly ok: false; readonly refused: 'budget'; readonly used?: number }
  /** A dollar budget would be passed: the day's or the month's. */
  | { readonly ok: false; readonly refused: 'usdPerDay' | 'usdPerMonth' }
  | {
      readonly ok: false;
      readonly refused: 'concurrency';
      readonly inFlight: number;
      /** Epoch ms when the earliest lease held expires. */
      readonly earliestExpiry?: number;
    };

/** Where token budgets and leases are kept. Every method is one atomic operation on one user's record. */
export interface TokenBudgetStore {
  /**
   * Adds `tokens` to the counter unless its total would then exceed `limit` (a missing counter is 0) and, with
   * `lease`, takes a slot unless `max` unexpired leases are held, both or neither. Never throws for a refusal.
   */
  reserve(request: ReserveRequest): Promise<ReserveOutcome>;
  /**
   * Adds `delta` (may be negative) to the counter, and `spend` to the dollar counters, unconditionally, and releases
   * the lease `leaseId` if it is still held (it may have expired and been evicted), in one write where it can.
   */
  adjust(counter: BudgetCounter, delta: number, leaseId?: string, spend?: SpendAdjustment): Promise<void>;
  /** The counter's total, strongly consistent; 0 when missing. */
  used(counter: BudgetCounter): Promise<number>;
}

/** What the budget needs of a plan: its token budget and its concurrency limit. */
export type BudgetPlan = Pick<PlanConfig, 'tokensPerDay'> &
  Partial<Pick<PlanConfig, 'maxConcurrentRequests' | 'usdPerDay' | 'usdPerMonth'>>;

export interface TokenBudgetOptions {
  /** Where the counters are shared, e.g. `DynamoTokenBudgetStore` from lambda/aws/token-budget-store.ts. */
  readonly store: TokenBudgetStore;
  /**
   * `config.plans`: the daily limit is `plans[plan].tokensPerDay`, the slots `plans[plan].maxConcurrentRequests`
   * (a plan without it has no concurrency limit).
   */
  readonly plans: Readonly<Record<string, BudgetPlan>>;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Warnings for settle/release writes that failed. @default none */
  readonly logger?: Pick<Logger, 'warn'>;
  /** Days a counter is kept after its window ends (the store's expiry; cleanup only). @default 2 */
  readonly retentionDays?: number;
}

/** Tokens (and a slot, when one was asked for) held for one call until it is settled or released. */
export interface TokenReservation {
  readonly userId: string;
  readonly plan: string;
  /** The window (UTC day) the tokens were reserved in; settle and release adjust this window. */
  readonly window: string;
  readonly estimatedTokens: number;
  readonly limit: number;
  /** The user's total for the window right after this reservation. */
  readonly usedAfter: number;
  /** The slot held, until settle or release or its expiry. */
  readonly lease?: { readonly id: string; readonly expiresAt: number };
  /** The dollars held (micro-dollars) on the day and month counters, when the plan has a dollar budget. */
  readonly spend?: SpendAdjustment;
  /** The user's limits right after this reservation, as the response headers report them. */
  readonly limits: CallLimits;
}

export interface TokenUsage {
  readonly userId: string;
  readonly window: string;
  readonly used: number;
  /** Present when a plan was given. */
  readonly limit?: number;
  readonly remaining?: number;
  readonly resetsAt: string;
  readonly retryAfterSeconds: number;
}

export class TokenBudget {
  private readonly store: TokenBudgetStore;
  private readonly plans: Readonly<Record<string, BudgetPlan>>;
  private readonly now: () => number;
  private readonly logger?: Pick<Logger, 'warn'>;
  private readonly retentionDays: number;
  /** Reservations already settled or released here, so a second call cannot count a call twice. */
  private readonly finished = new WeakSet<TokenReservation>();

  constructor(options: TokenBudgetOptions) {
    this.store = options.store;
    this.plans = options.plans;
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    this.retentionDays = options.retentionDays ?? 2;
  }

  /** The plan's daily token limit; throws for a plan the configuration does not know. */
  limitFor(plan: string): number {
    return this.planOf(plan).tokensPerDay;
  }

  /**
   * Holds `estimatedTokens` of the user's budget for today (UTC) and, with `lease`, one of the plan's
   * `maxConcurrentRequests` slots until the reservation is settled or released or `lease.expiresAt` passes.
   *
   * With a dollar budget (`usdPerDay`, `usdPerMonth`), `estimatedMicroUsd` (the most the call may cost, in
   * micro-dollars) is held on the day's and the month's dollar counters in the same write.
   *
   * @throws TokenBudgetExceededError when the estimate does not fit in what is left of the window.
   * @throws CostBudgetExceededError when the cost estimate does not fit in what is left of the day's or month's dollars.
   * @throws ConcurrencyLimitExceededError when every slot is held (nothing is reserved then either).
   */
  async reserve(
    userId: string,
    plan: string,
    estimatedTokens: number,
    lease?: LeaseRequest,
    estimatedMicroUsd?: number,
  ): Promise<TokenReservation> {
    if (!userId) throw new Error('userId is required');
    if (!Number.isInteger(estimatedTokens) || estimatedTokens < 0) {
      throw new RangeError(`estimatedTokens must be a non-negative integer, got ${estimatedTokens}`);
    }
    const planConfig = this.planOf(plan);
    const { tokensPerDay: limit, maxConcurrentRequests: slots } = planConfig;
    const now = this.now();
    const window = budgetWindow(now);
    const month = budgetMonth(now);
    const spend = this.spendOf(plan, planConfig, estimatedMicroUsd, window, month);
    if (estimatedTokens > limit) {
      // No amount of waiting makes this request fit; no Retry-After.
      throw new TokenBudgetExceededError(
        `This request may use up to ${estimatedTokens} tokens, more than the ${limit} tokens per day of plan "${plan}"`,
      );
    }
    const leased = lease && slots !== undefined ? { ...lease, max: slots, now } : undefined;
    const outcome = await this.store.reserve({
      counter: { userId, window: window.key },
      tokens: estimatedTokens,
      limit,
      // A month's dollars must outlive an idle week: the record is kept past the month's end when it counts them.
      expiresAt: Math.ceil((spend ? month.end : window.end) / 1000) + this.retentionDays * 86_400,
      staleWindows: this.staleWindows(window.start),
      lease: leased,
      spend,
    });
    const tokensResetIn = secondsUntil(window.end, now);
    if (!outcome.ok && outcome.refused !== 'budget' && outcome.refused !== 'concurrency') {
      const daily = outcome.refused === 'usdPerDay';
      const usd = daily ? planConfig.usdPerDay : planConfig.usdPerMonth;
      const end = daily ? window.end : month.end;
      throw new CostBudgetExceededError(
        `Dollar budget of ${usd} USD per ${daily ? 'day' : 'month'} has no room left for this request (it may cost ` +
          `up to ${usdOfMicro(estimatedMicroUsd ?? 0)} USD); it resets at ${new Date(end).toISOString()}`,
        { retryAfterSeconds: secondsUntil(end, now) },
      );
    }
    if (!outcome.ok && outcome.refused === 'budget') {
      throw new TokenBudgetExceededError(
        `Token budget of ${limit} tokens per day has no room left for this request (it may use up to ` +
          `${estimatedTokens} tokens); it resets at ${new Date(window.end).toISOString()}`,
        { retryAfterSeconds: tokensResetIn },
      );
    }
    if (!outcome.ok) {
      const max = slots ?? 0;
      const retryAfterSeconds = Math.min(
        CONCURRENCY_RETRY_AFTER_SECONDS,
        outcome.earliestExpiry === undefined ? Number.POSITIVE_INFINITY : secondsUntil(outcome.earliestExpiry, now),
      );
      throw new ConcurrencyLimitExceededError(
        `${max} model ${max === 1 ? 'call is' : 'calls are'} already in flight, the most plan "${plan}" allows at once; retry when one ends`,
        {
          retryAfterSeconds,
          limits: {
            // The refused call reserved nothing: what the last reservation left is unknown here.
            tokens: { limit, resetsInSeconds: tokensResetIn },
            concurrency: { limit: max, remaining: 0, resetsInSeconds: retryAfterSeconds },
          },
        },
      );
    }
    const taken = leased && outcome.lease;
    return {
      userId,
      plan,
      window: window.key,
      estimatedTokens,
      limit,
      usedAfter: outcome.used,
      ...(taken ? { lease: { id: taken.id, expiresAt: leased.expiresAt } } : {}),
      ...(spend ? { spend: { microUsd: spend.microUsd, day: spend.day.window, month: spend.month.window } } : {}),
      limits: {
        tokens: { limit, remaining: Math.max(0, limit - outcome.used), resetsInSeconds: tokensResetIn },
        ...(taken
          ? {
              concurrency: {
                limit: leased.max,
                remaining: Math.max(0, leased.max - taken.inFlight),
                resetsInSeconds: secondsUntil(taken.latestExpiry, now),
              },
            }
          : {}),
      },
    };
  }

  /**
   * Replaces the reservation's estimate with the tokens the model reported, and frees its slot. Unconditional, so a
   * finished call is never refused afterwards (the total may end slightly above the limit; the next reservation sees
   * it). Never throws.
   */
  async settle(reservation: TokenReservation, actualTokens: number, actualMicroUsd?: number): Promise<void> {
    if (this.finished.has(reservation)) return;
    this.finished.add(reservation);
    const actual = Number.isFinite(actualTokens) ? Math.max(0, Math.round(actualTokens)) : reservation.estimatedTokens;
    const held = reservation.spend;
    // A cost that is not known keeps the estimate: the budget never counts less than the call may have cost.
    const spent =
      actualMicroUsd !== undefined && Number.isFinite(actualMicroUsd)
        ? Math.max(0, Math.ceil(actualMicroUsd))
        : undefined;
    const spend = held && spent !== undefined ? { ...held, microUsd: spent - held.microUsd } : undefined;
    await this.adjust(reservation, actual - reservation.estimatedTokens, 'settle', spend);
  }

  /** Returns the whole estimate and the slot: no model was called. Never throws. */
  async release(reservation: TokenReservation): Promise<void> {
    if (this.finished.has(reservation)) return;
    this.finished.add(reservation);
    const held = reservation.spend;
    await this.adjust(
      reservation,
      -reservation.estimatedTokens,
      'release',
      held && { ...held, microUsd: -held.microUsd },
    );
  }

  /** The user's total for the current window (strongly consistent read). */
  async usage(userId: string, plan?: string): Promise<TokenUsage> {
    const now = this.now();
    const window = budgetWindow(now);
    const used = await this.store.used({ userId, window: window.key });
    const limit = plan === undefined ? undefined : this.limitFor(plan);
    return {
      userId,
      window: window.key,
      used,
      limit,
      remaining: limit === undefined ? undefined : Math.max(0, limit - used),
      resetsAt: new Date(window.end).toISOString(),
      retryAfterSeconds: secondsUntil(window.end, now),
    };
  }

  private planOf(plan: string): BudgetPlan {
    const config = Object.hasOwn(this.plans, plan) ? this.plans[plan] : undefined;
    if (!config) throw new Error(`Unknown plan "${plan}"`);
    return config;
  }

  /**
   * The dollars a reservation holds on the day's and the month's counters, when the plan has a dollar budget; none
   * without one. With one, the call's cost estimate is required (every model must have a price: config/schema.ts).
   *
   * @throws CostBudgetExceededError when the estimate alone exceeds a dollar budget (no Retry-After: waiting cannot help)
   */
  private spendOf(
    plan: string,
    config: BudgetPlan,
    estimatedMicroUsd: number | undefined,
    window: { key: string; start: number },
    month: { key: string; start: number },
  ): SpendRequest | undefined {
    const { usdPerDay, usdPerMonth } = config;
    if (usdPerDay === undefined && usdPerMonth === undefined) return undefined;
    if (estimatedMicroUsd === undefined || !Number.isInteger(estimatedMicroUsd) || estimatedMicroUsd < 0) {
      throw new RangeError(
        `plan "${plan}" has a dollar budget: a call needs a cost estimate, got ${estimatedMicroUsd}`,
      );
    }
    for (const [usd, per] of [
      [usdPerDay, 'day'],
      [usdPerMonth, 'month'],
    ] as const) {
      if (usd !== undefined && estimatedMicroUsd > microOfUsd(usd)) {
        throw new CostBudgetExceededError(
          `This request may cost up to ${usdOfMicro(estimatedMicroUsd)} USD, more than the ${usd} USD per ${per} of plan "${plan}"; ask for fewer maxTokens or send less text`,
        );
      }
    }
    // The current and the previous month are kept (a call reserved before midnight settles in its own month).
    const start = new Date(month.start);
    const staleMonths = Array.from(
      { length: STALE_MONTHS_DROPPED },
      (_, i) => budgetMonth(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() - 2 - i, 1)).key,
    );
    return {
      microUsd: estimatedMicroUsd,
      day: { window: window.key, ...(usdPerDay === undefined ? {} : { limit: microOfUsd(usdPerDay) }) },
      month: { window: month.key, ...(usdPerMonth === undefined ? {} : { limit: microOfUsd(usdPerMonth) }) },
      staleWindows: [...this.staleWindows(window.start), ...staleMonths],
    };
  }

  /** The windows before the retained ones (`retentionDays` full days before today), dropped as each day passes. */
  private staleWindows(todayStart: number): string[] {
    return Array.from(
      { length: STALE_WINDOWS_DROPPED },
      (_, i) => budgetWindow(todayStart - (this.retentionDays + 1 + i) * DAY_MS).key,
    );
  }

  private async adjust(
    reservation: TokenReservation,
    delta: number,
    operation: 'settle' | 'release',
    spend?: SpendAdjustment,
  ): Promise<void> {
    const leaseId = reservation.lease?.id;
    const spendDelta = spend && spend.microUsd !== 0 ? spend : undefined;
    if (delta === 0 && leaseId === undefined && spendDelta === undefined) return;
    try {
      await this.store.adjust({ userId: reservation.userId, window: reservation.window }, delta, leaseId, spendDelta);
    } catch (err) {
      // The slot, if any, is freed at its expiry instead.
      this.logger?.warn(`token budget ${operation} not recorded`, {
        userId: reservation.userId,
        window: reservation.window,
        delta,
        ...(spendDelta ? { microUsd: spendDelta.microUsd } : {}),
        error: err instanceof Error ? { name: err.name, message: err.message } : String(err),
      });
    }
  }
}

function secondsUntil(end: number, now: number): number {
  return Math.max(1, Math.ceil((end - now) / 1000));
}
