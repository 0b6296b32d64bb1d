/**
 * Report submission when DynamoDB or SQS is slow or fails at the worst moment, against dynalite and fauxqs. The delays
 * and failures are injected into the real SDK clients (a middleware on the DynamoDB client, a wrapper around the SQS
 * queue); the repository, the submit core and the worker are the production code. Every `202` must name a report that
 * exists and ends: each test finishes the queued jobs with the worker and checks the report completed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { parseConfig } from '../../config/schema';
import type { CallbackUrlCheck } from '../../lambda/core/callback-url';
import { ServiceUnavailableError } from '../../lambda/core/errors';
import type { ReportEventPublisher, ReportQueue } from '../../lambda/core/reports/ports';
import { submitReport, type SubmitReportDeps, type SubmitReportInput } from '../../lambda/core/reports/submit';
import { SqsReportQueue } from '../../lambda/aws/report-queue';
import { DynamoReportRepository } from '../../lambda/aws/reports-repository';
import { runReportJob } from '../../lambda/core/reports/worker';
import { startLocalSqs, type LocalQueue, type LocalSqs } from '../../local/sqs';
import { createTable, documentClient, dynamoClient, startDynalite, type DynaliteHandle } from '../helpers/dynalite';

jest.setTimeout(30_000);

const TABLE = 'reports-submit-races';
const config = parseConfig({ reports: { idempotencyHours: 24 } });
const alice = { userId: 'alice', plan: 'free' };

let db: DynaliteHandle;
let sqs: LocalSqs;
let seq = 0;

beforeAll(async () => {
  [db, sqs] = await Promise.all([startDynalite(), startLocalSqs()]);
  const admin = dynamoClient(db.endpoint);
  await createTable(admin, TABLE, { partitionKey: 'pk' });
  admin.destroy();
});

afterAll(async () => {
  await sqs?.stop();
  await db?.close();
});

const publicUrl = async (url: string): Promise<CallbackUrlCheck> => ({
  ok: true,
  url: new URL(url),
  addresses: [{ address: '93.184.216.34', family: 4 }],
});

/** Settles when `release()` is called; `reached` settles when something starts waiting on it. */
function gate() {
  let release!: () => void;
  let arrived!: () => void;
  const opened = new Promise<void>((r) => (release = r));
  const reached = new Promise<void>((r) => (arrived = r));
  return {
    release,
    reached,
    wait: () => {
      arrived();
      return opened;
    },
  };
}

type Hook = (send: () => Promise<unknown>) => Promise<unknown>;

/**
 * A DynamoDB client (SDK retries on, as in the functions) whose requests of one operation on items of one kind
 * (`report#…` or the `idem#…` key records) go through `hooks`, one hook per request in order; later ones go straight
 * through. The hooks sit inside the SDK's retry loop, so a hook that throws a transient error after sending is a
 * request that was applied but whose response was lost, and the SDK retries it.
 */
function clientWithHooks(
  operation: 'PutItemCommand' | 'DeleteItemCommand',
  kind: 'report#' | 'idem#',
  hooks: Hook[],
): DynamoDBClient {
  const client = dynamoClient(db.endpoint, { maxAttempts: 3 });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Item?: { pk?: { S?: string } }; Key?: { pk?: { S?: string } } };
      const pk = (input.Item ?? input.Key)?.pk?.S;
      const hook = context.commandName === operation && pk?.startsWith(kind) ? hooks.shift() : undefined;
      return hook ? ((await hook(() => next(args))) as Awaited<ReturnType<typeof next>>) : next(args);
    },
    { step: 'deserialize', priority: 'high', name: 'testHook' },
  );
  return client;
}

const clientWithReportPutHooks = (hooks: Hook[]) => clientWithHooks('PutItemCommand', 'report#', hooks);

const lostResponse: Hook = async (send) => {
  await send();
  throw Object.assign(new Error('socket hang up after the write'), { name: 'TimeoutError', $metadata: {} });
};

