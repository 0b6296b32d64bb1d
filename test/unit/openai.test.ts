/** The OpenAI translation, pure: request bodies to model requests, results to OpenAI objects, errors to OpenAI's shape. */
import { parseConfig } from '../../config/schema';
import { configuredModels, modelChainFor } from '../../config/schema';
import {
  DeadlineExceededError,
  ForbiddenError,
  ModelUnavailableError,
  TokenBudgetExceededError,
  ValidationError,
} from '../../lambda/core/errors';
import { ModelNotFoundError, OpenAIParamError, toOpenAIError } from '../../lambda/core/openai/errors';
import { parseOpenAIChatRequest } from '../../lambda/core/openai/request';
import {
  chatCompletion,
  chatCompletionChunk,
  completionIdentity,
  finishReasonOf,
  modelList,
  ownerOf,
} from '../../lambda/core/openai/response';

const PRIMARY = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const FALLBACK = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';
const NOVA = 'amazon.nova-lite-v1:0';
const config = parseConfig({ models: { aliases: { fast: { model: NOVA, fallbacks: [FALLBACK] } } } });

const parse = (body: Record<string, unknown>) => parseOpenAIChatRequest(JSON.stringify(body), config);
const refusal = (body: Record<string, unknown>) => {
  try {
    parse(body);
  } catch (err) {
    return err;
  }
  throw new Error('accepted');
};

describe('parseOpenAIChatRequest', () => {
  it('puts system and developer messages in the system prompt and merges consecutive turns of one role', () => {
    const parsed = parse({
      model: PRIMARY,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'one' },
        { role: 'developer', content: [{ type: 'text', text: 'No lists.' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'two' },
            { type: 'text', text: '!' },
          ],
        },
        { role: 'assistant', content: 'ok' },
        { role: 'user', content: 'three' },
      ],
    });
    expect(parsed.request.system).toBe('Be brief.\n\nNo lists.');
    expect(parsed.request.messages).toEqual([
      { role: 'user', content: 'one\n\ntwo!' },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: 'three' },
    ]);
  });

  it('carries the sampling settings, prefers max_completion_tokens, and defaults the rest', () => {
    const parsed = parse({
      model: PRIMARY,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 50,
      max_completion_tokens: 70,
      temperature: 0.3,
      top_p: 0.9,
      stop: 'END',
      stream: true,
      stream_options: { include_usage: true },
      user: 'end-user-1',
    });
    expect(parsed.request).toMatchObject({ maxTokens: 70, temperature: 0.3, topP: 0.9, stopSequences: ['END'] });
    expect(parsed).toMatchObject({ stream: true, includeUsage: true, user: 'end-user-1' });
    const plain = parse({ model: PRIMARY, messages: [{ role: 'user', content: 'hi' }], temperature: null });
    expect(plain.request.maxTokens).toBe(config.chat.defaultMaxTokens);
    expect(plain.request.temperature).toBeUndefined();
    expect(plain).toMatchObject({ stream: false, includeUsage: false });
  });

  it('selects the model chain: the primary with its fallbacks, a fallback alone, an alias with its own', () => {
    const messages = [{ role: 'user', content: 'hi' }];
    expect(parse({ model: PRIMARY, messages }).models).toEqual([PRIMARY, FALLBACK]);
    expect(parse({ model: FALLBACK, messages }).models).toEqual([FALLBACK]);
    expect(parse({ model: 'fast', messages }).models).toEqual([NOVA, FALLBACK]);
    expect(parse({ model: NOVA, messages }).models).toEqual([NOVA]);
    expect(refusal({ model: 'gpt-4o', messages })).toBeInstanceOf(ModelNotFoundError);
  });

  it.each([
    [{ messages: [{ role: 'user', content: 'hi' }] }, 'model', 'missing_required_parameter'],
    [{ model: PRIMARY }, 'messages', 'missing_required_parameter'],
    [
      { model: PRIMARY, messages: [{ role: 'tool', content: 'x', tool_call_id: 'a' }] },
      'messages[0].role',
      'unsupported_parameter',
    ],
    [{ model: PRIMARY, messages: [{ role: 'assistant', content: 'x' }] }, 'messages', 'invalid_value'],
    [{ model: PRIMARY, messages: [{ role: 'user', content: 7 }] }, 'messages[0].content', 'invalid_type'],
    [{ model: PRIMARY, messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }, 'max_tokens', 'invalid_value'],
    [{ model: PRIMARY, messages: [{ role: 'user', content: 'x' }], top_p: 2 }, 'top_p', 'invalid_value'],
    [
      { model: PRIMARY, messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] },
      'stop',
      'invalid_value',
    ],
    [
      { model: PRIMARY, messages: [{ role: 'user', content: 'x' }], tool_choice: 'auto' },
      'tool_choice',
      'unsupported_parameter',
    ],
    [
      { model: PRIMARY, messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' } },
      'response_format',
      'unsupported_parameter',
    ],
  ])('refuses %j naming %s', (body, param, code) => {
    const err = refusal(body);
    expect(err).toBeInstanceOf(OpenAIParamError);
    expect(err).toMatchObject({ param, openaiCode: code });
  });

  it('refuses a model that is not configured only after the body is valid', () => {
    expect(refusal({ model: 'nope', messages: [] })).toBeInstanceOf(OpenAIParamError);
  });

  it('accepts what OpenAI accepts: unknown fields, n = 1, tool_choice none, text response format, null assistant content', () => {
    const parsed = parse({
      model: PRIMARY,
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: null },
        { role: 'user', content: 'b' },
      ],
      n: 1,
      tool_choice: 'none',
      response_format: { type: 'text' },
      seed: 1,
      whatever: { nested: true },
    });
    expect(parsed.request.messages).toHaveLength(3);
  });
});

