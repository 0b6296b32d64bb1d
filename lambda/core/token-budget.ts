/**
 * The per-user token budget: model tokens (input + output) per user per UTC day, from `plans.<plan>.tokensPerDay`.
 *
 * One atomic counter per user and day in a {@link TokenBudgetStore} shared by every Lambda instance (in AWS, the guard
 * table: `lambda/aws/token-budget-store.ts`):
 *
 * - `reserve` adds the call's estimate with one conditional add that is refused when `used + estimate > limit`, so
 *   concurrent calls can never reserve more than the limit together. A rejection is a {@link TokenBudgetExceededError}
 *   (429) whose `retryAfterSeconds` is the time until the day ends (UTC). It never reaches the circuit breaker.
 * - `settle` replaces the estimate with the model's reported usage: an unconditional add of `actual - estimate`, in
 *   the window the reservation was made in. It never fails a finished call: a write error is logged and dropped.
 * - `release` gives the estimate back when no model was called.
 *
 * Cost: 1 write per `reserve`, at most 1 per `settle` (none when the estimate was exact), 1 per `release`; no reads.
 *
 * @example
 * ```ts
 * const budget = new TokenBudget({ store: new DynamoTokenBudgetStore({ tableName }), plans: config.plans, logger });
 * const reservation = await budget.reserve(user.id, user.plan, estimatedTokens);
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
import type { AppConfig } from '../../config/schema';
import { TokenBudgetExceededError } from './errors';

const DAY_MS = 86_400_000;

/** The UTC day containing `now`: its key (`yyyy-mm-dd`) and its bounds in epoch ms. */
export function budgetWindow(now: number): { key: string; start: number; end: number } {
  const start = Math.floor(now / DAY_MS) * DAY_MS;
  return { key: new Date(start).toISOString().slice(0, 10), start, end: start + DAY_MS };
}

/** One user's counter for one window (UTC day, `yyyy-mm-dd`). */
export interface BudgetCounter {
  readonly userId: string;
  readonly window: string;
}

/** Where token budgets are counted. Every method is one atomic operation on one counter. */
export interface TokenBudgetStore {
  /**
   * Adds `tokens` to the counter unless its total would then exceed `limit` (a missing counter is 0). Returns the new
   * total, or undefined when refused (nothing added). `expiresAt` (epoch seconds) is when the store may forget it.
   */
  reserve(counter: BudgetCounter, tokens: number, limit: number, expiresAt: number): Promise<number | undefined>;
  /** Adds `delta` (may be negative) to the counter, unconditionally. */
  adjust(counter: BudgetCounter, delta: number): Promise<void>;
  /** The counter's total, strongly consistent; 0 when missing. */
  used(counter: BudgetCounter): Promise<number>;
}

export interface TokenBudgetOptions {
  /** Where the counters are shared, e.g. `DynamoTokenBudgetStore` from lambda/aws/token-budget-store.ts. */
  readonly store: TokenBudgetStore;
  /** `config.plans`: the daily limit is `plans[plan].tokensPerDay`. */
  readonly plans: AppConfig['plans'];
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Warnings for settle/release writes that failed. @default none */
  readonly logger?: Pick<Logger, 'warn'>;
  /** Days a counter is kept after its window ends (the store's expiry; cleanup only). @default 2 */
  readonly retentionDays?: number;
}

/** Tokens held for one call until it is settled or released. */
export interface TokenReservation {
  readonly userId: string;
  readonly plan: string;
  /** The window (UTC day) the tokens were reserved in; settle and release adjust this window. */
  readonly window: string;
  readonly estimatedTokens: number;
  readonly limit: number;
  /** The user's total for the window right after this reservation. */
  readonly usedAfter: number;
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
  private readonly plans: AppConfig['plans'];
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
    const config = Object.hasOwn(this.plans, plan) ? this.plans[plan] : undefined;
    if (!config) throw new Error(`Unknown plan "${plan}"`);
    return config.tokensPerDay;
  }

  /**
   * Holds `estimatedTokens` of the user's budget for today (UTC).
   *
   * @throws TokenBudgetExceededError when the estimate does not fit in what is left of the window.
   */
  async reserve(userId: string, plan: string, estimatedTokens: number): Promise<TokenReservation> {
    if (!userId) throw new Error('userId is required');
    if (!Number.isInteger(estimatedTokens) || estimatedTokens < 0) {
      throw new RangeError(`estimatedTokens must be a non-negative integer, got ${estimatedTokens}`);
    }
    const limit = this.limitFor(plan);
    const now = this.now();
    const window = budgetWindow(now);
    if (estimatedTokens > limit) {
      // No amount of waiting makes this request fit; no Retry-After.
      throw new TokenBudgetExceededError(
        `This request may use up to ${estimatedTokens} tokens, more than the ${limit} tokens per day of plan "${plan}"`,
      );
    }
    const expiresAt = Math.ceil(window.end / 1000) + this.retentionDays * 86_400;
    const usedAfter = await this.store.reserve({ userId, window: window.key }, estimatedTokens, limit, expiresAt);
    if (usedAfter === undefined) {
      throw new TokenBudgetExceededError(
        `Token budget of ${limit} tokens per day is spent; it resets at ${new Date(window.end).toISOString()}`,
        { retryAfterSeconds: secondsUntil(window.end, now) },
      );
    }
    return { userId, plan, window: window.key, estimatedTokens, limit, usedAfter };
  }

  /**
   * Replaces the reservation's estimate with the tokens the model reported. Unconditional, so a finished call is never
   * refused afterwards (the total may end slightly above the limit; the next reservation sees it). Never throws.
   */
  async settle(reservation: TokenReservation, actualTokens: number): Promise<void> {
    if (this.finished.has(reservation)) return;
    this.finished.add(reservation);
    const actual = Number.isFinite(actualTokens) ? Math.max(0, Math.round(actualTokens)) : reservation.estimatedTokens;
    await this.adjust(reservation, actual - reservation.estimatedTokens, 'settle');
  }

  /** Returns the whole estimate: no model was called. Never throws. */
  async release(reservation: TokenReservation): Promise<void> {
    if (this.finished.has(reservation)) return;
    this.finished.add(reservation);
    await this.adjust(reservation, -reservation.estimatedTokens, 'release');
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

  private async adjust(reservation: TokenReservation, delta: number, operation: 'settle' | 'release'): Promise<void> {
    if (delta === 0) return;
    try {
      await this.store.adjust({ userId: reservation.userId, window: reservation.window }, delta);
    } catch (err) {
      this.logger?.warn(`token budget ${operation} not recorded`, {
        userId: reservation.userId,
        window: reservation.window,
        delta,
        error: err instanceof Error ? { name: err.name, message: err.message } : String(err),
      });
    }
  }
}

function secondsUntil(end: number, now: number): number {
  return Math.max(1, Math.ceil((end - now) / 1000));
}
