/**
 * Phase two of a chat call (see `chat.ts`): the model chain, one typed attempt at a time, with fallbacks before
 * content, retry passes after retryable failures, and the outcome reported to the breaker and the token budget.
 */
import { setTimeout as wait } from 'node:timers/promises';
import { backoffMs, type BackoffPolicy } from '../../config/backoff';
import type { AppConfig } from '../../config/schema';
import { classifyOutcome } from './breaker-taxonomy';
import type { Admission, ChatContext, ChatResult, ChatService } from './chat';
import { DeadlineExceededError, ModelStreamError, ModelUnavailableError, ValidationError } from './errors';
import type { CallLimits, ModelPermit } from './guards';
import type { QuotaCharge, QuotaTicket } from './quota';
import { callCostMicroUsd, modelCostMicroUsd, usdOfMicro } from './cost';
import {
  type ContentBlock,
  type ModelRequest,
  type TokenUsage,
  type ToolCall,
  type ToolCallEvent,
  totalTokens,
} from './model';
import { type CacheEntry, type CacheStatus, type CallCache, chunksOf } from './response-cache';
import {
  AttemptControl,
  ClientGoneError,
  describeFailure,
  isModelValidationError,
  isStaleConnection,
  StreamTruncatedError,
  upstreamMessage,
} from './model-attempt';

/** The model id reported when the configured degraded answer is served. */
export const DEGRADED_MODEL = 'degraded';

/** What a call is charged against each model's quota (its tokens as the budget reserves them), and its deadline. */
export function quotaChargeOf(request: ModelRequest, ctx: Pick<ChatContext, 'deadlineAt' | 'signal'>): QuotaCharge {
  return { tokens: estimateInputTokens(request) + request.maxTokens, deadlineAt: ctx.deadlineAt, signal: ctx.signal };
}

/** Conservative token estimate used for the budget reservation before the model reports real usage. */
export function estimateInputTokens(request: ModelRequest): number {
  let chars = request.system?.length ?? 0;
  let imageTokens = 0;
  for (const { content } of request.messages) {
    if (typeof content === 'string') {
      chars += content.length;
      continue;
    }
    for (const block of content) {
      if (block.type === 'image') imageTokens += IMAGE_TOKENS;
      else chars += blockChars(block);
    }
  }
  // Tool definitions reach the model as text (names, descriptions, schemas), as part of its input.
  if (request.tools?.length) chars += JSON.stringify(request.tools).length;
  return estimateTokens(chars) + imageTokens + MESSAGE_OVERHEAD_TOKENS;
}

function blockChars(block: Exclude<ContentBlock, { type: 'image' }>): number {
  switch (block.type) {
    case 'text':
      return block.text.length;
    case 'toolUse':
      return block.name.length + JSON.stringify(block.input).length;
    case 'toolResult':
      return block.text.length;
  }
}

/**
 * Tokens an image costs, whatever its size: about what the largest image Claude takes costs (an image is scaled down
 * to about 1.15 megapixels, ~1,600 tokens), so a reservation never falls short for images.
 */
const IMAGE_TOKENS = 1600;

/** Characters per token: generous for English text, so a reservation rarely falls short of the real usage. */
const CHARS_PER_TOKEN = 4;
/** Tokens a model adds around a conversation (roles, turn markers) beyond its text. */
const MESSAGE_OVERHEAD_TOKENS = 8;

