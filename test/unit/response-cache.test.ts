/**
 * The response cache's decisions (no network): the key's normal form, what `Cache-Control` and sampling settings
 * allow, which answers are stored, and how the chat core serves hits and falls back on stored answers, with an
 * in-memory store and scripted models.
 */
import { ConfigError, parseConfig } from '../../config/schema';
import { ChatService, type GuardDecision, type ModelGuard, type TokenBudgetGuard } from '../../lambda/core/chat';
import { ModelUnavailableError } from '../../lambda/core/errors';
import type { ModelCompletion, ModelInvoker, ModelRequest, ModelStreamEvent } from '../../lambda/core/model';
import {
  type CacheEntry,
  cacheDirectivesOf,
  cacheKeyOf,
  chunksOf,
  isStorable,
  ResponseCache,
  type ResponseCacheStore,
} from '../../lambda/core/response-cache';

const chain = ['model-a', 'model-b'];
const ask = (overrides: Partial<ModelRequest> = {}): ModelRequest => ({
  messages: [{ role: 'user', content: 'hello' }],
  maxTokens: 100,
  ...overrides,
});

describe('cache key', () => {
  const key = (request: ModelRequest, models = chain, scope: 'user' | 'global' = 'user', user = 'alice') =>
    cacheKeyOf(request, models, scope, user);

  it('is the same for requests that mean the same', () => {
    const tool = (schema: Record<string, unknown>) => ({ name: 'weather', inputSchema: schema });
    const a = ask({
      tools: [tool({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] })],
      stopSequences: ['END', 'STOP'],
    });
    const b = ask({
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }],
      tools: [tool({ required: ['city'], properties: { city: { type: 'string' } }, type: 'object' })],
      stopSequences: ['STOP', 'END'],
    });
    expect(key(a)).toBe(key(b));
    // A tool choice means nothing without tools; an empty system is no system.
    expect(key(ask({ toolChoice: { type: 'any' }, system: '' }))).toBe(key(ask()));
  });

  it('differs for anything that can change the answer', () => {
    const base = key(ask());
    const variants = [
      key(ask({ system: 'be brief' })),
      key(ask({ messages: [{ role: 'user', content: 'hello!' }] })),
      key(ask({ maxTokens: 101 })),
      key(ask({ temperature: 0 })),
      key(ask({ topP: 0.5 })),
      key(ask({ stopSequences: ['END'] })),
      key(ask({ tools: [{ name: 't', inputSchema: {} }] })),
      key(ask(), ['model-b']),
      key(ask(), ['model-b', 'model-a']),
      key(ask(), chain, 'user', 'bob'),
      key(ask(), chain, 'global'),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('hashes images by their bytes', () => {
    const image = (bytes: number[]) =>
      ask({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'what is this?' },
              { type: 'image', format: 'png', bytes: Uint8Array.from(bytes) },
            ],
          },
        ],
      });
    expect(key(image([1, 2, 3]))).toBe(key(image([1, 2, 3])));
    expect(key(image([1, 2, 3]))).not.toBe(key(image([1, 2, 4])));
  });

  it('names the scope, and the user in user scope, before a SHA-256', () => {
    expect(key(ask())).toMatch(/^user#alice#[0-9a-f]{64}$/);
    expect(key(ask(), chain, 'global', 'alice')).toMatch(/^global#[0-9a-f]{64}$/);
    expect(key(ask(), chain, 'global', 'alice')).toBe(key(ask(), chain, 'global', 'bob'));
  });
});

