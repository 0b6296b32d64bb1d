/**
 * How the playground writes times and rates: plain functions, no DOM. What the chat panes measure, and how, is the
 * typed client's `measureClientMetrics` (clients/typescript/src/metrics.ts), which the `genai` CLI prints too.
 */

/** `312 ms` below a second, `1.24 s` above. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Tokens per second with one decimal (the label says the unit); `–` when there is none. */
export function formatRate(tokensPerSecond: number | null): string {
  return tokensPerSecond === null || !Number.isFinite(tokensPerSecond) ? '–' : tokensPerSecond.toFixed(1);
}

/** Local wall-clock time with milliseconds, for timelines. */
export function formatClock(value: string | number | Date): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}
