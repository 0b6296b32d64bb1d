/**
 * The per-model quota over an in-memory store (the shared behaviour suite, test/suites/quota.suite.ts, which
 * test/integration/quota-store.test.ts runs against DynamoDB), and what only a fake can show: a store that fails.
 */
import { ModelQuota } from '../../lambda/core/quota';
import { MemoryQuotaStore } from '../helpers/quota-fakes';
import { quotaSuite } from '../suites/quota.suite';

quotaSuite('ModelQuota over the in-memory store', () => {
  let shared = new MemoryQuotaStore();
  beforeEach(() => {
    shared = new MemoryQuotaStore();
  });
  return {
    store: () => shared,
    get writes() {
      return shared.writes;
    },
    slotsHeld: async (modelId) => shared.slotsHeld(modelId),
  };
});

describe('ModelQuota when its store fails', () => {
  it('admits the call unguarded and says so in a warning that names the model', async () => {
    const warn = jest.fn();
    const store = new MemoryQuotaStore();
    store.add = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const quota = new ModelQuota({ store, quotas: { m: { requestsPerMinute: 1 } }, logger: { warn } });
    await expect(quota.take('m', 10)).resolves.toEqual({ allowed: true });
    expect(warn).toHaveBeenCalledWith(
      'model quota unavailable; calling unguarded',
      expect.objectContaining({ modelId: 'm' }),
    );
  });

  it('never fails a finished call when its correction cannot be written', async () => {
    const warn = jest.fn();
    const store = new MemoryQuotaStore();
    const quota = new ModelQuota({ store, quotas: { m: { tokensPerMinute: 1_000 } }, logger: { warn } });
    const taken = await quota.take('m', 500);
    store.adjust = () => Promise.reject(new Error('throttled'));
    if (!taken.allowed) throw new Error('expected the call to be admitted');
    await expect(taken.ticket?.settle(100)).resolves.toBeUndefined();
    expect(warn).toHaveBeenCalledWith('model quota settle not recorded', expect.objectContaining({ modelId: 'm' }));
  });
});

describe('ModelQuota metrics', () => {
  it('counts every refused call as ModelQuotaRefusals by model, and nothing for admitted ones', async () => {
    const emitted: { dimensions: Record<string, string>; name: string; value: number }[] = [];
    const metrics = {
      singleMetric: () => {
        const dimensions: Record<string, string> = {};
        return {
          addDimension: (name: string, value: string) => void (dimensions[name] = value),
          addMetric: (name: string, _unit: string, value: number) => void emitted.push({ dimensions, name, value }),
        };
      },
    } as never;
    const quota = new ModelQuota({ store: new MemoryQuotaStore(), quotas: { m: { requestsPerMinute: 1 } }, metrics });
    await quota.take('m', 1);
    await quota.take('m', 1);
    await quota.take('m', 1);
    expect(emitted).toEqual([
      { dimensions: { model: 'm' }, name: 'ModelQuotaRefusals', value: 1 },
      { dimensions: { model: 'm' }, name: 'ModelQuotaRefusals', value: 1 },
    ]);
  });
});
