/**
 * The client side of the chat bench, run as a process of its own (`chat.bench.ts` starts it) so that generating load
 * and parsing SSE do not compete with the server for the same event loop, as real clients would not.
 *
 * Usage: tsx bench/chat-load.ts <apiUrl> <apiKey,…> <simulatorUrl> <modelId> <concurrency> <total>
 * Concurrent streams use different keys (different users), as concurrent clients would.
 * Prints `{"baseline": number[], "stream": {"startMs","firstDeltaMs"}[], "completions": number[]}` (ms from request
 * sent to the first token): the SDK calling the simulator directly, `POST /chat/stream`, and `POST /chat/completions`
 * with `stream: true`, in rounds of `concurrency` at once taken in turn, `total` samples of each.
 */
import { BedrockRuntimeClient, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { createParser } from 'eventsource-parser';

export interface StreamSample {
  startMs: number;
  firstDeltaMs: number;
}

export interface LoadResult {
  baseline: number[];
  stream: StreamSample[];
  /** Request sent → first `chat.completion.chunk` carrying content. */
  completions: number[];
}

const PROMPT = 'benchmark the first token';
const MAX_TOKENS = 20;

async function oneStream(url: string, key: string): Promise<StreamSample> {
  const t0 = performance.now();
  const res = await fetch(`${url}/chat/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ message: PROMPT, maxTokens: MAX_TOKENS }),
  });
  let startAt: number | undefined;
  let deltaAt: number | undefined;
  let failure: string | undefined;
  const parser = createParser({
    onEvent: (e) => {
      if (e.event === 'start') startAt ??= performance.now();
      else if (e.event === 'delta') deltaAt ??= performance.now();
      else if (e.event === 'error') failure = e.data;
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
    parser.feed(decoder.decode(chunk, { stream: true }));
  if (failure || startAt === undefined || deltaAt === undefined)
    throw new Error(`stream failed (status ${res.status}): ${failure ?? 'incomplete'}`);
  return { startMs: startAt - t0, firstDeltaMs: deltaAt - t0 };
}

interface CompletionChunk {
  choices?: { delta?: { content?: string } }[];
  error?: unknown;
}

/**
 * One streamed `/chat/completions` call, as OpenAI's SDKs send it (the key as a Bearer token). The first chunk only
 * names the role (`content: ""`), so TTFT is taken at the first chunk whose delta carries text, the counterpart of
 * /chat/stream's first `delta`.
 */
async function oneCompletion(url: string, key: string, model: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({
      model,
      messages: [{ role: 'user', content: PROMPT }],
      max_tokens: MAX_TOKENS,
      stream: true,
    }),
  });
  let contentAt: number | undefined;
  let done = false;
  let failure: string | undefined;
  const parser = createParser({
    onEvent: (e) => {
      // Taken before parsing, as /chat/stream's is taken without parsing: JSON work is not the server's latency.
      const at = performance.now();
      if (e.data === '[DONE]') {
        done = true;
        return;
      }
      const chunk = JSON.parse(e.data) as CompletionChunk;
      if (chunk.error !== undefined) failure = e.data;
      else if (contentAt === undefined && chunk.choices?.some((c) => c.delta?.content)) contentAt = at;
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
    parser.feed(decoder.decode(chunk, { stream: true }));
  if (failure || !done || contentAt === undefined)
    throw new Error(`completion stream failed (status ${res.status}): ${failure ?? 'incomplete'}`);
  return contentAt - t0;
}

async function directFirstDelta(client: BedrockRuntimeClient, modelId: string): Promise<number> {
  const t0 = performance.now();
  const out = await client.send(
    new ConverseStreamCommand({
      modelId,
      messages: [{ role: 'user', content: [{ text: PROMPT }] }],
      inferenceConfig: { maxTokens: MAX_TOKENS },
    }),
  );
  let first: number | undefined;
  for await (const event of out.stream ?? [])
    if (event.contentBlockDelta && first === undefined) first = performance.now();
  return (first ?? performance.now()) - t0;
}

function round<T>(concurrency: number, fn: (slot: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: concurrency }, (_, slot) => fn(slot)));
}

/**
 * Rounds of the baseline, `/chat/stream` and `/chat/completions` taken in turn, the order rotating each time
 * (b s c, s c b, c b s, …), rather than all of one then all of the next, so that drift in the machine's load during the
 * run, and whatever one round leaves behind for the next, weigh on all three alike.
 */
async function interleaved(
  concurrency: number,
  total: number,
  runs: {
    baseline: (slot: number) => Promise<number>;
    stream: (slot: number) => Promise<StreamSample>;
    completions: (slot: number) => Promise<number>;
  },
): Promise<LoadResult> {
  const out: LoadResult = { baseline: [], stream: [], completions: [] };
  const order = ['baseline', 'stream', 'completions'] as const;
  for (let i = 0; out.stream.length < total; i++) {
    for (let k = 0; k < order.length; k++) {
      const which = order[(i + k) % order.length];
      if (which === 'stream') out.stream.push(...(await round(concurrency, runs.stream)));
      else out[which].push(...(await round(concurrency, runs[which])));
    }
  }
  return out;
}

async function main(): Promise<void> {
  const [url, keyList, simulatorUrl, modelId, concurrencyArg, totalArg] = process.argv.slice(2);
  if (!url || !keyList || !simulatorUrl || !modelId) throw new Error('usage: see the header of bench/chat-load.ts');
  const keys = keyList.split(',');
  const keyFor = (slot: number) => keys[slot % keys.length] as string;
  const concurrency = Number(concurrencyArg);
  const total = Number(totalArg);
  const direct = new BedrockRuntimeClient({
    endpoint: simulatorUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    maxAttempts: 1,
  });
  const runs = {
    baseline: () => directFirstDelta(direct, modelId),
    stream: (slot: number) => oneStream(url, keyFor(slot)),
    completions: (slot: number) => oneCompletion(url, keyFor(slot), modelId),
  };
  // Warm-up: connection pools and JIT on every path, and every function's execution environments.
  await interleaved(concurrency, Math.min(total, 40), runs);
  const result = await interleaved(concurrency, total, runs);
  direct.destroy();
  process.stdout.write(JSON.stringify(result));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
