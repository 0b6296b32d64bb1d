/**
 * Per-model shared quotas: requests and tokens per minute per model (`models.quotas`), taken before a model is called
 * so that Bedrock's own quotas (per model and Region) never have to throttle us. Counted in a {@link QuotaStore} shared
 * by every Lambda instance (in AWS, the guard table: `lambda/aws/quota-store.ts`).
 *
 * **Window.** Each model has one counter split into {@link QUOTA_SLOT_MS} slots. A call in slot `c` is admitted when
 * the slots `c - 12 … c` (the current one and the twelve before it: 60 to 65 seconds back) hold no more than the quota,
 * this call included. Every 60-second interval that ends now lies inside those slots, so no minute, wherever it starts,
 * ever holds more than the quota: what Bedrock's sliding accounting needs. Fixed minute windows would let a burst at the
 * end of one minute and another at the start of the next put twice the quota into one minute; a token bucket of the
 * same size allows the same twice in its first minute. The price of the slots is granularity: room comes back in
 * 5-second steps, and a steady stream gets at most the quota per 60 to 65 seconds (a few percent below it).
 *
 * **One write on the path to the first token.** {@link ModelQuota.take} adds the call (one request, and its token
 * estimate: input estimate plus `maxTokens`, as the token budget reserves) to the current slot with one atomic add that
 * returns every slot. The call is admitted when the sums it returns are within the quota: the adds are serialised on
 * the counter, so of a burst from any number of instances exactly as many are admitted as the quota has room for. A
 * refused call takes its add back (a second write, only on the refusal path) and learns from the slots when room comes
 * back (`Retry-After`). The add needs no read and no condition, so it runs beside the token budget's reservation and the
 * breaker check (`ChatService.admit` in chat.ts).
 *
 * **Afterwards.** The token estimate is corrected from the usage the model reported ({@link QuotaTicket.settle}), in
 * the slot it was charged to, while that slot still counts. A call that never reached the model gives its charge back
 * ({@link QuotaTicket.release}).
 *
 * **Cost.** One write per admitted call, one more to settle when a tokens-per-minute quota is set; a refusal costs two,
 * and then this instance refuses the same model without writing until room may have come back (at most
 * {@link REFUSAL_MEMORY_MS}), so a flood of refused calls does not make the counter's item hot.
 *
 * A quota store that fails (an outage) admits the call unguarded, with a warning, like the breaker: our own limit must
 * not take the API down.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { DIMENSIONS, METRICS } from '../../config/metrics';
import type { AppConfig, ModelQuotaConfig } from '../../config/schema';

/** Length of one slot of a model's counter. */
export const QUOTA_SLOT_MS = 5_000;
/** The quotas are per minute. */
export const QUOTA_WINDOW_MS = 60_000;
/** Slots before the current one that a call counts: together with it they cover every minute that ends now. */
const SLOTS_BEHIND = QUOTA_WINDOW_MS / QUOTA_SLOT_MS;
/** Longest this instance refuses a model without asking the store again, after the store refused it. */
export const REFUSAL_MEMORY_MS = 1_000;

/** What a call is charged in one slot. */
export interface QuotaUsage {
  readonly requests: number;
  readonly tokens: number;
}

/** A model's counter as the store returned it: usage by slot number (`floor(epoch ms / QUOTA_SLOT_MS)`). */
export type QuotaSlots = ReadonlyMap<number, QuotaUsage>;

/** Where the per-model counters are shared. Every method is one atomic operation on one model's counter. */
export interface QuotaStore {
  /**
   * Adds `usage` to `slot` of the model's counter (a missing counter or slot is 0) and returns every slot the counter
   * holds afterwards. `forget` names slots that no longer count: the store may drop them in the same write.
   * `expiresAt` (epoch seconds) is when the store may forget the whole counter.
   */
  add(
    modelId: string,
    slot: number,
    usage: QuotaUsage,
    options: { readonly expiresAt: number; readonly forget: readonly number[] },
  ): Promise<QuotaSlots>;
  /** Adds `usage` (may be negative) to `slot`, only if the counter still holds that slot; never creates it. */
  adjust(modelId: string, slot: number, usage: QuotaUsage): Promise<void>;
}

/** What a call is charged against the models' quotas, and until when it may wait for room in them. */
export interface QuotaCharge {
  /** Tokens the call may use: its input estimate plus `maxTokens`, as the token budget reserves. */
  readonly tokens: number;
  /** Epoch ms: a wait for room must end before it. */
  readonly deadlineAt: number;
  /** Aborted when the client goes away: a wait ends with it. */
  readonly signal?: AbortSignal;
}

