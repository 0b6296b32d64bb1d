/**
 * Async reports through the whole local stack (gateway → submit → queue → worker environment → simulator → table →
 * bus → webhook sender → receiver).
 *
 * - async overhead: submit sent → report COMPLETED (its `finishedAt`), minus the model call's own time (the
 *   `modelLatencyMs` the worker records): what the queue, the worker and the writes add. Target (issue 12): p50 ≤ 50 ms
 *   at 8 reports at a time, listed in the report's summary.
 * - webhook latency: report COMPLETED → signed webhook received by a local receiver. Target ≤ 200 ms.
 *
 * Clock: one machine, so the client's, the worker's and the receiver's `Date.now()` agree.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ENV } from '../config/runtime';
import { startLocalCloud } from '../local/cloud';
import type { ReportSample } from './reports-load';
import { percentile, summaryLine, table, runAsMain } from './stats';

const KEY = 'bench-reports-key-000000000000';
const TARGET_OVERHEAD_MS = 50;
const TARGET_WEBHOOK_MS = 200;
/** Reports at once, and how many in all. */
const STEPS = [
  [1, 40],
  [8, 80],
] as const;
const run$ = promisify(execFile);

const ms = (v: number) => `${Math.round(v)} ms`;
const verdict = (p50: number, p99: number, target: number) =>
  p99 <= target ? 'met (p50 and p99)' : p50 <= target ? 'met at p50, not at p99' : 'not met';

export async function run(): Promise<string> {
  const cloud = await startLocalCloud({ quiet: true, apiKeys: `bench:pro:${KEY}` });
  try {
    const tsx = join(__dirname, '..', 'node_modules', '.bin', 'tsx');
    const args = [
      join(__dirname, 'reports-load.ts'),
      cloud.url,
      KEY,
      cloud.dynamoEndpoint,
      cloud.env[ENV.reportsTable] as string,
      STEPS.map(([concurrency, total]) => `${concurrency}:${total}`).join(','),
    ];
    const { stdout } = await run$(tsx, args, { maxBuffer: 16 * 1024 * 1024 });
    const results = JSON.parse(stdout) as Record<string, ReportSample[]>;
    const rows: string[][] = [];
    const summary: string[] = [];
    for (const [concurrency, total] of STEPS) {
      const samples = results[concurrency] ?? [];
      const overhead = samples.map((s) => s.overheadMs);
      const webhook = samples.map((s) => s.webhookMs);
      const model = samples.map((s) => s.modelMs);
      const [o50, o99, w50, w99] = [
        percentile(overhead, 50),
        percentile(overhead, 99),
        percentile(webhook, 50),
        percentile(webhook, 99),
      ];
      if (concurrency === 8)
        summary.push(
          summaryLine({
            metric: 'Reports async overhead p50, 8 at a time',
            target: `≤ ${TARGET_OVERHEAD_MS} ms`,
            value: ms(o50),
            met: o50 <= TARGET_OVERHEAD_MS,
          }),
        );
      rows.push([
        `async overhead, ${concurrency} at a time (n=${total})`,
        ms(o50),
        ms(o99),
        `≤ ${TARGET_OVERHEAD_MS} ms`,
        verdict(o50, o99, TARGET_OVERHEAD_MS),
        `model time p50 ${ms(percentile(model, 50))}`,
      ]);
      rows.push([
        `webhook latency after completion, ${concurrency} at a time`,
        ms(w50),
        ms(w99),
        `≤ ${TARGET_WEBHOOK_MS} ms`,
        verdict(w50, w99, TARGET_WEBHOOK_MS),
        '',
      ]);
    }
    return [
      '## Async reports (local cloud)',
      'Submit → COMPLETED minus the model call, and COMPLETED → signed webhook received, through the gateway, fauxqs, ' +
        "the worker's execution environment (at most `reports.maxConcurrency` invocations at once), the simulator (default pace), dynalite and the local event bus. " +
        'The clients and the webhook receiver run in a process of their own (`reports-load.ts`).',
      table(['measure', 'p50', 'p99', 'target', 'verdict', 'note'], rows),
      summary.join('\n'),
    ].join('\n\n');
  } finally {
    await cloud.reports.bus.idle(5_000);
    await cloud.stop();
  }
}

if (require.main === module) runAsMain(run);
