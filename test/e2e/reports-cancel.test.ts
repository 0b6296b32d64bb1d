/**
 * Cancelling a report over real HTTP against the local cloud (`POST /reports/{id}/cancel`): in each state, a slow
 * running report stopping within 2 s as counted at the Bedrock simulator, the signed `report.cancelled` webhook and the
 * deploy-time subscriber's copy, owner isolation, and cancel racing completion. Clients here are written from the
 * contract.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { ENV } from '../../config/runtime';
import { DynamoTokenBudgetStore } from '../../lambda/aws/token-budget-store';
import type { CircuitBreaker } from '../../lambda/core/breaker';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { documentClient } from '../helpers/dynalite';
import { cloudBreaker, ROOMY_PLAN, webhookSigningSecret } from '../helpers/local-cloud';
import { type Receiver, reportsApi, startReceiver, waitFor, waitForReport } from '../helpers/reports';

jest.setTimeout(60_000);

const SECRET = webhookSigningSecret('reports-cancel-e2e-signing-secret');
const ALICE = 'alice-cancel-key-0000000000000';
const BOB = 'bob-cancel-key-000000000000000';

let cloud: LocalCloud;
let hooks: Receiver;
let audit: Receiver;
let db: DynamoDBClient;
let breaker: CircuitBreaker;
const workerLines: string[] = [];
/** The tokens counted against alice's budget today (the token budget's counter in the guard table). */
async function aliceTokensUsed(): Promise<number> {
  const store = new DynamoTokenBudgetStore({
    tableName: cloud.env[ENV.guardTable],
    documentClient: documentClient(db),
  });
  return store.used({ userId: 'alice', window: new Date().toISOString().slice(0, 10) });
}

/** What the functions running in this process (the API's, such as cancel-report) print: Powertools logs and EMF. */
const apiLines: string[] = [];
let stdoutSpy: jest.SpyInstance | undefined;

let alice: ReturnType<typeof reportsApi>;
let bob: ReturnType<typeof reportsApi>;

beforeAll(async () => {
  hooks = await startReceiver('/hook');
  audit = await startReceiver('/audit');
  cloud = await startLocalCloud({
    // The worker's logs and metrics are collected (not printed) to check what a cancel records.
    quiet: false,
    functionOutput: (fn, line) => {
      if (fn === 'report-worker') workerLines.push(line);
    },
    apiKeys: `alice:pro:${ALICE},bob:pro:${BOB}`,
    webhookSecret: SECRET,
    config: {
      plans: { pro: ROOMY_PLAN },
      models: { fallbacks: [] },
      breaker: { cacheMs: 0 },
      webhooks: { subscribers: [{ name: 'audit', endpoint: audit.url, apiKeySecretName: 'audit-cancel-key' }] },
    },
  });
  alice = reportsApi(cloud.url, ALICE);
  bob = reportsApi(cloud.url, BOB);
  ({ breaker, db } = cloudBreaker(cloud));
  const write = process.stdout.write.bind(process.stdout);
  stdoutSpy = jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string' && chunk.startsWith('{')) {
      apiLines.push(...chunk.split('\n').filter(Boolean));
      return true;
    }
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write);
});

afterAll(async () => {
  stdoutSpy?.mockRestore();
  await cloud?.reports.bus.idle(5_000);
  db?.destroy();
  await cloud?.stop();
  await hooks?.close();
  await audit?.close();
});

afterEach(() => {
  cloud.simulator.configure({ mode: 'normal' });
  if (!cloud.reports.worker.isRunning) cloud.reports.worker.start();
});

const webhooksFor = (receiver: Receiver, reportId: string) =>
  receiver.received.filter((w) => w.json.reportId === reportId);

async function webhookOf(receiver: Receiver, reportId: string) {
  const [hook] = await waitFor(
    () => (webhooksFor(receiver, reportId).length ? webhooksFor(receiver, reportId) : undefined),
    { what: `the webhook of ${reportId}`, timeoutMs: 15_000 },
  );
  return hook;
}

function verified(hook: { body: string; headers: Record<string, unknown> }) {
  return new Webhook(SECRET).verify(hook.body, {
    'webhook-id': String(hook.headers['webhook-id']),
    'webhook-timestamp': String(hook.headers['webhook-timestamp']),
    'webhook-signature': String(hook.headers['webhook-signature']),
  });
}

async function submit(callback = true): Promise<string> {
  const { status, body } = await alice.submit({
    prompt: 'Write a long report on the quarterly numbers',
    ...(callback ? { callbackUrl: hooks.url } : {}),
  });
  expect(status).toBe(202);
  return body.reportId;
}

