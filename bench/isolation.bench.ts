/**
 * Isolation between users through the whole local stack with the per-user concurrency limit on at its defaults
 * (`plans.pro.maxConcurrentRequests` 20): a victim's time to first token, p99, alone and while another `pro` user
 * floods the API with 100 concurrent streams, measured in the same run, in alternating rounds (alone, flood, alone,
 * flood, …) so that drift on a shared machine falls on both alike.
 *
 * Target (issue #12): victim TTFT p99 under the flood ÷ alone ≤ 1.5. The flood's outcome shows where it was stopped:
 * 20 streams in flight at most, the rest refused with `429 CONCURRENCY_LIMIT_EXCEEDED` before any model call, and
 * API Gateway's usage-plan throttle past the plan's rate. Clients run in a separate process (bench/isolation-load.ts).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalCloud } from '../local/cloud';
import type { IsolationLoadResult } from './isolation-load';
import { percentile, summaryLine, table, runAsMain } from './stats';

/** The upstream TTFT of the measurements. */
const MODEL_TTFT_MS = 100;
const FLOOD_STREAMS = 100;
const SAMPLES_PER_ROUND = 40;
const ROUNDS = 2;
const TARGET_RATIO = 1.5;
const KEYS = { victim: 'bench-victim-key-0000000000000000', flooder: 'bench-flooder-key-000000000000000' };
const run$ = promisify(execFile);

export async function run(): Promise<string> {
  // The default plans (config/schema.ts), so the limit is the one a deployment gets: pro 20 calls in flight.
  const cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `victim:pro:${KEYS.victim},flooder:pro:${KEYS.flooder}`,
  });
  try {
    // 50 tokens a second: a flood stream (the simulator's answer of 20 to 60 tokens, under its maxTokens of 100) holds
    // its slot for about a second, the victim's (5 tokens) for about 200 ms.
    cloud.simulator.configure({ mode: 'normal', ttftMs: MODEL_TTFT_MS, tokensPerSecond: 50 });
    const tsx = join(__dirname, '..', 'node_modules', '.bin', 'tsx');
    const args = [
      join(__dirname, 'isolation-load.ts'),
      cloud.url,
      KEYS.victim,
      KEYS.flooder,
      String(SAMPLES_PER_ROUND),
      String(ROUNDS),
      String(FLOOD_STREAMS),
    ];
    const { stdout } = await run$(tsx, args, { maxBuffer: 16 * 1024 * 1024 });
    const { alone, flood, outcome } = JSON.parse(stdout) as IsolationLoadResult;
    const ratio = percentile(flood, 99) / percentile(alone, 99);
    const limit = cloud.config.plans.pro.maxConcurrentRequests;
    const total = outcome.answered + outcome.concurrencyLimited + outcome.usagePlanThrottled + outcome.other;
    return [
      '## Isolation: a victim’s TTFT under another user’s flood (concurrency limit on)',
      '',
      `Simulator TTFT ${MODEL_TTFT_MS} ms. The flooding \`pro\` user keeps ${FLOOD_STREAMS} streams going (each refused one waits its \`Retry-After\`, or 250 ms after API Gateway's throttle); \`plans.pro.maxConcurrentRequests\` is ${limit}. The victim (another \`pro\` user) streams one at a time; ${ROUNDS} rounds of ${SAMPLES_PER_ROUND} samples alone, then ${SAMPLES_PER_ROUND} under the flood. Target: p99 under the flood ÷ p99 alone ≤ ${TARGET_RATIO}.`,
      '',
      table(
        ['victim', 'samples', 'TTFT p50 ms', 'TTFT p99 ms'],
        [
          ['alone', String(alone.length), fmt(percentile(alone, 50)), fmt(percentile(alone, 99))],
          [
            `under a ${FLOOD_STREAMS}-stream flood`,
            String(flood.length),
            fmt(percentile(flood, 50)),
            fmt(percentile(flood, 99)),
          ],
          ['ratio', '', `${(percentile(flood, 50) / percentile(alone, 50)).toFixed(2)}×`, `${ratio.toFixed(2)}×`],
        ],
      ),
      '',
      table(
        ['flood requests', 'answered', '429 CONCURRENCY_LIMIT_EXCEEDED', '429 usage plan (API Gateway)', 'other'],
        [
          [
            String(total),
            String(outcome.answered),
            String(outcome.concurrencyLimited),
            String(outcome.usagePlanThrottled),
            String(outcome.other),
          ],
        ],
      ),
      summaryLine({
        metric: `Isolation: victim TTFT p99 under a ${FLOOD_STREAMS}-stream flood ÷ alone`,
        target: `≤ ${TARGET_RATIO}×`,
        value: `${ratio.toFixed(2)}× (flood: ${outcome.concurrencyLimited} concurrency 429s, ${outcome.usagePlanThrottled} usage-plan 429s, ${outcome.answered} answered)`,
        met: ratio <= TARGET_RATIO,
      }),
    ].join('\n');
  } finally {
    await cloud.stop();
  }
}

function fmt(ms: number): string {
  return ms.toFixed(1);
}

if (require.main === module) runAsMain(run);
