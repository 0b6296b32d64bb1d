/**
 * Circuit breaker overhead: the same fake model calls with and without the breaker, interleaved in one run, against
 * dynalite in-process on 127.0.0.1. Reports the latency the breaker adds and the DynamoDB requests it makes per call.
 *
 *   npx tsx bench/breaker.bench.ts
 */
import { performance } from 'node:perf_hooks';
import { parseConfig } from '../config/schema';
import { DynamoBreakerStore } from '../lambda/aws/breaker-store';
import { CircuitBreaker, type BreakerPermit } from '../lambda/core/breaker';
import { countRequests, createGuardTable, documentClient, dynamoClient, startDynalite } from '../test/helpers/dynalite';
import { runAsMain } from './stats';

const CALLS = 1_000;
const WARMUP = 50;
const MODEL_MS = 2;
const TARGET = { addedP50Ms: 1, readsPerCall: 0.2, writesPerCall: 1 };

interface Scenario {
  name: string;
  /** Whether call `i` fails (with a throttle) instead of answering. */
  fails(i: number): boolean;
}

interface Result {
  scenario: string;
  calls: number;
  baseline: number[];
  guarded: number[];
  acquire: number[];
  outcome: number[];
  reads: number;
  writes: number;
}

const throttle = () =>
  Object.assign(new Error('throttled'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 429 } });

/** The model: a fixed small latency, then an answer or a throttle. */
async function fakeModel(fail: boolean): Promise<{ ttftMs: number }> {
  await new Promise((resolve) => setTimeout(resolve, MODEL_MS));
  if (fail) throw throttle();
  return { ttftMs: MODEL_MS };
}

async function unguardedCall(fail: boolean): Promise<number> {
  const start = performance.now();
  try {
    await fakeModel(fail);
  } catch {
    // the caller would fall back; nothing to record
  }
  return performance.now() - start;
}

async function guardedCall(
  breaker: CircuitBreaker,
  model: string,
  fail: boolean,
  timings: { acquire: number[]; outcome: number[] },
): Promise<number> {
  const start = performance.now();
  const decision = await breaker.acquire(model);
  const acquired = performance.now();
  if (!decision.allowed) throw new Error(`breaker opened during the bench (${decision.state})`);
  const permit: BreakerPermit = decision.permit;
  let outcomeStart: number;
  try {
    const answer = await fakeModel(fail);
    outcomeStart = performance.now();
    await permit.success({ ttftMs: answer.ttftMs });
  } catch (err) {
    outcomeStart = performance.now();
    await permit.failure(err);
  }
  const end = performance.now();
  timings.acquire.push(acquired - start);
  timings.outcome.push(end - outcomeStart);
  return end - start;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

const ms = (v: number) => `${v.toFixed(3)} ms`;
const mark = (ok: boolean) => (ok ? 'met' : '**missed**');

async function measure(scenario: Scenario, index: number, ctx: Awaited<ReturnType<typeof setup>>): Promise<Result> {
  const breaker = new CircuitBreaker({
    store: new DynamoBreakerStore({ tableName: ctx.table, documentClient: ctx.doc }),
    settings: ctx.settings,
  });
  const model = `bench.model-${index}`;
  const timings = { acquire: [] as number[], outcome: [] as number[] };
  for (let i = 0; i < WARMUP; i++) {
    await unguardedCall(false);
    await guardedCall(breaker, model, false, { acquire: [], outcome: [] });
  }
  ctx.requests.reset();
  const baseline: number[] = [];
  const guarded: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const fail = scenario.fails(i);
    // Interleaved, so drift in timer precision or machine load hits both sides alike.
    baseline.push(await unguardedCall(fail));
    guarded.push(await guardedCall(breaker, model, fail, timings));
  }
  return {
    scenario: scenario.name,
    calls: CALLS,
    baseline,
    guarded,
    ...timings,
    reads: ctx.requests.reads,
    writes: ctx.requests.writes,
  };
}

