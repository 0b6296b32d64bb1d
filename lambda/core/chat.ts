/**
 * Chat orchestration shared by the streaming, synchronous and report paths.
 *
 * A call has two phases, so that everything that can fail fast does so before a stream commits to `200`:
 * 1. {@link ChatService.begin}: token budget reservation with the call's concurrent slot (one write), and the first
 *    model the breakers admit. Throws `TokenBudgetExceededError` or `ConcurrencyLimitExceededError` (429 with
 *    `Retry-After`), or `ModelUnavailableError` (503 with `Retry-After`).
 * 2. {@link ChatCall.stream} / {@link ChatCall.complete}: the model call. A failure before the first token moves on to
 *    the next model in the chain (still inside the same stream); a failure after content is a `ModelStreamError`.
 *    Every outcome is reported to the breaker and the budget is settled from the usage the model reported.
 *
 * @example
 * const call = await chat.begin(request, { caller, requestId, deadlineAt });
 * sse.event('start', { requestId, model: call.model });
 * const result = await call.stream((text) => sse.event('delta', { text }));
 */
import type { AppConfig } from '../../config/schema';
import { modelChain } from '../../config/schema';
import { ChatCall, DEGRADED_MODEL, estimateInputTokens } from './chat-call';
import { ModelUnavailableError } from './errors';
import type { GuardDecision, ModelGuard, ModelPermit, TokenBudgetGuard } from './guards';
import type { Caller } from './identity';
import type { ModelInvoker, ModelRequest, TokenUsage, ToolCall } from './model';

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
}

export { ChatCall, chatRetryBackoff, DEGRADED_MODEL, estimateInputTokens, estimateTokens } from './chat-call';
export { ClientGoneError, StreamTruncatedError } from './model-attempt';

export interface ChatServiceDeps {
  config: AppConfig;
  invoker: ModelInvoker;
  guard?: ModelGuard;
  budget?: TokenBudgetGuard;
  now?: () => number;
  /** Source of jitter for retry backoff. @default Math.random */
  random?: () => number;
  /** Told about guard failures, which are survived (fail open) but must be visible. */
  onGuardError?: (err: unknown, modelId: string) => void;
}

/** Retry-After for a 503 when no breaker gave a better hint. */
const DEFAULT_RETRY_AFTER_SECONDS = 5;

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
    // The reservation (budget and concurrent slot in one write) and the breaker check are independent round trips on
    // the path to the first token: run them together, then undo whichever succeeded if the other refused. A limit
    // refusal wins (it is the caller's to fix).
    const lease = ctx.countsInFlight === false ? undefined : { holder: ctx.requestId, expiresAt: ctx.deadlineAt };
    const [reserved, admitted] = await Promise.allSettled([
      budget
        ? budget.reserve(ctx.caller.userId, ctx.caller.plan, estimateInputTokens(request) + request.maxTokens, lease)
        : undefined,
      this.admit(0, ctx.models),
    ]);
    if (reserved.status === 'rejected' || admitted.status === 'rejected') {
      if (admitted.status === 'fulfilled') await admitted.value.permit?.release();
      if (budget && reserved.status === 'fulfilled' && reserved.value !== undefined)
        await budget.release(reserved.value);
      throw reserved.status === 'rejected' ? reserved.reason : (admitted as PromiseRejectedResult).reason;
    }
    return new ChatCall(this, request, ctx, startedAt, admitted.value, reserved.value);
  }

  /** Finds the first model at or after `from` in the chain (`models`, else the configured one) that a breaker admits. */
  async admit(from: number, models: readonly string[] = this.chain): Promise<Admission> {
    let retryAfter: number | undefined;
    for (const [index, modelId] of models.entries()) {
      if (index < from) continue;
      if (!this.deps.guard) return { index, modelId };
      let decision: GuardDecision;
      try {
        decision = await this.deps.guard.acquire(modelId);
      } catch (err) {
        // The breaker's table being unreachable must not take the API down with it: admit, unguarded.
        this.deps.onGuardError?.(err, modelId);
        return { index, modelId };
      }
      if (decision.allowed) return { index, modelId, permit: decision.permit };
      retryAfter =
        retryAfter === undefined ? decision.retryAfterSeconds : Math.min(retryAfter, decision.retryAfterSeconds);
    }
    if (this.deps.config.models.degradedAnswer !== undefined) return { index: models.length, modelId: DEGRADED_MODEL };
    throw new ModelUnavailableError('No model is available right now; retry later', {
      retryAfterSeconds: retryAfter ?? DEFAULT_RETRY_AFTER_SECONDS,
    });
  }

  get serviceDeps(): ChatServiceDeps {
    return this.deps;
  }

  get clock(): () => number {
    return this.now;
  }
}

export interface Admission {
  index: number;
  modelId: string;
  permit?: ModelPermit;
}