/** A fresh queue, the repository over `client`, and the dependencies of `submitReport`. */
async function setup(client: DynamoDBClient = dynamoClient(db.endpoint, { maxAttempts: 3 })) {
  const queue: LocalQueue = await sqs.createQueue(`reports-races-${++seq}`);
  const repo = new DynamoReportRepository({
    documentClient: documentClient(client),
    tableName: TABLE,
    retentionDays: 30,
  });
  const deps = (q: ReportQueue = new SqsReportQueue(sqs.client, queue.url)): SubmitReportDeps => ({
    repo,
    queue: q,
    config,
    checkCallbackUrl: publicUrl,
  });

  /** Runs every queued job with the real worker (the model and the bus are stand-ins) and returns the report. */
  const finish = async (reportId: string) => {
    const publisher: ReportEventPublisher = { publish: async () => undefined };
    for (let round = 0; round < 5; round++) {
      const messages = await sqs.drain(queue.url);
      if (messages.length === 0) break;
      for (const m of messages) {
        const { reportId: id } = JSON.parse(m.Body!) as { reportId: string };
        await runReportJob(
          id,
          { receiveCount: 1, deadlineAt: Date.now() + 10_000 },
          {
            repo,
            publisher,
            config,
            generate: async () => ({
              text: 'done',
              model: 'm',
              usage: { inputTokens: 1, outputTokens: 1 },
              metrics: { ttftMs: 1, latencyMs: 1 },
            }),
          },
        );
      }
    }
    return repo.get(reportId);
  };
  const cleanup = () => client.destroy();
  return { repo, queue, deps, finish, cleanup };
}

const key = () => `race-key-${++seq}`;
const failingQueue = (): ReportQueue => ({
  enqueue: async () => {
    throw new Error('SQS unavailable');
  },
});

test('a replay that writes the report while the first submit is still writing it: both answer with that report', async () => {
  const slowWrite = gate();
  const t = await setup(
    clientWithReportPutHooks([
      async (send) => {
        await slowWrite.wait();
        return send();
      },
    ]),
  );
  try {
    const input: SubmitReportInput = { prompt: 'Slow write', idempotencyKey: key() };
    const first = submitReport(input, alice, t.deps());
    await slowWrite.reached;
    const replay = await submitReport(input, alice, t.deps());
    expect(replay.replayed).toBe(true);
    slowWrite.release();
    await expect(first).resolves.toEqual({ reportId: replay.reportId, status: 'QUEUED', replayed: false });
    expect(await t.finish(replay.reportId)).toMatchObject({ status: 'COMPLETED', prompt: 'Slow write' });
  } finally {
    t.cleanup();
  }
});

test('an SDK retry of a report write that was applied (its response lost) is not "id already taken"', async () => {
  for (const idempotencyKey of [undefined, key()]) {
    const t = await setup(clientWithReportPutHooks([lostResponse]));
    try {
      const result = await submitReport({ prompt: 'Retried write', idempotencyKey }, alice, t.deps());
      expect(result).toMatchObject({ status: 'QUEUED', replayed: false });
      expect(await t.finish(result.reportId)).toMatchObject({ status: 'COMPLETED' });
    } finally {
      t.cleanup();
    }
  }
});

test('a replay answered while the first submit fails to enqueue: the report is kept and ends', async () => {
  const t = await setup();
  try {
    const failing = gate();
    const real = new SqsReportQueue(sqs.client, t.queue.url);
    const failsAfterGate: ReportQueue = {
      enqueue: async () => {
        await failing.wait();
        throw Object.assign(new Error('SQS unavailable'), { name: 'InternalError', $fault: 'server' });
      },
    };
    const input: SubmitReportInput = { prompt: 'Enqueue fails late', idempotencyKey: key() };
    const first = submitReport(input, alice, t.deps(failsAfterGate)).catch((e: unknown) => e);
    await failing.reached;
    const replay = await submitReport(input, alice, t.deps(real));
    expect(replay.replayed).toBe(true);
    failing.release();
    expect(await first).toBeInstanceOf(ServiceUnavailableError);

    expect(await t.repo.get(replay.reportId)).toMatchObject({ status: 'QUEUED' });
    const again = await submitReport(input, alice, t.deps(real));
    expect(again).toMatchObject({ reportId: replay.reportId, replayed: true });
    expect(await t.finish(replay.reportId)).toMatchObject({ status: 'COMPLETED', prompt: 'Enqueue fails late' });
  } finally {
    t.cleanup();
  }
});

