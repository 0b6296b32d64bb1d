/**
 * The Bedrock simulator against the real `@aws-sdk/client-bedrock-runtime`: if these pass, handlers that call Bedrock
 * through the SDK see locally what they would see on AWS, including throttling, errors and mid-stream failures.
 */
import { connect, constants as h2 } from 'node:http2';
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  type ConverseStreamCommandInput,
  type ConverseStreamOutput,
  type Message,
} from '@aws-sdk/client-bedrock-runtime';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { BedrockSimulator, mulberry32, SimulatorSettingsError } from '../../local/bedrock-simulator';

const MODEL = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const OTHER_MODEL = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';

let sim: BedrockSimulator;
let client: BedrockRuntimeClient;
let random: () => number = Math.random;

beforeAll(async () => {
  sim = await BedrockSimulator.start({ random: () => random() });
  client = newClient(sim.url);
});

afterAll(async () => {
  client.destroy();
  await sim.close();
});

beforeEach(() => {
  sim.reset();
  random = Math.random;
});

function newClient(endpoint?: string): BedrockRuntimeClient {
  return new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint,
    maxAttempts: 1,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

function request(
  text = 'Explain time to first token.',
  extra: Partial<ConverseStreamCommandInput> = {},
): ConverseStreamCommandInput {
  const messages: Message[] = [{ role: 'user', content: [{ text }] }];
  return { modelId: MODEL, messages, system: [{ text: 'You are concise.' }], ...extra };
}

interface StreamResult {
  events: ConverseStreamOutput[];
  deltas: string[];
  error?: Error;
  firstDeltaAfterMs?: number;
}

async function converseStream(input: ConverseStreamCommandInput, c = client): Promise<StreamResult> {
  const started = performance.now();
  const response = await c.send(new ConverseStreamCommand(input));
  const result: StreamResult = { events: [], deltas: [] };
  try {
    for await (const event of response.stream ?? []) {
      result.events.push(event);
      const text = event.contentBlockDelta?.delta?.text;
      if (text !== undefined) {
        result.firstDeltaAfterMs ??= performance.now() - started;
        result.deltas.push(text);
      }
    }
  } catch (err) {
    result.error = err as Error;
  }
  return result;
}

function eventType(event: ConverseStreamOutput): string {
  return Object.keys(event).find((key) => (event as unknown as Record<string, unknown>)[key] !== undefined) ?? 'unknown';
}

async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A bare HTTP/2 exchange, for wire details the SDK hides. */
interface RawResponse {
  status: number;
  headers: Record<string, unknown>;
  body: Buffer;
}

async function raw(method: string, path: string, body?: string): Promise<RawResponse> {
  const session = connect(sim.url);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({
        [h2.HTTP2_HEADER_METHOD]: method,
        [h2.HTTP2_HEADER_PATH]: path,
        'content-type': 'application/json',
      });
      let headers: Record<string, unknown> = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => (headers = h));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }));
      stream.on('error', reject);
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

/** Event-stream frames are length-prefixed: the first 4 bytes of each give its total length. */
function splitFrames(bytes: Buffer) {
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const frames = [];
  for (let offset = 0; offset < bytes.length; ) {
    const length = bytes.readUInt32BE(offset);
    frames.push(codec.decode(bytes.subarray(offset, offset + length)));
    offset += length;
  }
  return frames;
}


