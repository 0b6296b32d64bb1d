/**
 * The response cache: a hit's time to first token against a model call's, through the whole local cloud (gateway →
 * authorizer → handler → chat core → DynamoDB or the Bedrock simulator), in the same run.
 *
 * Each round asks `POST /chat/stream` a question never asked before (a miss: the model answers and the answer is
 * stored), then the same question again (a hit: the stored answer, no model call), one request at a time, so each
 * pair sees the same machine load. TTFT is the time from sending the request to its first `delta` event. Measured at
 * the simulator's default TTFT (20 ms) and at 500 ms. Target: hit TTFT < model call TTFT (p50), at both.
 */
import { performance } from 'node:perf_hooks';
import { type LocalCloud, startLocalCloud } from '../local/cloud';
import { streamChat } from '../test/helpers/sse';
import { BENCH_PLAN, percentile, runAsMain, summaryLine, table } from './stats';

const KEY = 'bench-cache-key-00000000000000';
/** Simulator TTFTs measured, with the rounds (miss + hit pairs) at each. */
const SETTINGS = [
  { ttftMs: 20, rounds: 60 },
  { ttftMs: 500, rounds: 12 },
];
/** Rounds run first at each setting and not counted (connections, JIT, the first table reads). */
const WARMUP_ROUNDS = 3;

/** Time to the first `delta` of one streamed answer, and whether it came from the cache. */
async function ttftOf(cloud: LocalCloud, message: string): Promise<{ ms: number; cached: boolean }> {
  const started = performance.now();
  const result = await streamChat(cloud.url, { apiKey: KEY, body: { message, maxTokens: 64 } });
  if (result.status !== 200) throw new Error(`/chat/stream answered ${result.status}: ${JSON.stringify(result.json)}`);
  const first = result.events.find((e) => e.event === 'delta');
  const end = result.events.find((e) => e.event === 'end');
  if (!first || !end) throw new Error('the stream ended without a delta and an end');
  return { ms: first.at - started, cached: end.data.cached === true };
}

export async function run(): Promise<string> {
  const cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `bench:bench:${KEY}`,
    config: {
      cache: { enabled: true },
      plans: { bench: BENCH_PLAN },
    },
  });
  try {
    const rows: string[][] = [];
    const summary: string[] = [];
    let question = 0;
    for (const { ttftMs, rounds } of SETTINGS) {
      cloud.simulator.configure({ mode: 'normal', ttftMs });
      const model: number[] = [];
      const hit: number[] = [];
      for (let round = 0; round < WARMUP_ROUNDS + rounds; round++) {
        const message = `Cache bench question ${question++}: what is a response cache?`;
        const miss = await ttftOf(cloud, message);
        const again = await ttftOf(cloud, message);
        if (miss.cached || !again.cached) throw new Error(`round ${round}: expected a miss then a hit`);
        if (round < WARMUP_ROUNDS) continue;
        model.push(miss.ms);
        hit.push(again.ms);
      }
      const [model50, hit50] = [percentile(model, 50), percentile(hit, 50)];
      rows.push([
        String(ttftMs),
        String(rounds),
        fmt(model50),
        fmt(percentile(model, 99)),
        fmt(hit50),
        fmt(percentile(hit, 99)),
        `${(hit50 / model50).toFixed(2)}`,
      ]);
      summary.push(
        summaryLine({
          metric: `Response cache: hit TTFT p50 vs model call TTFT p50, simulator TTFT ${ttftMs} ms, /chat/stream`,
          target: 'hit TTFT < model call TTFT',
          value: `${fmt(hit50)} ms vs ${fmt(model50)} ms`,
          met: hit50 < model50,
        }),
      );
    }
    return [
      '## Response cache: a hit’s TTFT against a model call’s (/chat/stream)',
      '',
      'Each round streams a new question (a miss: the model answers, the answer is stored) and then the same question ' +
        'again (a hit: served from the cache table, no model call), one request at a time, so both halves of a pair ' +
        'see the same load. TTFT: request sent → first `delta` event, through the local gateway, the authorizer, the ' +
        `handler and the chat core. ${WARMUP_ROUNDS} rounds per setting are run first and not counted.`,
      'A miss pays one cache read (a DynamoDB GetItem) before its model call; a hit pays that read and nothing else.',
      '',
      table(
        [
          'simulator TTFT ms',
          'rounds',
          'model call TTFT p50 ms',
          'model call TTFT p99 ms',
          'hit TTFT p50 ms',
          'hit TTFT p99 ms',
          'hit / model call (p50)',
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

if (require.main === module) runAsMain(run);
