/**
 * Cancelling a report, whatever the store: the owner's cancel in each state, the worker's lease heartbeat that learns
 * of it and stops the model call, and the races between cancel, claim, completion and redelivery, each settled by a
 * conditional write. The model and the bus are fakes; the store comes from the harness. Run by
 * test/unit/reports-cancel.test.ts (the in-memory fake) and test/integration/reports-cancel.test.ts (the DynamoDB
 * adapter against dynalite). A module, not a test file: Jest runs only files ending in .test.ts.
 */
import { parseConfig } from '../../config/schema';
import { AlreadyFinishedError, ModelUnavailableError, NotFoundError } from '../../lambda/core/errors';
import { cancelReport, type CancelOutcome } from '../../lambda/core/reports/cancel';
import { toView, webhookPayloadOf } from '../../lambda/core/reports/model';
import type { ReportStore } from '../../lambda/core/reports/ports';
import {
  failExhaustedReport,
  runReportJob,
  type GenerateFn,
  type JobOutcome,
  type ReportWorkerDeps,
} from '../../lambda/core/reports/worker';
import { FakeBus } from '../helpers/reports-fakes';
import type { ReportStoreHarness } from './reports-worker.suite';

const CHECK_MS = 100;
const config = parseConfig({
  reports: {
    maxReceiveCount: 3,
    workerTimeoutSeconds: 30,
    visibilityTimeoutSeconds: 40,
    cancelCheckIntervalMs: CHECK_MS,
  },
});
const ALICE = { userId: 'alice', plan: 'free' };
const BOB = { userId: 'bob' };
const RESULT = {
  text: 'the answer',
  model: 'model-a',
  usage: { inputTokens: 3, outputTokens: 5 },
  metrics: { ttftMs: 10, latencyMs: 40 },
};

/** A model that answers at once. */
const quickModel = (): GenerateFn & jest.Mock => jest.fn(async () => RESULT);

/**
 * A model that answers after `ms` unless its call is aborted first (then it rejects, as the model layer does when
 * the caller goes away); `aborted` says whether the abort reached it.
 */
function slowModel(ms = 5_000): GenerateFn & jest.Mock & { aborted: () => boolean } {
  let aborted = false;
  const fn = jest.fn(
    (_request, ctx) =>
      new Promise<typeof RESULT>((resolve, reject) => {
        const timer = setTimeout(() => resolve(RESULT), ms);
        ctx.signal?.addEventListener('abort', () => {
          aborted = true;
          clearTimeout(timer);
          reject(new Error('The client closed the connection'));
        });
      }),
  ) as GenerateFn & jest.Mock & { aborted: () => boolean };
  fn.aborted = () => aborted;
  return fn;
}

