/**
 * The client side of the isolation bench, run as a process of its own (`isolation.bench.ts` starts it) so that the
 * flood's hundred streams do not compete with the server for the same event loop, as real clients would not.
 *
 * Usage: tsx bench/isolation-load.ts <apiUrl> <victimKey> <flooderKey> <samplesPerRound> <rounds> <floodStreams>
 *
 * Each round measures the victim alone, then under the flood: `floodStreams` workers of the flooding user, each
 * opening a stream, reading it to its end, and opening the next; a refused one waits as its answer says
 * (`Retry-After`, else 250 ms, as API Gateway's throttle sends none), as the OpenAI SDKs do. The victim opens one
 * stream at a time. Prints `{"alone": number[], "flood": number[], "outcome": FloodOutcome}`: the victim's TTFT (request
 * sent → first `delta`, ms) by condition, and how the flood's requests were answered.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { runAsMain } from './stats';

export interface FloodOutcome {
  /** Streams that ran to their `end`. */
  answered: number;
  /** `429 CONCURRENCY_LIMIT_EXCEEDED`: refused by the per-user concurrency limit. */
  concurrencyLimited: number;
  /** API Gateway's own `429` (usage plan rate or burst). */
  usagePlanThrottled: number;
  /** Any other answer (a failed stream, another status). */
  other: number;
}

export interface IsolationLoadResult {
  alone: number[];
  flood: number[];
  outcome: FloodOutcome;
}

const VICTIM_BODY = JSON.stringify({ message: 'the victim asks', maxTokens: 5 });
/** Streams long enough that the flooding user always has every slot it may hold in use. */
const FLOOD_BODY = JSON.stringify({ message: 'the flood asks', maxTokens: 100 });
const THROTTLE_PAUSE_MS = 250;
/** Lets the flood reach its steady state before the victim is measured under it. */
const FLOOD_WARMUP_MS = 1_500;

async function victimStream(url: string, key: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/chat/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: VICTIM_BODY,
  });
  if (res.status !== 200) throw new Error(`the victim's stream was refused: ${res.status} ${await res.text()}`);
  let firstDelta: number | undefined;
  let failure: string | undefined;
  const parser = createParser({
    onEvent: (e) => {
      if (e.event === 'delta') firstDelta ??= performance.now();
      else if (e.event === 'error') failure = e.data;
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
    parser.feed(decoder.decode(chunk, { stream: true }));
  if (failure || firstDelta === undefined) throw new Error(`the victim's stream failed: ${failure ?? 'no delta'}`);
  return firstDelta - t0;
}

async function floodWorker(url: string, key: string, outcome: FloodOutcome, stop: AbortSignal): Promise<void> {
  while (!stop.aborted) {
    let pauseMs = 0;
    try {
      const res = await fetch(`${url}/chat/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: FLOOD_BODY,
        signal: stop,
      });
      const text = await res.text();
      if (res.status === 200 && text.includes('event: end')) outcome.answered++;
      else if (res.status === 429 && text.includes('CONCURRENCY_LIMIT_EXCEEDED')) outcome.concurrencyLimited++;
      else if (res.status === 429) outcome.usagePlanThrottled++;
      else outcome.other++;
      if (res.status === 429) {
        const retryAfter = Number(res.headers.get('retry-after'));
        pauseMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : THROTTLE_PAUSE_MS;
      }
    } catch {
      if (stop.aborted) return;
      outcome.other++;
    }
    if (pauseMs > 0) await sleep(pauseMs, undefined, { signal: stop }).catch(() => undefined);
  }
}

async function victimSamples(url: string, key: string, n: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) samples.push(await victimStream(url, key));
  return samples;
}

export async function isolationLoad(
  url: string,
  victimKey: string,
  flooderKey: string,
  samplesPerRound: number,
  rounds: number,
  floodStreams: number,
): Promise<IsolationLoadResult> {
  const result: IsolationLoadResult = {
    alone: [],
    flood: [],
    outcome: { answered: 0, concurrencyLimited: 0, usagePlanThrottled: 0, other: 0 },
  };
  // Warms the functions and the connections, unmeasured.
  await victimSamples(url, victimKey, 5);
  for (let round = 0; round < rounds; round++) {
    result.alone.push(...(await victimSamples(url, victimKey, samplesPerRound)));
    const stop = new AbortController();
    const workers = Array.from({ length: floodStreams }, () =>
      floodWorker(url, flooderKey, result.outcome, stop.signal),
    );
    await sleep(FLOOD_WARMUP_MS);
    result.flood.push(...(await victimSamples(url, victimKey, samplesPerRound)));
    stop.abort();
    await Promise.all(workers);
    // The aborted streams give their slots back before the next round measures the victim alone.
    await sleep(FLOOD_WARMUP_MS);
  }
  return result;
}

if (require.main === module) {
  const [url, victimKey, flooderKey, samples, rounds, flood] = process.argv.slice(2);
  runAsMain(async () =>
    JSON.stringify(await isolationLoad(url, victimKey, flooderKey, Number(samples), Number(rounds), Number(flood))),
  );
}