describe('Cache-Control and sampling settings', () => {
  it('reads the directives, whatever their case and spacing', () => {
    expect(cacheDirectivesOf(undefined)).toEqual({ noCache: false, noStore: false });
    expect(cacheDirectivesOf('No-Cache')).toEqual({ noCache: true, noStore: false });
    expect(cacheDirectivesOf('max-age=0')).toEqual({ noCache: true, noStore: false });
    expect(cacheDirectivesOf('max-age=60')).toEqual({ noCache: false, noStore: false });
    expect(cacheDirectivesOf(' private , no-store')).toEqual({ noCache: false, noStore: true });
  });

  const cache = (settings: Partial<ReturnType<typeof parseConfig>['cache']> = {}) =>
    new ResponseCache({
      store: new MemoryStore(),
      settings: parseConfig({ cache: { enabled: true, ...settings } }).cache,
      endpoint: 'chat',
    });
  const plan = (c: ResponseCache, request = ask(), directives?: { noCache: boolean; noStore: boolean }) => {
    const { read, write, fallback } = c.plan(request, chain, 'alice', directives);
    return { read, write, fallback };
  };

  it('reads, stores and falls back for a plain request', () => {
    expect(plan(cache())).toEqual({ read: true, write: true, fallback: true });
  });

  it('no-cache skips the read only; no-store skips everything', () => {
    expect(plan(cache(), ask(), { noCache: true, noStore: false })).toEqual({
      read: false,
      write: true,
      fallback: true,
    });
    expect(plan(cache(), ask(), { noCache: false, noStore: true })).toEqual({
      read: false,
      write: false,
      fallback: false,
    });
  });

  it('never serves a sampled request from the cache, but keeps its answer for the fallback', () => {
    expect(plan(cache(), ask({ temperature: 0.7 }))).toEqual({ read: false, write: true, fallback: true });
    expect(plan(cache({ fallback: false }), ask({ temperature: 0.7 }))).toEqual({
      read: false,
      write: false,
      fallback: false,
    });
    expect(plan(cache(), ask({ temperature: 0 }))).toEqual({ read: true, write: true, fallback: true });
    expect(plan(cache({ nonDeterministic: 'cache' }), ask({ temperature: 1 })).read).toBe(true);
  });
});

describe('what is stored and how it is served', () => {
  const result = (overrides: Record<string, unknown> = {}) => ({
    requestId: 'r',
    model: 'model-a',
    text: 'an answer',
    stopReason: 'end_turn',
    usage: { inputTokens: 3, outputTokens: 2 },
    metrics: { ttftMs: 1, latencyMs: 2 },
    ...overrides,
  });

  it('stores complete text answers only', () => {
    expect(isStorable(result())).toBe(true);
    expect(isStorable(result({ stopReason: 'stop_sequence' }))).toBe(true);
    expect(isStorable(result({ stopReason: 'max_tokens' }))).toBe(false);
    expect(isStorable(result({ stopReason: 'degraded', model: 'degraded' }))).toBe(false);
    expect(isStorable(result({ cached: true }))).toBe(false);
    expect(isStorable(result({ text: '' }))).toBe(false);
    expect(
      isStorable(result({ stopReason: 'end_turn', toolCalls: [{ toolUseId: 't', name: 'n', input: '{}' }] })),
    ).toBe(false);
  });

  it('splits a stored answer into word-sized chunks that add up to it', () => {
    const text = '  Hello,  world!\nA second line.  ';
    const chunks = chunksOf(text);
    expect(chunks.join('')).toBe(text);
    expect(chunks.length).toBe(5);
    expect(chunksOf('')).toEqual([]);
  });

  it('does not store an answer over the item size limit, and counts it', async () => {
    const store = new MemoryStore();
    const metrics = new RecordingMetrics();
    const c = new ResponseCache({
      store,
      settings: parseConfig({ cache: { enabled: true } }).cache,
      endpoint: 'chat',
      metrics,
    });
    await c.put(c.plan(ask(), chain, 'alice'), result({ text: 'x'.repeat(400 * 1024) }));
    expect(store.entries.size).toBe(0);
    expect(metrics.names).toEqual(['CacheEntriesTooLarge']);
  });
});