/** Which of a model's quotas refused a call. */
export type QuotaLimit = 'requestsPerMinute' | 'tokensPerMinute';

export type QuotaDecision =
  /** Admitted; `ticket` is unset for a model without a quota (nothing was charged) or when the store failed. */
  | { readonly allowed: true; readonly ticket?: QuotaTicket }
  /**
   * Refused: `retryAfterMs` is when the quota has room for this call if no one else takes it first; unset when it never
   * will (the call alone needs more tokens than the quota allows per minute).
   */
  | { readonly allowed: false; readonly limit: QuotaLimit; readonly retryAfterMs?: number };

/** Admission to a model's quota; the port the chat core decides with. */
export interface ModelQuotaGuard {
  take(modelId: string, tokens: number): Promise<QuotaDecision>;
}

export interface ModelQuotaOptions {
  /** Where the counters are shared, e.g. `DynamoQuotaStore` from lambda/aws/quota-store.ts. */
  readonly store: QuotaStore;
  /** `config.models.quotas`: models without an entry are not counted. */
  readonly quotas: AppConfig['models']['quotas'];
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Warnings for store failures (the call goes on unguarded) and corrections that were not recorded. @default none */
  readonly logger?: Pick<Logger, 'warn'>;
  /** Where each refusal is counted (`ModelQuotaRefusals` by model). @default none */
  readonly metrics?: Pick<Metrics, 'singleMetric'>;
}

/** The slot that holds `now`. */
export function quotaSlot(now: number): number {
  return Math.floor(now / QUOTA_SLOT_MS);
}

/** Whether `slot` still counts for a call made in slot `current`. */
function counts(slot: number, current: number): boolean {
  return slot >= current - SLOTS_BEHIND && slot <= current;
}

/** The usage in slots `from … to`. */
function usageBetween(slots: QuotaSlots, from: number, to: number): QuotaUsage {
  let requests = 0;
  let tokens = 0;
  for (const [slot, usage] of slots) {
    if (slot >= from && slot <= to) {
      requests += usage.requests;
      tokens += usage.tokens;
    }
  }
  return { requests, tokens };
}

/** Which quota `used` exceeds, if any. */
function exceeded(quota: ModelQuotaConfig, used: QuotaUsage): QuotaLimit | undefined {
  if (quota.requestsPerMinute !== undefined && used.requests > quota.requestsPerMinute) return 'requestsPerMinute';
  if (quota.tokensPerMinute !== undefined && used.tokens > quota.tokensPerMinute) return 'tokensPerMinute';
  return undefined;
}

/** What this instance remembers of a refusal, so that it does not write again for every refused call. */
interface RememberedRefusal {
  readonly limit: QuotaLimit;
  /** Until when this instance refuses without asking the store. */
  readonly until: number;
  /** When the quota had room again, as the refusal computed it. */
  readonly roomAt: number;
  /** The tokens the refused call asked for: a smaller call may still fit a tokens-per-minute quota. */
  readonly tokens: number;
}

export class ModelQuota implements ModelQuotaGuard {
  private readonly store: QuotaStore;
  private readonly quotas: AppConfig['models']['quotas'];
  private readonly now: () => number;
  private readonly logger?: Pick<Logger, 'warn'>;
  private readonly metrics?: Pick<Metrics, 'singleMetric'>;
  /** Per model, the slots its counter held at the last add: those that no longer count are dropped by the next. */
  private readonly seen = new Map<string, readonly number[]>();
  private readonly refusals = new Map<string, RememberedRefusal>();

  constructor(options: ModelQuotaOptions) {
    this.store = options.store;
    this.quotas = options.quotas;
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    this.metrics = options.metrics;
  }

  /** The quota of a model, if it has one. */
  quotaOf(modelId: string): ModelQuotaConfig | undefined {
    return Object.hasOwn(this.quotas, modelId) ? this.quotas[modelId] : undefined;
  }

