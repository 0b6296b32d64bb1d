/**
 * Tool calls and images on POST /v1/chat/completions, through the unchanged `openai` SDK against the local cloud: a
 * forced tool call (streamed and not), a tool round trip (the model asks, the client answers, the model finishes), and
 * an image part. The Bedrock simulator calls the tool `tool_choice` names, or one the user's text names, with the
 * user's text as its string arguments, and answers a tool result with `The <tool> tool returned: <content>`.
 */
import OpenAI from 'openai';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';

const KEY = 'olga-pro-key-00000000000000000';
/** A 1x1 PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

let cloud: LocalCloud;
let model: string;

beforeAll(async () => {
  cloud = await startLocalCloud({ quiet: true, apiKeys: `olga:pro:${KEY}` });
  model = cloud.config.models.primary;
});

afterAll(async () => {
  await cloud?.stop();
});

/** As an OpenAI user writes one; the key goes in x-api-key too, which every version of the gateway accepts. */
const client = () => new OpenAI({ apiKey: KEY, baseURL: `${cloud.url}/v1`, maxRetries: 0 });

const weather: OpenAI.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const clock: OpenAI.ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_time', description: 'The time in a city', parameters: { type: 'object', properties: {} } },
};
const forced: OpenAI.ChatCompletionToolChoiceOption = { type: 'function', function: { name: 'get_weather' } };

describe('tool calls', () => {
  it('returns a forced tool call with an id, the function name and arguments that parse, finish_reason tool_calls', async () => {
    const completion = await client().chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Paris' }],
      tools: [clock, weather],
      tool_choice: forced,
    });
    const [choice] = completion.choices;
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    const calls = choice?.message.tool_calls ?? [];
    expect(calls).toHaveLength(1);
    const call = calls[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call).toMatchObject({ id: expect.stringMatching(/^tooluse_/), type: 'function' });
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' });
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('streams the same tool call as deltas: id, type and name first, then argument fragments, all on one index', async () => {
    const request = {
      model,
      messages: [{ role: 'user' as const, content: 'the weather in Paris, France, this afternoon' }],
      tools: [weather],
      tool_choice: forced,
    };
    const whole = await client().chat.completions.create(request);
    const stream = await client().chat.completions.create({ ...request, stream: true });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    const [first, ...rest] = deltas;
    const wholeCall = whole.choices[0]?.message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(first).toEqual({
      index: 0,
      id: wholeCall.id,
      type: 'function',
      function: { name: 'get_weather', arguments: '' },
    });
    expect(rest.length).toBeGreaterThan(1);
    expect(rest.every((d) => d.index === 0 && d.id === undefined && d.function?.name === undefined)).toBe(true);
    const args = rest.map((d) => d.function?.arguments ?? '').join('');
    expect(JSON.parse(args)).toEqual(JSON.parse(wholeCall.function.arguments));
    expect(finish).toBe('tool_calls');
  });

  it('assembles with the SDK stream helper into a final message with the tool call', async () => {
    const runner = client().chat.completions.stream({
      model,
      messages: [{ role: 'user', content: 'What is the time in Lisbon? Use get_time.' }],
      tools: [weather, clock],
      tool_choice: 'required',
    });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call.function.name).toBe('get_time');
    expect(JSON.parse(call.function.arguments)).toEqual({});
  });

  it('makes a round trip: the model asks, the client answers with a tool message, the model answers from it', async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'Use the tools.' },
      { role: 'user', content: 'Please call get_weather for Paris' },
    ];
    const asked = await client().chat.completions.create({ model, messages, tools: [weather, clock] });
    const message = asked.choices[0]?.message as OpenAI.ChatCompletionMessage;
    expect(asked.choices[0]?.finish_reason).toBe('tool_calls');
    const call = message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function.name).toBe('get_weather');

    messages.push(message, { role: 'tool', tool_call_id: call.id, content: '{"sky":"sunny","celsius":21}' });
    const answered = await client().chat.completions.create({ model, messages, tools: [weather, clock] });
    expect(answered.choices[0]?.finish_reason).toBe('stop');
    expect(answered.choices[0]?.message.tool_calls).toBeUndefined();
    expect(answered.choices[0]?.message.content).toMatch(
      /^The get_weather tool returned: \{"sky":"sunny","celsius":21\}/,
    );

    // The same second turn, streamed.
    const stream = await client().chat.completions.create({ model, messages, tools: [weather, clock], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(answered.choices[0]?.message.content);
  });

  it('refuses a tool message that answers no call of the assistant message before it, without calling the model', async () => {
    const calls = cloud.simulator.stats.calls;
    const err = await client()
      .chat.completions.create({
        model,
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'tool', tool_call_id: 'call_unknown', content: 'x' },
        ],
        tools: [weather],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ status: 400, param: 'messages[1].tool_call_id', type: 'invalid_request_error' });
    expect(cloud.simulator.stats.calls).toBe(calls);
  });
});

describe('image parts', () => {
  const withImage = (url: string): OpenAI.ChatCompletionMessageParam[] => [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is in this picture?' },
        { type: 'image_url', image_url: { url } },
      ],
    },
  ];

  it('shows a data: URL image to the model, streamed and not', async () => {
    const bytes = Buffer.from(PNG, 'base64').length;
    const messages = withImage(`data:image/png;base64,${PNG}`);
    const completion = await client().chat.completions.create({ model, messages });
    expect(completion.choices[0]?.message.content).toMatch(new RegExp(`^I see an image: image/png ${bytes} bytes\\.`));
    const textOnly = await client().chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'What is in this picture?' }],
    });
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(textOnly.usage?.prompt_tokens ?? Infinity);

    const stream = await client().chat.completions.create({ model, messages, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(completion.choices[0]?.message.content);
  });

  it('refuses a remote image URL with 400 naming the part, without calling the model', async () => {
    const calls = cloud.simulator.stats.calls;
    const err = await client()
      .chat.completions.create({ model, messages: withImage('https://example.com/cat.png') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({
      status: 400,
      param: 'messages[0].content[1].image_url',
      code: 'unsupported_parameter',
      type: 'invalid_request_error',
    });
    expect((err as Error).message).toMatch(/data: URL/);
    expect(cloud.simulator.stats.calls).toBe(calls);
  });
});
