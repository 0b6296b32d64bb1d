/**
 * Backpressure toward the model: a burst of concurrent calls above a model's requests-per-minute quota, through the
 * local cloud, to a model guarded by `models.quotas` and, in the same run, to a model without it. The Bedrock simulator
 * enforces the same quota on both (`requestsPerMinute`, throttling past it as Bedrock does). With the quota the calls
 * past it are refused at once with clean `429`s and the model is never throttled; without it the model throttles them,
 * they are retried, and the breaker counts the throttles.
 *
 *   npx tsx bench/quota.bench.ts
 */
import { performance } from 'node:perf_hooks';
import { startLocalCloud, type LocalCloud } from '../local/cloud';
import { cloudBreaker } from '../test/helpers/local-cloud';
import { summaryLine, runAsMain } from './stats';

const QUOTA = 20;
const BURST = 60;
const KEY = 'bench-quota-key-000000000000000';
const GUARDED = 'bench.guarded-v1:0';
const UNGUARDED = 'bench.unguarded-v1:0';
/** Warms the local cloud up (its functions' modules and clients) before anything is measured. */
const WARMUP = 'bench.warmup-v1:0';

interface BurstResult {
  byStatus: Map<string, number>;
  /** Milliseconds from sending to the whole answer, per answer with that status. */
  latencies: Map<number, number[]>;
  modelCalls: number;
  modelThrottles: number;
  breakerState: string;
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

async function simulatorStats(cloud: LocalCloud): Promise<{ calls: number; throttled: number }> {
  const body = (await (await fetch(`${cloud.url}/_local/model`)).json()) as {
    stats: { calls: number; throttled: number };
  };
  return body.stats;
}

/** `BURST` concurrent `POST /chat/completions` to `model` (an alias), each answered in full. */
async function burst(cloud: LocalCloud, alias: string, modelId: string): Promise<BurstResult> {
  const before = await simulatorStats(cloud);
  const byStatus = new Map<string, number>();
  const latencies = new Map<number, number[]>();
  await Promise.all(
    Array.from({ length: BURST }, async (_, i) => {
      const started = performance.now();
      const res = await fetch(`${cloud.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ model: alias, messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 8 }),
      });
      const body = (await res.json()) as { error?: { code?: string | null } };
      const key = res.status === 200 ? '200' : `${res.status} ${body.error?.code ?? ''}`.trim();
      byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
      latencies.set(res.status, [...(latencies.get(res.status) ?? []), performance.now() - started]);
    }),
  );
  const after = await simulatorStats(cloud);
  const { breaker, db } = cloudBreaker(cloud);
  try {
    const status = await breaker.status(modelId);
    return {
      byStatus,
      latencies,
      modelCalls: after.calls - before.calls,
      modelThrottles: after.throttled - before.throttled,
      breakerState: status.state,
    };
  } finally {
    db.destroy();
  }
}

export async function run(): Promise<string> {
  const cloud = await startLocalCloud({
    port: 0,
    quiet: true,
    apiKeys: `bench:flood:${KEY}`,
    config: {
      plans: {
        flood: {
          rateLimit: 10_000,
          burstLimit: 10_000,
          requestsPerDay: 1_000_000,
          tokensPerDay: 50_000_000,
          maxConcurrentRequests: 1_000,
        },
      },
      models: {
        primary: GUARDED,
        fallbacks: [],
        aliases: { guarded: { model: GUARDED }, unguarded: { model: UNGUARDED }, warmup: { model: WARMUP } },
        quotas: { [GUARDED]: { requestsPerMinute: QUOTA } },
        quotaWaitMs: 0,
      },
    },
  });
  let guarded: BurstResult;
  let unguarded: BurstResult;
  try {
    await burst(cloud, 'warmup', WARMUP);
    cloud.simulator.configure({ mode: 'normal', requestsPerMinute: QUOTA });
    guarded = await burst(cloud, 'guarded', GUARDED);
    unguarded = await burst(cloud, 'unguarded', UNGUARDED);
  } finally {
    await cloud.stop();
  }

  const refused = guarded.byStatus.get('429 rate_limit_exceeded') ?? 0;
  const expectedRefused = BURST - QUOTA;
  const statuses = (r: BurstResult) =>
    [...r.byStatus.entries()]
      .sort()
      .map(([s, n]) => `${n} × ${s}`)
      .join(', ');
  const ms = (v: number) => (Number.isNaN(v) ? '–' : `${v.toFixed(0)} ms`);
  const row = (name: string, r: BurstResult) =>
    `| ${name} | ${statuses(r)} | ${r.modelCalls} | ${r.modelThrottles} | ${r.breakerState} | ` +
    `${ms(percentile(r.latencies.get(429) ?? r.latencies.get(503) ?? [], 50))} / ` +
    `${ms(percentile(r.latencies.get(200) ?? [], 50))} |`;

  return [
    '## Model quota: a burst above it',
    '',
    `${BURST} concurrent \`POST /v1/chat/completions\` (non-streaming, \`max_tokens: 8\`) through the local cloud, to a ` +
      `model whose Bedrock quota is ${QUOTA} requests per minute (the simulator throttles past it, as Bedrock does): ` +
      `once with \`models.quotas\` set to the same ${QUOTA} (\`quotaWaitMs: 0\`), once for a model without it. ` +
      '"Model calls" and "model throttles" are what the simulator received and throttled (the calls past the quota are ' +
      'retried once, `chat.retryRounds`); "breaker" is the state of the model\'s circuit breaker afterwards. The local ' +
      'cloud is warmed up first by the same burst to a third model.',
    '',
    '| Model | answers | model calls | model throttles | breaker | p50 refusal / answer |',
    '| --- | --- | --- | --- | --- | --- |',
    row('with `models.quotas`', guarded),
    row('without', unguarded),
    '',
    summaryLine({
      metric: `Model quota: clean 429s for a burst of ${BURST} above a quota of ${QUOTA}/min`,
      target: `= ${expectedRefused}`,
      value: String(refused),
      met: refused === expectedRefused && guarded.byStatus.get('200') === QUOTA,
    }),
    summaryLine({
      metric: 'Model quota: model throttles during the burst',
      target: '= 0',
      value: String(guarded.modelThrottles),
      met: guarded.modelThrottles === 0,
    }),
    '',
  ].join('\n');
}

if (require.main === module) runAsMain(run);
