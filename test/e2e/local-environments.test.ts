/**
 * How the local cloud runs its parts: the worker's event source mapping bounded by `reports.maxConcurrency`, the
 * simulator and DynamoDB on threads of their own behind the same surface, and a `stop()` that leaves nothing running.
 */
import { execFileSync } from 'node:child_process';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { SimulatorSettingsError } from '../../local/bedrock-simulator';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { startLocalSqs } from '../../local/sqs';
import { SqsPoller, type FunctionInvoker } from '../../local/sqs-poller';
import { dynamoClient } from '../helpers/dynalite';
import { waitFor } from '../helpers/reports';

jest.setTimeout(60_000);

/** This process's child processes, by pid. */
function childPids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(process.pid)], { encoding: 'utf8' }).trim();
  // `ps` itself is a child while it runs.
  return out ? out.split(/\s+/).map(Number) : [];
}

test('the event source mapping runs at most `concurrency` invocations at once', async () => {
  const sqs = await startLocalSqs();
  let running = 0;
  let most = 0;
  let done = 0;
  const invoker: FunctionInvoker = {
    invoke: async () => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 150));
      running--;
      done++;
    },
    kill: () => undefined,
  };
  const queue = await sqs.createQueue('bounded', { VisibilityTimeout: '30' });
  const poller = new SqsPoller({ client: sqs.client, queue, invoker, batchSize: 1, timeoutMs: 5_000, concurrency: 3 });
  try {
    await sqs.client.send(
      new SendMessageBatchCommand({
        QueueUrl: queue.url,
        Entries: Array.from({ length: 9 }, (_, i) => ({ Id: String(i), MessageBody: `job-${i}` })),
      }),
    );
    poller.start();
    await waitFor(() => (done === 9 ? true : undefined), { what: 'nine invocations', timeoutMs: 20_000 });
    expect(most).toBe(3);
  } finally {
    await poller.stop({ queueClosing: true });
    await sqs.stop();
  }
});

describe('a local cloud', () => {
  let cloud: LocalCloud;
  let childrenBefore: number[];
  beforeAll(async () => {
    childrenBefore = childPids();
    cloud = await startLocalCloud({ quiet: true, config: { reports: { maxConcurrency: 3 } } });
  });
  afterAll(async () => {
    await cloud?.stop();
  });

  test("the report worker's event source mapping honours reports.maxConcurrency", () => {
    expect(cloud.reports.worker.concurrency).toBe(3);
  });

  test('the simulator on its own thread keeps its synchronous settings, counters and errors', async () => {
    expect(cloud.simulator.configure({ mode: 'slow', ttftMs: 5 })).toMatchObject({
      default: { mode: 'slow', ttftMs: 5, tokensPerSecond: 20 },
    });
    expect(cloud.simulator.state().default.mode).toBe('slow');
    expect(() => cloud.simulator.configure({ mode: 'sleepy' })).toThrow(SimulatorSettingsError);
    expect(() => cloud.simulator.configure({ mode: 'normal', ttftMs: -1 })).toThrow(/ttftMs/);
    expect(cloud.simulator.state().default.mode).toBe('slow');

    cloud.simulator.reset();
    const before = cloud.simulator.stats.calls;
    const res = await fetch(`${cloud.simulator.url}/model/any-model/converse`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] }),
    });
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    expect(cloud.simulator.stats.calls).toBe(before + 1);
    expect(cloud.simulator.stats.byModel['any-model']).toBe(1);
    expect(cloud.simulator.state().default.mode).toBe('normal');
  });

  test('stop() ends every thread and process it started: the endpoints refuse connections after it', async () => {
    const db = dynamoClient(cloud.dynamoEndpoint);
    await expect(db.send(new ListTablesCommand({}))).resolves.toHaveProperty('TableNames');
    const endpoints = [cloud.url, cloud.dynamoEndpoint, cloud.simulator.url, cloud.reports.sqs.endpoint];
    expect(childPids().length).toBeGreaterThan(childrenBefore.length);

    await cloud.stop();
    for (const endpoint of endpoints) await expect(fetch(endpoint)).rejects.toThrow();
    await expect(db.send(new ListTablesCommand({}))).rejects.toThrow();
    db.destroy();
    await waitFor(() => (childPids().length <= childrenBefore.length ? true : undefined), {
      what: 'the child processes to exit',
      timeoutMs: 5_000,
    });
    expect(() => cloud.simulator.stats).toThrow(/closed/);
  });
});
