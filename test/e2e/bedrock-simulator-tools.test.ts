/**
 * Tool use and image blocks in the Bedrock simulator, against the real `@aws-sdk/client-bedrock-runtime`: a client that
 * offers tools gets a `toolUse` answer it can run and answer with a `toolResult`, in both `Converse` (one JSON body)
 * and `ConverseStream` (event-stream frames), over HTTP/2 (the SDK default) and HTTP/1.1 (the functions' handler).
 */
import { request as http1Request } from 'node:http';
import {
  BedrockRuntimeClient,
  type ContentBlock,
  ConverseCommand,
  type ConverseCommandInput,
  type ConverseCommandOutput,
  ConverseStreamCommand,
  type ConverseStreamOutput,
  type Message,
  type Tool,
  type ToolConfiguration,
  type ToolResultContentBlock,
  type ToolUseBlock,
} from '@aws-sdk/client-bedrock-runtime';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { bedrockRequestHandler } from '../../lambda/aws/clients';
import { BedrockSimulator, type SimulatorProtocol } from '../../local/bedrock-simulator';

const MODEL = 'us.anthropic.claude-sonnet-4-20250514-v1:0';

interface Transport {
  protocol: SimulatorProtocol;
  handler: () => NodeHttpHandler | undefined;
}

const TRANSPORTS: [string, Transport][] = [
  ['HTTP/2 (the SDK default handler)', { protocol: 'h2', handler: () => undefined }],
  ["HTTP/1.1 keep-alive (the functions' handler)", { protocol: 'http/1.1', handler: bedrockRequestHandler }],
];

const WEATHER: Tool = {
  toolSpec: {
    name: 'get_weather',
    description: 'Current weather for a city.',
    inputSchema: {
      json: {
        type: 'object',
        properties: {
          city: { type: 'string' },
          unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
          days: { type: 'integer', minimum: 3 },
          detailed: { type: 'boolean' },
          where: { type: 'object', properties: { country: { type: 'string' } }, required: ['country'] },
          note: { type: 'string' },
        },
        required: ['city', 'unit', 'days', 'detailed', 'where'],
      },
    },
  },
};

const SEARCH: Tool = {
  toolSpec: {
    name: 'search_docs',
    description: 'Searches the documentation.',
    inputSchema: { json: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } },
  },
};

const TOOLS: ToolConfiguration = { tools: [SEARCH, WEATHER] };

/** What the simulator fills `get_weather`'s required properties with, for a prompt. */
function weatherInput(prompt: string) {
  return { city: prompt, unit: 'celsius', days: 3, detailed: true, where: { country: prompt } };
}

let sim: BedrockSimulator;

beforeAll(async () => {
  sim = await BedrockSimulator.start();
});

afterAll(async () => {
  await sim.close();
});

beforeEach(() => {
  sim.reset();
});

function newClient(transport: Transport): BedrockRuntimeClient {
  return new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: sim.url,
    maxAttempts: 1,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: transport.handler(),
  });
}

function input(content: string | ContentBlock[], extra: Partial<ConverseCommandInput> = {}): ConverseCommandInput {
  const blocks = typeof content === 'string' ? [{ text: content }] : content;
  return { modelId: MODEL, messages: [{ role: 'user', content: blocks }], ...extra };
}

interface Streamed {
  events: ConverseStreamOutput[];
  types: string[];
  text: string;
  toolInput: string;
  error?: Error;
}

async function stream(client: BedrockRuntimeClient, request: ConverseCommandInput): Promise<Streamed> {
  const response = await client.send(new ConverseStreamCommand(request));
  const result: Streamed = { events: [], types: [], text: '', toolInput: '' };
  try {
    for await (const event of response.stream ?? []) {
      result.events.push(event);
      result.types.push(
        Object.keys(event).find((key) => (event as unknown as Record<string, unknown>)[key] !== undefined) ?? '',
      );
      result.text += event.contentBlockDelta?.delta?.text ?? '';
      result.toolInput += event.contentBlockDelta?.delta?.toolUse?.input ?? '';
    }
  } catch (err) {
    result.error = err as Error;
  }
  return result;
}

