/**
 * Streaming chat latency through the whole local stack (gateway → handler → chat core → Bedrock simulator), against
 * a baseline measured in the same run: the SDK calling the simulator directly, with nothing of ours in between.
 *
 * - time to `start`: request sent → `event: start` received (targets: p50 ≤ 10 ms).
 * - TTFT overhead: first `delta` received − the simulator's configured TTFT (targets: p50 ≤ 2 ms at 1 stream,
 *   p99 ≤ 10 ms at 20).
 * - The same overhead for `POST /chat/completions` with `stream: true` (first chunk carrying content), beside
 *   /chat/stream's from the same run and the same baseline, and the p50 difference between the two: both go through
 *   the same chat core, so they should be no more than 1 ms apart; a larger difference is flagged.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MAX_CONCURRENT_REQUESTS } from '../config/schema';
import { startLocalCloud, type LocalCloud } from '../local/cloud';
import type { LoadResult } from './chat-load';
import { percentile, table } from './stats';

const MODEL_TTFT_MS = 50;
/** How far apart the p50 TTFT overheads of /chat/completions and /chat/stream may be before the report flags it. */
const MAX_P50_DIFFERENCE_MS = 1;
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
      plans: {
        bench: {
          rateLimit: 100_000,
          burstLimit: 100_000,
          requestsPerDay: 10_000_000,
          tokensPerDay: 1_000_000_000,
          maxConcurrentRequests: MAX_CONCURRENT_REQUESTS,
        },
      },
    },
  });
  try {
    cloud.simulator.configure({ mode: 'normal', ttftMs: MODEL_TTFT_MS, tokensPerSecond: 5000 });

    const rows: string[][] = [];
    for (const concurrency of [1, 20]) {
      const total = concurrency === 1 ? 150 : 400;
      const { baseline, stream, completions } = await load(cloud, concurrency, total);
      const start = stream.map((s) => s.startMs);
      const overhead = stream.map((s) => s.firstDeltaMs - MODEL_TTFT_MS);
      const completionsOverhead = completions.map((ms) => ms - MODEL_TTFT_MS);
      const baseOverhead = baseline.map((ms) => ms - MODEL_TTFT_MS);
      const difference = percentile(completionsOverhead, 50) - percentile(overhead, 50);
      const ttftRatio =
        percentile(
          stream.map((s) => s.firstDeltaMs),
          50,
        ) / percentile(baseline, 50);
      rows.push([
        String(concurrency),
        String(stream.length),
        fmt(percentile(start, 50)),
        fmt(percentile(start, 99)),
        fmt(percentile(overhead, 50)),
        fmt(percentile(overhead, 99)),
        fmt(percentile(completionsOverhead, 50)),
        fmt(percentile(completionsOverhead, 99)),
        Math.abs(difference) > MAX_P50_DIFFERENCE_MS
          ? `**${signed(difference)} ⚠ over ${MAX_P50_DIFFERENCE_MS} ms**`
          : signed(difference),
        fmt(percentile(baseOverhead, 50)),
        fmt(percentile(baseOverhead, 99)),
        `${ttftRatio.toFixed(3)}×`,
      ]);
    }
    return [
      '## Streaming chat: time to `start` and TTFT overhead (/chat/stream and /chat/completions)',
      '',
      `Simulator TTFT ${MODEL_TTFT_MS} ms. Baseline: the Bedrock SDK calling the simulator directly, same run. Clients run in a separate process from the local cloud (gateway, functions, simulator, dynalite share one event loop, unlike Lambda, where each stream has its own execution environment).`,
      `/chat/stream's TTFT is its first \`delta\` event; /chat/completions' (\`stream: true\`, key as \`Authorization: Bearer\`) its first chunk carrying content. Both are timed from the request start, in rounds taken in turn, each row with the same number of samples per endpoint.`,
      `Targets: \`start\` p50 ≤ 10 ms; overhead p50 ≤ 2 ms at 1 stream, p99 ≤ 10 ms at 20 streams; /chat/completions p50 overhead within ${MAX_P50_DIFFERENCE_MS} ms of /chat/stream's (flagged ⚠ otherwise).`,
      '',
      table(
        [
          'streams',
          'samples',
          'start p50 ms',
          'start p99 ms',
          '/chat/stream overhead p50 ms',
          '/chat/stream overhead p99 ms',
          '/chat/completions overhead p50 ms',
          '/chat/completions overhead p99 ms',
          'completions − stream p50 ms',
          'baseline overhead p50 ms',
          'baseline overhead p99 ms',
          'TTFT p50 vs baseline',
        ],
        rows,
      ),
    ].join('\n');
  } finally {
    await cloud.stop();
  }
}

function fmt(ms: number): string {
  return ms.toFixed(2);
}

function signed(ms: number): string {
  return `${ms >= 0 ? '+' : '−'}${fmt(Math.abs(ms))}`;
}

if (require.main === module) {
  run().then(
    (md) => {
      console.log(md);
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