describe('OpenAI objects', () => {
  const identity = completionIdentity('req-1', 1_700_000_000_500);
  const result = {
    requestId: 'req-1',
    model: FALLBACK,
    text: 'Hello.',
    stopReason: 'max_tokens',
    usage: { inputTokens: 12, outputTokens: 3 },
    metrics: { ttftMs: 5, latencyMs: 9 },
  };

  it('builds chat.completion with usage and the mapped finish_reason', () => {
    expect(chatCompletion(identity, result)).toEqual({
      id: 'chatcmpl-req-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: FALLBACK,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello.', refusal: null },
          logprobs: null,
          finish_reason: 'length',
        },
      ],
      usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
    });
  });

  it('builds chunks: usage null while include_usage is on, absent when off, and a usage chunk with no choices', () => {
    const delta = { delta: { content: 'Hi' }, finishReason: null };
    expect(chatCompletionChunk(identity, PRIMARY, delta)).not.toHaveProperty('usage');
    expect(chatCompletionChunk(identity, PRIMARY, delta, { includeUsage: true }).usage).toBeNull();
    const last = chatCompletionChunk(identity, PRIMARY, undefined, {
      includeUsage: true,
      value: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    });
    expect(last).toMatchObject({ object: 'chat.completion.chunk', choices: [], usage: { total_tokens: 3 } });
  });

  it('maps Converse stop reasons to finish reasons', () => {
    expect(
      [
        'end_turn',
        'stop_sequence',
        'max_tokens',
        'tool_use',
        'guardrail_intervened',
        'content_filtered',
        'degraded',
      ].map(finishReasonOf),
    ).toEqual(['stop', 'stop', 'length', 'tool_calls', 'content_filter', 'content_filter', 'stop']);
  });

  it('lists configured ids and aliases with their providers', () => {
    expect(modelList(configuredModels(config), config.models.aliases).data).toEqual([
      { id: PRIMARY, object: 'model', created: 0, owned_by: 'anthropic' },
      { id: FALLBACK, object: 'model', created: 0, owned_by: 'anthropic' },
      { id: NOVA, object: 'model', created: 0, owned_by: 'amazon' },
      { id: 'fast', object: 'model', created: 0, owned_by: 'amazon' },
    ]);
    expect(ownerOf('arn:aws:bedrock:us-east-1:123:inference-profile/eu.meta.llama3-2-1b-instruct-v1:0')).toBe('meta');
  });
});

describe('toOpenAIError', () => {
  it.each([
    [new OpenAIParamError('bad', 'stop', 'invalid_value'), 400, 'invalid_request_error', 'stop', 'invalid_value'],
    [new ValidationError('body: the model rejected the request'), 400, 'invalid_request_error', null, null],
    [new ForbiddenError('no key'), 401, 'invalid_request_error', null, 'invalid_api_key'],
    [new ModelNotFoundError('gpt-4o'), 404, 'invalid_request_error', 'model', 'model_not_found'],
    [new TokenBudgetExceededError('spent', { retryAfterSeconds: 30 }), 429, 'tokens', null, 'rate_limit_exceeded'],
    [new ModelUnavailableError('none', { retryAfterSeconds: 5 }), 503, 'server_error', null, 'model_unavailable'],
    [new DeadlineExceededError('late'), 504, 'server_error', null, 'timeout'],
    [new Error('bug'), 500, 'server_error', null, null],
  ])('%s → %i', (err, status, type, param, code) => {
    const mapped = toOpenAIError(err);
    expect(mapped.status).toBe(status);
    expect(mapped.body).toEqual({ error: { message: expect.any(String), type, param, code } });
  });

  it('keeps Retry-After and tells the SDKs not to retry a spent budget', () => {
    expect(toOpenAIError(new TokenBudgetExceededError('spent', { retryAfterSeconds: 30 })).headers).toEqual({
      'retry-after': '30',
      'x-should-retry': 'false',
    });
    expect(toOpenAIError(new ModelUnavailableError('none', { retryAfterSeconds: 5 })).headers).toEqual({
      'retry-after': '5',
    });
  });
});

describe('models.aliases configuration', () => {
  it('refuses an alias that shadows a model id or repeats its own model', () => {
    expect(() => parseConfig({ models: { aliases: { [FALLBACK]: { model: NOVA } } } })).toThrow(/models\.aliases/);
    expect(() => parseConfig({ models: { aliases: { fast: { model: NOVA, fallbacks: [NOVA] } } } })).toThrow(
      /models\.aliases\.fast\.fallbacks/,
    );
  });

  it('adds alias models to the configured set once, and resolves names to chains', () => {
    expect(configuredModels(config)).toEqual([PRIMARY, FALLBACK, NOVA]);
    expect(modelChainFor(config, 'unknown')).toBeUndefined();
  });
});
