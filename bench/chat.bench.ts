/**
 * Streaming chat latency through the whole local stack (gateway → handler → chat core → Bedrock simulator), against
 * a baseline measured in the same run: the SDK calling the simulator directly, with nothing of ours in between.
 *
 * - time to `start`: request sent → `event: start` received (targets: p50 ≤ 10 ms).
 * - TTFT overhead: first `delta` received − the simulator's configured TTFT (targets: p50 ≤ 2 ms at 1 stream,
 *   p99 ≤ 10 ms at 20).
 */
import { BedrockRuntimeClient, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { createParser } from 'eventsource-parser';
import { startLocalCloud, type LocalCloud } from '../local/cloud';
import { percentile, table } from './stats';

const MODEL_TTFT_MS = 50;
const KEY = 'bench-user-key-000000000000000';

interface Sample {
  startMs: number;
  firstDeltaMs: number;
}

async function oneStream(url: string): Promise<Sample> {
  const t0 = performance.now();
  const res = await fetch(`${url}/chat/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY },
    body: JSON.stringify({ message: 'benchmark the first token', maxTokens: 20 }),
  });
  let startAt: number | undefined;
  let deltaAt: number | undefined;
  const parser = createParser({
    onEvent: (e) => {
      if (e.event === 'start') startAt ??= performance.now();
      else if (e.event === 'delta') deltaAt ??= performance.now();
      else if (e.event === 'error') throw new Error(`stream failed: ${e.data}`);
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  if (startAt === undefined || deltaAt === undefined) throw new Error(`incomplete stream (status ${res.status})`);
  return { startMs: startAt - t0, firstDeltaMs: deltaAt - t0 };
}

async function directFirstDelta(client: BedrockRuntimeClient, modelId: string): Promise<number> {
  const t0 = performance.now();
  const out = await client.send(
    new ConverseStreamCommand({
      modelId,
      messages: [{ role: 'user', content: [{ text: 'benchmark the first token' }] }],
      inferenceConfig: { maxTokens: 20 },
    }),
  );
  let first: number | undefined;
  for await (const event of out.stream ?? []) if (event.contentBlockDelta && first === undefined) first = performance.now();
  return (first ?? performance.now()) - t0;
}

async function rounds<T>(concurrency: number, total: number, fn: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  while (out.length < total) out.push(...(await Promise.all(Array.from({ length: concurrency }, fn))));
  return out;
}

export async function run(): Promise<string> {
  const cloud: LocalCloud = await startLocalCloud({
    quiet: true,
    apiKeys: `bench:bench:${KEY}`,
    config: {
      plans: { bench: { rateLimit: 100_000, burstLimit: 100_000, requestsPerDay: 10_000_000, tokensPerDay: 1_000_000_000 } },
    },
  });
  const direct = new BedrockRuntimeClient({
    endpoint: cloud.simulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    maxAttempts: 1,
  });
  try {
    cloud.simulator.configure({ mode: 'normal', ttftMs: MODEL_TTFT_MS, tokensPerSecond: 5000 });
    await rounds(4, 40, () => oneStream(cloud.url)); // warm-up: cold starts, connection pools, JIT

    const rows: string[][] = [];
    for (const concurrency of [1, 20]) {
      const total = concurrency === 1 ? 150 : 400;
      const baseline = await rounds(concurrency, total, () => directFirstDelta(direct, cloud.config.models.primary));
      const api = await rounds(concurrency, total, () => oneStream(cloud.url));
      const start = api.map((s) => s.startMs);
      const overhead = api.map((s) => s.firstDeltaMs - MODEL_TTFT_MS);
      const baseOverhead = baseline.map((ms) => ms - MODEL_TTFT_MS);
      const ttftRatio = percentile(api.map((s) => s.firstDeltaMs), 50) / percentile(baseline, 50);
      rows.push([
        String(concurrency),
        String(api.length),
        fmt(percentile(start, 50)),
        fmt(percentile(start, 99)),
        fmt(percentile(overhead, 50)),
        fmt(percentile(overhead, 99)),
        fmt(percentile(baseOverhead, 50)),
        fmt(percentile(baseOverhead, 99)),
        `${ttftRatio.toFixed(3)}×`,
      ]);
    }
    return [
      '## Streaming chat: time to `start` and TTFT overhead',
      '',
      `Simulator TTFT ${MODEL_TTFT_MS} ms. Baseline: the Bedrock SDK calling the simulator directly, same run.`,
      'Targets: `start` p50 ≤ 10 ms; overhead p50 ≤ 2 ms at 1 stream, p99 ≤ 10 ms at 20 streams.',
      '',
      table(
        ['streams', 'samples', 'start p50 ms', 'start p99 ms', 'overhead p50 ms', 'overhead p99 ms', 'baseline overhead p50 ms', 'baseline overhead p99 ms', 'TTFT p50 vs baseline'],
        rows,
      ),
    ].join('\n');
  } finally {
    direct.destroy();
    await cloud.stop();
  }
}

function fmt(ms: number): string {
  return ms.toFixed(2);
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
