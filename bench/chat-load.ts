/**
 * The client side of the chat bench, run as a process of its own (`chat.bench.ts` starts it) so that generating load
 * and parsing SSE do not compete with the server for the same event loop, as real clients would not.
 *
 * Usage: tsx bench/chat-load.ts <apiUrl> <apiKey,…> <simulatorUrl> <modelId> <concurrency> <total>
 * Concurrent streams use different keys (different users), as concurrent clients would.
 * Prints `{"baseline": number[], "api": {"startMs","firstDeltaMs"}[]}` (ms from request sent).
 */
import { BedrockRuntimeClient, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { createParser } from 'eventsource-parser';

export interface StreamSample {
  startMs: number;
  firstDeltaMs: number;
}

async function oneStream(url: string, key: string): Promise<StreamSample> {
  const t0 = performance.now();
  const res = await fetch(`${url}/chat/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ message: 'benchmark the first token', maxTokens: 20 }),
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
  for await (const event of out.stream ?? [])
    if (event.contentBlockDelta && first === undefined) first = performance.now();
  return (first ?? performance.now()) - t0;
}

async function rounds<T>(concurrency: number, total: number, fn: (slot: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  while (out.length < total)
    out.push(...(await Promise.all(Array.from({ length: concurrency }, (_, slot) => fn(slot)))));
  return out;
}

async function main(): Promise<void> {
  const [url, keyList, simulatorUrl, modelId, concurrencyArg, totalArg] = process.argv.slice(2);
  const keys = keyList.split(',');
  const concurrency = Number(concurrencyArg);
  const total = Number(totalArg);
  const direct = new BedrockRuntimeClient({
    endpoint: simulatorUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    maxAttempts: 1,
  });
  // Warm-up: connection pools and JIT on both paths.
  await rounds(concurrency, Math.min(total, 40), (slot) => oneStream(url, keys[slot % keys.length]));
  await rounds(concurrency, Math.min(total, 40), () => directFirstDelta(direct, modelId));
  const baseline = await rounds(concurrency, total, () => directFirstDelta(direct, modelId));
  const api = await rounds(concurrency, total, (slot) => oneStream(url, keys[slot % keys.length]));
  direct.destroy();
  process.stdout.write(JSON.stringify({ baseline, api }));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
