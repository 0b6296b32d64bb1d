/**
 * Async reports through the whole local stack (gateway → submit → queue → worker environment → simulator → table →
 * bus → webhook sender → receiver).
 *
 * - async overhead: submit sent → report COMPLETED (its `finishedAt`), minus the model call's own time (the
 *   `modelLatencyMs` the worker records): what the queue, the worker and the writes add. Target (issue 12): p50 ≤ 50 ms
 *   at 8 reports at a time, listed in the report's summary.
 * - webhook latency: report COMPLETED → signed webhook received by a local receiver. Target ≤ 200 ms.
 *
 * Clock: one machine, so the client's, the worker's and the receiver's `Date.now()` agree.
 */
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV } from '../config/runtime';
import { startLocalCloud, type LocalCloud } from '../local/cloud';
import { documentClient, dynamoClient } from '../test/helpers/dynalite';
import { reportsApi, startReceiver, waitFor, type Receiver } from '../test/helpers/reports';
import { percentile, summaryLine, table, runAsMain } from './stats';

const KEY = 'bench-reports-key-000000000000';
const TARGET_OVERHEAD_MS = 50;
const TARGET_WEBHOOK_MS = 200;

interface Sample {
  overheadMs: number;
  modelMs: number;
  webhookMs: number;
}

async function oneReport(cloud: LocalCloud, receiver: Receiver, db: DynamoDBDocumentClient): Promise<Sample> {
  const api = reportsApi(cloud.url, KEY);
  const submittedAt = Date.now();
  const { status, body } = await api.submit({ prompt: 'benchmark the async path', callbackUrl: receiver.url });
  if (status !== 202) throw new Error(`submit answered ${status}: ${JSON.stringify(body)}`);
  const hook = await waitFor(() => receiver.received.find((w) => w.json.reportId === body.reportId), {
    timeoutMs: 30_000,
    intervalMs: 2,
    what: `the webhook of ${body.reportId}`,
  });
  const { Item } = await db.send(
    new GetCommand({
      TableName: cloud.env[ENV.reportsTable],
      Key: { pk: `report#${body.reportId}` },
      ConsistentRead: true,
    }),
  );
  if (Item?.status !== 'COMPLETED') throw new Error(`report ${body.reportId} is ${Item?.status}`);
  const finishedAt = Date.parse(Item.finishedAt as string);
  const modelMs = Item.modelLatencyMs as number;
  return { overheadMs: finishedAt - submittedAt - modelMs, modelMs, webhookMs: hook.receivedAt - finishedAt };
}

async function rounds(concurrency: number, total: number, fn: () => Promise<Sample>): Promise<Sample[]> {
  const out: Sample[] = [];
  while (out.length < total) out.push(...(await Promise.all(Array.from({ length: concurrency }, fn))));
  return out;
}

const ms = (v: number) => `${Math.round(v)} ms`;
const verdict = (p50: number, p99: number, target: number) =>
  p99 <= target ? 'met (p50 and p99)' : p50 <= target ? 'met at p50, not at p99' : 'not met';

export async function run(): Promise<string> {
  const receiver = await startReceiver('/bench-hook');
  const cloud = await startLocalCloud({ quiet: true, apiKeys: `bench:pro:${KEY}` });
  const db = documentClient(dynamoClient(cloud.dynamoEndpoint));
  try {
    const sample = () => oneReport(cloud, receiver, db);
    // Warm-up: the worker's execution environment starts cold, and every path runs at the concurrency measured below.
    await rounds(8, 16, sample);
    const rows: string[][] = [];
    const summary: string[] = [];
    for (const [concurrency, total] of [
      [1, 40],
      [8, 80],
    ] as const) {
      const samples = await rounds(concurrency, total, sample);
      const overhead = samples.map((s) => s.overheadMs);
      const webhook = samples.map((s) => s.webhookMs);
      const model = samples.map((s) => s.modelMs);
      const [o50, o99, w50, w99] = [
        percentile(overhead, 50),
        percentile(overhead, 99),
        percentile(webhook, 50),
        percentile(webhook, 99),
      ];
      if (concurrency === 8)
        summary.push(
          summaryLine({
            metric: 'Reports async overhead p50, 8 at a time',
            target: `≤ ${TARGET_OVERHEAD_MS} ms`,
            value: ms(o50),
            met: o50 <= TARGET_OVERHEAD_MS,
          }),
        );
      rows.push([
        `async overhead, ${concurrency} at a time (n=${total})`,
        ms(o50),
        ms(o99),
        `≤ ${TARGET_OVERHEAD_MS} ms`,
        verdict(o50, o99, TARGET_OVERHEAD_MS),
        `model time p50 ${ms(percentile(model, 50))}`,
      ]);
      rows.push([
        `webhook latency after completion, ${concurrency} at a time`,
        ms(w50),
        ms(w99),
        `≤ ${TARGET_WEBHOOK_MS} ms`,
        verdict(w50, w99, TARGET_WEBHOOK_MS),
        '',
      ]);
    }
    return [
      '## Async reports (local cloud)',
      'Submit → COMPLETED minus the model call, and COMPLETED → signed webhook received, through the gateway, fauxqs, ' +
        "the worker's execution environment (at most `reports.maxConcurrency` invocations at once), the simulator (default pace), dynalite and the local event bus.",
      table(['measure', 'p50', 'p99', 'target', 'verdict', 'note'], rows),
      summary.join('\n'),
    ].join('\n\n');
  } finally {
    db.destroy();
    await cloud.reports.bus.idle(5_000);
    await cloud.stop();
    await receiver.close();
  }
}

if (require.main === module) runAsMain(run);