test('many replays racing a first submit that fails to enqueue: every 202 names a report that ends', async () => {
  const t = await setup();
  try {
    const failing = gate();
    const failsAfterGate: ReportQueue = {
      enqueue: async () => {
        await failing.wait();
        throw new Error('SQS unavailable');
      },
    };
    const input: SubmitReportInput = { prompt: 'Crowd', idempotencyKey: key() };
    const first = submitReport(input, alice, t.deps(failsAfterGate)).catch((e: unknown) => e);
    await failing.reached;
    const replay = () => submitReport(input, alice, t.deps()).catch((e: unknown) => e);
    const early = await replay();
    const replays = [0, 1, 2, 4, 8].map((ms) => sleep(ms).then(replay));
    failing.release();
    const outcomes = [await first, early, ...(await Promise.all(replays))];
    const accepted = outcomes.filter(
      (o): o is { reportId: string } => typeof (o as { reportId?: unknown }).reportId === 'string',
    );
    expect(accepted.length).toBeGreaterThan(0);
    // The early replay pinned the key to the first report, so the failing first submit could not free it.
    expect(new Set(accepted.map((a) => a.reportId)).size).toBe(1);
    for (const o of outcomes)
      if (!accepted.includes(o as { reportId: string })) expect(o).toBeInstanceOf(ServiceUnavailableError);
    for (const { reportId } of accepted) expect(await t.finish(reportId)).toMatchObject({ status: 'COMPLETED' });
  } finally {
    t.cleanup();
  }
});

test('a submit whose report write fails frees its key: the same key with a corrected body is accepted', async () => {
  const writeFails: Hook = async () => {
    throw Object.assign(new Error('One or more parameter values were invalid'), {
      name: 'ValidationException',
      $fault: 'client',
      $metadata: {},
    });
  };
  const t = await setup(clientWithReportPutHooks([writeFails]));
  try {
    const idempotencyKey = key();
    await expect(submitReport({ prompt: 'Rejected by the table', idempotencyKey }, alice, t.deps())).rejects.toThrow();
    const corrected = await submitReport({ prompt: 'Corrected', idempotencyKey }, alice, t.deps());
    expect(corrected).toMatchObject({ status: 'QUEUED', replayed: false });
    expect(await t.finish(corrected.reportId)).toMatchObject({ status: 'COMPLETED', prompt: 'Corrected' });
  } finally {
    t.cleanup();
  }
});

test('an SDK retry of the key claim that was applied is still a first submit, not a replay', async () => {
  const t = await setup(clientWithHooks('PutItemCommand', 'idem#', [lostResponse]));
  try {
    const result = await submitReport({ prompt: 'Claim retried', idempotencyKey: key() }, alice, t.deps());
    expect(result).toMatchObject({ status: 'QUEUED', replayed: false });
    expect(await t.finish(result.reportId)).toMatchObject({ status: 'COMPLETED' });
  } finally {
    t.cleanup();
  }
});

test('an SDK retry of the key release that was applied still deletes the unqueued report and frees the key', async () => {
  const t = await setup(clientWithHooks('DeleteItemCommand', 'idem#', [lostResponse]));
  try {
    const ids = ['55555555-5555-4555-8555-555555555555', '66666666-6666-4666-8666-666666666666'];
    const newId = () => ids.shift()!;
    const idempotencyKey = key();
    const failed = await submitReport({ prompt: 'Release retried', idempotencyKey }, alice, {
      ...t.deps(failingQueue()),
      newId,
    }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ServiceUnavailableError);
    expect(await t.repo.get('55555555-5555-4555-8555-555555555555')).toBeUndefined();
    const corrected = await submitReport({ prompt: 'Another body', idempotencyKey }, alice, { ...t.deps(), newId });
    expect(corrected).toEqual({ reportId: '66666666-6666-4666-8666-666666666666', status: 'QUEUED', replayed: false });
  } finally {
    t.cleanup();
  }
});
