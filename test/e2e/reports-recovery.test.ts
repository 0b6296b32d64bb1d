/**
 * Every accepted report ends, exactly once, even when its worker dies: a worker killed mid-job (its execution
 * environment is a real process, SIGKILLed) is taken over by the redelivery once its lease has run out, and a job whose
 * deliveries are exhausted is failed by the dead-letter backstop.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Webhook } from 'standardwebhooks';
import { ENV } from '../../config/runtime';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { documentClient, dynamoClient } from '../helpers/dynalite';
import { webhookSigningSecret } from '../helpers/local-cloud';
import { reportsApi, startReceiver, waitFor, waitForReport, type Receiver } from '../helpers/reports';

jest.setTimeout(60_000);

const SECRET = webhookSigningSecret('reports-recovery-signing-secret-42');
const KEY = 'alice-recovery-key-00000000000';

let cloud: LocalCloud;
let hooks: Receiver;
let api: ReturnType<typeof reportsApi>;
let db: DynamoDBDocumentClient;

beforeAll(async () => {
  hooks = await startReceiver('/hook');
  cloud = await startLocalCloud({ quiet: true, apiKeys: `alice:pro:${KEY}`, webhookSecret: SECRET });
  api = reportsApi(cloud.url, KEY);
  db = documentClient(dynamoClient(cloud.dynamoEndpoint));
});

afterAll(async () => {
  db?.destroy();
  await cloud?.reports.bus.idle(5_000);
  await cloud?.stop();
  await hooks?.close();
});

const stored = async (reportId: string) =>
  (
    await db.send(
      new GetCommand({
        TableName: cloud.env[ENV.reportsTable],
        Key: { pk: `report#${reportId}` },
        ConsistentRead: true,
      }),
    )
  ).Item;
const webhooksFor = (reportId: string) => hooks.received.filter((w) => w.json.reportId === reportId);

test('a worker killed mid-job: the redelivery takes over after the lease, and the report finishes exactly once', async () => {
  // The model takes long enough that the worker is certainly mid-call when it dies.
  cloud.simulator.configure({ mode: 'slow', ttftMs: 10_000 });
  const { body } = await api.submit({ prompt: 'Survive a crash', callbackUrl: hooks.url });
  await waitFor(async () => ((await api.get(body.reportId)).body.status === 'RUNNING' ? true : undefined), {
    what: 'RUNNING',
  });
  await waitFor(() => (cloud.simulator.stats.active > 0 ? true : undefined), { what: 'the model call to start' });
  const callsBefore = cloud.simulator.stats.calls;

  await cloud.reports.worker.kill();
  expect(cloud.reports.worker.stats.abandoned).toBe(1);
  expect((await api.get(body.reportId)).body.status).toBe('RUNNING');
  cloud.simulator.configure({ mode: 'normal' });
  cloud.reports.worker.start();

  // The message comes back after the visibility timeout (31 s locally), when the dead worker's lease has expired.
  const { report, seen } = await waitForReport(api, body.reportId, { timeoutMs: 50_000, intervalMs: 250 });
  expect(report.status).toBe('COMPLETED');
  expect(seen).toEqual(['RUNNING', 'COMPLETED']);
  const item = await stored(body.reportId);
  expect(item).toMatchObject({ status: 'COMPLETED', attempts: 2 });
  expect(cloud.simulator.stats.calls - callsBefore).toBe(1);

  await waitFor(() => (webhooksFor(body.reportId).length ? true : undefined), { what: 'the webhook' });
  await cloud.reports.bus.idle(5_000);
  const hooksForReport = webhooksFor(body.reportId);
  expect(hooksForReport).toHaveLength(1);
  expect(
    new Webhook(SECRET).verify(hooksForReport[0].body, hooksForReport[0].headers as Record<string, string>),
  ).toMatchObject({
    type: 'report.completed',
    status: 'COMPLETED',
    result: report.result,
  });
  expect(
    cloud.reports.bus.events.filter(
      (e) => (e.detail as { payload: { reportId: string } }).payload.reportId === body.reportId,
    ),
  ).toHaveLength(1);
});

test('a job whose deliveries are exhausted is failed by the dead-letter backstop, with a reason and a report.failed webhook', async () => {
  // No worker: the job waits in the queue. Then do what SQS redrive does after maxReceiveCount: move it to the DLQ.
  await cloud.reports.worker.kill();
  try {
    const { body } = await api.submit({ prompt: 'Nobody will run me', callbackUrl: hooks.url });
    const { jobs, jobsDeadLetter } = cloud.reports.queues;
    const sqs = cloud.reports.sqs.client;
    const message = await waitFor(
      async () => (await sqs.send(new ReceiveMessageCommand({ QueueUrl: jobs.url, WaitTimeSeconds: 1 }))).Messages?.[0],
      {
        what: 'the job message',
      },
    );
    expect(JSON.parse(message.Body!)).toEqual({ reportId: body.reportId });
    await sqs.send(new SendMessageCommand({ QueueUrl: jobsDeadLetter.url, MessageBody: message.Body! }));
    await sqs.send(new DeleteMessageCommand({ QueueUrl: jobs.url, ReceiptHandle: message.ReceiptHandle! }));

    const { report } = await waitForReport(api, body.reportId, { timeoutMs: 15_000 });
    expect(report).toMatchObject({
      status: 'FAILED',
      error: { code: 'RETRIES_EXHAUSTED', message: expect.stringContaining('could not be processed') },
    });
    const [hook] = await waitFor(() => (webhooksFor(body.reportId).length ? webhooksFor(body.reportId) : undefined), {
      what: 'report.failed',
    });
    expect(new Webhook(SECRET).verify(hook.body, hook.headers as Record<string, string>)).toEqual({
      type: 'report.failed',
      reportId: body.reportId,
      status: 'FAILED',
      error: report.error,
      occurredAt: report.updatedAt,
    });
  } finally {
    cloud.reports.worker.start();
  }
});