const finishedStatus = async (reportId: string) =>
  (await waitForReport(alice, reportId, { timeoutMs: 15_000, intervalMs: 25 })).report;

const printedJson = (lines = workerLines) =>
  lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, any>];
    } catch {
      return [];
    }
  });

test('QUEUED: 200 CANCELLED at once; GET shows cancelledAt; the job message is dropped without a model call', async () => {
  await cloud.reports.worker.stop();
  const reportId = await submit();
  const callsBefore = cloud.simulator.stats.calls;
  const deletedBefore = cloud.reports.worker.stats.recordsDeleted;

  const cancelled = await alice.cancel(reportId);
  expect(cancelled.status).toBe(200);
  expect(cancelled.body).toEqual({
    reportId,
    status: 'CANCELLED',
    createdAt: expect.any(String),
    updatedAt: expect.any(String),
    cancelledAt: expect.any(String),
  });
  const polled = await alice.get(reportId);
  expect(polled.status).toBe(200);
  expect(polled.body).toEqual(cancelled.body);
  expect(polled.headers.get('retry-after')).toBeNull();

  const again = await alice.cancel(reportId);
  expect(again.status).toBe(409);
  expect(again.body).toEqual({
    error: { code: 'ALREADY_FINISHED', message: expect.any(String), retryable: false, status: 'CANCELLED' },
  });

  // One log line for the cancel, without the prompt; the Cancelled metric by kind.
  const lines = printedJson(apiLines).filter((l) => l.message === 'report cancel' && l.reportId === reportId);
  expect(lines).toEqual([expect.objectContaining({ user_id: 'alice', outcome: 'cancelled' })]);
  expect(apiLines.filter((l) => l.includes(reportId)).join('\n')).not.toContain('quarterly numbers');
  expect(
    printedJson(apiLines).some(
      (l) => l.kind === 'report' && l.Cancelled === 1 && l._aws?.CloudWatchMetrics?.[0]?.Namespace !== undefined,
    ),
  ).toBe(true);

  // The worker comes back and meets the job's message: acknowledged, no model call, the report unchanged.
  cloud.reports.worker.start();
  await waitFor(() => (cloud.reports.worker.stats.recordsDeleted > deletedBefore ? true : undefined), {
    what: 'the job message to be acknowledged',
  });
  expect(cloud.simulator.stats.calls).toBe(callsBefore);
  expect((await alice.get(reportId)).body).toEqual(cancelled.body);

  const hook = await webhookOf(hooks, reportId);
  expect(hook.headers['webhook-id']).toBe(`msg_${reportId}`);
  expect(verified(hook)).toEqual({
    type: 'report.cancelled',
    reportId,
    status: 'CANCELLED',
    occurredAt: cancelled.body.cancelledAt,
  });
  // Deploy-time subscribers get it too.
  expect((await webhookOf(audit, reportId)).json).toMatchObject({ type: 'report.cancelled', status: 'CANCELLED' });
});