describe('ConverseStream', () => {
  it('streams messageStart, one delta per token, contentBlockStop, messageStop and metadata, in that order', async () => {
    const { events, deltas, error } = await converseStream(request());

    expect(error).toBeUndefined();
    const types = events.map(eventType);
    expect(types[0]).toBe('messageStart');
    expect(types.slice(1, 1 + deltas.length).every((t) => t === 'contentBlockDelta')).toBe(true);
    expect(types.slice(1 + deltas.length)).toEqual(['contentBlockStop', 'messageStop', 'metadata']);
    expect(events[0].messageStart).toEqual({ role: 'assistant' });
    for (const event of events.filter((e) => e.contentBlockDelta)) {
      expect(event.contentBlockDelta).toEqual({ contentBlockIndex: 0, delta: { text: expect.any(String) } });
    }
    expect(events.at(-3)?.contentBlockStop).toEqual({ contentBlockIndex: 0 });
    expect(events.at(-2)?.messageStop?.stopReason).toBe('end_turn');
  });

  it('reports usage and an integer latency in metadata', async () => {
    const { events, deltas } = await converseStream(request());

    const metadata = events.at(-1)?.metadata;
    expect(metadata?.usage?.outputTokens).toBe(deltas.length);
    expect(metadata?.usage?.inputTokens).toBeGreaterThan(0);
    expect(metadata?.usage?.totalTokens).toBe((metadata?.usage?.inputTokens ?? 0) + deltas.length);
    expect(Number.isInteger(metadata?.metrics?.latencyMs)).toBe(true);
  });

  it('answers the same request with the same text of at least 20 word tokens, and another prompt differently', async () => {
    const first = await converseStream(request('What is a circuit breaker?'));
    const second = await converseStream(request('What is a circuit breaker?'));
    const other = await converseStream(request('What is a dead-letter queue?'));

    expect(first.deltas.length).toBeGreaterThanOrEqual(20);
    expect(second.deltas).toEqual(first.deltas);
    expect(other.deltas.join('')).not.toBe(first.deltas.join(''));
    for (const token of first.deltas.slice(0, -1)) expect(token).toMatch(/^\S+ $/);
  });

  it('stops at inferenceConfig.maxTokens with stopReason max_tokens', async () => {
    const { events, deltas } = await converseStream(request(undefined, { inferenceConfig: { maxTokens: 5 } }));

    expect(deltas).toHaveLength(5);
    expect(events.at(-2)?.messageStop?.stopReason).toBe('max_tokens');
    expect(events.at(-1)?.metadata?.usage?.outputTokens).toBe(5);
  });

  it('holds the first token back for at least ttftMs', async () => {
    sim.configure({ mode: 'normal', ttftMs: 150 });

    const { firstDeltaAfterMs } = await converseStream(request());

    expect(firstDeltaAfterMs).toBeGreaterThanOrEqual(145);
  });

  it('counts calls per decoded model id', async () => {
    await converseStream(request());
    await converseStream({ ...request(), modelId: OTHER_MODEL });

    expect(sim.stats.calls).toBe(2);
    expect(sim.stats.byModel).toEqual({ [MODEL]: 1, [OTHER_MODEL]: 1 });
  });

  it('sends 200 application/vnd.amazon.eventstream with a request id, and event frames with string headers', async () => {
    const response = await raw('POST', `/model/${encodeURIComponent(MODEL)}/converse-stream`, JSON.stringify(request()));

    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/vnd.amazon.eventstream');
    expect(response.headers['x-amzn-requestid']).toEqual(expect.any(String));
    const frames = splitFrames(response.body);
    expect(frames.length).toBeGreaterThan(20);
    for (const frame of frames) {
      expect(frame.headers[':message-type']).toEqual({ type: 'string', value: 'event' });
      expect(frame.headers[':content-type']).toEqual({ type: 'string', value: 'application/json' });
      expect(frame.headers[':event-type']?.type).toBe('string');
    }
  });
});

describe('Converse', () => {
  it('returns the whole answer, the same text as the stream, with usage and latency', async () => {
    const streamed = await converseStream(request());

    const response = await client.send(new ConverseCommand(request()));

    expect(response.output?.message?.role).toBe('assistant');
    expect(response.output?.message?.content).toEqual([{ text: streamed.deltas.join('') }]);
    expect(response.stopReason).toBe('end_turn');
    expect(response.usage?.outputTokens).toBe(streamed.deltas.length);
    expect(response.usage?.totalTokens).toBe((response.usage?.inputTokens ?? 0) + streamed.deltas.length);
    expect(Number.isInteger(response.metrics?.latencyMs)).toBe(true);
  });

  it('honours maxTokens', async () => {
    const response = await client.send(new ConverseCommand(request(undefined, { inferenceConfig: { maxTokens: 3 } })));

    expect(response.stopReason).toBe('max_tokens');
    expect(response.usage?.outputTokens).toBe(3);
  });
});

