/**
 * What a person waits for, measured on the caller's side: time to first token, total latency and output tokens per
 * second of one answer. These include the network and everything between the caller and the API, unlike the API's
 * own `metrics` (on a stream's `end` event and in the `chat()` answer). One definition for every surface that shows
 * them (the `genai` CLI, the web playground), so the same answer gets the same numbers everywhere.
 *
 * @example
 * import { measureClientMetrics } from '@serverless-genai/client';
 *
 * const sentAt = performance.now();
 * let firstTokenAt: number | undefined;
 * let outputTokens = 0;
 * for await (const event of client.chatStream({ message: 'Hello' })) {
 *   if (event.type === 'delta') firstTokenAt ??= performance.now();
 *   if (event.type === 'end') outputTokens = event.usage.outputTokens;
 * }
 * const { ttftMs, latencyMs, tokensPerSecond } = measureClientMetrics({
 *   sentAt,
 *   firstTokenAt,
 *   doneAt: performance.now(),
 *   outputTokens,
 * });
 */

/** Readings of one monotonic clock (`performance.now()`), in milliseconds, and the answer's output tokens. */
export interface ClientTimings {
  /** The request was sent. */
  readonly sentAt: number;
  /**
   * The first token arrived: a stream's first `delta`. Unset for a synchronous call (the answer arrives whole), and
   * for a stream before its first `delta`.
   */
  readonly firstTokenAt?: number | undefined;
  /** The answer was complete (a stream's `end` event, the `chat()` answer), or now, for a running figure. */
  readonly doneAt: number;
  /**
   * The answer's output tokens (`usage.outputTokens`). A running figure during a stream, before `end` tells the count,
   * can pass what arrived so far (the deltas received, one or a few tokens each).
   */
  readonly outputTokens: number;
}

export interface ClientMetrics {
  /**
   * Sent → first token, in milliseconds. For a synchronous call, or a stream with no token yet, the first thing the
   * caller sees is the end: its TTFT is its latency.
   */
  readonly ttftMs: number;
  /** Sent → the answer complete, in milliseconds. */
  readonly latencyMs: number;
  /**
   * Output tokens over the generation time: from the first token to the end of a stream; the whole request for a
   * synchronous call, or for a stream whose tokens arrived within the same millisecond. The time to first token is
   * left out, so that a slow start and a slow model are told apart. Null without output tokens.
   */
  readonly tokensPerSecond: number | null;
}

/**
 * TTFT, latency and tokens/s from the moments of one answer, each rounded to a tenth (finer is below what a client's
 * clock tells: browsers coarsen `performance.now()`).
 */
export function measureClientMetrics(timings: ClientTimings): ClientMetrics {
  const { sentAt, firstTokenAt, doneAt, outputTokens } = timings;
  const latencyMs = doneAt - sentAt;
  const ttftMs = (firstTokenAt ?? doneAt) - sentAt;
  const streamedMs = firstTokenAt === undefined ? 0 : doneAt - firstTokenAt;
  const generationMs = streamedMs >= 1 ? streamedMs : latencyMs;
  return {
    ttftMs: tenths(ttftMs),
    latencyMs: tenths(latencyMs),
    tokensPerSecond: outputTokens > 0 && generationMs > 0 ? tenths((outputTokens * 1000) / generationMs) : null,
  };
}

function tenths(value: number): number {
  return Math.round(value * 10) / 10;
}
