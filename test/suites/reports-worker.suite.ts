/**
 * The report lifecycle's behaviour, whatever the store: conditional transitions, leases, retries, the owed-event flag
 * and the dead-letter backstop. The model and the bus are fakes; the store comes from the harness. Run by
 * test/unit/reports-worker.test.ts (the in-memory fake) and test/integration/reports-worker.test.ts (the DynamoDB
 * adapter against dynalite). A module, not a test file: Jest runs only files ending in .test.ts.
 */
import {
  ModelStreamError,
  ModelUnavailableError,
  TokenBudgetExceededError,
  ValidationError,
} from '../../lambda/core/errors';
import type { ReportStore } from '../../lambda/core/reports/ports';
import {
  failExhaustedReport,
  runReportJob,
  type GenerateFn,
  type ReportWorkerDeps,
} from '../../lambda/core/reports/worker';
import { parseConfig } from '../../config/schema';
import { FakeBus } from '../helpers/reports-fakes';

/** A store to run a suite against, built once per suite in `beforeAll`; `close` stops whatever it started. */
export interface ReportStoreHarness {
  readonly repo: ReportStore;
  close?(): Promise<void>;
}

const config = parseConfig({ reports: { maxReceiveCount: 3, workerTimeoutSeconds: 30, visibilityTimeoutSeconds: 40 } });
const USER = { userId: 'alice', plan: 'free' };

function okModel(text = 'the answer'): GenerateFn & jest.Mock {
  return jest.fn(async () => ({
    text,
    model: 'model-a',
    usage: { inputTokens: 3, outputTokens: 5 },
    metrics: { ttftMs: 10, latencyMs: 40 },
  }));
}

