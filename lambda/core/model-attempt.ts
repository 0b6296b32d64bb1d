/**
 * One model attempt's control and the words for its failures: what aborts an attempt (the client leaving, the call's
 * deadline, no first token in time) and how a failure is described to a client without upstream internals.
 */
import { classifyOutcome, TtftTimeoutError, type OutcomeKind } from './breaker-taxonomy';
import type { ChatContext } from './chat';
import { ApiError, DeadlineExceededError } from './errors';

/** The longest delay a Node.js timer keeps (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * The timer delay until `at` (epoch ms) from `now`: never negative, and never past {@link MAX_TIMER_DELAY_MS}, for
 * Node.js fires a timer whose delay does not fit in 32 bits after 1 ms instead (with a `TimeoutOverflowWarning`), which
 * would turn a far deadline into an immediate one.
 */
export function delayUntil(at: number, now: number): number {
  return Math.min(MAX_TIMER_DELAY_MS, Math.max(0, at - now));
}

/** The client went away; nothing is reported to it, and the model is not blamed. */
export class ClientGoneError extends Error {
  constructor() {
    super('The client closed the connection');
    this.name = 'ClientGoneError';
  }
}

/** The model's stream ended without `messageStop`: the connection dropped, and the answer is incomplete. */
export class StreamTruncatedError extends Error {
  constructor(readonly modelId: string) {
    super(`The stream from ${modelId} ended before the model finished`);
    this.name = 'StreamTruncatedError';
  }
}

/**
 * Aborts one model attempt for the first of: the client going away, the call's deadline, or no first token within
 * the TTFT timeout. `explain` turns the resulting abort back into the reason.
 */
export class AttemptControl {
  private readonly controller = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private reason: 'client' | 'deadline' | 'ttft' | undefined;
  private readonly onClientAbort = () => this.abort('client');

  private readonly ttftTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: Pick<ChatContext, 'deadlineAt' | 'signal'>,
    /** Undefined: no first-token timeout (a non-streaming call). */
    private readonly ttftTimeoutMs: number | undefined,
    private readonly modelId: string,
    now: number,
  ) {
    if (ctx.signal?.aborted) this.abort('client');
    ctx.signal?.addEventListener('abort', this.onClientAbort, { once: true });
    this.timers.push(setTimeout(() => this.abort('deadline'), delayUntil(ctx.deadlineAt, now)));
    if (ttftTimeoutMs !== undefined) {
      this.ttftTimer = setTimeout(() => this.abort('ttft'), ttftTimeoutMs);
      this.timers.push(this.ttftTimer);
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.reason !== undefined;
  }

  firstToken(): void {
    clearTimeout(this.ttftTimer);
  }

  finish(): void {
    this.timers.forEach(clearTimeout);
    this.ctx.signal?.removeEventListener('abort', this.onClientAbort);
  }

  explain(err: unknown): unknown {
    switch (this.reason) {
      case 'client':
        return new ClientGoneError();
      case 'deadline':
        return new DeadlineExceededError('The call ran out of time', { cause: err });
      case 'ttft':
        return new TtftTimeoutError(this.modelId, this.ttftTimeoutMs ?? 0);
      default:
        return err;
    }
  }

  private abort(reason: 'client' | 'deadline' | 'ttft'): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller.abort();
  }
}

/**
 * What went wrong with a model call, in words a client can act on. Upstream exception names and messages stay out of
 * it (they are the error's `cause`, which the functions log): they describe Bedrock's internals, not the API.
 */
export function describeFailure(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return FAILURE_WORDS[classifyOutcome(err).kind] ?? 'the model call failed';
}

const FAILURE_WORDS: Partial<Record<OutcomeKind, string>> = {
  throttled: 'the model is receiving too many requests',
  server: 'the model service had an internal error',
  timeout: 'the model did not answer in time',
  stream: 'the model stopped while generating',
  unusable: 'the model cannot be used by this deployment',
  network: 'the connection to the model failed',
};

/** The model's own reason for refusing a request (its text, which describes the request, not the exception class). */
export function upstreamMessage(err: unknown): string {
  const message = err instanceof Error ? err.message.trim() : '';
  return message.length > 0 && message.length <= 500 ? message : 'the request is not valid for the model';
}

/** The socket was reset or closed under the request (the SDK names these `TimeoutError` and keeps the code). */
export function isStaleConnection(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** Bedrock said the request itself is bad (too long for the model, for one): another try cannot help. */
export function isModelValidationError(err: unknown): boolean {
  return err instanceof Error && err.name === 'ValidationException';
}
