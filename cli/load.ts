/**
 * The load behind `genai bench`: streamed (`POST /chat/stream`) and synchronous (`POST /chat`) calls side by side,
 * from `concurrency` workers that take turns between the two, until the duration is over or the request count is
 * reached, whichever comes first. Every call is bounded by its own timeout, so a run lasts at most the duration plus
 * one timeout. Failures are data: each call's HTTP status and error code are kept.
 */
import {
  type ChatRequest,
  type ClientMetrics,
  type GenAIClient,
  GenAIError,
  measureClientMetrics,
} from '../clients/typescript/src';
import { percentile } from '../bench/stats';

export type Mode = 'stream' | 'sync';
export const MODES: readonly Mode[] = ['stream', 'sync'];

/** One call's outcome. */
export type Sample =
  | { readonly mode: Mode; readonly ok: true; readonly metrics: ClientMetrics }
  | {
      readonly mode: Mode;
      readonly ok: false;
      /** HTTP status; 0 when no answer arrived; 200 for an `error` event after the stream started. */
      readonly status: number;
      readonly code: string;
    };

export interface LoadOptions {
  readonly concurrency: number;
  readonly durationMs: number;
  readonly maxRequests: number;
  /** Per call. */
  readonly timeoutMs: number;
  readonly request: ChatRequest;
  /** Ends the run (Ctrl-C): calls in flight are cancelled and the run rejects with its reason. */
  readonly signal: AbortSignal;
}

async function streamCall(client: GenAIClient, request: ChatRequest, signal: AbortSignal): Promise<Sample> {
  const sentAt = performance.now();
  let firstTokenAt: number | undefined;
  let outputTokens: number | undefined;
  for await (const event of client.chatStream(request, { signal })) {
    if (event.type === 'delta') firstTokenAt ??= performance.now();
    else if (event.type === 'end') outputTokens = event.usage.outputTokens;
    else if (event.type === 'error') return { mode: 'stream', ok: false, status: 200, code: event.error.code };
  }
  const metrics = measureClientMetrics({
    sentAt,
    firstTokenAt,
    doneAt: performance.now(),
    outputTokens: outputTokens ?? 0,
  });
  return { mode: 'stream', ok: true, metrics };
}

async function syncCall(client: GenAIClient, request: ChatRequest, signal: AbortSignal): Promise<Sample> {
  const sentAt = performance.now();
  const response = await client.chat(request, { signal });
  const metrics = measureClientMetrics({
    sentAt,
    doneAt: performance.now(),
    outputTokens: response.usage.outputTokens,
  });
  return { mode: 'sync', ok: true, metrics };
}

async function oneCall(client: GenAIClient, mode: Mode, options: LoadOptions): Promise<Sample> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = AbortSignal.any([options.signal, timeout]);
  try {
    return await (mode === 'stream' ? streamCall : syncCall)(client, options.request, signal);
  } catch (err) {
    if (options.signal.aborted) throw options.signal.reason;
    if (timeout.aborted) return { mode, ok: false, status: 0, code: 'TIMEOUT' };
    if (err instanceof GenAIError) return { mode, ok: false, status: err.status, code: err.code };
    throw err;
  }
}

/** Runs the load; resolves with every call's sample and how long the run took. */
export async function runLoad(
  client: GenAIClient,
  options: LoadOptions,
): Promise<{ samples: Sample[]; elapsedMs: number }> {
  const samples: Sample[] = [];
  const startedAt = performance.now();
  const deadline = startedAt + options.durationMs;
  let issued = 0;
  const worker = async (slot: number) => {
    // Even workers start with a stream, odd ones with a synchronous call: both run at every moment of the run.
    for (let turn = slot; issued < options.maxRequests && performance.now() < deadline; turn++) {
      issued++;
      samples.push(await oneCall(client, MODES[turn % 2]!, options));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, slot) => worker(slot)));
  return { samples, elapsedMs: performance.now() - startedAt };
}

export interface Percentiles {
  readonly p50: number | null;
  readonly p99: number | null;
}

export interface Counts {
  readonly requests: number;
  readonly ok: number;
  /** `429`: a usage-plan throttle or quota, a token budget, a concurrency limit. */
  readonly rateLimited: number;
  /** `5xx`. */
  readonly serverErrors: number;
  /** Everything else that failed: other 4xx, no answer (network, timeout), an `error` event mid-stream. */
  readonly otherErrors: number;
  /** Shares of `requests`, 0–1 (0 when there were none). */
  readonly rateLimitedShare: number;
  readonly serverErrorShare: number;
  readonly otherErrorShare: number;
  /** Failed calls by error code. */
  readonly errors: Readonly<Record<string, number>>;
}

export interface ModeSummary extends Counts {
  readonly ttftMs: Percentiles;
  readonly latencyMs: Percentiles;
  readonly tokensPerSecond: Percentiles;
}

/** Nearest rank: one of the measured values, already rounded by `measureClientMetrics`. */
function percentiles(values: readonly number[]): Percentiles {
  const at = (p: number) => (values.length ? percentile(values, p) : null);
  return { p50: at(50), p99: at(99) };
}

export function count(samples: readonly Sample[]): Counts {
  const requests = samples.length;
  const failed = samples.filter((s) => !s.ok);
  const rateLimited = failed.filter((s) => s.status === 429).length;
  const serverErrors = failed.filter((s) => s.status >= 500).length;
  const otherErrors = failed.length - rateLimited - serverErrors;
  const share = (n: number) => (requests ? Math.round((n / requests) * 10_000) / 10_000 : 0);
  const errors: Record<string, number> = {};
  for (const s of failed) errors[s.code] = (errors[s.code] ?? 0) + 1;
  return {
    requests,
    ok: requests - failed.length,
    rateLimited,
    serverErrors,
    otherErrors,
    rateLimitedShare: share(rateLimited),
    serverErrorShare: share(serverErrors),
    otherErrorShare: share(otherErrors),
    errors,
  };
}

export function summarize(samples: readonly Sample[]): ModeSummary {
  const metrics = samples.flatMap((s) => (s.ok ? [s.metrics] : []));
  return {
    ...count(samples),
    ttftMs: percentiles(metrics.map((m) => m.ttftMs)),
    latencyMs: percentiles(metrics.map((m) => m.latencyMs)),
    tokensPerSecond: percentiles(metrics.flatMap((m) => (m.tokensPerSecond === null ? [] : [m.tokensPerSecond]))),
  };
}
