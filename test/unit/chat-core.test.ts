/**
 * The chat core's decisions, with a scripted model and guard (no network): fallbacks before content, errors after
 * content, deadlines and TTFT timeouts, budget settlement, and what the breaker is told.
 */
import { parseConfig } from '../../config/schema';
import {
  ChatService,
  ClientGoneError,
  estimateInputTokens,
  type GuardDecision,
  type ModelGuard,
  type ModelPermit,
  type TokenBudgetGuard,
} from '../../lambda/core/chat';
import {
  DeadlineExceededError,
  ModelStreamError,
  ModelUnavailableError,
  TokenBudgetExceededError,
  ValidationError,
} from '../../lambda/core/errors';
import type { ModelCompletion, ModelInvoker, ModelRequest, ModelStreamEvent, ToolCall } from '../../lambda/core/model';

const config = parseConfig({ models: { primary: 'model-a', fallbacks: ['model-b'] }, chat: { ttftTimeoutMs: 200 } });
const request: ModelRequest = { messages: [{ role: 'user', content: 'hello' }], maxTokens: 50 };
const caller = { userId: 'u1', plan: 'free' };

type Script = (signal: AbortSignal) => AsyncIterable<ModelStreamEvent>;

function named(name: string, message = name): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

async function* answer(
  words: string[],
  options: { failAfter?: number; error?: Error } = {},
): AsyncIterable<ModelStreamEvent> {
  for (let i = 0; i < words.length; i++) {
    if (options.failAfter === i) throw options.error ?? named('ModelStreamErrorException');
    yield { type: 'delta', text: words[i] };
  }
  yield { type: 'stop', stopReason: 'end_turn' };
  yield { type: 'usage', usage: { inputTokens: 7, outputTokens: words.length } };
}

function failing(error: Error): Script {
  return async function* () {
    throw error;
  };
}

function hanging(): Script {
  return async function* (signal: AbortSignal) {
    await new Promise((_, reject) => signal.addEventListener('abort', () => reject(named('AbortError'))));
    yield { type: 'stop', stopReason: 'end_turn' };
  };
}

class ScriptedModel implements ModelInvoker {
  readonly calls: string[] = [];
  constructor(private readonly scripts: Record<string, Script>) {}
  stream(modelId: string, _r: ModelRequest, signal: AbortSignal): AsyncIterable<ModelStreamEvent> {
    this.calls.push(modelId);
    return this.scripts[modelId](signal);
  }
  async complete(modelId: string, r: ModelRequest, signal: AbortSignal): Promise<ModelCompletion> {
    let text = '';
    let stopReason = '';
    let usage = { inputTokens: 0, outputTokens: 0 };
    const toolCalls: ToolCall[] = [];
    for await (const e of this.stream(modelId, r, signal)) {
      if (e.type === 'delta') text += e.text;
      else if (e.type === 'toolUseStart') toolCalls[e.index] = { toolUseId: e.toolUseId, name: e.name, input: '' };
      else if (e.type === 'toolUseDelta') (toolCalls[e.index] as ToolCall).input += e.input;
      else if (e.type === 'stop') stopReason = e.stopReason;
      else usage = e.usage;
    }
    return { text, toolCalls, stopReason, usage };
  }
}

