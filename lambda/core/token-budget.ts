/**
 * The per-user token budget: model tokens (input + output) per user per UTC day, from `plans.<plan>.tokensPerDay`.
 *
 * One atomic counter per user and day in the guard table, shared by every Lambda instance:
 *
 * | `pk` | attributes |
 * | --- | --- |
 * | `budget#<userId>#<yyyy-mm-dd>` | `used` (tokens), `userId`, `window`, `expiresAt` (epoch s, TTL: `retentionDays` after the day ends) |
 *
 * - `reserve` adds the call's estimate with one conditional `ADD` that fails when `used + estimate > limit`, so
 *   concurrent calls can never reserve more than the limit together. A rejection is a {@link TokenBudgetExceededError}
 *   (429) whose `retryAfterSeconds` is the time until the day ends (UTC). It never reaches the circuit breaker.
 * - `settle` replaces the estimate with the model's reported usage: an unconditional `ADD` of `actual - estimate`, in
 *   the window the reservation was made in. It never fails a finished call: a write error is logged and dropped.
 * - `release` gives the estimate back when no model was called.
 *
 * Cost: 1 write per `reserve`, at most 1 per `settle` (none when the estimate was exact), 1 per `release`; no reads.
 *
 * @example
 * ```ts
 * const budget = new TokenBudget({ tableName: process.env.GUARD_TABLE_NAME!, plans: config.plans, logger });
 * const reservation = await budget.reserve(user.id, user.plan, estimateTokens({ inputChars, maxTokens }));
 * try {
 *   const answer = await callModel();
 *   await budget.settle(reservation, answer.usage.inputTokens + answer.usage.outputTokens);
 * } catch (err) {
 *   if (noModelWasCalled) await budget.release(reservation);
 *   throw err;
 * }
 * ```
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { AppConfig } from '../../config/schema';
import { dynamoDocumentClient } from '../aws/clients';
import { TokenBudgetExceededError } from './errors';

const DAY_MS = 86_400_000;

/** Characters per token used by {@link estimateTokens}: a deliberately generous guess for English text. */
export const CHARS_PER_TOKEN = 4;

/**
 * What a chat call may cost before it runs: its input at {@link CHARS_PER_TOKEN} characters per token, plus every
 * output token it may produce. Settling with the reported usage corrects it afterwards.
 */
export function estimateTokens(input: { inputChars: number; maxTokens: number }): number {
  const chars = Math.max(0, Math.floor(input.inputChars));
  const maxTokens = Math.max(0, Math.floor(input.maxTokens));
  return Math.ceil(chars / CHARS_PER_TOKEN) + maxTokens;
}

/** The UTC day containing `now`: its key (`yyyy-mm-dd`) and its bounds in epoch ms. */
export function budgetWindow(now: number): { key: string; start: number; end: number } {
  const start = Math.floor(now / DAY_MS) * DAY_MS;
  return { key: new Date(start).toISOString().slice(0, 10), start, end: start + DAY_MS };
}

export interface TokenBudgetOptions {
  /** The guard table. */
  readonly tableName: string;
  /** `config.plans`: the daily limit is `plans[plan].tokensPerDay`. */
  readonly plans: AppConfig['plans'];
  /** @default dynamoDocumentClient() from lambda/aws/clients.ts */
  readonly documentClient?: DynamoDBDocumentClient;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Warnings for settle/release writes that failed. @default none */
  readonly logger?: Pick<Logger, 'warn'>;
  /** Days a counter is kept after its window ends (DynamoDB TTL; cleanup only). @default 2 */
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
  private readonly tableName: string;
  private readonly plans: AppConfig['plans'];
  private readonly client: DynamoDBDocumentClient;
  private readonly now: () => number;
  private readonly logger?: Pick<Logger, 'warn'>;
  private readonly retentionDays: number;
  /** Reservations already settled or released here, so a second call cannot count a call twice. */
  private readonly finished = new WeakSet<TokenReservation>();

  constructor(options: TokenBudgetOptions) {
    this.tableName = options.tableName;
    this.plans = options.plans;
    this.client = options.documentClient ?? dynamoDocumentClient();
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    this.retentionDays = options.retentionDays ?? 2;
  }

  static key(userId: string, window: string): string {
    return `budget#${userId}#${window}`;
  }

  /** The plan's daily token limit; throws for a plan the configuration does not know. */
  limitFor(plan: string): number {
    const config = Object.prototype.hasOwnProperty.call(this.plans, plan) ? this.plans[plan] : undefined;
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
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: TokenBudget.key(userId, window.key) },
          UpdateExpression: 'ADD #used :estimate SET #expiresAt = :expiresAt, #userId = :userId, #window = :window',
          ConditionExpression: 'attribute_not_exists(#used) OR #used <= :room',
          ExpressionAttributeNames: { '#used': 'used', '#expiresAt': 'expiresAt', '#userId': 'userId', '#window': 'window' },
          ExpressionAttributeValues: {
            ':estimate': estimatedTokens,
            ':room': limit - estimatedTokens,
            ':expiresAt': Math.ceil(window.end / 1000) + this.retentionDays * 86_400,
            ':userId': userId,
            ':window': window.key,
          },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const usedAfter = typeof out.Attributes?.used === 'number' ? out.Attributes.used : estimatedTokens;
      return { userId, plan, window: window.key, estimatedTokens, limit, usedAfter };
    } catch (err) {
      if (!isConditionalFailure(err)) throw err;
      const retryAfterSeconds = secondsUntil(window.end, now);
      throw new TokenBudgetExceededError(
        `Token budget of ${limit} tokens per day is spent; it resets at ${new Date(window.end).toISOString()}`,
        { cause: err, retryAfterSeconds },
      );
    }
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
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: TokenBudget.key(userId, window.key) }, ConsistentRead: true }),
    );
    const used = typeof out.Item?.used === 'number' ? out.Item.used : 0;
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
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: TokenBudget.key(reservation.userId, reservation.window) },
          UpdateExpression: 'ADD #used :delta',
          ExpressionAttributeNames: { '#used': 'used' },
          ExpressionAttributeValues: { ':delta': delta },
        }),
      );
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

function isConditionalFailure(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'ConditionalCheckFailedException')
  );
}
