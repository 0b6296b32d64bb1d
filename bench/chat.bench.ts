/**
 * Streaming chat latency through the whole local cloud (gateway → authorizer → handler → chat core → Bedrock
 * simulator), against a baseline measured in the same run: the SDK calling the simulator directly, with nothing of ours
 * in between. The simulator's time to first token is 100 ms, as in issue 12's table.
 *
 * TTFT overhead above the baseline, at 1 stream and at 20 concurrent streams, for `POST /chat/stream` (first `delta`)
 * and `POST /chat/completions` with `stream: true` (first chunk carrying content): a percentile of the endpoint's TTFT
 * minus the same percentile of the baseline's. Targets: p50 ≤ 2 ms at 1 stream; p50 ≤ 10 ms and p99 ≤ 25 ms at 20.
 * Time to `start` (request sent → `event: start`) is listed beside them.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalCloud, type LocalCloud } from '../local/cloud';
import type { LoadResult } from './chat-load';
import { BENCH_PLAN, percentile, summaryLine, table, runAsMain } from './stats';

const MODEL_TTFT_MS = 100;
/** Targets per concurrency: TTFT overhead above the baseline at p50 and, where set, at p99 (ms). */
const TARGETS: Record<number, { p50: number; p99?: number }> = { 1: { p50: 2 }, 20: { p50: 10, p99: 25 } };
/** One user per concurrent stream. */
const KEYS = Array.from({ length: 20 }, (_, i) => `bench-user-${String(i).padStart(2, '0')}-key-0000000000000`);
const run$ = promisify(execFile);

/** Runs the load in a separate process (see `chat-load.ts`). */
async function load(cloud: LocalCloud, concurrency: number, total: number): Promise<LoadResult> {
  const tsx = join(__dirname, '..', 'node_modules', '.bin', 'tsx');
  const args = [
    join(__dirname, 'chat-load.ts'),
    cloud.url,
    KEYS.join(','),
    cloud.simulator.url,
    cloud.config.models.primary,
    String(concurrency),
    String(total),
  ];
  const { stdout } = await run$(tsx, args, { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as LoadResult;
}

export async function run(): Promise<string> {
  const cloud: LocalCloud = await startLocalCloud({
    quiet: true,
    apiKeys: KEYS.map((key, i) => `bench${i}:bench:${key}`).join(','),
    config: {
      plans: { bench: BENCH_PLAN },
    },
  });
  try {
    cloud.simulator.configure({ mode: 'normal', ttftMs: MODEL_TTFT_MS, tokensPerSecond: 5000 });

    const rows: string[][] = [];
    const summary: string[] = [];
    for (const concurrency of [1, 20]) {
      const total = concurrency === 1 ? 150 : 400;
      const { baseline, stream, completions } = await load(cloud, concurrency, total);
      const target = TARGETS[concurrency];
      const endpoints = [
        ['/chat/stream', stream.map((s) => s.firstDeltaMs)],
        ['/chat/completions', completions],
      ] as const;
      const cells: string[] = [];
      for (const [path, ttft] of endpoints) {
        const p50 = percentile(ttft, 50) - percentile(baseline, 50);
        const p99 = percentile(ttft, 99) - percentile(baseline, 99);
        cells.push(signed(p50), signed(p99));
        summary.push(
          summaryLine({
            metric: `TTFT overhead p50, ${streams(concurrency)}, ${path} (local cloud − direct)`,
            target: `≤ ${target.p50} ms`,
            value: `${signed(p50)} ms`,
            met: p50 <= target.p50,
          }),
        );
        if (target.p99 !== undefined)
          summary.push(
            summaryLine({
              metric: `TTFT overhead p99, ${streams(concurrency)}, ${path} (local cloud − direct)`,
              target: `≤ ${target.p99} ms`,
              value: `${signed(p99)} ms`,
              met: p99 <= target.p99,
            }),
          );
      }
      const start = stream.map((s) => s.startMs);
      rows.push([
        String(concurrency),
        String(stream.length),
        fmt(percentile(baseline, 50)),
        fmt(percentile(baseline, 99)),
        ...cells,
        fmt(percentile(start, 50)),
        fmt(percentile(start, 99)),
      ]);
    }
    return [
      '## Streaming chat: TTFT overhead above a direct call (/chat/stream and /chat/completions)',
      '',
      `Simulator TTFT ${MODEL_TTFT_MS} ms. Baseline: the Bedrock SDK calling the simulator directly, same run. Clients run in a process of their own; the local cloud runs the gateway and the functions in one process, DynamoDB (dynalite) and the simulator on worker threads of their own, SQS (fauxqs) in a child process.`,
      `Overhead: a percentile of the endpoint's TTFT minus the same percentile of the baseline's. /chat/stream's TTFT is its first \`delta\` event; /chat/completions' (\`stream: true\`, key as \`Authorization: Bearer\`) its first chunk carrying content. All three are timed from the request start, in rounds of \`streams\` at once taken in turn, the same number of samples each.`,
      `Targets: overhead p50 ≤ ${TARGETS[1].p50} ms at 1 stream; p50 ≤ ${TARGETS[20].p50} ms and p99 ≤ ${TARGETS[20].p99} ms at 20 streams.`,
      '',
      table(
        [
          'streams',
          'samples',
          'baseline TTFT p50 ms',
          'baseline TTFT p99 ms',
          '/chat/stream overhead p50 ms',
          '/chat/stream overhead p99 ms',
          '/chat/completions overhead p50 ms',
          '/chat/completions overhead p99 ms',
          'time to `start` p50 ms',
          'time to `start` p99 ms',
        ],
        rows,
      ),
      ...summary,
    ].join('\n');
  } finally {
    await cloud.stop();
  }
}

function fmt(ms: number): string {
  return ms.toFixed(2);
}

function streams(concurrency: number): string {
  return concurrency === 1 ? '1 stream' : `${concurrency} streams`;
}

function signed(ms: number): string {
  return `${ms >= 0 ? '+' : '−'}${fmt(Math.abs(ms))}`;
}

if (require.main === module) runAsMain(run);