  /**
   * Charges one call of up to `tokens` tokens to the model's quota, or refuses it. Never throws: a store that fails
   * admits the call unguarded (logged).
   */
  async take(modelId: string, tokens: number): Promise<QuotaDecision> {
    const quota = this.quotaOf(modelId);
    if (!quota) return { allowed: true };
    if (quota.tokensPerMinute !== undefined && tokens > quota.tokensPerMinute) {
      this.refused(modelId);
      return { allowed: false, limit: 'tokensPerMinute' };
    }
    const now = this.now();
    const remembered = this.refusals.get(modelId);
    if (
      remembered &&
      remembered.until > now &&
      (remembered.limit === 'requestsPerMinute' || tokens >= remembered.tokens)
    ) {
      this.refused(modelId);
      return { allowed: false, limit: remembered.limit, retryAfterMs: Math.max(0, remembered.roomAt - now) };
    }
    const slot = quotaSlot(now);
    // Tokens are only counted (and later corrected) for a model with a tokens-per-minute quota.
    const usage: QuotaUsage = { requests: 1, tokens: quota.tokensPerMinute === undefined ? 0 : tokens };
    let slots: QuotaSlots;
    try {
      slots = await this.store.add(modelId, slot, usage, {
        // Kept while it can still count, and a little longer (cleanup only: old slots never count).
        expiresAt: Math.ceil((now + 2 * QUOTA_WINDOW_MS) / 1000),
        forget: (this.seen.get(modelId) ?? []).filter((s) => !counts(s, slot)),
      });
    } catch (err) {
      this.warn('model quota unavailable; calling unguarded', modelId, err);
      return { allowed: true };
    }
    this.seen.set(modelId, [...slots.keys()]);
    const limit = exceeded(quota, usageBetween(slots, slot - SLOTS_BEHIND, slot));
    if (limit === undefined) {
      this.refusals.delete(modelId);
      return { allowed: true, ticket: new QuotaTicket(this, modelId, slot, usage) };
    }
    await this.adjust(modelId, slot, { requests: -usage.requests, tokens: -usage.tokens }, 'refusal');
    const roomAt = this.roomAt(quota, slots, slot);
    this.refusals.set(modelId, { limit, until: Math.min(roomAt, now + REFUSAL_MEMORY_MS), roomAt, tokens });
    this.refused(modelId);
    return { allowed: false, limit, retryAfterMs: Math.max(0, roomAt - now) };
  }

  /**
   * When the refused call fits again: the start of the first later slot whose counting slots, as far as the counter
   * shows, leave room for it. Its own add (to be taken back) stands in for the call itself: it is in `current`, which
   * counts for every later slot considered here.
   */
  private roomAt(quota: ModelQuotaConfig, slots: QuotaSlots, current: number): number {
    for (let next = current + 1; next <= current + SLOTS_BEHIND; next++) {
      if (exceeded(quota, usageBetween(slots, next - SLOTS_BEHIND, current)) === undefined) return next * QUOTA_SLOT_MS;
    }
    return (current + SLOTS_BEHIND + 1) * QUOTA_SLOT_MS;
  }

  /** @internal A ticket's correction; never throws. */
  async adjust(modelId: string, slot: number, delta: QuotaUsage, why: string): Promise<void> {
    if (delta.requests === 0 && delta.tokens === 0) return;
    // A slot that no longer counts decides nothing: it is not worth a write.
    if (!counts(slot, quotaSlot(this.now()))) return;
    try {
      await this.store.adjust(modelId, slot, delta);
    } catch (err) {
      this.warn(`model quota ${why} not recorded`, modelId, err);
    }
  }

  private refused(modelId: string): void {
    if (!this.metrics) return;
    const single = this.metrics.singleMetric();
    single.addDimension(DIMENSIONS.model, modelId);
    single.addMetric(METRICS.modelQuotaRefusals.name, METRICS.modelQuotaRefusals.unit, 1);
  }

  private warn(message: string, modelId: string, err: unknown): void {
    this.logger?.warn(message, {
      modelId,
      error: err instanceof Error ? { name: err.name, message: err.message } : String(err),
    });
  }
}

/** One admitted call's charge to a model's quota: settled from the model's usage, or released; once. */
export class QuotaTicket {
  private done = false;

  constructor(
    private readonly quota: ModelQuota,
    readonly modelId: string,
    readonly slot: number,
    readonly usage: QuotaUsage,
  ) {}

  /** Replaces the token estimate with the tokens the model used (when the model has a tokens-per-minute quota). */
  async settle(actualTokens: number): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (this.usage.tokens === 0) return;
    const actual = Number.isFinite(actualTokens) ? Math.max(0, Math.round(actualTokens)) : this.usage.tokens;
    await this.quota.adjust(this.modelId, this.slot, { requests: 0, tokens: actual - this.usage.tokens }, 'settle');
  }

  /** Gives the whole charge back: the model was not called. */
  async release(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.quota.adjust(
      this.modelId,
      this.slot,
      { requests: -this.usage.requests, tokens: -this.usage.tokens },
      'release',
    );
  }
}
