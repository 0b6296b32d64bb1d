/**
 * What the stream log (config/tables.ts `streams`: resume and cancel) costs a streamed answer.
 *
 * - DynamoDB writes per stream, by answer length: every request the functions send to the streams table, counted by an
 *   SDK middleware on their DynamoDB client (the local cloud runs in this process, so it is the functions' own
 *   client), grouped by stream. The log writes in batches by time (`streams.flushIntervalMs`) and size
 *   (`streams.maxBatchBytes`), so the count grows with the answer's duration, not with its tokens.
 * - TTFT overhead with `streams.enabled` true and false, in the same run: two local clouds, each in a process of its own
 *   (a function reads its configuration once per process), streamed in turn by this process as the client. The
 *   log's first write must be off the path to the first token: target, the p50 overhead grows by less than 1 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createParser } from 'eventsource-parser';
import { ENV } from '../config/runtime';
import { parseConfig } from '../config/schema';
import { dynamoDocumentClient } from '../lambda/aws/clients';
import { startLocalCloud, type LocalCloud } from '../local/cloud';
import { BENCH_PLAN, percentile, table, runAsMain } from './stats';

const KEY = 'bench-streams-key-00000000000000';
const MODEL_TTFT_MS = 50;
/** Most the p50 TTFT overhead may grow with the log on before the report flags it. */
const MAX_P50_GROWTH_MS = 1;
/**
 * Answer lengths of the writes table, in seconds of generation: the log batches by time, so duration is what its cost
 * follows. The simulator's answer to one prompt has a fixed number of tokens; its pace is set to stretch it.
 */
const ANSWER_SECONDS = [0.1, 1, 5, 15] as const;
const WRITES_PROMPT = 'benchmark the stream log';
const TTFT_SAMPLES = 150;
const TTFT_WARM_UP = 30;

/** The deployed stack's stream log settings (the local cloud flushes more often, so a resumed stream trails less). */
const DEPLOYED_STREAMS = parseConfig({}).streams;

const cloudOptions = (enabled: boolean) =>
  ({
    quiet: true,
    apiKeys: `bench:bench:${KEY}`,
    config: {
      plans: { bench: BENCH_PLAN },
      chat: { maxTokensLimit: 8192 },
      streams: {
        enabled,
        flushIntervalMs: DEPLOYED_STREAMS.flushIntervalMs,
        maxBatchBytes: DEPLOYED_STREAMS.maxBatchBytes,
      },
    },
  }) as const;

interface StreamOutcome {
  requestId: string;
  outputTokens: number;
  durationMs: number;
  firstDeltaMs: number;
}

