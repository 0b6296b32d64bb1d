/**
 * The requests table's behaviour, whatever the store: a request is recorded once, and only its owner can rate it while
 * it has not expired; the last rating wins. Run by test/unit/feedback.test.ts (the in-memory fake) and
 * test/integration/request-records.test.ts (the DynamoDB adapter against dynalite). A module, not a test file: Jest
 * runs only files ending in .test.ts.
 */
import { expiresAtAfterDays, type RequestRecord, type RequestRecordStore } from '../../lambda/core/feedback';

/** A store to run the suite against, built once in `beforeAll`; `close` stops whatever it started. */
export interface RequestRecordHarness {
  readonly store: RequestRecordStore;
  /** The stored item as it is, every attribute included (a raw `GetItem`). */
  read(requestId: string): Promise<Record<string, unknown> | undefined>;
  close?(): Promise<void>;
}

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const NOW_SECONDS = Math.floor(NOW / 1000);

/** Registers the store's tests under `describe(name)`, against the store `makeHarness` builds. */
export function requestRecordSuite(name: string, makeHarness: () => Promise<RequestRecordHarness>): void {
  describe(name, () => {
    let harness: RequestRecordHarness | undefined;
    let store: RequestRecordStore;
    let seq = 0;

    beforeAll(async () => {
      harness = await makeHarness();
      store = harness.store;
    });

    afterAll(async () => {
      await harness?.close?.();
    });

    const read = (requestId: string) => harness!.read(requestId);

    function newRecord(overrides: Partial<RequestRecord> = {}): RequestRecord {
      return {
        requestId: `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`,
        userId: 'alice',
        endpoint: 'chat-stream',
        model: 'model-a',
        createdAt: new Date(NOW).toISOString(),
        expiresAt: expiresAtAfterDays(NOW, 30),
        ...overrides,
      };
    }

    async function recorded(overrides: Partial<RequestRecord> = {}): Promise<RequestRecord> {
      const record = newRecord(overrides);
      expect(await store.put(record)).toBe(true);
      return record;
    }

    describe('put', () => {
      test('stores owner, endpoint, serving model, creation time and the TTL attribute (epoch seconds)', async () => {
        const record = await recorded({ endpoint: 'reports', model: 'model-b' });
        expect(await read(record.requestId)).toEqual({
          requestId: record.requestId,
          userId: 'alice',
          endpoint: 'reports',
          model: 'model-b',
          createdAt: '2026-03-01T12:00:00.000Z',
          expiresAt: NOW_SECONDS + 30 * 86_400,
        });
      });

      test('records a request once: a second write (another user, another model) changes nothing', async () => {
        const record = await recorded();
        await store.rate(record.requestId, 'alice', { rating: 'up', ratedAt: 'r1' }, NOW_SECONDS);
        expect(await store.put({ ...record, userId: 'mallory', model: 'model-z' })).toBe(false);
        expect(await read(record.requestId)).toMatchObject({ userId: 'alice', model: 'model-a', rating: 'up' });
      });
    });

    describe('rate', () => {
      test("stores the owner's rating and comment on the record and returns the rated record", async () => {
        const record = await recorded();
        const rated = await store.rate(
          record.requestId,
          'alice',
          { rating: 'down', comment: 'Too long', ratedAt: '2026-03-01T12:01:00.000Z' },
          NOW_SECONDS + 60,
        );
        const expected = { ...record, rating: 'down', comment: 'Too long', ratedAt: '2026-03-01T12:01:00.000Z' };
        expect(rated).toEqual(expected);
        expect(await read(record.requestId)).toEqual(expected);
      });

      test("refuses another user's request and leaves it unrated", async () => {
        const record = await recorded();
        expect(await store.rate(record.requestId, 'mallory', { rating: 'down', ratedAt: 'x' }, NOW_SECONDS)).toBe(
          undefined,
        );
        expect(await read(record.requestId)).toEqual(record);
      });

      test('refuses an unknown request id and creates nothing', async () => {
        const unknown = newRecord().requestId;
        expect(await store.rate(unknown, 'alice', { rating: 'up', ratedAt: 'x' }, NOW_SECONDS)).toBe(undefined);
        expect(await read(unknown)).toBeUndefined();
      });

      test('refuses an expired request that TTL has not removed yet', async () => {
        const record = await recorded({ expiresAt: NOW_SECONDS + 10 });
        expect(await store.rate(record.requestId, 'alice', { rating: 'up', ratedAt: 'x' }, NOW_SECONDS + 10)).toBe(
          undefined,
        );
        expect(await store.rate(record.requestId, 'alice', { rating: 'up', ratedAt: 'y' }, NOW_SECONDS + 9)).toEqual(
          expect.objectContaining({ rating: 'up', ratedAt: 'y' }),
        );
      });

      test('rated again, the last rating wins whole: a rating without a comment drops the earlier comment', async () => {
        const record = await recorded();
        await store.rate(record.requestId, 'alice', { rating: 'down', comment: 'Wrong', ratedAt: 't1' }, NOW_SECONDS);
        await store.rate(
          record.requestId,
          'alice',
          { rating: 'up', comment: 'Better now', ratedAt: 't2' },
          NOW_SECONDS,
        );
        expect(await read(record.requestId)).toMatchObject({ rating: 'up', comment: 'Better now', ratedAt: 't2' });
        await store.rate(record.requestId, 'alice', { rating: 'down', ratedAt: 't3' }, NOW_SECONDS);
        const stored = await read(record.requestId);
        expect(stored).toMatchObject({ rating: 'down', ratedAt: 't3' });
        expect(stored).not.toHaveProperty('comment');
      });

      test('keeps the owner, endpoint, model and expiry of the record', async () => {
        const record = await recorded({ endpoint: 'openai-chat', model: 'degraded' });
        const rated = await store.rate(record.requestId, 'alice', { rating: 'up', ratedAt: 't' }, NOW_SECONDS);
        expect(rated).toMatchObject({
          userId: 'alice',
          endpoint: 'openai-chat',
          model: 'degraded',
          expiresAt: record.expiresAt,
        });
      });
    });
  });
}