const waitFor = async (check: () => Promise<boolean> | boolean, timeoutMs = 3_000): Promise<void> => {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/** Registers the cancel tests under `describe(name)`, against the store `makeHarness` builds. */
export function reportCancelSuite(name: string, makeHarness: () => Promise<ReportStoreHarness>): void {
  describe(name, () => {
    let harness: ReportStoreHarness | undefined;
    let repo: ReportStore;
    let seq = 0;

    beforeAll(async () => {
      harness = await makeHarness();
      repo = harness.repo;
    });

    afterAll(async () => {
      await harness?.close?.();
    });

    async function newReport(): Promise<string> {
      const reportId = `00000000-0000-4000-9000-${String(++seq).padStart(12, '0')}`;
      await repo.create({ reportId, ...ALICE, prompt: 'Write a report' }, Date.now());
      return reportId;
    }

    function workerDeps(overrides: Partial<ReportWorkerDeps> = {}): ReportWorkerDeps & { publisher: FakeBus } {
      return {
        repo,
        publisher: new FakeBus(),
        generate: quickModel(),
        config,
        random: () => 0.5,
        ...overrides,
      } as ReportWorkerDeps & { publisher: FakeBus };
    }

    const cancelDeps = (publisher = new FakeBus()) => ({ repo, publisher });
    const delivery = (receiveCount = 1) => ({ receiveCount, deadlineAt: Date.now() + 60_000 });

    describe("the store's cancel conditions", () => {
      test('the heartbeat holds the lease and returns the cancel flag from its own write; a stale attempt is refused', async () => {
        const id = await newReport();
        const now = Date.now();
        const claimed = await repo.claim(id, now, 30_000);
        expect(await repo.heartbeat(id, claimed!.attempts, now)).toEqual({ held: true, cancelRequested: false });
        expect(await repo.requestCancel(id, ALICE.userId, now)).toMatchObject({ cancelRequested: true });
        expect(await repo.heartbeat(id, claimed!.attempts, now)).toEqual({ held: true, cancelRequested: true });
        expect(await repo.heartbeat(id, claimed!.attempts + 1, now)).toEqual({ held: false });
        // Unchanged by the heartbeat: the status the owner sees and when it last changed.
        const stored = await repo.get(id);
        expect(stored).toMatchObject({ status: 'RUNNING', updatedAt: claimed!.updatedAt, heartbeatAt: now });
      });

      test("the owner's writes check the owner and the state", async () => {
        const id = await newReport();
        const now = Date.now();
        expect(await repo.requestCancel(id, ALICE.userId, now)).toBeUndefined(); // QUEUED: nothing to stop
        expect(await repo.cancelIdle(id, BOB.userId, now)).toBeUndefined();
        const claimed = await repo.claim(id, now, 30_000);
        expect(await repo.cancelIdle(id, ALICE.userId, now)).toBeUndefined(); // a live lease: the worker stops it
        expect(await repo.requestCancel(id, BOB.userId, now)).toBeUndefined();
        expect(await repo.finishCancelled(id, claimed!.attempts, now)).toBeUndefined(); // no cancel requested
        expect(await repo.get(id)).toMatchObject({ status: 'RUNNING' });
      });

      test('once a cancel is requested, the holder can neither finish with a result nor release for a retry', async () => {
        const id = await newReport();
        const now = Date.now();
        const claimed = await repo.claim(id, now, 30_000);
        await repo.requestCancel(id, ALICE.userId, now);
        const outcome = { status: 'COMPLETED' as const, result: RESULT, model: 'model-a', modelLatencyMs: 40 };
        expect(await repo.finish(id, claimed!.attempts, outcome, now)).toBeUndefined();
        expect(await repo.release(id, claimed!.attempts, { code: 'X', message: 'x' }, now)).toBe(false);
        expect(await repo.finishCancelled(id, claimed!.attempts + 1, now)).toBeUndefined(); // not the holder
        const cancelled = await repo.finishCancelled(id, claimed!.attempts, now);
        expect(cancelled).toMatchObject({ status: 'CANCELLED', cancelledAt: new Date(now).toISOString() });
        expect(cancelled?.leaseUntil).toBeUndefined();
        expect(cancelled?.result).toBeUndefined();
        await repo.markEventPublished(id, now);
        expect((await repo.get(id))?.eventPublishedAt).toBe(new Date(now).toISOString());
      });
    });

    describe('cancelReport', () => {
      test('QUEUED → CANCELLED at once, report.cancelled published; its message then never reaches the model', async () => {
        const id = await newReport();
        const bus = new FakeBus();
        const outcome = await cancelReport(id, ALICE, cancelDeps(bus));
        expect(outcome.kind).toBe('cancelled');
        const view = toView(outcome.report);
        expect(view).toMatchObject({ reportId: id, status: 'CANCELLED' });
        expect(Date.parse(view.cancelledAt ?? '')).toBeGreaterThan(0);
        expect(bus.published.map((r) => webhookPayloadOf(r))).toEqual([
          { type: 'report.cancelled', reportId: id, status: 'CANCELLED', occurredAt: view.cancelledAt },
        ]);
        const stored = await repo.get(id);
        expect(stored).toMatchObject({ status: 'CANCELLED', cancelledAt: view.cancelledAt, attempts: 0 });
        expect(stored?.eventPublishedAt).toBeDefined();

        const worker = workerDeps();
        expect((await runReportJob(id, delivery(), worker)).kind).toBe('duplicate');
        expect(worker.generate).not.toHaveBeenCalled();
        expect(worker.publisher.published).toHaveLength(0);
        expect((await repo.get(id))?.attempts).toBe(0);
      });

      test('report.cancelled that failed to publish is published by the job message, without calling the model', async () => {
        const id = await newReport();
        const bus = new FakeBus();
        bus.failures = 1;
        const onPublishError = jest.fn();
        const outcome = await cancelReport(id, ALICE, { ...cancelDeps(bus), onPublishError });
        expect(outcome.kind).toBe('cancelled');
        expect(onPublishError).toHaveBeenCalledTimes(1);
        expect((await repo.get(id))?.eventPublishedAt).toBeUndefined();

        const worker = workerDeps();
        const job = await runReportJob(id, delivery(), worker);
        expect(job.kind).toBe('republished');
        expect(worker.generate).not.toHaveBeenCalled();
        expect(worker.publisher.published.map((r) => r.status)).toEqual(['CANCELLED']);
        expect((await repo.get(id))?.eventPublishedAt).toBeDefined();
      });

      test("another user's report and an unknown id are the same 404, and nothing changes", async () => {
        const id = await newReport();
        const bus = new FakeBus();
        await expect(cancelReport(id, BOB, cancelDeps(bus))).rejects.toBeInstanceOf(NotFoundError);
        await expect(
          cancelReport('00000000-0000-4000-9000-ffffffffffff', ALICE, cancelDeps(bus)),
        ).rejects.toBeInstanceOf(NotFoundError);
        expect(await repo.get(id)).toMatchObject({ status: 'QUEUED' });
        expect(bus.published).toHaveLength(0);
      });

      test('a finished report is 409 ALREADY_FINISHED with its status; cancelling twice answers CANCELLED', async () => {
        const done = await newReport();
        await runReportJob(done, delivery(), workerDeps());
        const err = await cancelReport(done, ALICE, cancelDeps()).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AlreadyFinishedError);
        expect((err as AlreadyFinishedError).toBody().error).toMatchObject({
          code: 'ALREADY_FINISHED',
          status: 'COMPLETED',
          retryable: false,
        });
        expect(await repo.get(done)).toMatchObject({ status: 'COMPLETED' });

        const twice = await newReport();
        await cancelReport(twice, ALICE, cancelDeps());
        const again = await cancelReport(twice, ALICE, cancelDeps()).catch((e: unknown) => e);
        expect((again as AlreadyFinishedError).finalStatus).toBe('CANCELLED');
      });

      test('RUNNING → cancel requested (202 view), idempotent: the first request time is kept', async () => {
        const id = await newReport();
        await repo.claim(id, Date.now(), 30_000);
        const first = await cancelReport(id, ALICE, cancelDeps());
        expect(first.kind).toBe('requested');
        const view = toView(first.report);
        expect(view).toMatchObject({ status: 'RUNNING' });
        expect(view.cancelRequestedAt).toBeDefined();
        expect(view.cancelledAt).toBeUndefined();
        const second = await cancelReport(id, ALICE, { repo, publisher: new FakeBus(), now: () => Date.now() + 500 });
        expect(second.kind).toBe('requested');
        expect(toView(second.report).cancelRequestedAt).toBe(view.cancelRequestedAt);
        await expect(cancelReport(id, BOB, cancelDeps())).rejects.toBeInstanceOf(NotFoundError);
      });

      test('RUNNING with an expired lease (its worker died) is CANCELLED at once; the redelivery never calls the model', async () => {
        const id = await newReport();
        await repo.claim(id, Date.now() - 60_000, 1_000);
        const bus = new FakeBus();
        const outcome = await cancelReport(id, ALICE, cancelDeps(bus));
        expect(outcome.kind).toBe('cancelled');
        expect(outcome.report.leaseUntil).toBeUndefined();
        expect(bus.published.map((r) => r.status)).toEqual(['CANCELLED']);
        const worker = workerDeps();
        expect((await runReportJob(id, delivery(2), worker)).kind).toBe('duplicate');
        expect(worker.generate).not.toHaveBeenCalled();
      });
    });

    describe('the worker and a cancel', () => {
      test('a running model call is aborted within the heartbeat interval and the report ends CANCELLED', async () => {
        const id = await newReport();
        const generate = slowModel();
        const worker = workerDeps({ generate });
        const job = runReportJob(id, delivery(), worker);
        await waitFor(() => generate.mock.calls.length > 0);
        const requestedAt = Date.now();
        expect((await cancelReport(id, ALICE, cancelDeps())).kind).toBe('requested');
        const outcome = await job;
        expect(Date.now() - requestedAt).toBeLessThan(CHECK_MS * 2 + 500);
        expect(generate.aborted()).toBe(true);
        expect(outcome.kind).toBe('cancelled');
        const stored = await repo.get(id);
        expect(stored).toMatchObject({ status: 'CANCELLED', attempts: 1 });
        expect(stored?.leaseUntil).toBeUndefined();
        expect(stored?.result).toBeUndefined();
        expect(stored?.eventPublishedAt).toBeDefined();
        expect(worker.publisher.published.map((r) => webhookPayloadOf(r).type)).toEqual(['report.cancelled']);
        expect(toView(stored!)).toMatchObject({ status: 'CANCELLED', cancelledAt: stored?.cancelledAt });
      });

      test('a retryable failure after the cancel was requested ends CANCELLED, not queued for a retry', async () => {
        const id = await newReport();
        const generate = jest.fn(async () => {
          await cancelReport(id, ALICE, cancelDeps());
          throw new ModelUnavailableError('No model could answer', { retryAfterSeconds: 2 });
        });
        const outcome = await runReportJob(id, delivery(), workerDeps({ generate }));
        expect(outcome.kind).toBe('cancelled');
        expect(await repo.get(id)).toMatchObject({ status: 'CANCELLED' });
      });

      test('a worker that lost its lease stops its model call and leaves the report to the new holder', async () => {
        const id = await newReport();
        const generate = slowModel();
        const worker = workerDeps({ generate });
        const job = runReportJob(id, delivery(), worker);
        await waitFor(() => generate.mock.calls.length > 0);
        // Another delivery takes over, as after the lease ran out.
        const takeover = await repo.claim(id, Date.now() + 31_000, 30_000);
        expect(takeover?.attempts).toBe(2);
        const outcome = await job;
        expect(generate.aborted()).toBe(true);
        expect(outcome.kind).toBe('duplicate');
        expect(await repo.get(id)).toMatchObject({ status: 'RUNNING', attempts: 2 });
        expect(worker.publisher.published).toHaveLength(0);
      });

      test('a report taken over after its worker died with a cancel requested is cancelled without a model call', async () => {
        const id = await newReport();
        const start = Date.now();
        await repo.claim(id, start, 2_000);
        expect((await cancelReport(id, ALICE, cancelDeps())).kind).toBe('requested');
        const worker = workerDeps({ now: () => start + 5_000 });
        const outcome = await runReportJob(id, delivery(2), worker);
        expect(outcome.kind).toBe('cancelled');
        expect(worker.generate).not.toHaveBeenCalled();
        expect(await repo.get(id)).toMatchObject({ status: 'CANCELLED', attempts: 2 });
      });

      test('the dead-letter backstop ends a cancel-requested report as CANCELLED, not FAILED', async () => {
        const id = await newReport();
        const start = Date.now();
        await repo.claim(id, start, 2_000);
        await cancelReport(id, ALICE, cancelDeps());
        const backstop = workerDeps({ now: () => start + 5_000 });
        const outcome = await failExhaustedReport(id, backstop);
        expect(outcome.kind).toBe('cancelled');
        expect(backstop.publisher.published.map((r) => r.status)).toEqual(['CANCELLED']);
        expect(await repo.get(id)).toMatchObject({ status: 'CANCELLED' });
      });
    });

    describe('races, settled by conditional writes', () => {
      test('cancel after the result was written loses: 409 with COMPLETED, the result stays', async () => {
        const id = await newReport();
        const worker = workerDeps();
        expect((await runReportJob(id, delivery(), worker)).kind).toBe('completed');
        const err = await cancelReport(id, ALICE, cancelDeps()).catch((e: unknown) => e);
        expect((err as AlreadyFinishedError).finalStatus).toBe('COMPLETED');
        expect(await repo.get(id)).toMatchObject({ status: 'COMPLETED', result: { text: 'the answer' } });
      });

      test('cancel requested after the model answered but before the result was written wins: CANCELLED', async () => {
        const id = await newReport();
        const generate = jest.fn(async () => {
          // The answer is in; the cancel lands before the worker writes it.
          await cancelReport(id, ALICE, cancelDeps());
          return RESULT;
        });
        const worker = workerDeps({ generate });
        const outcome = await runReportJob(id, delivery(), worker);
        expect(outcome.kind).toBe('cancelled');
        const stored = await repo.get(id);
        expect(stored).toMatchObject({ status: 'CANCELLED' });
        expect(stored?.result).toBeUndefined();
        expect(worker.publisher.published.map((r) => r.status)).toEqual(['CANCELLED']);
      });

      test('cancel racing completion: exactly one wins, and the loser sees the winner', async () => {
        for (let i = 0; i < 8; i++) {
          const id = await newReport();
          const worker = workerDeps({ generate: jest.fn(async () => RESULT) });
          const [job, cancel] = await Promise.all([
            runReportJob(id, delivery(), worker),
            // Start the cancel at a different point of the job each round.
            new Promise((resolve) => setTimeout(resolve, i)).then(() =>
              cancelReport(id, ALICE, cancelDeps()).catch((e: unknown) => e),
            ),
          ]);
          const stored = await repo.get(id);
          if (stored?.status === 'COMPLETED') {
            expect(job.kind).toBe('completed');
            expect((cancel as AlreadyFinishedError).finalStatus).toBe('COMPLETED');
          } else {
            expect(stored?.status).toBe('CANCELLED');
            expect(job.kind).toBe('cancelled');
            expect((cancel as CancelOutcome).kind).toMatch(/^(cancelled|requested)$/);
            expect(stored?.result).toBeUndefined();
          }
          expect(worker.publisher.published.map((r) => r.status)).toEqual(
            job.kind === 'completed' || job.kind === 'cancelled' ? [stored?.status] : [],
          );
        }
      });

      test('cancel racing the claim: the report ends CANCELLED, and the model is never called or is stopped', async () => {
        for (let i = 0; i < 6; i++) {
          const id = await newReport();
          const generate = slowModel();
          const worker = workerDeps({ generate });
          const [job, cancel] = (await Promise.all([
            runReportJob(id, delivery(), worker),
            new Promise((resolve) => setTimeout(resolve, i % 2)).then(() => cancelReport(id, ALICE, cancelDeps())),
          ])) as [JobOutcome, CancelOutcome];
          expect(await repo.get(id)).toMatchObject({ status: 'CANCELLED' });
          if (cancel.kind === 'cancelled') {
            expect(generate).not.toHaveBeenCalled();
            expect(job.kind).toBe('duplicate');
          } else {
            expect(generate.aborted()).toBe(true);
            expect(job.kind).toBe('cancelled');
          }
        }
      });

      test('redelivery after cancel: the duplicate message is acknowledged without a model call', async () => {
        const id = await newReport();
        const generate = slowModel();
        const job = runReportJob(id, delivery(), workerDeps({ generate }));
        await waitFor(() => generate.mock.calls.length > 0);
        await cancelReport(id, ALICE, cancelDeps());
        expect((await job).kind).toBe('cancelled');
        const redelivery = workerDeps();
        expect((await runReportJob(id, delivery(2), redelivery)).kind).toBe('duplicate');
        expect(redelivery.generate).not.toHaveBeenCalled();
        expect(redelivery.publisher.published).toHaveLength(0);
      });
    });
  });
}