describe('the chat core with the cache', () => {
  const config = parseConfig({
    models: { primary: 'model-a', fallbacks: ['model-b'] },
    chat: { ttftTimeoutMs: 200, retryRounds: 0 },
    cache: { enabled: true },
  });
  const caller = { userId: 'alice', plan: 'free' };
  const ctx = (overrides: Record<string, unknown> = {}) => ({
    caller,
    requestId: 'req',
    deadlineAt: Date.now() + 10_000,
    ...overrides,
  });

  function setup(scripts: Record<string, () => AsyncIterable<ModelStreamEvent>>, open: string[] = []) {
    const store = new MemoryStore();
    const metrics = new RecordingMetrics();
    // model-a is priced (Claude Sonnet 4's $3 / $15 per million tokens), model-b is not: only tokens saved are counted.
    const prices = { 'model-a': { input: 3, output: 15 } };
    const cache = new ResponseCache({ store, settings: config.cache, endpoint: 'chat-stream', metrics, prices });
    const model = new ScriptedModel(scripts);
    const guard = new CountingGuard(open);
    const budget = new RecordingBudget();
    const service = new ChatService({ config, invoker: model, guard, budget, cache });
    return { store, metrics, model, guard, budget, service };
  }

  it('serves a repeated request from the cache without a model, a breaker or the budget', async () => {
    const s = setup({ 'model-a': () => words(['one ', 'two ', 'three']) });
    const first = await s.service.begin(ask(), ctx());
    expect(first.cacheStatus).toBe('miss');
    await first.stream(() => undefined);
    await first.flush();
    expect(s.store.entries.size).toBe(1);
    const [calls, acquired, budgetLog] = [s.model.calls.length, s.guard.acquired, s.budget.log.length];

    const second = await s.service.begin(ask(), ctx());
    const deltas: string[] = [];
    const hit = await second.stream((t) => deltas.push(t));
    await second.flush();
    expect(second.cacheStatus).toBe('hit');
    expect(second.model).toBe('model-a');
    expect(deltas.join('')).toBe('one two three');
    expect(hit).toMatchObject({ model: 'model-a', text: 'one two three', cached: true, usage: { outputTokens: 3 } });
    expect([s.model.calls.length, s.guard.acquired, s.budget.log.length]).toEqual([calls, acquired, budgetLog]);
    expect(s.metrics.names).toEqual(['CacheMisses', 'CacheHits', 'CacheTokensSaved', 'CacheUsdSaved']);
    expect(s.metrics.values.CacheTokensSaved).toBe(10);
    // 7 input tokens at $3 and 3 output tokens at $15 per million: 21 + 45 micro-dollars.
    expect(s.metrics.values.CacheUsdSaved).toBe(0.000066);
  });

  it('does not store an answer cut short by maxTokens', async () => {
    const s = setup({
      'model-a': async function* () {
        yield { type: 'delta', text: 'cut' };
        yield { type: 'stop', stopReason: 'max_tokens' };
      },
    });
    const call = await s.service.begin(ask(), ctx());
    await call.complete();
    await call.flush();
    expect(s.store.entries.size).toBe(0);
  });

  it('falls back on a stored answer when every model fails before content, and charges nothing', async () => {
    const s = setup({ 'model-a': () => failing(), 'model-b': () => failing() });
    const key = cacheKeyOf(ask(), chain, 'user', 'alice');
    s.store.entries.set(key, entry('stored answer', 'model-a'));
    const call = await s.service.begin(ask(), ctx({ cacheControl: { noCache: true, noStore: false } }));
    expect(call.cacheStatus).toBe('bypass');
    const deltas: string[] = [];
    const result = await call.stream((t) => deltas.push(t));
    await call.flush();
    expect(s.model.calls).toEqual(['model-a', 'model-b']);
    expect(deltas.join('')).toBe('stored answer');
    expect(result).toMatchObject({ model: 'model-a', cached: true });
    // The call names the stored answer's model from then on (OpenAI chunks carry it), not the last model tried.
    expect(call.model).toBe('model-a');
    expect(s.budget.log).toEqual([expect.stringMatching(/^reserve:/), 'release']);
    expect(s.metrics.names).toEqual(['CacheBypasses', 'CacheFallbacks', 'CacheTokensSaved', 'CacheUsdSaved']);
  });

  it('with every breaker open serves a stored answer, and 503s when there is none or no-store forbids it', async () => {
    const s = setup({}, ['model-a', 'model-b']);
    s.store.entries.set(cacheKeyOf(ask(), chain, 'user', 'alice'), entry('kept', 'model-a'));
    const noCache = { cacheControl: { noCache: true, noStore: false } };
    const call = await s.service.begin(ask(), ctx(noCache));
    expect(await call.complete()).toMatchObject({ text: 'kept', cached: true });
    expect(call.cacheStatus).toBe('hit');
    expect(s.budget.log).toEqual([expect.stringMatching(/^reserve:/), 'release']);

    const noStore = { cacheControl: { noCache: false, noStore: true } };
    await expect(s.service.begin(ask(), ctx(noStore))).rejects.toBeInstanceOf(ModelUnavailableError);
    await expect(s.service.begin(ask({ maxTokens: 7 }), ctx())).rejects.toBeInstanceOf(ModelUnavailableError);
    expect(s.model.calls).toEqual([]);
  });

  it('serves a stored answer before the degraded one', async () => {
    const degraded = parseConfig({ ...config, models: { ...config.models, degradedAnswer: 'sorry' } });
    const store = new MemoryStore();
    const cache = new ResponseCache({ store, settings: degraded.cache, endpoint: 'chat' });
    const service = new ChatService({
      config: degraded,
      invoker: new ScriptedModel({}),
      guard: new CountingGuard(['model-a', 'model-b']),
      cache,
    });
    store.entries.set(cacheKeyOf(ask(), chain, 'user', 'alice'), entry('kept', 'model-a'));
    expect(await (await service.begin(ask({}), ctx())).complete()).toMatchObject({ text: 'kept', cached: true });
    expect(await (await service.begin(ask({ maxTokens: 9 }), ctx())).complete()).toMatchObject({
      model: 'degraded',
      text: 'sorry',
    });
  });

  it('answers from the model when the cache cannot be read, and counts the error', async () => {
    const s = setup({ 'model-a': () => words(['fine']) });
    s.store.failing = true;
    const call = await s.service.begin(ask(), ctx());
    expect(await call.complete()).toMatchObject({ text: 'fine', model: 'model-a' });
    await call.flush();
    expect(s.metrics.names).toEqual(['CacheErrors', 'CacheMisses', 'CacheErrors']);
  });
});

