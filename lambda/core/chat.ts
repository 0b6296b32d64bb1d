/**
 * Chat orchestration shared by the streaming, synchronous and report paths.
 *
 * A call has two phases, so that everything that can fail fast does so before a stream commits to `200`:
 * 1. {@link ChatService.begin}: the response cache, when on (a hit is served without anything below); then token
 *    budget reservation with the call's concurrent slot (one write), and the first model the breakers admit. Throws
 *    `TokenBudgetExceededError` or `ConcurrencyLimitExceededError` (429 with `Retry-After`), or
 *    `ModelUnavailableError` (503 with `Retry-After`) when no model is admitted and no stored answer can stand in.
 * 2. {@link ChatCall.stream} / {@link ChatCall.complete}: the model call. A failure before the first token moves on to
 *    the next model in the chain (still inside the same stream), and past the last one to a stored answer, if any; a
 *    failure after content is a `ModelStreamError`. Every outcome is reported to the breaker, the budget is settled
 *    from the usage the model reported, and a complete answer is stored in the cache.
 *
 * @example
 * const call = await chat.begin(request, { caller, requestId, deadlineAt });
 * sse.event('start', { requestId, model: call.model });
 * const result = await call.stream((text) => sse.event('delta', { text }));
 */
import type { AppConfig } from '../../config/schema';
import { modelChain } from '../../config/models';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChatCall, DEGRADED_MODEL, estimateInputTokens, quotaChargeOf } from './chat-call';
import { estimateMicroUsd } from './cost';
import { ModelQuotaExceededError, ModelUnavailableError, ValidationError } from './errors';
import type { GuardDecision, ModelGuard, ModelPermit, TokenBudgetGuard } from './guards';
import type { Caller } from './identity';
import type { ModelInvoker, ModelRequest, TokenUsage, ToolCall } from './model';
import { ClientGoneError } from './model-attempt';
import type { ModelQuotaGuard, QuotaCharge, QuotaDecision, QuotaLimit, QuotaTicket } from './quota';
import type { CacheDirectives, CallCache, ResponseCache } from './response-cache';

export type { GuardDecision, ModelGuard, ModelPermit, TokenBudgetGuard } from './guards';

export interface ChatMetrics {
  ttftMs: number;
  latencyMs: number;
}

export interface ChatResult {
  requestId: string;
  model: string;
  text: string;
  /** The tool calls the model made (then `stopReason` is `tool_use`); unset: none. */
  toolCalls?: ToolCall[];
  stopReason: string;
  usage: TokenUsage;
  metrics: ChatMetrics;
  /**
   * Set when the answer came from the response cache (a hit, or a fallback when no model could answer): `model`,
   * `stopReason` and `usage` are the stored call's, and the call was charged nothing.
   */
  cached?: true;
  /** What the call cost in US dollars (6 decimals), from `models.prices`; unset: the model has no price. */
  costUsd?: number;
}

export interface ChatContext {
  caller: Pick<Caller, 'userId' | 'plan'>;
  requestId: string;
  /** Epoch ms by which the call must have finished (derived from the function's remaining time). */
  deadlineAt: number;
  /** Aborted when the client goes away. */
  signal?: AbortSignal;
  /** The models this call may use, in order (a client chose a model or alias); unset: the configured chain. */
  models?: readonly string[];
  /**
   * Whether the call holds one of the user's `plans.<plan>.maxConcurrentRequests` slots until it ends (a lease that
   * expires at `deadlineAt`). The report worker passes false: the queue and `reports.maxConcurrency` pace reports.
   * @default true
   */
  countsInFlight?: boolean;
  /** The client's `Cache-Control` directives for the response cache; unset: none. */
  cacheControl?: CacheDirectives;
}

export { ChatCall, chatRetryBackoff, DEGRADED_MODEL, estimateInputTokens, estimateTokens } from './chat-call';
export { ClientGoneError, StreamTruncatedError } from './model-attempt';

export interface ChatServiceDeps {
  config: AppConfig;
  invoker: ModelInvoker;
  guard?: ModelGuard;
  budget?: TokenBudgetGuard;
  /** The per-model quotas (`models.quotas`), shared by every instance; unset: none are enforced. */
  quota?: ModelQuotaGuard;
  /** The response cache (`cache.enabled`); unset: answers are neither looked up nor stored. */
  cache?: ResponseCache;
  now?: () => number;
  /** Source of jitter for retry backoff. @default Math.random */
  random?: () => number;
  /** Told about guard failures, which are survived (fail open) but must be visible. */
  onGuardError?: (err: unknown, modelId: string) => void;
}

/** Retry-After for a 503 when no breaker gave a better hint. */
const DEFAULT_RETRY_AFTER_SECONDS = 5;

/** Woken this long after a quota's room is due, so that the slot it comes back in has surely begun. */
const QUOTA_WAKE_MARGIN_MS = 20;