/** Registers the lifecycle's tests under `describe(name)`, against the store `makeHarness` builds. */
export function reportWorkerSuite(name: string, makeHarness: () => Promise<ReportStoreHarness>): void {
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
      const reportId = `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
      await repo.create({ reportId, ...USER, prompt: 'Write a report' }, Date.now());
      return reportId;
    }

    function deps(overrides: Partial<ReportWorkerDeps> = {}): ReportWorkerDeps & { publisher: FakeBus } {
      return {
        repo,
        publisher: new FakeBus(),
        generate: okModel(),
        config,
        random: () => 0.5,
        ...overrides,
      } as ReportWorkerDeps & {
        publisher: FakeBus;
      };
    }

    const first = { receiveCount: 1, deadlineAt: Date.now() + 60_000 };

    describe('runReportJob', () => {
      test('QUEUED → RUNNING → COMPLETED, then publishes report.completed and records it', async () => {
        const id = await newReport();
        const d = deps();
        const outcome = await runReportJob(id, first, d);
        expect(outcome.kind).toBe('completed');
        const report = await repo.get(id);
        expect(report).toMatchObject({
          status: 'COMPLETED',
          attempts: 1,
          result: { text: 'the answer', usage: { inputTokens: 3, outputTokens: 5 } },
          model: 'model-a',
          modelLatencyMs: 40,
        });
        expect(report?.leaseUntil).toBeUndefined();
        expect(report?.eventPublishedAt).toBeDefined();
        expect(d.publisher.published.map((r) => r.status)).toEqual(['COMPLETED']);
        expect(d.generate).toHaveBeenCalledWith(
          { messages: [{ role: 'user', content: 'Write a report' }], maxTokens: config.reports.maxTokens },
          // The queue and reports.maxConcurrency pace reports: they take none of the owner's concurrent chat slots.
          expect.objectContaining({ caller: USER, requestId: id, countsInFlight: false }),
        );
      });

      test('a redelivered message for a finished report never calls the model again', async () => {
        const id = await newReport();
        await runReportJob(id, first, deps());
        const again = deps();
        const outcome = await runReportJob(id, { ...first, receiveCount: 2 }, again);
        expect(outcome.kind).toBe('duplicate');
        expect(again.generate).not.toHaveBeenCalled();
        expect(again.publisher.published).toHaveLength(0);
      });

      test('an event that failed to publish is published by the redelivery, without calling the model', async () => {
        const id = await newReport();
        const d = deps();
        d.publisher.failures = 1;
        await expect(runReportJob(id, first, d)).rejects.toThrow('PutEvents failed');
        expect(await repo.get(id)).toMatchObject({ status: 'COMPLETED' });
        expect((await repo.get(id))?.eventPublishedAt).toBeUndefined();

        const redelivery = deps();
        const outcome = await runReportJob(id, { ...first, receiveCount: 2 }, redelivery);
        expect(outcome.kind).toBe('republished');
        expect(redelivery.generate).not.toHaveBeenCalled();
        expect(redelivery.publisher.published.map((r) => r.reportId)).toEqual([id]);
        expect((await repo.get(id))?.eventPublishedAt).toBeDefined();
      });

      test('a retryable model failure puts the report back to QUEUED and asks for a delayed retry', async () => {
        const id = await newReport();
        const generate = jest.fn(async () => {
          throw new ModelUnavailableError('No model could answer', { retryAfterSeconds: 2 });
        });
        const outcome = await runReportJob(id, first, deps({ generate }));
        expect(outcome).toMatchObject({ kind: 'retry', error: { code: 'MODEL_UNAVAILABLE' } });
        // 5 s scaled by the jitter (0.5 → 0.75), rounded up; Retry-After asked for less.
        if (outcome.kind === 'retry') expect(outcome.delaySeconds).toBe(4);
        expect(await repo.get(id)).toMatchObject({
          status: 'QUEUED',
          attempts: 1,
          lastError: { code: 'MODEL_UNAVAILABLE' },
        });
      });

      test('the retry delay honours Retry-After and is capped at half the visibility timeout', async () => {
        const id = await newReport();
        const generate = jest.fn(async () => {
          throw new ModelUnavailableError('breaker open', { retryAfterSeconds: 300 });
        });
        const outcome = await runReportJob(id, { ...first, receiveCount: 2 }, deps({ generate }));
        expect(outcome).toMatchObject({ kind: 'retry', delaySeconds: 20 });
      });

      test('on the last allowed delivery a retryable failure fails the report with a reason and publishes report.failed', async () => {
        const id = await newReport();
        const generate = jest.fn(async () => {
          throw new ModelStreamError('The model failed while answering: boom');
        });
        const d = deps({ generate });
        const outcome = await runReportJob(id, { ...first, receiveCount: 3 }, d);
        expect(outcome.kind).toBe('failed');
        const report = await repo.get(id);
        expect(report).toMatchObject({ status: 'FAILED', error: { code: 'MODEL_STREAM_ERROR' } });
        expect(report?.error?.message).toContain('gave up after 3 attempts');
        expect(d.publisher.published.map((r) => r.status)).toEqual(['FAILED']);
      });

      test.each([
        ['a spent token budget', new TokenBudgetExceededError('Token budget exhausted'), 'TOKEN_BUDGET_EXCEEDED'],
        ['a request the model rejects', new ValidationError('The model rejected the request'), 'VALIDATION_ERROR'],
      ])('%s fails the report at once', async (_name, error, code) => {
        const id = await newReport();
        const outcome = await runReportJob(id, first, deps({ generate: jest.fn(async () => Promise.reject(error)) }));
        expect(outcome.kind).toBe('failed');
        expect(await repo.get(id)).toMatchObject({ status: 'FAILED', error: { code } });
      });

      test('a duplicate message while a live worker holds the lease is acknowledged without calling the model', async () => {
        const id = await newReport();
        await repo.claim(id, Date.now(), 30_000);
        const d = deps();
        expect((await runReportJob(id, { ...first, receiveCount: 1 }, d)).kind).toBe('duplicate');
        expect(d.generate).not.toHaveBeenCalled();
        expect(await repo.get(id)).toMatchObject({ status: 'RUNNING', attempts: 1 });
      });

      test('a redelivery after the lease expired takes over, and the overrunning first worker cannot overwrite it', async () => {
        const id = await newReport();
        const crashed = await repo.claim(id, Date.now() - 60_000, 30_000); // its lease ran out 30 s ago
        expect(crashed?.attempts).toBe(1);

        const d = deps({ generate: okModel('from the second worker') });
        expect((await runReportJob(id, { ...first, receiveCount: 2 }, d)).kind).toBe('completed');
        expect(await repo.get(id)).toMatchObject({
          status: 'COMPLETED',
          attempts: 2,
          result: { text: 'from the second worker' },
        });

        // The first worker comes back to life and tries to finish with its stale lease token.
        const late = await repo.finish(
          id,
          1,
          {
            status: 'COMPLETED',
            result: { text: 'stale', usage: { inputTokens: 0, outputTokens: 0 } },
            model: 'x',
            modelLatencyMs: 1,
          },
          Date.now(),
        );
        expect(late).toBeUndefined();
        expect(await repo.get(id)).toMatchObject({ result: { text: 'from the second worker' } });
        expect(d.publisher.published).toHaveLength(1);
      });

      test('concurrent deliveries of the same job call the model once and finish the report once', async () => {
        const id = await newReport();
        const generate = okModel();
        const d = deps({ generate });
        const outcomes = await Promise.all([1, 2, 3, 4].map(() => runReportJob(id, first, d)));
        expect(generate).toHaveBeenCalledTimes(1);
        expect(outcomes.filter((o) => o.kind === 'completed')).toHaveLength(1);
        // Events are at least once: a duplicate that sees the report finished but not yet published also publishes it.
        // Every copy is the same event (same report, same finish), and webhooks carry the same webhook-id for dedupe.
        expect(d.publisher.published.length).toBeGreaterThanOrEqual(1);
        expect(new Set(d.publisher.published.map((r) => `${r.reportId}/${r.status}/${r.finishedAt}`)).size).toBe(1);
      });

      test('an unknown report is acknowledged', async () => {
        expect((await runReportJob('00000000-0000-4000-8000-ffffffffffff', first, deps())).kind).toBe('missing');
      });
    });

    describe('failExhaustedReport (dead-letter backstop)', () => {
      test('fails a report stuck RUNNING by a dead worker, with the last error, and publishes report.failed', async () => {
        const id = await newReport();
        const claim = await repo.claim(id, Date.now() - 60_000, 30_000);
        await repo.release(
          id,
          claim!.attempts,
          { code: 'MODEL_UNAVAILABLE', message: 'No model could answer' },
          Date.now(),
        );
        await repo.claim(id, Date.now() - 60_000, 30_000); // a second worker died too
        const d = deps();
        const outcome = await failExhaustedReport(id, d);
        expect(outcome.kind).toBe('failed');
        const report = await repo.get(id);
        expect(report).toMatchObject({ status: 'FAILED', error: { code: 'RETRIES_EXHAUSTED' } });
        expect(report?.error?.message).toContain('MODEL_UNAVAILABLE');
        expect(d.publisher.published.map((r) => r.status)).toEqual(['FAILED']);
      });

      test('leaves a report a live worker holds, and asks to look again when its lease ends', async () => {
        const id = await newReport();
        await repo.claim(id, Date.now(), 30_000);
        const outcome = await failExhaustedReport(id, deps());
        expect(outcome.kind).toBe('retry');
        expect(await repo.get(id)).toMatchObject({ status: 'RUNNING' });
      });

      test('only publishes the owed event of a report that finished', async () => {
        const id = await newReport();
        const d = deps();
        d.publisher.failures = 1;
        await expect(runReportJob(id, first, d)).rejects.toThrow();
        const backstop = deps();
        expect((await failExhaustedReport(id, backstop)).kind).toBe('republished');
        expect(await repo.get(id)).toMatchObject({ status: 'COMPLETED' });
        expect(backstop.publisher.published).toHaveLength(1);
      });
    });
  });
}
