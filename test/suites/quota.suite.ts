/**
 * The per-model quota's behaviour, whatever its store: requests and tokens per minute, no minute ever holding more than
 * the quota (wherever it starts), when room comes back, settle and release, refusals that leave no trace, old slots
 * forgotten, and the cost in writes. Run by test/unit/quota.test.ts (an in-memory store) and
 * test/integration/quota-store.test.ts (DynamoQuotaStore against dynalite), each with an injected clock. A module, not
 * a test file: Jest runs only files ending in .test.ts.
 */
import type { AppConfig } from '../../config/schema';
import { ModelQuota, QUOTA_SLOT_MS, type QuotaDecision, type QuotaStore } from '../../lambda/core/quota';

/**
 * A quota store to run the suite against. `makeHarness` is called while the suite's `describe` is collected, so it may
 * register hooks; its members are used inside tests only.
 */
export interface QuotaHarness {
  /** A store over the counters every quota in the test shares (a new client each time: another instance). */
  store(): QuotaStore;
  /** Writes the stores have sent since the test began. */
  readonly writes: number;
  /** The slots the model's counter holds, as stored. */
  slotsHeld(modelId: string): Promise<number[]>;
}

/** Slot-aligned start of every test: 2026-05-20T18:30:00Z. */
const T0 = Date.UTC(2026, 4, 20, 18, 30, 0);

function admitted(d: QuotaDecision): d is Extract<QuotaDecision, { allowed: true }> {
  return d.allowed;
}

