/** Small statistics and formatting helpers shared by the benches, and the plan their local clouds give their keys. */
import { MAX_CONCURRENT_REQUESTS, type PlanConfig } from '../config/schema';

/** A plan that never limits a bench: no throttle, no daily quota, a billion tokens, every call at once. */
export const BENCH_PLAN: PlanConfig = {
  rateLimit: 100_000,
  burstLimit: 100_000,
  requestsPerDay: 10_000_000,
  tokensPerDay: 1_000_000_000,
  maxConcurrentRequests: MAX_CONCURRENT_REQUESTS,
};

/** Nearest-rank percentile of `values` (0 < p ≤ 100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** A markdown table. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** One row of the report's summary: a figure with a target, checked against it. */
export interface SummaryRow {
  /** What was measured, e.g. `TTFT overhead p50, 20 streams, /chat/stream`. */
  readonly metric: string;
  /** The target as a reader should see it, e.g. `≤ 10 ms`. */
  readonly target: string;
  /** The measured value with its unit, e.g. `7.41 ms`. */
  readonly value: string;
  readonly met: boolean;
}

const SUMMARY_PREFIX = '<!-- summary ';

/**
 * A line a bench prints among its markdown so that `bench/run.ts` lists the figure in the report's summary table (it is
 * an HTML comment, so the bench's own section renders without it).
 */
export function summaryLine(row: SummaryRow): string {
  return `${SUMMARY_PREFIX}${JSON.stringify(row)} -->`;
}

/** The summary rows in a bench's output, and its output without them. */
export function extractSummary(output: string): { rows: SummaryRow[]; rest: string } {
  const rows: SummaryRow[] = [];
  const kept: string[] = [];
  for (const line of output.split('\n')) {
    if (line.startsWith(SUMMARY_PREFIX) && line.endsWith(' -->')) {
      rows.push(JSON.parse(line.slice(SUMMARY_PREFIX.length, -' -->'.length)) as SummaryRow);
    } else kept.push(line);
  }
  return { rows, rest: kept.join('\n').trim() };
}

/**
 * Runs a bench (or a load process a bench starts) as the program: prints what `main` resolves to on stdout (nothing
 * for an empty string or undefined) and exits 0, or prints the error on stderr and exits 1. The explicit exit ends
 * the process even where a local cloud or a client left a handle open.
 */
export function runAsMain(main: () => Promise<string | undefined>): void {
  main().then(
    (output) => {
      if (output) console.log(output);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
      process.exit(1);
    },
  );
}
