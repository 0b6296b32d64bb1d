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
  toolCallDelta,
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
      'messages[0].tool_call_id',
      'invalid_value',
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
      'invalid_value',
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

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const CLOCK = { type: 'function', function: { name: 'get_time' } };
/** A 1x1 PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

/** A conversation where the model called get_weather and get_time, and the client answered both. */
const roundTrip = (extra: Record<string, unknown>[] = []) => [
  { role: 'user', content: 'Weather and time in Paris?' },
  {
    role: 'assistant',
    content: null,
    tool_calls: [
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } },
    ],
  },
  { role: 'tool', tool_call_id: 'call_1', content: 'sunny, 21 C' },
  { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '14:00' }] },
  ...extra,
];

describe('parseOpenAIChatRequest: tools', () => {
  it('offers function tools to the model, mapping tool_choice to Converse (auto, required → any, a function → tool)', () => {
    const messages = [{ role: 'user', content: 'hi' }];
    const auto = parse({ model: PRIMARY, messages, tools: [WEATHER, CLOCK] }).request;
    expect(auto.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Weather in a city',
        inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
      // No parameters: a function without arguments.
      { name: 'get_time', description: undefined, inputSchema: { type: 'object', properties: {} } },
    ]);
    expect(auto.toolChoice).toEqual({ type: 'auto' });
    const choice = (tool_choice: unknown) =>
      parse({ model: PRIMARY, messages, tools: [WEATHER, CLOCK], tool_choice }).request.toolChoice;
    expect(choice('auto')).toEqual({ type: 'auto' });
    expect(choice('required')).toEqual({ type: 'any' });
    expect(choice({ type: 'function', function: { name: 'get_time' } })).toEqual({ type: 'tool', name: 'get_time' });
    // Converse has no "none": the model is offered no tools at all.
    const none = parse({ model: PRIMARY, messages, tools: [WEATHER], tool_choice: 'none' }).request;
    expect(none.tools).toBeUndefined();
    expect(none.toolChoice).toBeUndefined();
  });

  it('turns assistant tool_calls into toolUse blocks and consecutive tool messages into one user turn of toolResults', () => {
    const parsed = parse({
      model: PRIMARY,
      tools: [WEATHER, CLOCK],
      messages: roundTrip([{ role: 'user', content: 'Thanks, and tomorrow?' }]),
    });
    expect(parsed.request.messages).toEqual([
      { role: 'user', content: 'Weather and time in Paris?' },
      {
        role: 'assistant',
        content: [
          { type: 'toolUse', toolUseId: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'toolUse', toolUseId: 'call_2', name: 'get_time', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'toolResult', toolUseId: 'call_1', text: 'sunny, 21 C' },
          { type: 'toolResult', toolUseId: 'call_2', text: '14:00' },
          { type: 'text', text: 'Thanks, and tomorrow?' },
        ],
      },
    ]);
  });

  it('turns a data: URL image part into an image block beside the text', () => {
    const parsed = parse({
      model: PRIMARY,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}`, detail: 'low' } },
          ],
        },
      ],
    });
    const [turn] = parsed.request.messages;
    expect(turn?.content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image', format: 'png', bytes: Buffer.from(PNG, 'base64') },
    ]);
  });

  const user = { role: 'user', content: 'x' };
  const image = (url: unknown) => ({
    model: PRIMARY,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'see' },
          { type: 'image_url', image_url: { url } },
        ],
      },
    ],
  });
  it.each([
    [image('https://example.com/cat.png'), 'messages[0].content[1].image_url', 'unsupported_parameter'],
    [image('data:image/bmp;base64,Qk0='), 'messages[0].content[1].image_url', 'invalid_value'],
    [image('data:image/png;base64,abc'), 'messages[0].content[1].image_url', 'invalid_value'],
    [image(7), 'messages[0].content[1].image_url.url', 'invalid_type'],
    [
      {
        model: PRIMARY,
        messages: [
          user,
          { role: 'assistant', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] },
        ],
      },
      'messages[1].content[0].type',
      'invalid_value',
    ],
    [{ model: PRIMARY, messages: [user], tools: [] }, 'tools', 'invalid_value'],
    [
      { model: PRIMARY, messages: [user], tools: [{ type: 'custom', custom: { name: 'x' } }] },
      'tools[0].type',
      'unsupported_parameter',
    ],
    [
      { model: PRIMARY, messages: [user], tools: [{ type: 'function', function: { name: 'bad name' } }] },
      'tools[0].function.name',
      'invalid_value',
    ],
    [{ model: PRIMARY, messages: [user], tools: [WEATHER, WEATHER] }, 'tools[1].function.name', 'invalid_value'],
    [
      {
        model: PRIMARY,
        messages: [user],
        tools: [WEATHER],
        tool_choice: { type: 'function', function: { name: 'nope' } },
      },
      'tool_choice.function.name',
      'invalid_value',
    ],
    [{ model: PRIMARY, messages: [user], tools: [WEATHER], tool_choice: 'sometimes' }, 'tool_choice', 'invalid_value'],
    [{ model: PRIMARY, messages: roundTrip() }, 'tools', 'invalid_value'],
    [{ model: PRIMARY, messages: roundTrip(), tools: [WEATHER, CLOCK], tool_choice: 'none' }, 'tools', 'invalid_value'],
    [{ model: PRIMARY, messages: roundTrip().slice(0, 3), tools: [WEATHER, CLOCK] }, 'messages', 'invalid_value'],
    [
      { model: PRIMARY, messages: [...roundTrip().slice(0, 3), user], tools: [WEATHER, CLOCK] },
      'messages[3]',
      'invalid_value',
    ],
    [
      {
        model: PRIMARY,
        messages: [...roundTrip(), { role: 'tool', tool_call_id: 'call_1', content: 'again' }],
        tools: [WEATHER, CLOCK],
      },
      'messages[4].tool_call_id',
      'invalid_value',
    ],
    [
      {
        model: PRIMARY,
        tools: [WEATHER],
        messages: [
          user,
          {
            role: 'assistant',
            tool_calls: [{ id: 'c', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } }],
          },
          { role: 'tool', tool_call_id: 'c', content: 'x' },
        ],
      },
      'messages[1].tool_calls[0].function.arguments',
      'invalid_value',
    ],
    [
      { model: PRIMARY, messages: [user, { role: 'tool', content: 'x' }] },
      'messages[1].tool_call_id',
      'missing_required_parameter',
    ],
    [{ model: PRIMARY, messages: [user], functions: [{ name: 'f' }] }, 'functions', 'unsupported_parameter'],
  ])('refuses %j naming %s', (body, param, code) => {
    const err = refusal(body);
    expect(err).toBeInstanceOf(OpenAIParamError);
    expect(err).toMatchObject({ param, openaiCode: code });
  });

  it('refuses a tool schema or tool call input nested deeper than serialising it again allows, as a 400', () => {
    // Too deep to stringify, so the bodies are written as text, as a client would send them.
    const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const refusalOf = (raw: string) => {
      try {
        parseOpenAIChatRequest(raw, config);
      } catch (err) {
        return err;
      }
      throw new Error('accepted');
    };
    const user = '{"role":"user","content":"x"}';
    const schema = refusalOf(
      `{"model":"${PRIMARY}","messages":[${user}],"tools":[{"type":"function","function":{"name":"deep","parameters":${deep}}}]}`,
    );
    expect(schema).toMatchObject({ param: 'tools[0].function.parameters', openaiCode: 'invalid_value' });
    const call = `{"id":"c","type":"function","function":{"name":"deep","arguments":${JSON.stringify(deep)}}}`;
    const args = refusalOf(
      `{"model":"${PRIMARY}","tools":[{"type":"function","function":{"name":"deep"}}],"messages":[${user},` +
        `{"role":"assistant","tool_calls":[${call}]},{"role":"tool","tool_call_id":"c","content":"x"}]}`,
    );
    expect(args).toMatchObject({ param: 'messages[1].tool_calls[0].function.arguments', openaiCode: 'invalid_value' });
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
      usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15, prompt_tokens_details: { cached_tokens: 0 } },
    });
  });

  it('builds tool calls: content null when the model only called tools, OpenAI ids, types and JSON arguments', () => {
    const toolCalls = [{ toolUseId: 'tooluse_abc', name: 'get_weather', input: '{"city":"Paris"}' }];
    const completion = chatCompletion(identity, { ...result, text: '', toolCalls, stopReason: 'tool_use' });
    expect(completion.choices[0]).toMatchObject({
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'tooluse_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        ],
      },
      finish_reason: 'tool_calls',
    });
    const withText = chatCompletion(identity, { ...result, text: 'Checking.', toolCalls, stopReason: 'tool_use' });
    expect(withText.choices[0]?.message.content).toBe('Checking.');
  });

  it('streams a tool call as deltas: id, type and name first, then argument fragments, all with its index', () => {
    expect(toolCallDelta({ type: 'toolUseStart', index: 1, toolUseId: 'tooluse_x', name: 'get_time' })).toEqual({
      tool_calls: [{ index: 1, id: 'tooluse_x', type: 'function', function: { name: 'get_time', arguments: '' } }],
    });
    expect(toolCallDelta({ type: 'toolUseDelta', index: 1, input: '{"tz":' })).toEqual({
      tool_calls: [{ index: 1, function: { arguments: '{"tz":' } }],
    });
  });

  it('builds chunks: usage null while include_usage is on, absent when off, and a usage chunk with no choices', () => {
    const delta = { delta: { content: 'Hi' }, finishReason: null };
    expect(chatCompletionChunk(identity, PRIMARY, delta)).not.toHaveProperty('usage');
    expect(chatCompletionChunk(identity, PRIMARY, delta, { includeUsage: true }).usage).toBeNull();
    const last = chatCompletionChunk(identity, PRIMARY, undefined, {
      includeUsage: true,
      value: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3, prompt_tokens_details: { cached_tokens: 0 } },
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