/** Tokens of `chars` characters of text, where the model has not reported them. */
export function estimateTokens(chars: number): number {
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

type Mode = 'stream' | 'complete';

/** Extra passes over the chain: full jitter from `chat.retryBaseDelayMs`, doubling per pass. */
export const chatRetryBackoff = (chat: Pick<AppConfig['chat'], 'retryBaseDelayMs' | 'retryRounds'>): BackoffPolicy => ({
  baseMs: chat.retryBaseDelayMs,
  capMs: chat.retryBaseDelayMs * 2 ** Math.max(0, chat.retryRounds - 1),
  jitter: 'full',
});

/** A model attempt that produced a whole answer. */
interface Answered {
  kind: 'answered';
  startedAt: number;
  /** When the first token arrived (a non-streaming call: when the answer did); unset for an empty answer. */
  firstTokenAt?: number;
  text: string;
  toolCalls: ToolCall[];
  stopReason: string;
  usage?: TokenUsage;
}

/** A model attempt that failed; `error` is already explained (client gone, deadline, TTFT timeout, or the model's). */
interface Failed {
  kind: 'failed';
  error: unknown;
  /** Whether the client has seen any of this attempt's answer: then no other model may take over. */
  contentSent: boolean;
  /** Characters the model produced before it failed (text and tool input). */
  producedChars: number;
}

type AttemptResult = Answered | Failed;

/** Where a streamed answer goes as it arrives. */
interface Sink {
  onDelta?: (text: string) => void;
  onToolCall?: (event: ToolCallEvent) => void;
}

/** Builds the answer's tool calls from their stream events. */
function collectToolCall(calls: ToolCall[], event: ToolCallEvent): void {
  if (event.type === 'toolUseStart') {
    calls[event.index] = { toolUseId: event.toolUseId, name: event.name, input: '' };
    return;
  }
  const call = calls[event.index];
  if (call) call.input += event.input;
}

/** Phase two of a call: one use only. */
export class ChatCall {
  private used = false;
  private retryRound = 0;
  private reconnected = false;
  /** Outcome and budget writes that need not delay the answer; {@link flush} waits for them. */
  private readonly bookkeeping: Promise<unknown>[] = [];

  constructor(
    private readonly service: ChatService,
    private readonly request: ModelRequest,
    private readonly ctx: ChatContext,
    private readonly startedAt: number,
    private admission: Admission,
    private readonly reservation: unknown,
    private readonly cache?: CallCache,
  ) {}

  /** The response cache's verdict for the `x-cache` header; unset when the cache is off. */
  get cacheStatus(): CacheStatus | undefined {
    return this.cache?.status;
  }

  /** The user's limits once this call's tokens and slot are held (the rate-limit headers); unset without a budget. */
  get limits(): CallLimits | undefined {
    return (this.reservation as { limits?: CallLimits } | undefined)?.limits;
  }

  /** The model that will be tried first (announced in the stream's `start` event). */
  get model(): string {
    return this.admission.modelId;
  }

  /**
   * Streams the answer through `onDelta`, and its tool calls, if any, through `onToolCall`; resolves with the full
   * result. A tool call is content like text: once one has started, no other model may take over.
   */
  stream(onDelta: (text: string) => void, onToolCall?: (event: ToolCallEvent) => void): Promise<ChatResult> {
    return this.run('stream', { onDelta, onToolCall });
  }

  /** Calls the model without streaming (the synchronous endpoint). */
  complete(): Promise<ChatResult> {
    return this.run('complete');
  }

  /**
   * Waits for the writes that record the call's outcome (breaker success, budget settlement). The answer does not wait
   * for them; the function must, before it returns, or Lambda may freeze them half-done.
   */
  async flush(): Promise<void> {
    await Promise.allSettled(this.bookkeeping);
  }

  private later(work: Promise<unknown> | undefined): void {
    if (work) this.bookkeeping.push(work.catch(() => undefined));
  }

  private async run(mode: Mode, sink?: Sink): Promise<ChatResult> {
    if (this.used) throw new Error('A ChatCall runs once');
    this.used = true;
    if (this.cache?.entry) return this.priced(this.replay(this.cache.entry, sink)).result;
    const { budget } = this.service.serviceDeps;
    let consumed = 0;
    let spentMicroUsd: number | undefined;
    try {
      const result = await this.runChain(mode, sink, (tokens, microUsd) => {
        consumed = tokens;
        spentMicroUsd = microUsd;
      });
      const priced = this.priced(result);
      // A stored answer served as a fallback costs no tokens and no dollars. Cache reads count in full against the
      // token budget (the model read them); the dollar budget gets their price.
      if (!result.cached) {
        consumed = totalTokens(result.usage);
        spentMicroUsd = priced.microUsd;
      }
      return priced.result;
    } finally {
      if (budget && this.reservation !== undefined) {
        this.later(
          consumed > 0 || (spentMicroUsd ?? 0) > 0
            ? budget.settle(this.reservation, consumed, spentMicroUsd)
            : budget.release(this.reservation),
        );
      }
    }
  }

  /**
   * The result with its cost (`costUsd`), and that cost in micro-dollars for the dollar budget: 0 for a stored answer
   * or the degraded one; none for a model without a price.
   */
  private priced(result: ChatResult): { result: ChatResult; microUsd: number | undefined } {
    const microUsd = callCostMicroUsd(result, this.service.serviceDeps.config.models.prices, [DEGRADED_MODEL]);
    return { result: microUsd === undefined ? result : { ...result, costUsd: usdOfMicro(microUsd) }, microUsd };
  }

  /** The model chain: one attempt at a time until one answers, the chain is exhausted, or a failure must end the call. */
  private async runChain(
    mode: Mode,
    sink: Sink | undefined,
    reportConsumed: (tokens: number, microUsd: number | undefined) => void,
  ): Promise<ChatResult> {
    for (;;) {
      const { modelId, permit, quota } = this.admission;
      if (modelId === DEGRADED_MODEL) return (await this.fromCacheAsFallback(sink)) ?? this.degraded(sink?.onDelta);
      const attempt = await this.attempt(mode, modelId, sink);
      if (attempt.kind === 'answered') {
        // Converse has no first token: its ttft is the whole call, which says nothing about slowness, so it is not reported.
        const ttftMs =
          mode === 'stream' && attempt.firstTokenAt !== undefined
            ? attempt.firstTokenAt - attempt.startedAt
            : undefined;
        this.later(permit?.success({ ttftMs }));
        const result = this.resultOf(modelId, attempt);
        this.later(quota?.settle(totalTokens(result.usage)));
        if (this.cache) this.later(this.cache.cache.put(this.cache.plan, result));
        return result;
      }
      try {
        await this.afterFailure(attempt, modelId, permit, quota, reportConsumed);
      } catch (err) {
        // Every model failed before content: a stored answer to the same request beats a 503.
        const cached = err instanceof ModelUnavailableError ? await this.fromCacheAsFallback(sink) : undefined;
        if (cached) return cached;
        throw err;
      }
    }
  }

  /** A stored answer to this request when no model can answer it, if the request allows one; unset: none. */
  private async fromCacheAsFallback(sink: Sink | undefined): Promise<ChatResult | undefined> {
    const fallback = await this.service.cacheFallback(this.cache);
    if (!fallback?.entry) return undefined;
    // The stored answer's model is the one answering now (OpenAI chunks name it as they stream).
    this.admission = { index: this.admission.index, modelId: fallback.entry.model };
    return this.replay(fallback.entry, sink);
  }

  /**
   * Serves a stored answer as a model would: its text in word-sized deltas (streaming), then the result with the
   * stored model, stop reason and usage, marked `cached`.
   */
  private replay(entry: CacheEntry, sink: Sink | undefined): ChatResult {
    const now = this.service.clock;
    let firstTokenAt: number | undefined;
    if (sink?.onDelta) {
      for (const chunk of chunksOf(entry.text)) {
        firstTokenAt ??= now();
        sink.onDelta(chunk);
      }
    }
    const finishedAt = now();
    return {
      requestId: this.ctx.requestId,
      model: entry.model,
      text: entry.text,
      stopReason: entry.stopReason,
      usage: entry.usage,
      metrics: { ttftMs: (firstTokenAt ?? finishedAt) - this.startedAt, latencyMs: finishedAt - this.startedAt },
      cached: true,
    };
  }

  /** One call to one model. Never throws: every way it can end is a typed result. */
  private async attempt(mode: Mode, modelId: string, sink?: Sink): Promise<AttemptResult> {
    const now = this.service.clock;
    const { config, invoker } = this.service.serviceDeps;
    const startedAt = now();
    // Converse answers all at once, so it has no first token to wait for: only the deadline bounds it.
    const control = new AttemptControl(
      this.ctx,
      mode === 'stream' ? config.chat.ttftTimeoutMs : undefined,
      modelId,
      startedAt,
    );
    const answer: Omit<Answered, 'kind'> = { startedAt, text: '', toolCalls: [], stopReason: 'end_turn' };
    const firstToken = () => {
      if (answer.firstTokenAt !== undefined) return;
      answer.firstTokenAt = now();
      control.firstToken();
    };
    try {
      if (mode === 'stream') {
        let stopped = false;
        for await (const event of invoker.stream(modelId, this.request, control.signal)) {
          if (event.type === 'delta') {
            firstToken();
            answer.text += event.text;
            sink?.onDelta?.(event.text);
          } else if (event.type === 'toolUseStart' || event.type === 'toolUseDelta') {
            firstToken();
            collectToolCall(answer.toolCalls, event);
            sink?.onToolCall?.(event);
          } else if (event.type === 'stop') {
            answer.stopReason = event.stopReason;
            stopped = true;
          } else answer.usage = event.usage;
        }
        // The SDK ends the event loop quietly, without throwing, both when the call is aborted after the response
        // started and when the connection drops mid-stream: neither may pass for a finished answer.
        if (control.aborted) throw new Error('aborted');
        if (!stopped) throw new StreamTruncatedError(modelId);
      } else {
        const completion = await invoker.complete(modelId, this.request, control.signal);
        Object.assign(answer, {
          firstTokenAt: now(),
          text: completion.text,
          toolCalls: completion.toolCalls ?? [],
          stopReason: completion.stopReason,
          usage: completion.usage,
        });
      }
      return { kind: 'answered', ...answer };
    } catch (raw) {
      return {
        kind: 'failed',
        error: control.explain(raw),
        contentSent: answer.firstTokenAt !== undefined,
        producedChars: answer.text.length + answer.toolCalls.reduce((n, c) => n + c.name.length + c.input.length, 0),
      };
    } finally {
      control.finish();
    }
  }

  /**
   * Decides what a failed attempt means: the call ends (client gone, deadline, failure after content, no model left),
   * or the chain goes on (the same model once more on a fresh connection, or the next admitted model).
   */
  private async afterFailure(
    attempt: Failed,
    modelId: string,
    permit: ModelPermit | undefined,
    quota: QuotaTicket | undefined,
    reportConsumed: (tokens: number, microUsd: number | undefined) => void,
  ): Promise<void> {
    const { error, contentSent } = attempt;
    const inputTokens = estimateInputTokens(this.request);
    const outputTokens = estimateTokens(attempt.producedChars);
    const consumed = inputTokens + outputTokens;
    const spent = modelCostMicroUsd(this.service.serviceDeps.config.models.prices, modelId, {
      inputTokens,
      outputTokens,
    });
    if (error instanceof ClientGoneError || error instanceof DeadlineExceededError) {
      // The client leaving and our own deadline say nothing about the model: the breaker is not told.
      this.later(permit?.release());
      this.later(quota?.settle(consumed));
      if (error instanceof ClientGoneError || contentSent) reportConsumed(consumed, spent);
      throw error;
    }
    if (!contentSent && !this.reconnected && isStaleConnection(error)) {
      // A kept-alive connection that the service closed while this execution environment was frozen fails on first
      // use. That says nothing about the model: try the same model once more, on a fresh connection, uncounted.
      this.reconnected = true;
      return;
    }
    // The model was asked: its quota keeps the request, and the tokens it may have counted.
    this.later(quota?.settle(consumed));
    await permit?.failure(error);
    if (contentSent) {
      reportConsumed(consumed, spent);
      throw new ModelStreamError(`The model failed while answering: ${describeFailure(error)}`, { cause: error });
    }
    this.admission = await this.nextAdmission(error);
  }

  private resultOf(modelId: string, answer: Answered): ChatResult {
    const finishedAt = this.service.clock();
    const { text, toolCalls } = answer;
    const toolChars = toolCalls.reduce((n, c) => n + c.name.length + c.input.length, 0);
    return {
      requestId: this.ctx.requestId,
      model: modelId,
      text,
      ...(toolCalls.length ? { toolCalls } : {}),
      stopReason: answer.stopReason,
      usage: answer.usage ?? {
        inputTokens: estimateInputTokens(this.request),
        outputTokens: estimateTokens(text.length + toolChars),
      },
      metrics: { ttftMs: (answer.firstTokenAt ?? finishedAt) - this.startedAt, latencyMs: finishedAt - this.startedAt },
    };
  }

  /**
   * After a failure before content: the next admitted model; when the chain is exhausted by retryable failures, another
   * pass after a jittered backoff while rounds and time remain; otherwise the typed reason no model can answer.
   */
  private async nextAdmission(lastError: unknown): Promise<Admission> {
    try {
      return await this.service.admit(this.admission.index + 1, this.ctx.models, this.quotaCharge());
    } catch (exhausted) {
      let err = exhausted;
      if (err instanceof ModelUnavailableError && (await this.backOffForRetry(lastError))) {
        try {
          return await this.service.admit(0, this.ctx.models, this.quotaCharge());
        } catch (again) {
          err = again;
        }
      }
      if (isModelValidationError(lastError)) {
        throw new ValidationError(`body: the model rejected the request: ${upstreamMessage(lastError)}`, {
          cause: lastError,
        });
      }
      if (err instanceof ModelUnavailableError) {
        throw new ModelUnavailableError(`No model could answer: ${describeFailure(lastError)}`, {
          cause: lastError,
          retryAfterSeconds: err.retryAfterSeconds,
        });
      }
      throw err;
    }
  }

  /** What the call is charged against each model's quota it is admitted to. */
  private quotaCharge() {
    return quotaChargeOf(this.request, this.ctx);
  }

  /** Waits out a retry backoff if another pass over the chain is allowed and can still finish in time. */
  private async backOffForRetry(lastError: unknown): Promise<boolean> {
    const { chat } = this.service.serviceDeps.config;
    if (this.retryRound >= chat.retryRounds || !classifyOutcome(lastError).counts) return false;
    const random = this.service.serviceDeps.random ?? Math.random;
    this.retryRound++;
    const delay = backoffMs(chatRetryBackoff(chat), this.retryRound, { random });
    // Another pass is only worth starting if a first token could still arrive before the deadline.
    if (this.service.clock() + delay + chat.ttftTimeoutMs > this.ctx.deadlineAt) return false;
    try {
      await wait(delay, undefined, { signal: this.ctx.signal });
    } catch {
      throw new ClientGoneError();
    }
    return true;
  }

  private degraded(onDelta?: (text: string) => void): ChatResult {
    const text = this.service.serviceDeps.config.models.degradedAnswer ?? '';
    onDelta?.(text);
    const elapsed = this.service.clock() - this.startedAt;
    return {
      requestId: this.ctx.requestId,
      model: DEGRADED_MODEL,
      text,
      stopReason: 'degraded',
      usage: { inputTokens: 0, outputTokens: 0 },
      metrics: { ttftMs: elapsed, latencyMs: elapsed },
    };
  }
}