describe('faults', () => {
  it('throttle mode fails both operations with ThrottlingException (429) after ttftMs', async () => {
    sim.configure({ mode: 'throttle', ttftMs: 100 });
    const started = performance.now();

    const streamError = await rejection(client.send(new ConverseStreamCommand(request())));
    const elapsed = performance.now() - started;
    const converseError = await rejection(client.send(new ConverseCommand(request())));

    expect(streamError.name).toBe('ThrottlingException');
    expect(streamError.$metadata?.httpStatusCode).toBe(429);
    expect(streamError.message).toBe('Too many requests, please wait before trying again.');
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(converseError.name).toBe('ThrottlingException');
  });

  it('error mode fails both operations with InternalServerException (500)', async () => {
    sim.configure({ mode: 'error', ttftMs: 0 });

    const streamError = await rejection(client.send(new ConverseStreamCommand(request())));
    const converseError = await rejection(client.send(new ConverseCommand(request())));

    expect(streamError.name).toBe('InternalServerException');
    expect(streamError.$metadata?.httpStatusCode).toBe(500);
    expect(converseError.name).toBe('InternalServerException');
  });

  it('midstream-error mode throws ModelStreamErrorException from the loop after some, not all, deltas', async () => {
    const complete = await converseStream(request());
    sim.configure({ mode: 'midstream-error', ttftMs: 0 });

    const { events, deltas, error } = await converseStream(request());

    expect(error?.name).toBe('ModelStreamErrorException');
    expect(error).toMatchObject({ originalStatusCode: 500 });
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(deltas.length).toBeLessThan(complete.deltas.length);
    expect(deltas).toEqual(complete.deltas.slice(0, deltas.length));
    expect(events.map(eventType)).not.toContain('messageStop');
  });

  it('midstream-error mode fails Converse with InternalServerException', async () => {
    sim.configure({ mode: 'midstream-error', ttftMs: 0 });

    const error = await rejection(client.send(new ConverseCommand(request())));

    expect(error.name).toBe('InternalServerException');
  });

  it('fails the failRate share of calls, as drawn from the injected random source', async () => {
    random = mulberry32(42);
    const expected = mulberry32(42);
    sim.configure({ mode: 'error', ttftMs: 0, failRate: 0.5 });
    const outcomes: string[] = [];
    const expectedOutcomes: string[] = [];

    for (let i = 0; i < 20; i++) {
      expectedOutcomes.push(expected() < 0.5 ? 'InternalServerException' : 'ok');
      outcomes.push(await client.send(new ConverseCommand(request())).then(() => 'ok', (err: Error) => err.name));
    }

    expect(outcomes).toEqual(expectedOutcomes);
    expect(outcomes).toContain('ok');
    expect(outcomes).toContain('InternalServerException');
  });
});

describe('settings', () => {
  it('starts from the documented defaults, and slow mode has its own pace unless given', () => {
    expect(sim.state()).toEqual({ default: { mode: 'normal', ttftMs: 20, tokensPerSecond: 2000, failRate: 1 }, models: {} });

    const slow = sim.configure({ mode: 'slow' }).default;
    expect(slow).toEqual({ mode: 'slow', ttftMs: 3000, tokensPerSecond: 20, failRate: 1 });
    expect(sim.configure({ mode: 'slow', ttftMs: 5 }).default).toMatchObject({ ttftMs: 5, tokensPerSecond: 20 });
  });

  it('a model override affects only that model', async () => {
    sim.configure({ mode: 'throttle', ttftMs: 0, model: OTHER_MODEL });

    const overridden = await rejection(client.send(new ConverseCommand({ ...request(), modelId: OTHER_MODEL })));
    const untouched = await client.send(new ConverseCommand(request()));

    expect(overridden.name).toBe('ThrottlingException');
    expect(untouched.stopReason).toBe('end_turn');
    expect(sim.state().models).toEqual({
      [OTHER_MODEL]: { mode: 'throttle', ttftMs: 0, tokensPerSecond: 2000, failRate: 1 },
    });
  });

  it('settings without a model replace the behaviour of every model and clear the overrides', async () => {
    sim.configure({ mode: 'throttle', ttftMs: 0, model: OTHER_MODEL });

    const state = sim.configure({ mode: 'error', ttftMs: 0 });
    const formerlyOverridden = await rejection(client.send(new ConverseCommand({ ...request(), modelId: OTHER_MODEL })));

    expect(state.models).toEqual({});
    expect(formerlyOverridden.name).toBe('InternalServerException');
  });

  it.each([
    [{}, 'mode: required'],
    [{ mode: 'fast' }, 'mode'],
    [{ mode: 'normal', ttftMs: -1 }, 'ttftMs'],
    [{ mode: 'normal', ttftMs: Infinity }, 'ttftMs'],
    [{ mode: 'normal', ttftMs: '20' }, 'ttftMs'],
    [{ mode: 'normal', tokensPerSecond: 0 }, 'tokensPerSecond'],
    [{ mode: 'error', failRate: 1.5 }, 'failRate'],
    [{ mode: 'error', failRate: -0.1 }, 'failRate'],
    [{ mode: 'normal', model: '' }, 'model'],
    [{ mode: 'normal', speed: 3 }, 'speed'],
  ])('rejects %p with a SimulatorSettingsError naming %s, leaving the state unchanged', (body, field) => {
    const before = sim.state();

    expect(() => sim.configure(body)).toThrow(SimulatorSettingsError);
    expect(() => sim.configure(body)).toThrow(field);
    expect(sim.state()).toEqual(before);
  });

  it('rejects a body that is not an object', () => {
    expect(() => sim.configure(null)).toThrow(SimulatorSettingsError);
    expect(() => sim.configure('normal')).toThrow(SimulatorSettingsError);
  });

  it('serves the settings over HTTP/2 at /_local/model', async () => {
    const posted = await raw('POST', '/_local/model', JSON.stringify({ mode: 'slow', model: MODEL }));
    const fetched = await raw('GET', '/_local/model');
    const rejected = await raw('POST', '/_local/model', JSON.stringify({ mode: 'nope' }));

    expect(posted.status).toBe(200);
    expect(JSON.parse(fetched.body.toString()).models[MODEL]).toMatchObject({ mode: 'slow' });
    expect(rejected.status).toBe(400);
    expect(JSON.parse(rejected.body.toString()).message).toContain('mode');
  });
});

