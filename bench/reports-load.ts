/**
 * The client side of the reports bench, run as a process of its own (`reports.bench.ts` starts it): the clients that
 * submit reports and the subscriber that receives their webhooks are not on the local cloud's event loop, as they
 * would not be on AWS.
 *
 * Usage: tsx bench/reports-load.ts <apiUrl> <apiKey> <dynamoEndpoint> <reportsTable> <concurrency:total,…>
 * First a warm-up of 16 reports 8 at a time, then for each `concurrency:total` rounds of `concurrency` reports at once
 * until `total`. Prints `{"<concurrency>": Sample[], …}`.
 */
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { documentClient, dynamoClient } from '../test/helpers/dynalite';
import { reportsApi, startReceiver, waitFor, type Receiver } from '../test/helpers/reports';

export interface ReportSample {
  /** Submit sent → the report's `finishedAt`, minus the model call's own time. */
  overheadMs: number;
  /** The model call's time, as the worker recorded it. */
  modelMs: number;
  /** The report's `finishedAt` → its signed webhook received. */
  webhookMs: number;
}

interface Client {
  submit: ReturnType<typeof reportsApi>['submit'];
  receiver: Receiver;
  db: DynamoDBDocumentClient;
  table: string;
}

async function oneReport({ submit, receiver, db, table }: Client): Promise<ReportSample> {
  const submittedAt = Date.now();
  const { status, body } = await submit({ prompt: 'benchmark the async path', callbackUrl: receiver.url });
  if (status !== 202) throw new Error(`submit answered ${status}: ${JSON.stringify(body)}`);
  // Polling here costs this process only; `receivedAt` is taken when the webhook arrives.
  const hook = await waitFor(() => receiver.received.find((w) => w.json.reportId === body.reportId), {
    timeoutMs: 30_000,
    intervalMs: 2,
    what: `the webhook of ${body.reportId}`,
  });
  const { Item } = await db.send(
    new GetCommand({ TableName: table, Key: { pk: `report#${body.reportId}` }, ConsistentRead: true }),
  );
  if (Item?.status !== 'COMPLETED') throw new Error(`report ${body.reportId} is ${Item?.status}`);
  const finishedAt = Date.parse(Item.finishedAt as string);
  const modelMs = Item.modelLatencyMs as number;
  return { overheadMs: finishedAt - submittedAt - modelMs, modelMs, webhookMs: hook.receivedAt - finishedAt };
}

async function rounds(client: Client, concurrency: number, total: number): Promise<ReportSample[]> {
  const out: ReportSample[] = [];
  while (out.length < total)
    out.push(...(await Promise.all(Array.from({ length: concurrency }, () => oneReport(client)))));
  return out;
}

async function main(): Promise<void> {
  const [url, key, dynamoEndpoint, table, plan] = process.argv.slice(2);
  if (!url || !key || !dynamoEndpoint || !table || !plan)
    throw new Error('usage: see the header of bench/reports-load.ts');
  const receiver = await startReceiver('/bench-hook');
  const db = documentClient(dynamoClient(dynamoEndpoint));
  const client: Client = { submit: reportsApi(url, key).submit, receiver, db, table };
  try {
    // Warm-up: the worker's execution environment starts cold, and every path runs at the concurrency measured.
    await rounds(client, 8, 16);
    const result: Record<string, ReportSample[]> = {};
    for (const step of plan.split(',')) {
      const [concurrency, total] = step.split(':').map(Number) as [number, number];
      result[concurrency] = await rounds(client, concurrency, total);
    }
    process.stdout.write(JSON.stringify(result));
  } finally {
    db.destroy();
    await receiver.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
