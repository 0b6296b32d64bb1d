/**
 * What the client measures for one answer, the same way for `genai chat` and `genai bench`: time to first token, total
 * latency and output tokens per second, all from the client's side (so they include the network, unlike the API's own
 * `metrics`).
 */

export interface ClientMetrics {
  /** Request sent → first token. For a synchronous call the answer arrives whole: its TTFT is its latency. */
  readonly ttftMs: number;
  /** Request sent → the answer complete. */
  readonly latencyMs: number;
  /**
   * Output tokens / generation time, where generation runs from the first token to the end of a stream, and is the
   * whole request for a synchronous call (or a stream whose tokens all arrived at once). Null without output tokens.
   */
  readonly tokensPerSecond: number | null;
}

/** Milliseconds from `performance.now()` readings. `firstTokenAt` is undefined for a synchronous call. */
export function measure(
  sentAt: number,
  firstTokenAt: number | undefined,
  doneAt: number,
  outputTokens: number,
): ClientMetrics {
  const latencyMs = doneAt - sentAt;
  const ttftMs = (firstTokenAt ?? doneAt) - sentAt;
  const streamedMs = firstTokenAt === undefined ? 0 : doneAt - firstTokenAt;
  const generationMs = streamedMs >= 1 ? streamedMs : latencyMs;
  return {
    ttftMs: round(ttftMs),
    latencyMs: round(latencyMs),
    tokensPerSecond: outputTokens > 0 && generationMs > 0 ? round((outputTokens * 1000) / generationMs) : null,
  };
}

/** One decimal: enough for milliseconds and tokens per second. */
export function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** `23 ms`, `1.42 s`. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** `48.2 tokens/s`. */
export function formatRate(tokensPerSecond: number | null | undefined): string {
  if (tokensPerSecond === null || tokensPerSecond === undefined || !Number.isFinite(tokensPerSecond)) return '–';
  return `${tokensPerSecond.toFixed(1)} tokens/s`;
}