/** Why no model of a pass over the chain was admitted. */
interface Refusals {
  /** The soonest an open breaker lets a call through, in seconds. */
  breakerSeconds?: number;
  /** The soonest a model over its quota has room for the call, in ms, and which of its quotas that is. */
  quotaMs?: number;
  quotaLimit?: QuotaLimit;
  /** A model's quota can never hold the call (it needs more tokens than the quota allows per minute). */
  quotaNever?: boolean;
}

export class ChatService {
  private readonly chain: string[];
  private readonly now: () => number;

  constructor(private readonly deps: ChatServiceDeps) {
    this.chain = modelChain(deps.config);
    this.now = deps.now ?? Date.now;
  }

  /** Phase one: limits and admission. Throws before anything is committed to the client. */
  async begin(request: ModelRequest, ctx: ChatContext): Promise<ChatCall> {
    const startedAt = this.now();
    const { budget } = this.deps;
    // A cache hit is answered before anything else: no budget, no concurrent slot, no breaker, no quota. Looking it up
    // first costs a miss one read before the reservation; running them together would make a hit take and give back a
    // slot and a half-open breaker's probe lease.
    let cache = this.cacheOf(request, ctx);
    if (cache?.plan.read) {
      const entry = await cache.cache.get(cache.plan);
      cache.cache.recordLookup(entry ? 'hit' : 'miss', entry);
      if (entry) return this.fromCache(request, ctx, startedAt, { ...cache, status: 'hit', entry });
    } else cache?.cache.recordLookup('bypass');
    // A miss just read the entry a fallback would serve: while admitting, none is read again.
    const lookedUp = cache?.plan.read === true;
    // The reservation (budget and concurrent slot in one write) and the breaker check are independent round trips on
    // the path to the first token: run them together, then undo whichever succeeded if the other refused. A limit
    // refusal wins (it is the caller's to fix).
    const lease = ctx.countsInFlight === false ? undefined : { holder: ctx.requestId, expiresAt: ctx.deadlineAt };
    const inputTokens = estimateInputTokens(request);
    const [reserved, admitted] = await Promise.allSettled([
      budget
        ? budget.reserve(
            ctx.caller.userId,
            ctx.caller.plan,
            inputTokens + request.maxTokens,
            lease,
            estimateMicroUsd(inputTokens, request.maxTokens, ctx.models ?? this.chain, this.deps.config.models.prices),
          )
        : undefined,
      this.admit(0, ctx.models, quotaChargeOf(request, ctx)),
    ]);
    if (reserved.status === 'rejected' || admitted.status === 'rejected') {
      if (admitted.status === 'fulfilled')
        await Promise.all([admitted.value.permit?.release(), admitted.value.quota?.release()]);
      if (budget && reserved.status === 'fulfilled' && reserved.value !== undefined)
        await budget.release(reserved.value);
      if (reserved.status === 'rejected') throw reserved.reason;
      const reason = (admitted as PromiseRejectedResult).reason;
      const fallback =
        reason instanceof ModelUnavailableError && !lookedUp ? await this.cacheFallback(cache) : undefined;
      if (fallback) return this.fromCache(request, ctx, startedAt, fallback);
      throw reason;
    }
    if (cache && admitted.value.modelId === DEGRADED_MODEL) {
      // No model can answer: a stored answer to the same request is better than the degraded one.
      const fallback = lookedUp ? undefined : await this.cacheFallback(cache);
      if (fallback) {
        if (budget && reserved.value !== undefined) await budget.release(reserved.value);
        return this.fromCache(request, ctx, startedAt, fallback);
      }
      // Looked up and not found: the degraded answer follows at once, without another read.
      cache = noFallback(cache);
    }
    return new ChatCall(this, request, ctx, startedAt, admitted.value, reserved.value, cache);
  }

  /** The cache and what this request may do with it; unset when the cache is off. */
  private cacheOf(request: ModelRequest, ctx: ChatContext): CallCache | undefined {
    const { cache } = this.deps;
    if (!cache) return undefined;
    const plan = cache.plan(request, ctx.models ?? this.chain, ctx.caller.userId, ctx.cacheControl);
    return { cache, plan, status: plan.read ? 'miss' : 'bypass' };
  }

  /** The stored answer to serve when no model can answer, if the request allows it and there is one (counted). */
  async cacheFallback(cache: CallCache | undefined): Promise<CallCache | undefined> {
    if (!cache?.plan.fallback) return undefined;
    const entry = await cache.cache.get(cache.plan);
    if (!entry) return undefined;
    cache.cache.recordFallback(entry);
    return { ...cache, status: 'hit', entry };
  }

  /** A call that serves a stored answer: it holds nothing (no budget, slot, breaker permit or quota). */
  private fromCache(request: ModelRequest, ctx: ChatContext, startedAt: number, cache: CallCache): ChatCall {
    const model = cache.entry?.model ?? DEGRADED_MODEL;
    return new ChatCall(this, request, ctx, startedAt, { index: 0, modelId: model }, undefined, cache);
  }