/** One `POST /chat/stream`, read to its end as a client would. */
async function stream(url: string, maxTokens: number): Promise<StreamOutcome> {
  const t0 = performance.now();
  const res = await fetch(`${url}/chat/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY },
    body: JSON.stringify({ message: WRITES_PROMPT, maxTokens }),
  });
  let requestId: string | undefined;
  let firstDeltaAt: number | undefined;
  let outputTokens: number | undefined;
  let failure: string | undefined;
  const parser = createParser({
    onEvent: (e) => {
      if (e.event === 'delta') firstDeltaAt ??= performance.now();
      else if (e.event === 'start') requestId = (JSON.parse(e.data) as { requestId: string }).requestId;
      else if (e.event === 'end')
        outputTokens = (JSON.parse(e.data) as { usage: { outputTokens: number } }).usage.outputTokens;
      else if (e.event === 'error') failure = e.data;
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
    parser.feed(decoder.decode(chunk, { stream: true }));
  if (failure || !requestId || firstDeltaAt === undefined || outputTokens === undefined)
    throw new Error(`stream failed (status ${res.status}): ${failure ?? 'incomplete'}`);
  return { requestId, outputTokens, durationMs: performance.now() - t0, firstDeltaMs: firstDeltaAt - t0 };
}

type WriteCounts = Map<string, { batches: number; headUpdates: number; headPuts: number }>;

/**
 * Counts the writes the functions send to `table`, per stream (`requestId`), from each request's body: a PutItem of
 * part 0 is the head, of part ≥ 1 a batch; an UpdateItem is the head's progress or final status.
 */
function countStreamWrites(table: string): WriteCounts {
  const counts: WriteCounts = new Map();
  dynamoDocumentClient().middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown } | undefined;
      const target = request?.headers?.['x-amz-target'] ?? '';
      const operation = target.slice(target.indexOf('.') + 1);
      // The body is the serialised JSON: a string, or bytes by the time it is signed.
      const raw = request?.body;
      const text =
        typeof raw === 'string'
          ? raw
          : raw instanceof Uint8Array
            ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8')
            : undefined;
      if ((operation === 'PutItem' || operation === 'UpdateItem') && text !== undefined) {
        const body = JSON.parse(text) as {
          TableName?: string;
          Item?: Record<string, { S?: string; N?: string }>;
          Key?: Record<string, { S?: string }>;
        };
        const requestId = (body.Item ?? body.Key)?.requestId?.S;
        if (body.TableName === table && requestId) {
          const c = counts.get(requestId) ?? { batches: 0, headUpdates: 0, headPuts: 0 };
          if (operation === 'UpdateItem') c.headUpdates++;
          else if (body.Item?.part?.N === '0') c.headPuts++;
          else c.batches++;
          counts.set(requestId, c);
        }
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'benchCountStreamWrites' },
  );
  return counts;
}

async function writesSection(): Promise<string> {
  const cloud: LocalCloud = await startLocalCloud(cloudOptions(true));
  try {
    const counts = countStreamWrites(cloud.env[ENV.streamsTable] as string);
    cloud.simulator.configure({ mode: 'normal', ttftMs: MODEL_TTFT_MS, tokensPerSecond: 5000 });
    const { outputTokens } = await stream(cloud.url, 1024);
    const outcomes: StreamOutcome[] = [];
    for (const seconds of ANSWER_SECONDS) {
      const tokensPerSecond = Math.max(1, Math.round(outputTokens / seconds));
      cloud.simulator.configure({ mode: 'normal', ttftMs: MODEL_TTFT_MS, tokensPerSecond });
      outcomes.push(await stream(cloud.url, 1024));
    }
    const { flushIntervalMs, maxBatchBytes } = cloud.config.streams;
    const rows = outcomes.map((o) => {
      const c = counts.get(o.requestId) ?? { batches: 0, headUpdates: 0, headPuts: 0 };
      const total = c.headPuts + c.batches + c.headUpdates;
      return [
        String(o.outputTokens),
        (o.durationMs / 1000).toFixed(2),
        String(c.headPuts),
        String(c.batches),
        String(c.headUpdates),
        `**${total}**`,
        (total / (o.durationMs / 1000)).toFixed(2),
      ];
    });
    return [
      '### DynamoDB writes per stream, by answer length',
      '',
      `Simulator: the same answer paced to last each duration, after a ${MODEL_TTFT_MS} ms TTFT. The deployed defaults: \`streams.flushIntervalMs\` ${flushIntervalMs}, \`streams.maxBatchBytes\` ${maxBatchBytes}. Counted per stream from the requests the functions sent to the streams table.`,
      `A stream costs one head PutItem, then per flush interval one batch PutItem (when there are new events) and one head UpdateItem (the heartbeat that reads the cancel flag back; the last one also sets the final status): about 2 writes per ${flushIntervalMs} ms of answer, whatever its token count, plus one more batch per ${maxBatchBytes} bytes.`,
      '',
      table(
        ['output tokens', 'stream s', 'head PutItem', 'batch PutItem', 'head UpdateItem', 'writes', 'writes per s'],
        rows,
      ),
    ].join('\n');
  } finally {
    await cloud.stop();
  }
}