async function setup() {
  const db = await startDynalite();
  const client = dynamoClient(db.endpoint);
  const table = 'guard-bench';
  await createGuardTable(client, table);
  const requests = countRequests(client);
  return { db, client, doc: documentClient(client), table, requests, settings: parseConfig({}).breaker };
}

export async function run(): Promise<string> {
  const ctx = await setup();
  const scenarios: Scenario[] = [
    { name: 'all calls succeed', fails: () => false },
    { name: '5 % throttled (below the trip threshold)', fails: (i) => i % 20 === 19 },
  ];
  const results: Result[] = [];
  try {
    for (const [i, s] of scenarios.entries()) results.push(await measure(s, i, ctx));
  } finally {
    ctx.client.destroy();
    await ctx.db.close();
  }

  const s = ctx.settings;
  const lines = [
    '## Circuit breaker overhead',
    '',
    `${CALLS} sequential calls per scenario on one breaker instance (one Lambda execution environment), each to a fake ` +
      `model of ${MODEL_MS} ms, interleaved with the same calls without a breaker. DynamoDB is dynalite, in-process on ` +
      `127.0.0.1. Default breaker settings (window ${s.windowSeconds} s, minimum ${s.minimumCalls} calls, ` +
      `cache ${s.cacheMs} ms). "Added" is the guarded call's percentile minus the unguarded call's; "acquire" is the ` +
      `part before the model is called (what time-to-first-token feels), "outcome" the recording after it.`,
    '',
    '| Scenario | added p50 | added p99 | acquire p50 / p99 | outcome p50 / p99 | reads/call | writes/call |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.scenario} | ${ms(percentile(r.guarded, 50) - percentile(r.baseline, 50))} | ` +
        `${ms(percentile(r.guarded, 99) - percentile(r.baseline, 99))} | ` +
        `${ms(percentile(r.acquire, 50))} / ${ms(percentile(r.acquire, 99))} | ` +
        `${ms(percentile(r.outcome, 50))} / ${ms(percentile(r.outcome, 99))} | ` +
        `${(r.reads / r.calls).toFixed(3)} | ${(r.writes / r.calls).toFixed(3)} |`,
    );
  }
  lines.push('', '| Target | Scenario | Result |', '| --- | --- | --- |');
  for (const r of results) {
    const added = percentile(r.guarded, 50) - percentile(r.baseline, 50);
    const beforeModel = percentile(r.acquire, 50);
    const reads = r.reads / r.calls;
    const writes = r.writes / r.calls;
    lines.push(
      `| added p50 ≤ ${TARGET.addedP50Ms} ms before the model is called | ${r.scenario} | ${mark(beforeModel <= TARGET.addedP50Ms)} (${ms(beforeModel)}) |`,
      `| added p50 ≤ ${TARGET.addedP50Ms} ms for the whole call, outcome write awaited | ${r.scenario} | ${mark(added <= TARGET.addedP50Ms)} (${ms(added)}) |`,
      `| ≤ ${TARGET.readsPerCall} reads per call | ${r.scenario} | ${mark(reads <= TARGET.readsPerCall)} (${reads.toFixed(3)}) |`,
      `| ≤ ${TARGET.writesPerCall} write per call | ${r.scenario} | ${mark(writes <= TARGET.writesPerCall)} (${writes.toFixed(3)}) |`,
    );
  }
  lines.push(
    '',
    'Reads per call depend on how many calls one instance serves per `cacheMs`: at most one state read per instance and ' +
      'model per `cacheMs`, so an instance whose calls are more than `cacheMs` apart reads once per call. After the ' +
      'model answers, the whole steady-state cost is the outcome write: one UpdateItem, a loopback round trip here and ' +
      "a few milliseconds on DynamoDB. A streaming handler records it after the `end` event, off the client's path.",
    '',
  );
  return lines.join('\n');
}

if (require.main === module) runAsMain(run);