  /**
   * Finds the first model at or after `from` in the chain (`models`, else the configured one) that its breaker admits
   * and whose quota has room for `charge` (both asked at once). A model refused by either is skipped for the next, as a
   * fallback before content. When every model is refused and a quota has room again soon, waits for it (at most
   * `models.quotaWaitMs` in all, within the deadline) and tries the chain again.
   *
   * @throws ModelQuotaExceededError (429) when a model over its quota is the soonest to have room again
   * @throws ModelUnavailableError (503) when only open breakers refused, and no degraded answer is configured
   */
  async admit(from: number, models: readonly string[] = this.chain, charge?: QuotaCharge): Promise<Admission> {
    let waitedMs = 0;
    for (;;) {
      const refusals: Refusals = {};
      for (const [index, modelId] of models.entries()) {
        if (index < from) continue;
        const admission = await this.admitModel(index, modelId, charge, refusals);
        if (admission) return admission;
      }
      const { quotaMs, breakerSeconds } = refusals;
      if (quotaMs !== undefined) {
        const waitMs = quotaMs + QUOTA_WAKE_MARGIN_MS;
        if (charge && this.mayWait(waitMs, waitedMs, charge)) {
          try {
            await sleep(waitMs, undefined, { signal: charge.signal });
          } catch {
            throw new ClientGoneError();
          }
          waitedMs += waitMs;
          continue;
        }
        const retryAfterSeconds = Math.min(quotaMs / 1000, breakerSeconds ?? Number.POSITIVE_INFINITY);
        throw new ModelQuotaExceededError(
          'Every model this request may use is at its requests- or tokens-per-minute quota; retry later',
          { retryAfterSeconds, limit: refusals.quotaLimit },
        );
      }
      if (refusals.quotaNever && breakerSeconds === undefined) {
        throw new ValidationError(
          `body: this request may use up to ${charge?.tokens} tokens, more than the tokens-per-minute quota of any ` +
            'model it may use allows; ask for fewer maxTokens or send less text',
        );
      }
      if (this.deps.config.models.degradedAnswer !== undefined)
        return { index: models.length, modelId: DEGRADED_MODEL };
      throw new ModelUnavailableError('No model is available right now; retry later', {
        retryAfterSeconds: breakerSeconds ?? DEFAULT_RETRY_AFTER_SECONDS,
      });
    }
  }

  /** One model: its breaker and its quota, asked together; whichever admitted is given back if the other refused. */
  private async admitModel(
    index: number,
    modelId: string,
    charge: QuotaCharge | undefined,
    refusals: Refusals,
  ): Promise<Admission | undefined> {
    const { quota } = this.deps;
    const [breaker, taken] = await Promise.all([
      this.breakerDecision(modelId),
      quota && charge ? quota.take(modelId, charge.tokens) : ({ allowed: true } as QuotaDecision),
    ]);
    if (!breaker.allowed) {
      if (taken.allowed) await taken.ticket?.release();
      refusals.breakerSeconds = Math.min(
        refusals.breakerSeconds ?? Number.POSITIVE_INFINITY,
        breaker.retryAfterSeconds,
      );
      return undefined;
    }
    if (!taken.allowed) {
      // Our own limit says nothing about the model: the breaker is not told.
      await breaker.permit?.release();
      if (taken.retryAfterMs === undefined) refusals.quotaNever = true;
      else if (refusals.quotaMs === undefined || taken.retryAfterMs < refusals.quotaMs) {
        refusals.quotaMs = taken.retryAfterMs;
        refusals.quotaLimit = taken.limit;
      }
      return undefined;
    }
    return { index, modelId, permit: breaker.permit, quota: taken.ticket };
  }

  private async breakerDecision(modelId: string): Promise<GuardDecision | { allowed: true; permit?: undefined }> {
    if (!this.deps.guard) return { allowed: true };
    try {
      return await this.deps.guard.acquire(modelId);
    } catch (err) {
      // The breaker's table being unreachable must not take the API down with it: admit, unguarded.
      this.deps.onGuardError?.(err, modelId);
      return { allowed: true };
    }
  }

  /** Whether a wait for quota stays within `models.quotaWaitMs` in all and leaves time before the call's deadline. */
  private mayWait(waitMs: number, waitedMs: number, charge: QuotaCharge): boolean {
    return (
      waitedMs + waitMs <= this.deps.config.models.quotaWaitMs &&
      this.now() + waitMs < charge.deadlineAt &&
      !charge.signal?.aborted
    );
  }

  get serviceDeps(): ChatServiceDeps {
    return this.deps;
  }

  get clock(): () => number {
    return this.now;
  }
}

/** The call's cache with its fallback already spent. */
function noFallback(cache: CallCache): CallCache {
  return { ...cache, plan: { ...cache.plan, fallback: false } };
}

export interface Admission {
  index: number;
  modelId: string;
  permit?: ModelPermit;
  /** The call's charge to the model's quota, when it has one: settled from the model's usage. */
  quota?: QuotaTicket;
}