class RecordingGuard implements ModelGuard {
  readonly outcomes: string[] = [];
  constructor(private readonly open: Record<string, number> = {}) {}
  async acquire(modelId: string): Promise<GuardDecision> {
    if (this.open[modelId] !== undefined) return { allowed: false, retryAfterSeconds: this.open[modelId] };
    const permit: ModelPermit = {
      success: async (o) => void this.outcomes.push(`${modelId}:success:${o.ttftMs === undefined ? '-' : 'ttft'}`),
      failure: async (err) => void this.outcomes.push(`${modelId}:failure:${(err as Error).name}`),
      release: async () => void this.outcomes.push(`${modelId}:release`),
    };
    return { allowed: true, permit };
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

const ctx = (overrides: Partial<{ deadlineAt: number; signal: AbortSignal }> = {}) => ({
  caller,
  requestId: 'req-1',
  deadlineAt: Date.now() + 10_000,
  ...overrides,
});

describe('ChatService', () => {
  it('streams the primary model and reports success with a TTFT to the breaker', async () => {
    const model = new ScriptedModel({ 'model-a': () => answer(['a ', 'b ', 'c']) });
    const guard = new RecordingGuard();
    const budget = new RecordingBudget();
    const service = new ChatService({ config, invoker: model, guard, budget });
    const deltas: string[] = [];

    const call = await service.begin(request, ctx());
    const result = await call.stream((t) => deltas.push(t));

    expect(call.model).toBe('model-a');
    expect(deltas).toEqual(['a ', 'b ', 'c']);
    expect(result).toMatchObject({
      model: 'model-a',
      text: 'a b c',
      stopReason: 'end_turn',
      usage: { inputTokens: 7, outputTokens: 3 },
    });
    expect(guard.outcomes).toEqual(['model-a:success:ttft']);
    expect(budget.log).toEqual([expect.stringMatching(/^reserve:\d+$/), 'settle:10']);
  });

  it('falls back to the next model when the primary fails before the first token', async () => {
    const model = new ScriptedModel({
      'model-a': failing(named('ThrottlingException')),
      'model-b': () => answer(['fallback']),
    });
    const guard = new RecordingGuard();
    const result = await (await new ChatService({ config, invoker: model, guard }).begin(request, ctx())).stream(
      () => undefined,
    );
    expect(result.model).toBe('model-b');
    expect(guard.outcomes).toEqual(['model-a:failure:ThrottlingException', 'model-b:success:ttft']);
  });

  it('skips a model whose breaker is open, without calling it', async () => {
    const model = new ScriptedModel({ 'model-a': () => answer(['never']), 'model-b': () => answer(['b']) });
    const call = await new ChatService({ config, invoker: model, guard: new RecordingGuard({ 'model-a': 12 }) }).begin(
      request,
      ctx(),
    );
    expect(call.model).toBe('model-b');
    await call.stream(() => undefined);
    expect(model.calls).toEqual(['model-b']);
  });

  it('fails fast with 503 and the shortest Retry-After when every breaker is open, releasing the budget', async () => {
    const budget = new RecordingBudget();
    const service = new ChatService({
      config,
      invoker: new ScriptedModel({}),
      guard: new RecordingGuard({ 'model-a': 30, 'model-b': 7 }),
      budget,
    });
    const err = await service.begin(request, ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect((err as ModelUnavailableError).retryAfterSeconds).toBe(7);
    expect(budget.log).toEqual([expect.stringMatching(/^reserve:/), 'release']);
  });

  it('answers a spent budget with its own error and gives back the breaker permit it took meanwhile', async () => {
    const guard = new RecordingGuard();
    const spent = new TokenBudgetExceededError('budget spent', { retryAfterSeconds: 60 });
    const budget: TokenBudgetGuard<number> = {
      reserve: async () => Promise.reject(spent),
      settle: async () => undefined,
      release: async () => undefined,
    };
    const model = new ScriptedModel({ 'model-a': () => answer(['never']) });
    const err = await new ChatService({ config, invoker: model, guard, budget })
      .begin(request, ctx())
      .catch((e: unknown) => e);
    expect(err).toBe(spent);
    expect(guard.outcomes).toEqual(['model-a:release']);
    expect(model.calls).toEqual([]);
  });

  it('serves the configured degraded answer when no model is available', async () => {
    const degradedConfig = parseConfig({ ...config, models: { ...config.models, degradedAnswer: 'Busy; try later.' } });
    const service = new ChatService({
      config: degradedConfig,
      invoker: new ScriptedModel({}),
      guard: new RecordingGuard({ 'model-a': 1, 'model-b': 1 }),
    });
    const deltas: string[] = [];
    const result = await (await service.begin(request, ctx())).stream((t) => deltas.push(t));
    expect(result).toMatchObject({ model: 'degraded', text: 'Busy; try later.', stopReason: 'degraded' });
    expect(deltas).toEqual(['Busy; try later.']);
  });

  it('turns a failure after content into a ModelStreamError without trying another model', async () => {
    const model = new ScriptedModel({
      'model-a': () => answer(['one ', 'two '], { failAfter: 1 }),
      'model-b': () => answer(['unused']),
    });
    const guard = new RecordingGuard();
    const budget = new RecordingBudget();
    const call = await new ChatService({ config, invoker: model, guard, budget }).begin(request, ctx());
    await expect(call.stream(() => undefined)).rejects.toBeInstanceOf(ModelStreamError);
    expect(model.calls).toEqual(['model-a']);
    expect(guard.outcomes).toEqual(['model-a:failure:ModelStreamErrorException']);
    expect(budget.log[1]).toMatch(/^settle:\d+$/);
  });

  it('keeps upstream exception names out of client messages, and keeps them as the cause', async () => {
    const upstream = named('ModelStreamErrorException', 'internal detail of the model host');
    const afterContent = await new ChatService({
      config,
      invoker: new ScriptedModel({ 'model-a': () => answer(['a', 'b', 'c', 'd'], { failAfter: 2, error: upstream }) }),
    }).begin(request, ctx());
    const midStream = await afterContent.stream(() => undefined).catch((e: Error) => e);
    expect(midStream).toBeInstanceOf(ModelStreamError);
    expect((midStream as Error).message).toBe('The model failed while answering: the model stopped while generating');
    expect((midStream as Error).cause).toBe(upstream);

    const throttled = named('ThrottlingException', 'Too many tokens, please wait before trying again.');
    const before = await new ChatService({
      config,
      invoker: new ScriptedModel({ 'model-a': failing(throttled), 'model-b': failing(throttled) }),
    }).begin(request, ctx());
    const none = await before.stream(() => undefined).catch((e: Error) => e);
    expect(none).toBeInstanceOf(ModelUnavailableError);
    expect((none as Error).message).toBe('No model could answer: the model is receiving too many requests');
    expect((none as Error).message).not.toMatch(/Exception/);
  });

  it('treats a stream that ends without messageStop as a failure', async () => {
    async function* truncated(): AsyncIterable<ModelStreamEvent> {
      yield { type: 'delta', text: 'half an ans' };
    }
    const guard = new RecordingGuard();
    const call = await new ChatService({ config, invoker: new ScriptedModel({ 'model-a': truncated }), guard }).begin(
      request,
      ctx(),
    );
    await expect(call.stream(() => undefined)).rejects.toBeInstanceOf(ModelStreamError);
    expect(guard.outcomes).toEqual(['model-a:failure:StreamTruncatedError']);
  });

  it('gives up on a model with no first token within the TTFT timeout and counts it as a timeout', async () => {
    const model = new ScriptedModel({ 'model-a': hanging(), 'model-b': () => answer(['quick']) });
    const guard = new RecordingGuard();
    const result = await (await new ChatService({ config, invoker: model, guard }).begin(request, ctx())).stream(
      () => undefined,
    );
    expect(result.model).toBe('model-b');
    expect(guard.outcomes[0]).toBe('model-a:failure:TtftTimeoutError');
  });

  it('stops at the deadline with DeadlineExceededError, without blaming the model', async () => {
    const slowConfig = parseConfig({ ...config, chat: { ttftTimeoutMs: 60_000 } });
    const model = new ScriptedModel({ 'model-a': hanging(), 'model-b': hanging() });
    const guard = new RecordingGuard();
    const budget = new RecordingBudget();
    const service = new ChatService({ config: slowConfig, invoker: model, guard, budget });
    const call = await service.begin(request, ctx({ deadlineAt: Date.now() + 100 }));
    await expect(call.stream(() => undefined)).rejects.toBeInstanceOf(DeadlineExceededError);
    await call.flush();
    expect(model.calls).toEqual(['model-a']);
    // Our own time limit: the breaker is not told of a failure, and nothing was generated, so nothing is charged.
    expect(guard.outcomes).toEqual(['model-a:release']);
    expect(budget.log).toEqual([expect.stringMatching(/^reserve:/), 'release']);
  });

  it('lets a non-streaming call run past the first-token timeout, bounded only by the deadline', async () => {
    // 200 ms TTFT timeout (config); the whole answer takes 400 ms.
    const slowAnswer: Script = async function* () {
      await new Promise((r) => setTimeout(r, 400));
      yield* answer(['all', ' at', ' once']);
    };
    const guard = new RecordingGuard();
    const call = await new ChatService({ config, invoker: new ScriptedModel({ 'model-a': slowAnswer }), guard }).begin(
      request,
      ctx(),
    );
    const result = await call.complete();
    expect(result).toMatchObject({ model: 'model-a', text: 'all at once' });
    expect(guard.outcomes).toEqual(['model-a:success:-']);
  });

  it('does not blame the model when the client goes away', async () => {
    const model = new ScriptedModel({ 'model-a': hanging(), 'model-b': hanging() });
    const guard = new RecordingGuard();
    const client = new AbortController();
    const call = await new ChatService({ config, invoker: model, guard }).begin(
      request,
      ctx({ signal: client.signal }),
    );
    const running = call.stream(() => undefined);
    setTimeout(() => client.abort(), 20);
    await expect(running).rejects.toBeInstanceOf(ClientGoneError);
    expect(guard.outcomes).toEqual(['model-a:release']);
    expect(model.calls).toEqual(['model-a']);
  });

  it('answers 400 when every model rejects the request itself', async () => {
    const invalid = named('ValidationException', 'Input is too long for requested model');
    const model = new ScriptedModel({ 'model-a': failing(invalid), 'model-b': failing(invalid) });
    const call = await new ChatService({ config, invoker: model }).begin(request, ctx());
    await expect(call.complete()).rejects.toBeInstanceOf(ValidationError);
  });

  describe('retries before content', () => {
    const flaky = (failures: number, error: Error): Script => {
      let left = failures;
      return (signal) => (left-- > 0 ? failing(error)(signal) : answer(['second ', 'time']));
    };

    it('makes another pass over the chain after a jittered backoff when every model failed with a retryable error', async () => {
      const model = new ScriptedModel({
        'model-a': flaky(1, named('ThrottlingException')),
        'model-b': flaky(1, named('ServiceUnavailableException')),
      });
      const random = jest.fn(() => 0.5);
      const call = await new ChatService({ config, invoker: model, random }).begin(request, ctx());
      const result = await call.stream(() => undefined);
      expect(result.model).toBe('model-a');
      expect(model.calls).toEqual(['model-a', 'model-b', 'model-a']);
      expect(random).toHaveBeenCalledTimes(1);
    });

    it('gives up after the configured rounds', async () => {
      const model = new ScriptedModel({
        'model-a': flaky(5, named('ThrottlingException')),
        'model-b': flaky(5, named('ThrottlingException')),
      });
      const noRetry = parseConfig({ ...config, chat: { ...config.chat, retryRounds: 0 } });
      const call = await new ChatService({ config: noRetry, invoker: model }).begin(request, ctx());
      await expect(call.stream(() => undefined)).rejects.toBeInstanceOf(ModelUnavailableError);
      expect(model.calls).toEqual(['model-a', 'model-b']);
    });

    it('does not retry errors a retry cannot fix', async () => {
      const invalid = named('ValidationException');
      const model = new ScriptedModel({ 'model-a': flaky(1, invalid), 'model-b': flaky(1, invalid) });
      const call = await new ChatService({ config, invoker: model }).begin(request, ctx());
      await expect(call.stream(() => undefined)).rejects.toBeInstanceOf(ValidationError);
      expect(model.calls).toEqual(['model-a', 'model-b']);
    });

    it('does not start a pass that the deadline leaves no room for', async () => {
      const model = new ScriptedModel({
        'model-a': flaky(1, named('ThrottlingException')),
        'model-b': flaky(1, named('ThrottlingException')),
      });
      // ttftTimeoutMs is 200: a deadline 100 ms away cannot fit another first token.
      const call = await new ChatService({ config, invoker: model }).begin(
        request,
        ctx({ deadlineAt: Date.now() + 100 }),
      );
      await expect(call.stream(() => undefined)).rejects.toBeInstanceOf(ModelUnavailableError);
      expect(model.calls).toEqual(['model-a', 'model-b']);
    });
  });

  describe('stale keep-alive connections', () => {
    const reset = () => Object.assign(named('TimeoutError', 'socket hang up'), { code: 'ECONNRESET' });
    const resetting = (times: number, words: string[]): Script => {
      let left = times;
      return (signal) => (left-- > 0 ? failing(reset())(signal) : answer(words));
    };

    it('retries the same model once on a reset connection without telling the breaker', async () => {
      const model = new ScriptedModel({ 'model-a': resetting(1, ['fresh']), 'model-b': () => answer(['unused']) });
      const guard = new RecordingGuard();
      const result = await (await new ChatService({ config, invoker: model, guard }).begin(request, ctx())).stream(
        () => undefined,
      );
      expect(result.model).toBe('model-a');
      expect(model.calls).toEqual(['model-a', 'model-a']);
      expect(guard.outcomes).toEqual(['model-a:success:ttft']);
    });

    it('counts a second reset as the model’s failure and falls back', async () => {
      const model = new ScriptedModel({ 'model-a': resetting(2, ['late']), 'model-b': () => answer(['b']) });
      const guard = new RecordingGuard();
      const result = await (await new ChatService({ config, invoker: model, guard }).begin(request, ctx())).stream(
        () => undefined,
      );
      expect(result.model).toBe('model-b');
      expect(guard.outcomes).toEqual(['model-a:failure:TimeoutError', 'model-b:success:ttft']);
    });
  });

  it('survives a guard that cannot reach its table (fails open) and says so', async () => {
    const seen: string[] = [];
    const guard: ModelGuard = { acquire: async () => Promise.reject(new Error('table unreachable')) };
    const service = new ChatService({
      config,
      invoker: new ScriptedModel({ 'model-a': () => answer(['ok']) }),
      guard,
      onGuardError: (_e, modelId) => seen.push(modelId),
    });
    const result = await (await service.begin(request, ctx())).complete();
    expect(result.text).toBe('ok');
    expect(seen).toEqual(['model-a']);
  });

  describe('tool calls', () => {
    /** A model that calls `lookup` with `{"q":"x"}`, its input in two fragments, optionally failing after the first. */
    function toolAnswer(options: { failAfterFirstFragment?: boolean } = {}): Script {
      return async function* () {
        yield { type: 'delta', text: 'Let me look.' };
        yield { type: 'toolUseStart', index: 0, toolUseId: 'tooluse_1', name: 'lookup' };
        yield { type: 'toolUseDelta', index: 0, input: '{"q":' };
        if (options.failAfterFirstFragment) throw named('ModelStreamErrorException');
        yield { type: 'toolUseDelta', index: 0, input: '"x"}' };
        yield { type: 'stop', stopReason: 'tool_use' };
        yield { type: 'usage', usage: { inputTokens: 9, outputTokens: 6 } };
      };
    }

    it('passes tool call events through as they arrive and returns the assembled calls, streaming or not', async () => {
      const service = new ChatService({ config, invoker: new ScriptedModel({ 'model-a': toolAnswer() }) });
      const events: string[] = [];
      const streamed = await (await service.begin(request, ctx())).stream(
        (text) => events.push(`text:${text}`),
        (event) => events.push(event.type === 'toolUseStart' ? `start:${event.name}` : `input:${event.input}`),
      );
      expect(events).toEqual(['text:Let me look.', 'start:lookup', 'input:{"q":', 'input:"x"}']);
      const expected = {
        text: 'Let me look.',
        toolCalls: [{ toolUseId: 'tooluse_1', name: 'lookup', input: '{"q":"x"}' }],
        stopReason: 'tool_use',
      };
      expect(streamed).toMatchObject(expected);
      expect(JSON.parse(streamed.toolCalls?.[0]?.input ?? '')).toEqual({ q: 'x' });
      expect(await (await service.begin(request, ctx())).complete()).toMatchObject(expected);
    });

    it('counts a started tool call as content: a later failure is a ModelStreamError, no fallback', async () => {
      async function* onlyTool(): AsyncIterable<ModelStreamEvent> {
        yield { type: 'toolUseStart', index: 0, toolUseId: 'tooluse_1', name: 'lookup' };
        throw named('ModelStreamErrorException');
      }
      const model = new ScriptedModel({ 'model-a': onlyTool, 'model-b': () => answer(['fallback']) });
      const guard = new RecordingGuard();
      const budget = new RecordingBudget();
      const call = await new ChatService({ config, invoker: model, guard, budget }).begin(request, ctx());
      await expect(call.stream(() => undefined)).rejects.toBeInstanceOf(ModelStreamError);
      await call.flush();
      expect(model.calls).toEqual(['model-a']);
      expect(guard.outcomes).toEqual(['model-a:failure:ModelStreamErrorException']);
      // The tokens spent on the partial call are charged, not given back.
      expect(budget.log[1]).toMatch(/^settle:\d+$/);

      const partial = new ScriptedModel({ 'model-a': toolAnswer({ failAfterFirstFragment: true }) });
      const again = await new ChatService({ config, invoker: partial }).begin(request, ctx());
      await expect(again.stream(() => undefined)).rejects.toBeInstanceOf(ModelStreamError);
      expect(partial.calls).toEqual(['model-a']);
    });

    it('reserves budget for images, tool definitions and tool traffic, not only for text', () => {
      const text = estimateInputTokens(request);
      const withImage = estimateInputTokens({
        ...request,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'hello' },
              { type: 'image', format: 'png', bytes: new Uint8Array(10) },
            ],
          },
        ],
      });
      expect(withImage - text).toBeGreaterThanOrEqual(1000);
      const schema = { type: 'object', properties: { q: { type: 'string', description: 'x'.repeat(400) } } };
      const withTools = estimateInputTokens({ ...request, tools: [{ name: 'lookup', inputSchema: schema }] });
      expect(withTools - text).toBeGreaterThanOrEqual(100);
      const roundTrip = estimateInputTokens({
        ...request,
        messages: [
          { role: 'user', content: 'hello' },
          {
            role: 'assistant',
            content: [{ type: 'toolUse', toolUseId: 't', name: 'lookup', input: { q: 'y'.repeat(400) } }],
          },
          { role: 'user', content: [{ type: 'toolResult', toolUseId: 't', text: 'z'.repeat(400) }] },
        ],
      });
      expect(roundTrip - text).toBeGreaterThanOrEqual(200);
    });
  });
});
