/**
 * The chat core with per-model quotas (`models.quotas`), over an in-memory quota store, a scripted model and a recording
 * breaker (no network): a model over its quota is skipped for the next before anything is sent, every model over gives
 * `429 MODEL_QUOTA_EXCEEDED` with the time until room unless room comes within `models.quotaWaitMs`, the breaker is
 * never told of a quota refusal, charges are corrected from the model's usage, and the report worker paces a job
 * instead of failing it.
 */
import { parseConfig, type AppConfigInput } from '../../config/schema';
import {
  ChatService,
  type GuardDecision,
  type ModelGuard,
  type ModelPermit,
  type TokenBudgetGuard,
} from '../../lambda/core/chat';
import { classifyOutcome } from '../../lambda/core/breaker-taxonomy';
import { ModelQuotaExceededError, ValidationError } from '../../lambda/core/errors';
import type { ModelCompletion, ModelInvoker, ModelRequest, ModelStreamEvent } from '../../lambda/core/model';
import { ModelQuota } from '../../lambda/core/quota';
import { paceDelaySeconds, runReportJob, type ReportWorkerDeps } from '../../lambda/core/reports/worker';
import { generate } from '../../lambda/core/runtime';
import { MemoryQuotaStore } from '../helpers/quota-fakes';
import { FakeBus, InMemoryReportStore } from '../helpers/reports-fakes';

const request: ModelRequest = { messages: [{ role: 'user', content: 'hello there' }], maxTokens: 50 };
const caller = { userId: 'u1', plan: 'free' };

/** Answers every model with the same three words, reporting 7 input and 3 output tokens; records whom it called. */
class EchoModel implements ModelInvoker {
  readonly calls: string[] = [];
  async *stream(modelId: string): AsyncIterable<ModelStreamEvent> {
    this.calls.push(modelId);
    for (const text of ['a ', 'b ', 'c']) yield { type: 'delta', text };
    yield { type: 'stop', stopReason: 'end_turn' };
    yield { type: 'usage', usage: { inputTokens: 7, outputTokens: 3 } };
  }
  async complete(modelId: string): Promise<ModelCompletion> {
    this.calls.push(modelId);
    return { text: 'a b c', stopReason: 'end_turn', usage: { inputTokens: 7, outputTokens: 3 } };
  }
}

/** A breaker that admits every model except the open ones, and records what it is told. */
class RecordingGuard implements ModelGuard {
  readonly outcomes: string[] = [];
  constructor(private readonly open: Record<string, number> = {}) {}
  async acquire(modelId: string): Promise<GuardDecision> {
    if (this.open[modelId] !== undefined) return { allowed: false, retryAfterSeconds: this.open[modelId] };
    const permit: ModelPermit = {
      success: async () => void this.outcomes.push(`${modelId}:success`),
      failure: async (err) => void this.outcomes.push(`${modelId}:failure:${(err as Error).name}`),
      release: async () => void this.outcomes.push(`${modelId}:release`),
    };
    return { allowed: true, permit };
  }
}

class RecordingBudget implements TokenBudgetGuard<number> {
  readonly log: string[] = [];
  async reserve(_u: string, _p: string, estimate: number) {
    this.log.push('reserve');
    return estimate;
  }
  async settle() {
    this.log.push('settle');
  }
  async release() {
    this.log.push('release');
  }
}

/** A slot-aligned instant, so that tests know when room comes back. */
const T0 = Date.UTC(2026, 4, 20, 18, 30, 0);

interface Setup {
  service: ChatService;
  model: EchoModel;
  guard: RecordingGuard;
  budget: RecordingBudget;
  store: MemoryQuotaStore;
  /** Spends the whole requests-per-minute quota of `modelId` (through another instance). */
  spend(modelId: string, at?: number): Promise<void>;
}

function setup(
  models: AppConfigInput['models'],
  options: { now?: () => number; open?: Record<string, number>; store?: MemoryQuotaStore } = {},
): Setup {
  const config = parseConfig({ models });
  const now = options.now ?? (() => T0);
  const store = options.store ?? new MemoryQuotaStore();
  const quotas = config.models.quotas;
  const model = new EchoModel();
  const guard = new RecordingGuard(options.open);
  const budget = new RecordingBudget();
  const service = new ChatService({
    config,
    invoker: model,
    guard,
    budget,
    quota: new ModelQuota({ store, quotas, now }),
    now,
  });
  const spend = async (modelId: string, at = now()) => {
    const other = new ModelQuota({ store, quotas, now: () => at });
    for (let i = 0; i < (quotas[modelId]?.requestsPerMinute ?? 0); i++) await other.take(modelId, 10);
  };
  return { service, model, guard, budget, store, spend };
}