describe('cache configuration', () => {
  it.each([
    [{ ttlSeconds: 10 }, 'cache.ttlSeconds'],
    [{ ttlSeconds: 31 * 24 * 3600 }, 'cache.ttlSeconds'],
    [{ scope: 'team' }, 'cache.scope'],
    [{ nonDeterministic: 'sometimes' }, 'cache.nonDeterministic'],
    [{ enabled: 'yes' }, 'cache.enabled'],
    [{ size: 10 }, 'cache'],
  ])('refuses %j naming %s', (cache, field) => {
    expect(() => parseConfig({ cache })).toThrow(ConfigError);
    expect(() => parseConfig({ cache })).toThrow(field);
  });

  it('is off by default, in user scope, for an hour', () => {
    expect(parseConfig({}).cache).toEqual({
      enabled: false,
      ttlSeconds: 3600,
      scope: 'user',
      nonDeterministic: 'bypass',
      fallback: true,
    });
  });
});

// ---- fakes -------------------------------------------------------------------------------------------------------

class MemoryStore implements ResponseCacheStore {
  readonly entries = new Map<string, CacheEntry>();
  failing = false;
  async get(key: string): Promise<CacheEntry | undefined> {
    if (this.failing) throw new Error('unreachable');
    return this.entries.get(key);
  }
  async put(key: string, entry: CacheEntry): Promise<void> {
    if (this.failing) throw new Error('unreachable');
    this.entries.set(key, entry);
  }
}

class RecordingMetrics {
  readonly names: string[] = [];
  readonly values: Record<string, number> = {};
  singleMetric() {
    return {
      addDimension: () => undefined,
      addMetric: (name: string, _unit: string, value: number) => {
        this.names.push(name);
        this.values[name] = value;
      },
    } as never;
  }
}

const entry = (text: string, model: string): CacheEntry => ({
  text,
  model,
  stopReason: 'end_turn',
  usage: { inputTokens: 4, outputTokens: 2 },
  createdAt: Date.now(),
});

async function* words(list: string[]): AsyncIterable<ModelStreamEvent> {
  for (const text of list) yield { type: 'delta', text };
  yield { type: 'stop', stopReason: 'end_turn' };
  yield { type: 'usage', usage: { inputTokens: 7, outputTokens: list.length } };
}

async function* failing(): AsyncIterable<ModelStreamEvent> {
  const err = new Error('down');
  err.name = 'ServiceUnavailableException';
  throw err;
}

class ScriptedModel implements ModelInvoker {
  readonly calls: string[] = [];
  constructor(private readonly scripts: Record<string, () => AsyncIterable<ModelStreamEvent>>) {}
  stream(modelId: string): AsyncIterable<ModelStreamEvent> {
    this.calls.push(modelId);
    return this.scripts[modelId]();
  }
  async complete(modelId: string): Promise<ModelCompletion> {
    let text = '';
    let stopReason = '';
    let usage = { inputTokens: 0, outputTokens: 0 };
    for await (const e of this.stream(modelId)) {
      if (e.type === 'delta') text += e.text;
      else if (e.type === 'stop') stopReason = e.stopReason;
      else if (e.type === 'usage') usage = e.usage;
    }
    return { text, stopReason, usage };
  }
}

class CountingGuard implements ModelGuard {
  acquired = 0;
  constructor(private readonly open: string[]) {}
  async acquire(modelId: string): Promise<GuardDecision> {
    this.acquired++;
    if (this.open.includes(modelId)) return { allowed: false, retryAfterSeconds: 5 };
    return {
      allowed: true,
      permit: { success: async () => undefined, failure: async () => undefined, release: async () => undefined },
    };
  }
}

class RecordingBudget implements TokenBudgetGuard<number> {
  readonly log: string[] = [];
  async reserve(_u: string, _p: string, estimate: number) {
    this.log.push(`reserve:${estimate}`);
    return estimate;
  }
  async settle(_r: number, actual: number) {
    this.log.push(`settle:${actual}`);
  }
  async release() {
    this.log.push('release');
  }
}