/** A local cloud in a process of its own; resolves with its URL once it listens. */
function serveCloud(enabled: boolean): Promise<{ url: string; child: ChildProcess }> {
  const tsx = join(__dirname, '..', 'node_modules', '.bin', 'tsx');
  const child = spawn(tsx, [__filename, 'serve', String(enabled)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the streams.enabled=${enabled} cloud exited (${code})`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) =>
      resolve({ url: (JSON.parse(line) as { url: string }).url, child }),
    );
  });
}

/** The child side of {@link serveCloud}: serves until its stdin closes. */
async function serve(enabled: boolean): Promise<void> {
  const cloud = await startLocalCloud(cloudOptions(enabled));
  cloud.simulator.configure({ mode: 'normal', ttftMs: MODEL_TTFT_MS, tokensPerSecond: 5000 });
  process.stdout.write(`${JSON.stringify({ url: cloud.url })}\n`);
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once('end', resolve));
  await cloud.stop();
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.stdin?.end();
  });
}

async function ttftSection(): Promise<string> {
  const [on, off] = await Promise.all([serveCloud(true), serveCloud(false)]);
  try {
    const overhead = { on: [] as number[], off: [] as number[] };
    // In turn (on off, off on, …), so that drift in the machine's load weighs on both alike; warm-up first.
    for (let i = 0; i < TTFT_WARM_UP + TTFT_SAMPLES; i++) {
      const order = i % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
      for (const which of order) {
        const { firstDeltaMs } = await stream(which === 'on' ? on.url : off.url, 20);
        if (i >= TTFT_WARM_UP) overhead[which].push(firstDeltaMs - MODEL_TTFT_MS);
      }
    }
    const growth = percentile(overhead.on, 50) - percentile(overhead.off, 50);
    // Each pair was streamed back to back, so the median of their differences is the least moved by drift in the load.
    const paired = percentile(
      overhead.on.map((on, i) => on - (overhead.off[i] ?? on)),
      50,
    );
    const verdict =
      growth < MAX_P50_GROWTH_MS ? `${signed(growth)} (target < ${MAX_P50_GROWTH_MS} ms)` : `**${signed(growth)} ⚠**`;
    return [
      '### TTFT overhead with the stream log on and off (same run)',
      '',
      `First \`delta\` received − the simulator's ${MODEL_TTFT_MS} ms TTFT, one stream at a time, ${TTFT_SAMPLES} samples each after ${TTFT_WARM_UP} warm-up, the two clouds (each a process of its own) streamed in turn. Target: the p50 grows by less than ${MAX_P50_GROWTH_MS} ms with the log on.`,
      '',
      table(
        ['streams.enabled', 'overhead p50 ms', 'overhead p90 ms', 'overhead p99 ms'],
        [
          [
            'true',
            fmt(percentile(overhead.on, 50)),
            fmt(percentile(overhead.on, 90)),
            fmt(percentile(overhead.on, 99)),
          ],
          [
            'false',
            fmt(percentile(overhead.off, 50)),
            fmt(percentile(overhead.off, 90)),
            fmt(percentile(overhead.off, 99)),
          ],
        ],
      ),
      '',
      `p50 growth with the log on: ${verdict}; median of the paired differences (each pair streamed back to back): ${signed(paired)}.`,
      "Locally the log's DynamoDB (dynalite) runs in the same process as the functions, so its work competes with the stream; on AWS only the SDK call itself is on the function's event loop.",
    ].join('\n');
  } finally {
    await Promise.all([stopChild(on.child), stopChild(off.child)]);
  }
}

export async function run(): Promise<string> {
  const writes = await writesSection();
  const ttft = await ttftSection();
  return ['## Stream log (resume and cancel): DynamoDB writes and TTFT', '', writes, '', ttft].join('\n');
}

function fmt(ms: number): string {
  return ms.toFixed(2);
}

function signed(ms: number): string {
  return `${ms >= 0 ? '+' : '−'}${fmt(Math.abs(ms))} ms`;
}

if (require.main === module) {
  const [mode, enabled] = process.argv.slice(2);
  runAsMain(() => (mode === 'serve' ? serve(enabled === 'true').then(() => undefined) : run()));
}