const ctx = (deadlineMs = 10_000) => ({ caller, requestId: 'req-1', deadlineAt: Date.now() + deadlineMs });

async function refusal(p: Promise<unknown>): Promise<ModelQuotaExceededError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ModelQuotaExceededError) return err;
    throw err;
  }
  throw new Error('expected a ModelQuotaExceededError');
}

describe('ChatService with per-model quotas', () => {
  const chain = { primary: 'model-a', fallbacks: ['model-b'] };

  it('skips a model over its quota for the next one, before anything is sent, without telling its breaker', async () => {
    const s = setup({ ...chain, quotas: { 'model-a': { requestsPerMinute: 2 } } });
    await s.spend('model-a');
    const call = await s.service.begin(request, ctx());
    expect(call.model).toBe('model-b');
    const result = await call.stream(() => undefined);
    await call.flush();
    expect(result.model).toBe('model-b');
    expect(s.model.calls).toEqual(['model-b']);
    expect(s.guard.outcomes).toEqual(['model-a:release', 'model-b:success']);
  });

  it('refuses with 429 MODEL_QUOTA_EXCEEDED and the seconds until room when every model is over', async () => {
    const s = setup(
      {
        ...chain,
        quotas: { 'model-a': { requestsPerMinute: 1 }, 'model-b': { requestsPerMinute: 1 } },
        quotaWaitMs: 0,
      },
      { now: () => T0 + 20_000 },
    );
    await s.spend('model-a', T0);
    await s.spend('model-b', T0 + 10_000);
    const err = await refusal(s.service.begin(request, ctx()));
    expect(err).toMatchObject({
      status: 429,
      code: 'MODEL_QUOTA_EXCEEDED',
      retryable: true,
      limit: 'requestsPerMinute',
    });
    // model-a has room first: its call of T0 stops counting at T0 + 65 s, 45 s from now.
    expect(err.retryAfterWholeSeconds).toBe(45);
    expect(s.model.calls).toEqual([]);
    expect(s.budget.log).toEqual(['reserve', 'release']);
    expect(s.guard.outcomes).toEqual(['model-a:release', 'model-b:release']);
    // Refused calls leave no charge behind.
    expect(s.store.requests('model-a')).toBe(1);
    expect(s.store.requests('model-b')).toBe(1);
  });

  it('waits for room that comes within models.quotaWaitMs, then calls the model', async () => {
    // The clock runs in real time, 300 ms before the slot in which the spent calls stop counting.
    const offset = T0 + 65_000 - 300 - Date.now();
    const now = () => Date.now() + offset;
    const s = setup(
      { primary: 'model-a', fallbacks: [], quotas: { 'model-a': { requestsPerMinute: 1 } }, quotaWaitMs: 1_000 },
      { now },
    );
    await s.spend('model-a', T0);
    const started = Date.now();
    const call = await s.service.begin(request, ctx());
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    const result = await call.stream(() => undefined);
    expect(result.model).toBe('model-a');
  });

  it('does not wait when room comes later than models.quotaWaitMs or the deadline', async () => {
    const offset = T0 + 65_000 - 2_000 - Date.now();
    const now = () => Date.now() + offset;
    const models = { primary: 'model-a', fallbacks: [], quotas: { 'model-a': { requestsPerMinute: 1 } } };
    const s = setup({ ...models, quotaWaitMs: 1_000 }, { now });
    await s.spend('model-a', T0);
    const started = Date.now();
    expect((await refusal(s.service.begin(request, ctx()))).retryAfterWholeSeconds).toBe(2);
    const waitsLong = setup({ ...models, quotaWaitMs: 5_000 }, { now });
    await waitsLong.spend('model-a', T0);
    // The deadline is on the service's clock.
    await refusal(waitsLong.service.begin(request, { caller, requestId: 'req-2', deadlineAt: now() + 1_000 }));
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('gives the quota charge back when the breaker of that model refused it', async () => {
    const s = setup(
      { ...chain, quotas: { 'model-a': { requestsPerMinute: 5 }, 'model-b': { requestsPerMinute: 5 } } },
      { open: { 'model-a': 12 } },
    );
    const call = await s.service.begin(request, ctx());
    await call.stream(() => undefined);
    await call.flush();
    expect(s.store.requests('model-a')).toBe(0);
    expect(s.store.requests('model-b')).toBe(1);
  });

  it('answers 503 MODEL_UNAVAILABLE, not 429, when only open breakers refused', async () => {
    const s = setup(
      { ...chain, quotas: { 'model-a': { requestsPerMinute: 5 } } },
      { open: { 'model-a': 7, 'model-b': 9 } },
    );
    await expect(s.service.begin(request, ctx())).rejects.toMatchObject({ status: 503, code: 'MODEL_UNAVAILABLE' });
  });

  it('refuses a request larger than every tokens-per-minute quota as bad input (400), for good', async () => {
    const s = setup({ primary: 'model-a', fallbacks: [], quotas: { 'model-a': { tokensPerMinute: 40 } } });
    await expect(s.service.begin(request, ctx())).rejects.toBeInstanceOf(ValidationError);
  });

  it('corrects the token charge from the usage the model reported', async () => {
    const store = new MemoryQuotaStore();
    const s = setup({ primary: 'model-a', fallbacks: [], quotas: { 'model-a': { tokensPerMinute: 100 } } }, { store });
    const call = await s.service.begin(request, ctx());
    await call.stream(() => undefined);
    await call.flush();
    // 7 + 3 tokens now count instead of the estimate (input estimate + 50 maxTokens): 9 more calls fit.
    const other = new ModelQuota({ store, quotas: { 'model-a': { tokensPerMinute: 100 } }, now: () => T0 });
    for (let i = 0; i < 9; i++) expect((await other.take('model-a', 10)).allowed).toBe(true);
    expect((await other.take('model-a', 10)).allowed).toBe(false);
  });
});

describe('the report worker under a model quota', () => {
  const config = parseConfig({
    models: { primary: 'model-a', fallbacks: [], quotas: { 'model-a': { requestsPerMinute: 1 } }, quotaWaitMs: 0 },
    reports: { maxReceiveCount: 2, workerTimeoutSeconds: 30, visibilityTimeoutSeconds: 40 },
  });

  it('paces a job while the quota is spent, even on its last delivery, and completes it once there is room', async () => {
    let t = T0;
    const store = new MemoryQuotaStore();
    const quota = new ModelQuota({ store, quotas: config.models.quotas, now: () => t });
    const model = new EchoModel();
    const service = new ChatService({ config, invoker: model, quota, now: () => t });
    const repo = new InMemoryReportStore();
    const bus = new FakeBus();
    const deps: ReportWorkerDeps = {
      repo,
      publisher: bus,
      generate: (req, c) => generate(service, req, c),
      config,
      now: () => t,
      random: () => 0,
    };
    await repo.create({ reportId: 'r1', userId: 'alice', plan: 'free', prompt: 'summarise' }, t);
    await new ModelQuota({ store, quotas: config.models.quotas, now: () => t }).take('model-a', 10);

    t = T0 + 20_000;
    const paced = await runReportJob('r1', { receiveCount: 2, deadlineAt: Date.now() + 10_000 }, deps);
    expect(paced).toEqual({ kind: 'paced', delaySeconds: 45 });
    expect((await repo.get('r1'))?.status).toBe('QUEUED');
    expect(model.calls).toEqual([]);

    t = T0 + 65_000;
    const done = await runReportJob('r1', { receiveCount: 1, deadlineAt: Date.now() + 10_000 }, deps);
    expect(done.kind).toBe('completed');
    expect((await repo.get('r1'))?.status).toBe('COMPLETED');
    expect(bus.published.map((r) => r.status)).toEqual(['COMPLETED']);
  });

  it('spreads paced jobs over up to twice the wait, within what SQS can delay a message', () => {
    expect(paceDelaySeconds(10, () => 0)).toBe(10);
    expect(paceDelaySeconds(10, () => 0.999)).toBe(20);
    expect(paceDelaySeconds(0.2, () => 0)).toBe(1);
    expect(paceDelaySeconds(800, () => 0.9)).toBe(900);
  });

  it('never counts a quota refusal against the breaker', () => {
    expect(classifyOutcome(new ModelQuotaExceededError('over', { retryAfterSeconds: 3 }))).toMatchObject({
      kind: 'limit',
      counts: false,
    });
  });
});