describe('request errors', () => {
  it('answers an unknown path with 404 UnknownOperationException', async () => {
    const response = await raw('POST', '/model/x/invoke-something', '{}');

    expect(response.status).toBe(404);
    expect(response.headers['x-amzn-errortype']).toBe('UnknownOperationException');
    expect(JSON.parse(response.body.toString())).toEqual({ message: expect.any(String) });
  });

  it('answers malformed JSON and missing messages with 400 ValidationException', async () => {
    const malformed = await raw('POST', `/model/${encodeURIComponent(MODEL)}/converse-stream`, '{not json');
    const noMessages = await raw('POST', `/model/${encodeURIComponent(MODEL)}/converse`, JSON.stringify({ system: [] }));

    expect(malformed.status).toBe(400);
    expect(malformed.headers['x-amzn-errortype']).toBe('ValidationException');
    expect(noMessages.status).toBe(400);
    expect(noMessages.headers['x-amzn-errortype']).toBe('ValidationException');
  });

  it('surfaces an empty messages list as ValidationException through the SDK', async () => {
    const error = await rejection(client.send(new ConverseCommand({ modelId: MODEL, messages: [] })));

    expect(error.name).toBe('ValidationException');
  });
});

describe('cancellation and lifecycle', () => {
  it('stops generating as soon as the SDK call is aborted', async () => {
    sim.configure({ mode: 'normal', ttftMs: 0, tokensPerSecond: 20 });
    const controller = new AbortController();
    const response = await client.send(new ConverseStreamCommand(request()), { abortSignal: controller.signal });
    let received = 0;

    try {
      for await (const event of response.stream ?? []) {
        if (event.contentBlockDelta && ++received === 3) controller.abort();
      }
    } catch {
      // Whether the loop ends or throws after an abort is the SDK's business; the simulator's reaction is tested here.
    }
    await until(() => sim.stats.active === 0);
    const sentAtCancel = sim.stats.tokensSent;
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(sim.stats.cancelled).toBe(1);
    expect(sim.stats.tokensSent).toBe(sentAtCancel);
    expect(sentAtCancel).toBeLessThan(20);
  });

  it('is reachable through AWS_ENDPOINT_URL_BEDROCK_RUNTIME with no endpoint in code', async () => {
    const previous = process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
    process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = sim.url;
    const envClient = newClient();
    try {
      const response = await envClient.send(new ConverseCommand(request()));
      expect(response.stopReason).toBe('end_turn');
      expect(sim.stats.calls).toBe(1);
    } finally {
      envClient.destroy();
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
      else process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = previous;
    }
  });

  it('closes promptly while a stream is still open', async () => {
    const other = await BedrockSimulator.start();
    const otherClient = newClient(other.url);
    other.configure({ mode: 'slow' });
    const pending = otherClient.send(new ConverseStreamCommand(request())).then(async (response) => {
      for await (const event of response.stream ?? []) void event;
    });
    await until(() => other.stats.active === 1);

    await other.close();
    await pending.catch(() => undefined);
    otherClient.destroy();

    expect(other.stats.active).toBe(0);
  });
});
