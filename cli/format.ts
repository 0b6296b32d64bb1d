/**
 * How the CLI writes times and rates. What they measure, and how, is the typed client's `measureClientMetrics`
 * (clients/typescript/src/metrics.ts), which the web playground shows too.
 */

/** `23 ms`, `1.42 s`; `–` when there is no value. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** `48.2 tokens/s`; `–` when there is no value. */
export function formatRate(tokensPerSecond: number | null | undefined): string {
  if (tokensPerSecond === null || tokensPerSecond === undefined || !Number.isFinite(tokensPerSecond)) return '–';
  return `${tokensPerSecond.toFixed(1)} tokens/s`;
}
