/**
 * The local SQS event source mapping against fauxqs: batches with system attributes, partial batch failures, visibility
 * timeout redelivery, redrive to the dead-letter queue, a killed environment deleting nothing, and its maximum
 * concurrency with one long poll open at a time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { SandboxTerminatedError } from '../../local/lambda-sandbox';
import { startLocalSqs, type LocalQueue, type LocalSqs } from '../../local/sqs';
import { SqsPoller, type FunctionInvoker } from '../../local/sqs-poller';
import { waitFor } from '../helpers/reports';

jest.setTimeout(30_000);

let sqs: LocalSqs;
beforeAll(async () => {
  sqs = await startLocalSqs();
});
afterAll(async () => {
  await sqs?.stop();
});

/** An invoker that records every event and answers with `respond`. */
function recordingInvoker(respond: (event: SQSEvent) => Promise<SQSBatchResponse | undefined>) {
  const events: SQSEvent[] = [];
  let kill: () => void = () => undefined;
  const invoker: FunctionInvoker = {
    invoke: (event) =>
      new Promise((resolve, reject) => {
        events.push(event as SQSEvent);
        kill = () => reject(new SandboxTerminatedError('test', 'killed'));
        respond(event as SQSEvent).then(resolve, reject);
      }),
    kill: () => kill(),
  };
  return { invoker, events };
}

async function queues(name: string, maxReceiveCount: number): Promise<{ queue: LocalQueue; dlq: LocalQueue }> {
  const dlq = await sqs.createQueue(`${name}-dlq`);
  const queue = await sqs.createQueue(name, {
    VisibilityTimeout: '1',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount }),
  });
  return { queue, dlq };
}

async function send(queue: LocalQueue, bodies: string[]): Promise<void> {
  await sqs.client.send(
    new SendMessageBatchCommand({
      QueueUrl: queue.url,
      Entries: bodies.map((b, i) => ({ Id: String(i), MessageBody: b })),
    }),
  );
}

test('deletes the records that succeeded, redelivers the failed one with a higher receive count, then redrives it', async () => {
  const { queue, dlq } = await queues('poller-partial', 2);
  const { invoker, events } = recordingInvoker(async (event) => ({
    batchItemFailures: event.Records.filter((r) => r.body === 'bad').map((r) => ({ itemIdentifier: r.messageId })),
  }));
  const poller = new SqsPoller({
    client: sqs.client,
    queue,
    invoker,
    batchSize: 10,
    timeoutMs: 5_000,
    concurrency: 1,
  }).start();
  try {
    await send(queue, ['good-1', 'bad', 'good-2']);
    const dead = await waitFor(async () => (await sqs.drain(dlq.url, 1)).find((m) => m.Body === 'bad'), {
      what: 'the redrive',
      timeoutMs: 15_000,
    });
    expect(dead.Body).toBe('bad');

    const records = events.flatMap((e) => e.Records);
    expect(records.filter((r) => r.body.startsWith('good')).map((r) => r.attributes.ApproximateReceiveCount)).toEqual([
      '1',
      '1',
    ]);
    expect(records.filter((r) => r.body === 'bad').map((r) => r.attributes.ApproximateReceiveCount)).toEqual([
      '1',
      '2',
    ]);
    const first = records[0];
    expect(first).toMatchObject({ eventSource: 'aws:sqs', eventSourceARN: queue.arn, awsRegion: 'us-east-1' });
    expect(Number(first.attributes.SentTimestamp)).toBeGreaterThan(0);
    expect(poller.stats.recordsDeleted).toBe(2);
    expect(await sqs.depth(queue.url)).toBe(0);
  } finally {
    await poller.stop();
  }
});