export function quotaSuite(name: string, makeHarness: () => QuotaHarness): void {
  describe(name, () => {
    const harness = makeHarness();
    let t = T0;
    let modelSeq = 0;
    let model = '';
    let writesBefore = 0;

    beforeEach(() => {
      t = T0;
      // A model no earlier test has counted, so tests never share a counter.
      model = `model-${++modelSeq}-${Date.now()}`;
      writesBefore = harness.writes;
    });

    const quota = (quotas: AppConfig['models']['quotas']) =>
      new ModelQuota({ store: harness.store(), quotas, now: () => t });
    const writes = () => harness.writes - writesBefore;

    it('admits a model without a quota without counting it', async () => {
      const q = quota({});
      const decision = await q.take(model, 500);
      expect(decision).toEqual({ allowed: true });
      expect(writes()).toBe(0);
    });

    it('admits exactly requestsPerMinute calls, in one write each, then refuses with the time until room', async () => {
      const q = quota({ [model]: { requestsPerMinute: 3 } });
      const decisions = [];
      for (let i = 0; i < 3; i++) decisions.push(await q.take(model, 100));
      expect(decisions.every(admitted)).toBe(true);
      expect(writes()).toBe(3);

      t = T0 + 30_000;
      const refused = await q.take(model, 100);
      // The calls of T0 count until the slot after T0 + 60 s begins: T0 + 65 s, 35 s from now.
      expect(refused).toEqual({ allowed: false, limit: 'requestsPerMinute', retryAfterMs: 35_000 });
    });

    it('never lets a minute hold more than the quota, wherever the minute starts', async () => {
      const q = quota({ [model]: { requestsPerMinute: 4 } });
      t = T0 + 50_000;
      expect((await q.take(model, 1)).allowed).toBe(true);
      expect((await q.take(model, 1)).allowed).toBe(true);
      t = T0 + 59_000;
      expect((await q.take(model, 1)).allowed).toBe(true);
      expect((await q.take(model, 1)).allowed).toBe(true);
      // A new clock minute has begun, but the minute from T0 + 50 s already holds four calls.
      t = T0 + 61_000;
      expect((await q.take(model, 1)).allowed).toBe(false);
      t = T0 + 109_999;
      expect((await other(harness, model, 4, () => t).take(model, 1)).allowed).toBe(false);
      // The calls of T0 + 50 s stop counting once the minute after them is over (at the next slot: T0 + 115 s).
      t = T0 + 115_000;
      expect((await other(harness, model, 4, () => t).take(model, 1)).allowed).toBe(true);
    });

    it('gives a refused call room again exactly when the slot it was told of begins', async () => {
      const q = quota({ [model]: { requestsPerMinute: 2 } });
      await q.take(model, 1);
      await q.take(model, 1);
      t = T0 + 12_345;
      const refused = await q.take(model, 1);
      expect(refused.allowed).toBe(false);
      const roomAt = t + (refused.allowed ? 0 : (refused.retryAfterMs ?? Number.NaN));
      expect(roomAt).toBe(T0 + 65_000);
      t = roomAt - 1;
      expect((await other(harness, model, 2, () => t).take(model, 1)).allowed).toBe(false);
      t = roomAt;
      expect((await other(harness, model, 2, () => t).take(model, 1)).allowed).toBe(true);
    });

    it('charges tokens up front and corrects them from the usage the model reported', async () => {
      const q = quota({ [model]: { tokensPerMinute: 1_000 } });
      const first = await q.take(model, 600);
      if (!admitted(first)) throw new Error('expected the first call to be admitted');
      expect((await q.take(model, 600)).allowed).toBe(false);
      await first.ticket?.settle(150);
      // Another instance (this one remembers its refusal for a moment) finds the room the correction made.
      const next = await other(harness, model, undefined, () => t, 1_000).take(model, 600);
      expect(next.allowed).toBe(true);
      expect(await other(harness, model, undefined, () => t, 1_000).take(model, 300)).toMatchObject({
        allowed: false,
        limit: 'tokensPerMinute',
      });
    });

    it('gives the whole charge back when the model was not called', async () => {
      const q = quota({ [model]: { requestsPerMinute: 1, tokensPerMinute: 1_000 } });
      const first = await q.take(model, 900);
      if (!admitted(first)) throw new Error('expected the call to be admitted');
      await first.ticket?.release();
      await first.ticket?.release();
      expect((await q.take(model, 900)).allowed).toBe(true);
    });

    it('takes a refused call back, so refusals never use up room', async () => {
      const q = quota({ [model]: { requestsPerMinute: 2 } });
      const first = await q.take(model, 1);
      await q.take(model, 1);
      for (let i = 0; i < 5; i++) expect((await other(harness, model, 2, () => t).take(model, 1)).allowed).toBe(false);
      if (!admitted(first)) throw new Error('expected the call to be admitted');
      await first.ticket?.release();
      expect((await other(harness, model, 2, () => t).take(model, 1)).allowed).toBe(true);
      expect((await other(harness, model, 2, () => t).take(model, 1)).allowed).toBe(false);
    });

    it('refuses without a write while it remembers a refusal, and asks again once room may be back', async () => {
      const q = quota({ [model]: { requestsPerMinute: 1 } });
      await q.take(model, 1);
      t += 1;
      expect((await q.take(model, 1)).allowed).toBe(false);
      const after = writes();
      for (let i = 0; i < 10; i++) expect((await q.take(model, 1)).allowed).toBe(false);
      expect(writes()).toBe(after);
      t += 1_000;
      expect((await q.take(model, 1)).allowed).toBe(false);
      expect(writes()).toBeGreaterThan(after);
    });

    it('refuses a call that needs more tokens than the quota allows per minute, for good and without a write', async () => {
      const q = quota({ [model]: { tokensPerMinute: 1_000 } });
      expect(await q.take(model, 1_001)).toEqual({ allowed: false, limit: 'tokensPerMinute' });
      expect(writes()).toBe(0);
    });

    it('forgets slots that no longer count, so the counter stays small however long it is used', async () => {
      const q = quota({ [model]: { requestsPerMinute: 1_000 } });
      for (let s = 0; s < 60; s++) {
        t = T0 + s * QUOTA_SLOT_MS;
        await q.take(model, 1);
      }
      const held = await harness.slotsHeld(model);
      expect(held.length).toBeLessThanOrEqual(14);
      expect(Math.min(...held)).toBeGreaterThanOrEqual(Math.floor(t / QUOTA_SLOT_MS) - 13);
    });

    it('does not correct a slot that no longer counts', async () => {
      const q = quota({ [model]: { tokensPerMinute: 1_000 } });
      const first = await q.take(model, 500);
      if (!admitted(first)) throw new Error('expected the call to be admitted');
      t = T0 + 10 * 60_000;
      const before = writes();
      await first.ticket?.settle(10);
      expect(writes()).toBe(before);
    });
  });
}

/** Another instance's quota over the same counters (its own client, no memory of this one's refusals). */
function other(
  harness: QuotaHarness,
  model: string,
  requestsPerMinute: number | undefined,
  now: () => number,
  tokensPerMinute?: number,
): ModelQuota {
  return new ModelQuota({ store: harness.store(), quotas: { [model]: { requestsPerMinute, tokensPerMinute } }, now });
}