async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

function textOf(response: ConverseCommandOutput): string {
  return (response.output?.message?.content ?? []).map((block) => block.text ?? '').join('');
}

/** A user turn, the assistant's tool call, and the user's result for it: the second request of a round trip. */
function withResult(prompt: string, toolUse: ToolUseBlock, result: ToolResultContentBlock[]) {
  const messages: Message[] = [
    { role: 'user', content: [{ text: prompt }] },
    { role: 'assistant', content: [{ toolUse }] },
    {
      role: 'user',
      content: [{ toolResult: { toolUseId: toolUse.toolUseId, content: result, status: 'success' } }],
    },
  ];
  return { modelId: MODEL, messages, toolConfig: TOOLS };
}

describe.each(TRANSPORTS)('over %s', (_name, transport) => {
  let client: BedrockRuntimeClient;

  beforeAll(() => {
    client = newClient(transport);
  });

  afterAll(() => {
    client.destroy();
  });

  describe('Converse', () => {
    it('answers a forced toolChoice with a toolUse block whose input follows the tool schema', async () => {
      const prompt = 'Is it raining in Lisbon?';

      const response = await client.send(
        new ConverseCommand(input(prompt, { toolConfig: { ...TOOLS, toolChoice: { tool: { name: 'get_weather' } } } })),
      );

      expect(response.stopReason).toBe('tool_use');
      expect(response.output?.message?.role).toBe('assistant');
      expect(response.output?.message?.content).toEqual([
        {
          toolUse: {
            toolUseId: expect.stringMatching(/^tooluse_[a-f0-9]{16}$/),
            name: 'get_weather',
            input: weatherInput(prompt),
          },
        },
      ]);
      expect(response.usage?.outputTokens).toBeGreaterThan(0);
      expect(response.usage?.totalTokens).toBe(
        (response.usage?.inputTokens ?? 0) + (response.usage?.outputTokens ?? 0),
      );
    });

    it('calls the tool the prompt names, and answers with text when it names none', async () => {
      const named = await client.send(
        new ConverseCommand(input('Please use search_docs to find retry limits', { toolConfig: TOOLS })),
      );
      const unnamed = await client.send(new ConverseCommand(input('What are retry limits?', { toolConfig: TOOLS })));

      expect(named.stopReason).toBe('tool_use');
      expect(named.output?.message?.content?.[0]?.toolUse).toMatchObject({
        name: 'search_docs',
        input: { query: 'Please use search_docs to find retry limits' },
      });
      expect(unnamed.stopReason).toBe('end_turn');
      expect(textOf(unnamed).length).toBeGreaterThan(0);
    });

    it('toolChoice any calls a tool even when the prompt names none: the first one', async () => {
      const response = await client.send(
        new ConverseCommand(input('Anything.', { toolConfig: { ...TOOLS, toolChoice: { any: {} } } })),
      );

      expect(response.stopReason).toBe('tool_use');
      expect(response.output?.message?.content?.[0]?.toolUse?.name).toBe('search_docs');
    });

    it('answers a toolResult with text that carries the result: a whole round trip', async () => {
      const prompt = 'What is the get_weather in Oslo?';
      const first = await client.send(new ConverseCommand(input(prompt, { toolConfig: TOOLS })));
      const toolUse = first.output?.message?.content?.[0]?.toolUse;
      if (!toolUse) throw new Error('expected a toolUse block');

      const second = await client.send(
        new ConverseCommand(withResult(prompt, toolUse, [{ json: { temperatureC: 18, sky: 'clear' } }])),
      );

      expect(second.stopReason).toBe('end_turn');
      expect(textOf(second)).toMatch(/^The get_weather tool returned: \{"temperatureC":18,"sky":"clear"\} \S/);
    });

    it('sees an image block: the answer names its format and size, and it costs input tokens', async () => {
      const image = new Uint8Array(1234).map((_, i) => i % 251);
      const prompt = 'What is in this picture?';

      const withImage = await client.send(
        new ConverseCommand(input([{ text: prompt }, { image: { format: 'png', source: { bytes: image } } }])),
      );
      const without = await client.send(new ConverseCommand(input(prompt)));

      expect(textOf(withImage)).toMatch(/^I see an image: image\/png 1234 bytes\. \S/);
      expect(withImage.usage?.inputTokens).toBeGreaterThan((without.usage?.inputTokens ?? 0) + 10);
    });
  });

  describe('ConverseStream', () => {
    it('streams a tool call: contentBlockStart with id and name, input JSON fragments, stopReason tool_use', async () => {
      const prompt = 'Is it raining in Lisbon?';
      const request = input(prompt, { toolConfig: { ...TOOLS, toolChoice: { tool: { name: 'get_weather' } } } });
      const whole = await client.send(new ConverseCommand(request));

      const { events, types, toolInput, text, error } = await stream(client, request);

      expect(error).toBeUndefined();
      const deltas = types.filter((t) => t === 'contentBlockDelta').length;
      expect(deltas).toBeGreaterThan(1);
      expect(types).toEqual([
        'messageStart',
        'contentBlockStart',
        ...Array(deltas).fill('contentBlockDelta'),
        'contentBlockStop',
        'messageStop',
        'metadata',
      ]);
      expect(events[1]?.contentBlockStart).toEqual({
        contentBlockIndex: 0,
        start: { toolUse: { toolUseId: whole.output?.message?.content?.[0]?.toolUse?.toolUseId, name: 'get_weather' } },
      });
      expect(text).toBe('');
      expect(JSON.parse(toolInput)).toEqual(weatherInput(prompt));
      expect(events.at(-3)?.contentBlockStop).toEqual({ contentBlockIndex: 0 });
      expect(events.at(-2)?.messageStop?.stopReason).toBe('tool_use');
      expect(events.at(-1)?.metadata?.usage?.outputTokens).toBe(deltas);
    });

    it('streams a tool call the prompt asks for', async () => {
      const { events, toolInput } = await stream(client, input('search_docs: breaker', { toolConfig: TOOLS }));

      expect(events[1]?.contentBlockStart?.start?.toolUse?.name).toBe('search_docs');
      expect(JSON.parse(toolInput)).toEqual({ query: 'search_docs: breaker' });
      expect(events.at(-2)?.messageStop?.stopReason).toBe('tool_use');
    });

    it('streams the text answer to a toolResult, carrying the result', async () => {
      const prompt = 'search_docs for budgets';
      const first = await stream(client, input(prompt, { toolConfig: TOOLS }));
      const start = first.events[1]?.contentBlockStart?.start?.toolUse;
      const toolUse: ToolUseBlock = {
        toolUseId: start?.toolUseId,
        name: start?.name,
        input: JSON.parse(first.toolInput),
      };

      const second = await stream(
        client,
        withResult(prompt, toolUse, [{ text: 'Budgets are per user.' }, { json: { hits: 2 } }]),
      );

      expect(second.error).toBeUndefined();
      expect(second.types).not.toContain('contentBlockStart');
      expect(second.text).toMatch(/^The search_docs tool returned: Budgets are per user\.\n\{"hits":2\} \S/);
      expect(second.events.at(-2)?.messageStop?.stopReason).toBe('end_turn');
    });

    it('streams an answer that names the image it was shown', async () => {
      const image = new Uint8Array(300).fill(7);

      const { text } = await stream(
        client,
        input([{ image: { format: 'jpeg', source: { bytes: image } } }, { text: 'Describe it.' }]),
      );

      expect(text).toMatch(/^I see an image: image\/jpeg 300 bytes\. \S/);
    });

    it('keeps the scripted faults: a tool call fails mid-stream in midstream-error mode', async () => {
      sim.configure({ mode: 'midstream-error', ttftMs: 0 });

      const { error, types } = await stream(
        client,
        input('x', { toolConfig: { ...TOOLS, toolChoice: { tool: { name: 'get_weather' } } } }),
      );

      expect(error?.name).toBe('ModelStreamErrorException');
      expect(types.slice(0, 2)).toEqual(['messageStart', 'contentBlockStart']);
      expect(types).not.toContain('messageStop');
    });
  });

  describe('malformed tool and image blocks', () => {
    const toolUse = { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Oslo' } };
    const cases: [string, ConverseCommandInput, string][] = [
      [
        'a toolUse block without a toolConfig',
        {
          modelId: MODEL,
          messages: [
            { role: 'user', content: [{ text: 'hi' }] },
            { role: 'assistant', content: [{ toolUse }] },
            { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_1', content: [{ text: 'ok' }] } }] },
          ],
        },
        'toolConfig field must be defined',
      ],
      [
        'a toolResult that answers no toolUse',
        {
          modelId: MODEL,
          toolConfig: TOOLS,
          messages: [
            { role: 'user', content: [{ text: 'hi' }] },
            { role: 'assistant', content: [{ toolUse }] },
            { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_2', content: [{ text: 'ok' }] } }] },
          ],
        },
        'tooluse_2',
      ],
      [
        'a toolUse block in a user message',
        { modelId: MODEL, toolConfig: TOOLS, messages: [{ role: 'user', content: [{ toolUse }] }] },
        'messages.0.content.0.toolUse',
      ],
      [
        'a toolUse name with a space',
        {
          modelId: MODEL,
          toolConfig: TOOLS,
          messages: [
            { role: 'user', content: [{ text: 'hi' }] },
            { role: 'assistant', content: [{ toolUse: { ...toolUse, name: 'get weather' } }] },
          ],
        },
        'messages.1.content.0.toolUse.name',
      ],
      [
        'a toolChoice naming no offered tool',
        input('hi', { toolConfig: { ...TOOLS, toolChoice: { tool: { name: 'send_email' } } } }),
        'toolChoice',
      ],
      ['an empty tool list', input('hi', { toolConfig: { tools: [] } }), 'toolConfig.tools'],
      ['two tools of one name', input('hi', { toolConfig: { tools: [SEARCH, SEARCH] } }), 'search_docs'],
      [
        'a tool without an input schema',
        input('hi', { toolConfig: { tools: [{ toolSpec: { name: 'bare' } } as Tool] } }),
        'inputSchema',
      ],
      [
        'an image in an unsupported format',
        input([{ image: { format: 'bmp' as 'png', source: { bytes: new Uint8Array(4) } } }]),
        'format',
      ],
    ];

    it.each(cases)('rejects %s with ValidationException (400), from both operations', async (_case, request, says) => {
      const converse = await rejection(client.send(new ConverseCommand(request)));
      const streamed = await rejection(client.send(new ConverseStreamCommand(request)));

      for (const error of [converse, streamed]) {
        expect(error.name).toBe('ValidationException');
        expect(error.$metadata?.httpStatusCode).toBe(400);
        expect(error.message).toContain(says);
      }
    });
  });
});

describe('wire details the SDK does not let a client get wrong', () => {
  function post(path: string, body: unknown): Promise<{ status: number; type: unknown; message: string }> {
    const { hostname, port } = new URL(sim.url);
    return new Promise((resolve, reject) => {
      const req = http1Request(
        { host: hostname, port, method: 'POST', path, agent: false, headers: { 'content-type': 'application/json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              type: res.headers['x-amzn-errortype'],
              message: JSON.parse(Buffer.concat(chunks).toString()).message,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  it.each([
    ['image bytes that are not base64', { image: { format: 'png', source: { bytes: 'not base64!' } } }, 'bytes'],
    [
      'an image with two sources',
      { image: { format: 'png', source: { bytes: 'AAAA', s3Location: { uri: 's3://b/k' } } } },
      'source',
    ],
    [
      'a content block with two members',
      { text: 'hi', image: { format: 'png', source: { bytes: 'AAAA' } } },
      'exactly one member',
    ],
  ])('rejects %s with 400 ValidationException', async (_case, block, says) => {
    for (const operation of ['converse', 'converse-stream']) {
      const response = await post(`/model/${encodeURIComponent(MODEL)}/${operation}`, {
        messages: [{ role: 'user', content: [block] }],
      });

      expect(response).toEqual({ status: 400, type: 'ValidationException', message: expect.stringContaining(says) });
    }
  });
});
