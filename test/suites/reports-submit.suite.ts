/**
 * Accepting reports, whatever the store: validation, the Idempotency-Key decisions (replay, reuse, expiry, concurrent
 * submissions, a failed enqueue leaving nothing behind), metadata stored exactly as sent and kept as JSON text. The
 * queue is a fake; the store comes from the harness. Run by test/unit/reports-submit.test.ts (the in-memory fake) and
 * test/integration/reports-submit.test.ts (the DynamoDB adapter against dynalite). A module, not a test file: Jest runs
 * only files ending in .test.ts.
 */
import { parseConfig } from '../../config/schema';
import type { CallbackUrlCheck } from '../../lambda/core/callback-url';
import { IdempotencyKeyReusedError, ValidationError } from '../../lambda/core/errors';
import { metadataJsonOf, type ReportItem } from '../../lambda/core/reports/model';
import type { ReportStore } from '../../lambda/core/reports/ports';
import { requestHashOf, submitReport, type SubmitReportDeps } from '../../lambda/core/reports/submit';
import { FakeQueue } from '../helpers/reports-fakes';
import type { ReportStoreHarness } from './reports-worker.suite';

/** A store harness that can also write an item as it is, bypassing the store's rules (a raw `PutItem`). */
export interface RawReportStoreHarness extends ReportStoreHarness {
  putRaw(item: ReportItem): Promise<void>;
}

const config = parseConfig({ reports: { maxPromptChars: 100, maxMetadataBytes: 64, idempotencyHours: 24 } });
const alice = { userId: 'alice', plan: 'free' };
const bob = { userId: 'bob', plan: 'pro' };

const publicUrl = async (url: string): Promise<CallbackUrlCheck> =>
  url.includes('10.0.0.1')
    ? { ok: false, reason: 'must not point at a private address', retryable: false }
    : { ok: true, url: new URL(url), addresses: [{ address: '93.184.216.34', family: 4 }] };

/** `[[[…]]]` nested `depth` levels deep (the outer object counts as the first). */
export function nested(depth: number): Record<string, unknown> {
  return JSON.parse(`{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`) as Record<string, unknown>;
}