test('an invocation that throws deletes nothing: the whole batch comes back', async () => {
  const { queue } = await queues('poller-throws', 5);
  let calls = 0;
  const { invoker, events } = recordingInvoker(async () => {
    calls++;
    if (calls === 1) throw new Error('handler crashed');
    return undefined;
  });
  const poller = new SqsPoller({
    client: sqs.client,
    queue,
    invoker,
    batchSize: 10,
    timeoutMs: 5_000,
    concurrency: 1,
  }).start();
  try {
    await send(queue, ['a', 'b']);
    await waitFor(() => (poller.stats.recordsDeleted === 2 ? true : undefined), {
      what: 'the retry to succeed',
      timeoutMs: 10_000,
    });
    expect(poller.stats.invocationErrors).toBe(1);
    const counts = events
      .flatMap((e) => e.Records.map((r) => `${r.body}:${r.attributes.ApproximateReceiveCount}`))
      .sort();
    expect(counts).toEqual(['a:1', 'a:2', 'b:1', 'b:2']);
  } finally {
    await poller.stop();
  }
});

test('a killed environment deletes nothing; a fresh poller gets the message after its visibility timeout', async () => {
  const { queue } = await queues('poller-killed', 5);
  const stuck = recordingInvoker(() => new Promise(() => undefined)); // never returns
  const first = new SqsPoller({
    client: sqs.client,
    queue,
    invoker: stuck.invoker,
    batchSize: 1,
    timeoutMs: 60_000,
    concurrency: 1,
  }).start();
  await send(queue, ['job']);
  await waitFor(() => (first.stats.inFlight === 1 ? true : undefined), { what: 'the invocation to start' });
  await first.kill();
  expect(first.stats).toMatchObject({ abandoned: 1, recordsDeleted: 0 });

  const healthy = recordingInvoker(async () => undefined);
  const second = new SqsPoller({
    client: sqs.client,
    queue,
    invoker: healthy.invoker,
    batchSize: 1,
    timeoutMs: 5_000,
    concurrency: 1,
  }).start();
  try {
    await waitFor(() => (second.stats.recordsDeleted === 1 ? true : undefined), {
      what: 'the redelivery',
      timeoutMs: 10_000,
    });
    expect(healthy.events[0].Records[0].attributes.ApproximateReceiveCount).toBe('2');
  } finally {
    await second.stop();
  }
});

test('runs at most `concurrency` invocations at once, and keeps one long poll open whatever the concurrency', async () => {
  const queue = await sqs.createQueue('poller-concurrency');
  // The poller's own client, counting its receives.
  const client = new SQSClient({
    endpoint: sqs.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    useQueueUrlAsEndpoint: false,
  });
  let receives = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'ReceiveMessageCommand') receives++;
      return next(args);
    },
    { step: 'initialize' },
  );
  let running = 0;
  let most = 0;
  const waiting: (() => void)[] = [];
  const { invoker, events } = recordingInvoker(async () => {
    running++;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => waiting.push(resolve));
    running--;
    return undefined;
  });
  const poller = new SqsPoller({ client, queue, invoker, batchSize: 1, timeoutMs: 5_000, concurrency: 3 }).start();
  try {
    await send(queue, ['1', '2', '3', '4', '5', '6', '7']);
    await waitFor(() => (events.length === 3 ? true : undefined), { what: 'three invocations' });
    // Every invocation busy: no fourth starts while they run, and the other messages wait in the queue.
    await sleep(300);
    expect(events).toHaveLength(3);
    while (poller.stats.recordsDeleted < 7) {
      for (const resolve of waiting.splice(0)) resolve();
      await sleep(20);
    }
    expect(most).toBe(3);
    expect(events.flatMap((e) => e.Records.map((r) => r.body)).sort()).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    // Idle: one long poll of `waitTimeSeconds` (1 s) at a time, not one per invocation it may run.
    const before = receives;
    await sleep(2_500);
    expect(receives - before).toBeLessThanOrEqual(4);
  } finally {
    for (const resolve of waiting.splice(0)) resolve();
    await poller.stop();
    client.destroy();
  }
});