test('RUNNING: 202, then the model stops within 2 s at the simulator and the report is CANCELLED; the breaker is not blamed', async () => {
  const primary = cloud.config.models.primary;
  await breaker.forceClose(primary);
  cloud.simulator.configure({ mode: 'slow', ttftMs: 100, tokensPerSecond: 20 });
  const cancelledBefore = cloud.simulator.stats.cancelled;
  const usedBefore = await aliceTokensUsed();
  const reportId = await submit();
  // Generating: the model is sending tokens.
  await waitFor(
    async () =>
      ((await alice.get(reportId)).body.status === 'RUNNING' && cloud.simulator.stats.active > 0) || undefined,
    { what: 'the report to run' },
  );
  const tokensBefore = cloud.simulator.stats.tokensSent;
  await waitFor(() => (cloud.simulator.stats.tokensSent > tokensBefore + 3 ? true : undefined), {
    what: 'tokens to flow',
  });

  const requested = await alice.cancel(reportId);
  const cancelAt = Date.now();
  expect(requested.status).toBe(202);
  expect(requested.headers.get('retry-after')).toBe('2');
  expect(requested.body).toEqual({
    reportId,
    status: 'RUNNING',
    createdAt: expect.any(String),
    updatedAt: expect.any(String),
    cancelRequestedAt: expect.any(String),
  });
  // Asking again while it stops is the same answer.
  const twice = await alice.cancel(reportId);
  expect(twice.status).toBe(202);
  expect(twice.body.cancelRequestedAt).toBe(requested.body.cancelRequestedAt);

  // The simulator's stream closes before it has finished (counted as cancelled), within 2 s of the cancel.
  await waitFor(
    () => (cloud.simulator.stats.active === 0 && cloud.simulator.stats.cancelled > cancelledBefore ? true : undefined),
    { what: 'the model call to stop', timeoutMs: 2_000, intervalMs: 10 },
  );
  expect(Date.now() - cancelAt).toBeLessThan(2_000);
  const tokensAtStop = cloud.simulator.stats.tokensSent;
  const report = await finishedStatus(reportId);
  expect(report).toEqual({
    reportId,
    status: 'CANCELLED',
    createdAt: expect.any(String),
    updatedAt: expect.any(String),
    cancelledAt: expect.any(String),
  });
  await sleep(500);
  expect(cloud.simulator.stats.tokensSent).toBe(tokensAtStop);
  // The budget holds the tokens used, not the reservation (maxTokens and more) the call started with.
  const charged = (await aliceTokensUsed()) - usedBefore;
  expect(charged).toBeGreaterThan(0);
  expect(charged).toBeLessThan(cloud.config.reports.maxTokens / 4);

  expect(verified(await webhookOf(hooks, reportId))).toMatchObject({ type: 'report.cancelled', status: 'CANCELLED' });
  expect(await breaker.status(primary)).toMatchObject({ state: 'CLOSED', window: { failures: 0 } });

  // The worker logged the job's outcome and counted the cancel, by kind.
  await waitFor(
    () =>
      printedJson().some((l) => l.message === 'report job' && l.reportId === reportId && l.outcome === 'cancelled') ||
      undefined,
    { what: "the worker's log line" },
  );
  const cancelMetric = printedJson().find((l) =>
    l._aws?.CloudWatchMetrics?.[0]?.Metrics?.some((m: { Name: string }) => m.Name === 'Cancelled'),
  );
  expect(cancelMetric).toMatchObject({ kind: 'report', Cancelled: 1 });

  const late = await alice.cancel(reportId);
  expect(late.status).toBe(409);
  expect(late.body.error?.status).toBe('CANCELLED');
});

test('finished: 409 ALREADY_FINISHED with COMPLETED, and the result stays', async () => {
  const reportId = await submit(false);
  const done = await finishedStatus(reportId);
  expect(done.status).toBe('COMPLETED');
  const refused = await alice.cancel(reportId);
  expect(refused.status).toBe(409);
  expect(refused.body).toEqual({
    error: { code: 'ALREADY_FINISHED', message: expect.any(String), retryable: false, status: 'COMPLETED' },
  });
  expect((await alice.get(reportId)).body).toEqual(done);
});

test("another user's report and unknown ids are 404 NOT_FOUND, and nothing changes", async () => {
  await cloud.reports.worker.stop();
  const reportId = await submit(false);
  for (const [who, id] of [
    [bob, reportId],
    [alice, randomUUID()],
    [alice, 'not-a-report-id'],
  ] as const) {
    const res = await who.cancel(id);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String), retryable: false } });
  }
  expect((await alice.get(reportId)).body.status).toBe('QUEUED');
  cloud.reports.worker.start();
  expect((await finishedStatus(reportId)).status).toBe('COMPLETED');
});

test('cancel racing completion: exactly one wins, and the loser sees the winner', async () => {
  cloud.simulator.configure({ mode: 'normal', ttftMs: 30, tokensPerSecond: 2000 });
  const outcomes = await Promise.all(
    Array.from({ length: 6 }, async (_, i) => {
      const reportId = await submit();
      await sleep(i * 40);
      const cancel = await alice.cancel(reportId);
      const report = await finishedStatus(reportId);
      return { reportId, cancel, report };
    }),
  );
  for (const { reportId, cancel, report } of outcomes) {
    if (report.status === 'COMPLETED') {
      expect(cancel.status).toBe(409);
      expect(cancel.body.error?.status).toBe('COMPLETED');
      expect(report.result).toBeDefined();
    } else {
      expect(report.status).toBe('CANCELLED');
      expect([200, 202]).toContain(cancel.status);
      expect(report.result).toBeUndefined();
    }
    // One webhook, for the winner's status.
    const hook = await webhookOf(hooks, reportId);
    expect(hook.json.status).toBe(report.status);
  }
  await cloud.reports.bus.idle(5_000);
  for (const { reportId } of outcomes) expect(webhooksFor(hooks, reportId)).toHaveLength(1);
});