/** Registers the submission's tests under `describe(name)`, against the store `makeHarness` builds. */
export function reportSubmitSuite(name: string, makeHarness: () => Promise<RawReportStoreHarness>): void {
  describe(name, () => {
    let harness: RawReportStoreHarness | undefined;
    let repo: ReportStore;
    let keys = 0;
    const randomKey = () => String(++keys);

    beforeAll(async () => {
      harness = await makeHarness();
      repo = harness.repo;
    });

    afterAll(async () => {
      await harness?.close?.();
    });

    function deps(overrides: Partial<SubmitReportDeps> = {}): SubmitReportDeps & { queue: FakeQueue } {
      return { repo, queue: new FakeQueue(), config, checkCallbackUrl: publicUrl, ...overrides } as SubmitReportDeps & {
        queue: FakeQueue;
      };
    }

    test('records a QUEUED report owned by the caller and enqueues its job', async () => {
      const d = deps();
      const result = await submitReport(
        { prompt: 'Summarise', metadata: { ticket: 7 }, callbackUrl: 'https://hooks.example.com/x' },
        alice,
        d,
      );
      expect(result).toMatchObject({ status: 'QUEUED', replayed: false });
      expect(d.queue.sent).toEqual([result.reportId]);
      expect(await repo.get(result.reportId)).toMatchObject({
        status: 'QUEUED',
        userId: 'alice',
        plan: 'free',
        prompt: 'Summarise',
        metadataJson: '{"ticket":7}',
        callbackUrl: 'https://hooks.example.com/x',
        attempts: 0,
      });
    });

    test.each([
      ['a prompt over maxPromptChars', { prompt: 'x'.repeat(101) }, 'prompt: must be at most 100 characters'],
      [
        'metadata over maxMetadataBytes',
        { prompt: 'ok', metadata: { blob: 'y'.repeat(100) } },
        'metadata: must be at most 64 bytes',
      ],
      [
        'a callbackUrl the guard refuses',
        { prompt: 'ok', callbackUrl: 'https://10.0.0.1/hook' },
        'callbackUrl: must not point at a private address',
      ],
      ['an Idempotency-Key with a space', { prompt: 'ok', idempotencyKey: 'has space' }, 'Idempotency-Key'],
      ['an empty Idempotency-Key', { prompt: 'ok', idempotencyKey: '' }, 'Idempotency-Key'],
    ])('rejects %s before writing anything', async (_label, input, message) => {
      const d = deps();
      const error = await submitReport(input, alice, d).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toContain(message);
      expect(d.queue.sent).toEqual([]);
    });

    describe('Idempotency-Key', () => {
      test('the same key and body returns the same report, enqueued again only while it is still QUEUED', async () => {
        const d = deps();
        const first = await submitReport({ prompt: 'Same', idempotencyKey: 'key-1' }, alice, d);
        const second = await submitReport({ prompt: 'Same', idempotencyKey: 'key-1' }, alice, d);
        expect(second).toEqual({ reportId: first.reportId, status: 'QUEUED', replayed: true });
        expect(d.queue.sent).toEqual([first.reportId, first.reportId]);

        await repo.claim(first.reportId, Date.now(), 30_000);
        const third = await submitReport({ prompt: 'Same', idempotencyKey: 'key-1' }, alice, d);
        expect(third.reportId).toBe(first.reportId);
        expect(d.queue.sent).toHaveLength(2);
      });

      test('concurrent submissions with one key create one report', async () => {
        const d = deps();
        const results = await Promise.all(
          [1, 2, 3, 4, 5].map(() => submitReport({ prompt: 'Race', idempotencyKey: 'key-race' }, alice, d)),
        );
        expect(new Set(results.map((r) => r.reportId)).size).toBe(1);
        expect(results.filter((r) => !r.replayed)).toHaveLength(1);
      });

      test('a reused key with another body is refused', async () => {
        const d = deps();
        await submitReport({ prompt: 'Original', idempotencyKey: 'key-2' }, alice, d);
        await expect(submitReport({ prompt: 'Different', idempotencyKey: 'key-2' }, alice, d)).rejects.toBeInstanceOf(
          IdempotencyKeyReusedError,
        );
      });

      test('keys belong to one user', async () => {
        const d = deps();
        const a = await submitReport({ prompt: 'Mine', idempotencyKey: 'shared-key' }, alice, d);
        const b = await submitReport({ prompt: 'Mine', idempotencyKey: 'shared-key' }, bob, d);
        expect(b.reportId).not.toBe(a.reportId);
        expect(b.replayed).toBe(false);
        expect(await repo.get(b.reportId)).toMatchObject({ userId: 'bob' });
      });

      test('a key is valid for idempotencyHours, then creates a new report', async () => {
        const t0 = Date.parse('2026-01-01T00:00:00Z');
        const first = await submitReport({ prompt: 'Daily', idempotencyKey: 'key-3' }, alice, deps({ now: () => t0 }));
        const withinDay = await submitReport(
          { prompt: 'Daily', idempotencyKey: 'key-3' },
          alice,
          deps({ now: () => t0 + 23 * 3600_000 }),
        );
        expect(withinDay.reportId).toBe(first.reportId);
        const nextDay = await submitReport(
          { prompt: 'Daily', idempotencyKey: 'key-3' },
          alice,
          deps({ now: () => t0 + 25 * 3600_000 }),
        );
        expect(nextDay.reportId).not.toBe(first.reportId);
        expect(nextDay.replayed).toBe(false);
      });

      test('a failed enqueue deletes the report and frees the key, so a retry starts afresh', async () => {
        const d = deps();
        d.queue.failNext = true;
        const ids: string[] = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'];
        const newId = () => ids.shift()!;
        await expect(
          submitReport({ prompt: 'Flaky', idempotencyKey: 'key-4' }, alice, { ...d, newId }),
        ).rejects.toMatchObject({
          status: 503,
          code: 'SERVICE_UNAVAILABLE',
          message: expect.stringMatching(/could not be queued/),
        });
        expect(await repo.get('11111111-1111-4111-8111-111111111111')).toBeUndefined();
        const retry = await submitReport({ prompt: 'Flaky', idempotencyKey: 'key-4' }, alice, { ...d, newId });
        expect(retry).toMatchObject({ reportId: '22222222-2222-4222-8222-222222222222', replayed: false });
        expect(d.queue.sent).toEqual([retry.reportId]);
      });

      test('a key whose first request stopped before writing the report finishes that work on replay', async () => {
        const d = deps();
        await repo.claimIdempotencyKey(
          'alice',
          'key-5',
          { reportId: '33333333-3333-4333-8333-333333333333', requestHash: requestHashOf({ prompt: 'Half' }) },
          Date.now(),
          24,
        );
        const result = await submitReport({ prompt: 'Half', idempotencyKey: 'key-5' }, alice, d);
        expect(result).toMatchObject({ reportId: '33333333-3333-4333-8333-333333333333', replayed: true });
        expect(await repo.get(result.reportId)).toMatchObject({ status: 'QUEUED', prompt: 'Half', userId: 'alice' });
        expect(d.queue.sent).toEqual([result.reportId]);
      });
    });

    describe('metadata', () => {
      const roomy = parseConfig({ reports: { maxMetadataBytes: 4096 } });

      test.each([
        [
          'a "constructor" key at the top, nested and inside arrays',
          '{"constructor":1,"a":{"constructor":{"constructor":[{"constructor":"x"}]}}}',
        ],
        [
          'a "__proto__" key (kept as a key, not turned into a prototype)',
          '{"__proto__":{"polluted":true},"b":[{"__proto__":null}]}',
        ],
        ["numbers outside DynamoDB's range", '{"huge":1e+126,"tiny":1e-131,"negative":-9.99e+200}'],
        ['32 levels of nesting, the documented limit', JSON.stringify(nested(32))],
      ])('stores %s exactly as sent', async (_label, json) => {
        const d = deps({ config: roomy });
        const metadata = JSON.parse(json) as Record<string, unknown>;
        const result = await submitReport(
          { prompt: 'Keep my metadata', metadata, idempotencyKey: `meta-${randomKey()}` },
          alice,
          d,
        );
        const stored = await repo.get(result.reportId);
        expect(stored?.metadataJson).toBe(json);
        expect(d.queue.sent).toEqual([result.reportId]);
      });

      test.each([
        ['33 levels', 33],
        ['5,000 levels (deeper than JSON.stringify can recurse)', 5_000],
        ['100,000 levels', 100_000],
      ])(
        'refuses metadata nested %s deep with a 400 naming metadata, and keeps no Idempotency-Key',
        async (_label, depth) => {
          const d = deps({ config: roomy });
          const error = await submitReport(
            { prompt: 'Deep', metadata: nested(depth), idempotencyKey: 'deep-key' },
            alice,
            d,
          ).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(ValidationError);
          expect((error as Error).message).toBe('metadata: must nest objects and arrays at most 32 levels deep');
          const corrected = await submitReport(
            { prompt: `Shallow ${depth}`, idempotencyKey: 'deep-key' },
            alice,
            deps({ config: roomy }),
          );
          expect(corrected.replayed).toBe(false);
          await repo.releaseIdempotencyKey('alice', 'deep-key', corrected.reportId);
        },
      );

      test('a report stored before metadata was kept as JSON text (a map) still reads back', async () => {
        const reportId = '44444444-4444-4444-8444-444444444444';
        await harness!.putRaw({
          pk: `report#${reportId}`,
          reportId,
          userId: 'alice',
          plan: 'free',
          status: 'QUEUED',
          prompt: 'Old',
          metadata: { ticket: 'T-1', n: 2 },
          createdAt: 'x',
          updatedAt: 'x',
          attempts: 0,
          expiresAt: 0,
        });
        const item = await repo.get(reportId);
        expect(metadataJsonOf(item!)).toBe('{"ticket":"T-1","n":2}');
        // A replay of its key recognises it as the same submission.
        await repo.claimIdempotencyKey(
          'alice',
          'legacy-key',
          { reportId, requestHash: requestHashOf({ prompt: 'Old', metadata: { n: 2, ticket: 'T-1' } }) },
          Date.now(),
          24,
        );
        const replay = await submitReport(
          { prompt: 'Old', metadata: { n: 2, ticket: 'T-1' }, idempotencyKey: 'legacy-key' },
          alice,
          deps(),
        );
        expect(replay).toEqual({ reportId, status: 'QUEUED', replayed: true });
      });
    });
  });
}
