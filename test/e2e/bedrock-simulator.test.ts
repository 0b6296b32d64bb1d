/**
 * The Bedrock simulator against the real `@aws-sdk/client-bedrock-runtime`: if these pass, handlers that call Bedrock
 * through the SDK see locally what they would see on AWS, including throttling, errors and mid-stream failures.
 *
 * Every behaviour is checked over both transports the simulator serves on one port: HTTP/2, which the SDK's default
 * request handler speaks, and HTTP/1.1 with keep-alive, through the very handler the functions use
 * (`bedrockRequestHandler` in `lambda/aws/clients.ts`).
 */
import { request as http1Request } from 'node:http';
import { connect, constants as h2 } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
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
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { bedrockRequestHandler } from '../../lambda/aws/clients';
import {
  BedrockSimulator,
  mulberry32,
  SimulatorSettingsError,
  type SimulatorProtocol,
} from '../../local/bedrock-simulator';

const MODEL = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const OTHER_MODEL = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';

interface Transport {
  protocol: SimulatorProtocol;
  /** The client's request handler; undefined for the SDK's default. */
  handler: () => NodeHttpHandler | undefined;
}

const TRANSPORTS: [string, Transport][] = [
  ['HTTP/2 (the SDK default handler)', { protocol: 'h2', handler: () => undefined }],
  ["HTTP/1.1 keep-alive (the functions' handler)", { protocol: 'http/1.1', handler: bedrockRequestHandler }],
];

let sim: BedrockSimulator;
let random: () => number = Math.random;

beforeAll(async () => {
  sim = await BedrockSimulator.start({ random: () => random() });
});

afterAll(async () => {
  await sim.close();
});

beforeEach(() => {
  sim.reset();
  random = Math.random;
});

function newClient(endpoint: string | undefined, transport: Transport): BedrockRuntimeClient {
  return new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint,
    maxAttempts: 1,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: transport.handler(),
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

async function converseStream(c: BedrockRuntimeClient, input: ConverseStreamCommandInput): Promise<StreamResult> {
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
  return (
    Object.keys(event).find((key) => (event as unknown as Record<string, unknown>)[key] !== undefined) ?? 'unknown'
  );
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

/** A bare exchange, for wire details the SDK hides. */
interface RawResponse {
  status: number;
  headers: Record<string, unknown>;
  body: Buffer;
}

function raw(protocol: SimulatorProtocol, method: string, path: string, body?: string): Promise<RawResponse> {
  return protocol === 'h2' ? rawHttp2(method, path, body) : rawHttp1(method, path, body);
}

async function rawHttp2(method: string, path: string, body?: string): Promise<RawResponse> {
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

function rawHttp1(method: string, path: string, body?: string): Promise<RawResponse> {
  const { hostname, port } = new URL(sim.url);
  return new Promise((resolve, reject) => {
    const req = http1Request(
      { host: hostname, port, method, path, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
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

describe.each(TRANSPORTS)('over %s', (_name, transport) => {
  const { protocol } = transport;
  let client: BedrockRuntimeClient;

  beforeAll(() => {
    client = newClient(sim.url, transport);
  });

  afterAll(() => {
    client.destroy();
  });

  it(`reaches the simulator as ${protocol}`, async () => {
    const fresh = newClient(sim.url, transport);
    try {
      await fresh.send(new ConverseCommand(request()));
    } finally {
      fresh.destroy();
    }

    expect(sim.stats.connectionsByProtocol).toEqual({ h2: 0, 'http/1.1': 0, [protocol]: 1 });
  });

  describe('ConverseStream', () => {
    it('streams messageStart, one delta per token, contentBlockStop, messageStop and metadata, in that order', async () => {
      const { events, deltas, error } = await converseStream(client, request());

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
      const { events, deltas } = await converseStream(client, request());

      const metadata = events.at(-1)?.metadata;
      expect(metadata?.usage?.outputTokens).toBe(deltas.length);
      expect(metadata?.usage?.inputTokens).toBeGreaterThan(0);
      expect(metadata?.usage?.totalTokens).toBe((metadata?.usage?.inputTokens ?? 0) + deltas.length);
      expect(Number.isInteger(metadata?.metrics?.latencyMs)).toBe(true);
    });

    it('answers the same request with the same text of at least 20 word tokens, and another prompt differently', async () => {
      const first = await converseStream(client, request('What is a circuit breaker?'));
      const second = await converseStream(client, request('What is a circuit breaker?'));
      const other = await converseStream(client, request('What is a dead-letter queue?'));

      expect(first.deltas.length).toBeGreaterThanOrEqual(20);
      expect(second.deltas).toEqual(first.deltas);
      expect(other.deltas.join('')).not.toBe(first.deltas.join(''));
      for (const token of first.deltas.slice(0, -1)) expect(token).toMatch(/^\S+ $/);
    });

    it('stops at inferenceConfig.maxTokens with stopReason max_tokens', async () => {
      const { events, deltas } = await converseStream(
        client,
        request(undefined, { inferenceConfig: { maxTokens: 5 } }),
      );

      expect(deltas).toHaveLength(5);
      expect(events.at(-2)?.messageStop?.stopReason).toBe('max_tokens');
      expect(events.at(-1)?.metadata?.usage?.outputTokens).toBe(5);
    });

    it('holds the first token back for at least ttftMs', async () => {
      sim.configure({ mode: 'normal', ttftMs: 150 });

      const { firstDeltaAfterMs } = await converseStream(client, request());

      expect(firstDeltaAfterMs).toBeGreaterThanOrEqual(145);
    });

    it('delivers each frame as it is generated, not when the answer is complete', async () => {
      sim.configure({ mode: 'normal', ttftMs: 0, tokensPerSecond: 20 });
      const started = performance.now();
      const arrivals: number[] = [];

      const response = await client.send(
        new ConverseStreamCommand(request(undefined, { inferenceConfig: { maxTokens: 8 } })),
      );
      for await (const event of response.stream ?? []) {
        if (event.contentBlockDelta) arrivals.push(performance.now() - started);
      }

      // 8 tokens at 20 per second: the last is generated 350 ms after the first.
      expect(arrivals).toHaveLength(8);
      expect(arrivals[0]).toBeLessThan(200);
      expect(arrivals[7] - arrivals[0]).toBeGreaterThanOrEqual(300);
    });

    it('counts calls per decoded model id', async () => {
      await converseStream(client, request());
      await converseStream(client, { ...request(), modelId: OTHER_MODEL });

      expect(sim.stats.calls).toBe(2);
      expect(sim.stats.byModel).toEqual({ [MODEL]: 1, [OTHER_MODEL]: 1 });
    });

    it('sends 200 application/vnd.amazon.eventstream with a request id, and event frames with string headers', async () => {
      const response = await raw(
        protocol,
        'POST',
        `/model/${encodeURIComponent(MODEL)}/converse-stream`,
        JSON.stringify(request()),
      );

      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('application/vnd.amazon.eventstream');
      expect(response.headers['x-amzn-requestid']).toEqual(expect.any(String));
      expect(response.headers['content-encoding']).toBeUndefined();
      if (protocol === 'http/1.1') expect(response.headers['transfer-encoding']).toBe('chunked');
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
      const streamed = await converseStream(client, request());

      const response = await client.send(new ConverseCommand(request()));

      expect(response.output?.message?.role).toBe('assistant');
      expect(response.output?.message?.content).toEqual([{ text: streamed.deltas.join('') }]);
      expect(response.stopReason).toBe('end_turn');
      expect(response.usage?.outputTokens).toBe(streamed.deltas.length);
      expect(response.usage?.totalTokens).toBe((response.usage?.inputTokens ?? 0) + streamed.deltas.length);
      expect(Number.isInteger(response.metrics?.latencyMs)).toBe(true);
    });

    it('honours maxTokens', async () => {
      const response = await client.send(
        new ConverseCommand(request(undefined, { inferenceConfig: { maxTokens: 3 } })),
      );

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
      const complete = await converseStream(client, request());
      sim.configure({ mode: 'midstream-error', ttftMs: 0 });

      const { events, deltas, error } = await converseStream(client, request());

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
        outcomes.push(
          await client.send(new ConverseCommand(request())).then(
            () => 'ok',
            (err: Error) => err.name,
          ),
        );
      }

      expect(outcomes).toEqual(expectedOutcomes);
      expect(outcomes).toContain('ok');
      expect(outcomes).toContain('InternalServerException');
    });
  });

  describe('settings', () => {
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
      const formerlyOverridden = await rejection(
        client.send(new ConverseCommand({ ...request(), modelId: OTHER_MODEL })),
      );

      expect(state.models).toEqual({});
      expect(formerlyOverridden.name).toBe('InternalServerException');
    });

    it('serves the settings at /_local/model', async () => {
      const posted = await raw(protocol, 'POST', '/_local/model', JSON.stringify({ mode: 'slow', model: MODEL }));
      const fetched = await raw(protocol, 'GET', '/_local/model');
      const rejected = await raw(protocol, 'POST', '/_local/model', JSON.stringify({ mode: 'nope' }));

      expect(posted.status).toBe(200);
      expect(JSON.parse(fetched.body.toString()).models[MODEL]).toMatchObject({ mode: 'slow' });
      expect(rejected.status).toBe(400);
      expect(JSON.parse(rejected.body.toString()).message).toContain('mode');
    });
  });

  describe('request errors', () => {
    it('answers an unknown path with 404 UnknownOperationException', async () => {
      const response = await raw(protocol, 'POST', '/model/x/invoke-something', '{}');

      expect(response.status).toBe(404);
      expect(response.headers['x-amzn-errortype']).toBe('UnknownOperationException');
      expect(JSON.parse(response.body.toString())).toEqual({ message: expect.any(String) });
    });

    it('answers malformed JSON and missing messages with 400 ValidationException', async () => {
      const malformed = await raw(protocol, 'POST', `/model/${encodeURIComponent(MODEL)}/converse-stream`, '{not json');
      const noMessages = await raw(
        protocol,
        'POST',
        `/model/${encodeURIComponent(MODEL)}/converse`,
        JSON.stringify({ system: [] }),
      );

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

    it('stops waiting for the first token as soon as the SDK call is aborted', async () => {
      sim.configure({ mode: 'normal', ttftMs: 5000 });
      const controller = new AbortController();
      const response = await client.send(new ConverseStreamCommand(request()), { abortSignal: controller.signal });
      const started = performance.now();

      try {
        // messageStart comes at once; the first delta would come after ttftMs.
        for await (const event of response.stream ?? []) if (event.messageStart) controller.abort();
      } catch {
        // As above: the simulator's reaction is what is tested.
      }
      await until(() => sim.stats.active === 0, 1000);

      expect(performance.now() - started).toBeLessThan(1000);
      expect(sim.stats.cancelled).toBe(1);
      expect(sim.stats.tokensSent).toBe(0);
    });

    it('answers the next call normally after an aborted one', async () => {
      sim.configure({ mode: 'normal', ttftMs: 5000 });
      const controller = new AbortController();
      const response = await client.send(new ConverseStreamCommand(request()), { abortSignal: controller.signal });
      try {
        for await (const event of response.stream ?? []) if (event.messageStart) controller.abort();
      } catch {
        // Tested above.
      }
      await until(() => sim.stats.active === 0, 1000);
      sim.configure({ mode: 'normal' });

      const { deltas, error } = await converseStream(client, request());

      expect(error).toBeUndefined();
      expect(deltas.length).toBeGreaterThanOrEqual(20);
    });

    it('is reachable through AWS_ENDPOINT_URL_BEDROCK_RUNTIME with no endpoint in code', async () => {
      const previous = process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
      process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = sim.url;
      const envClient = newClient(undefined, transport);
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
      const otherClient = newClient(other.url, transport);
      other.configure({ mode: 'slow' });
      // Settled from the start: the client may see the connection drop before close() resolves.
      const pending = otherClient
        .send(new ConverseStreamCommand(request()))
        .then(async (response) => {
          for await (const event of response.stream ?? []) void event;
        })
        .catch(() => undefined);
      await until(() => other.stats.active === 1);

      await other.close();
      await pending;
      otherClient.destroy();

      expect(other.stats.active).toBe(0);
    });

    it('closes promptly while the client keeps an idle connection open', async () => {
      const other = await BedrockSimulator.start();
      const otherClient = newClient(other.url, transport);
      try {
        await otherClient.send(new ConverseCommand(request()));
        const started = performance.now();

        await other.close();

        expect(performance.now() - started).toBeLessThan(1000);
      } finally {
        otherClient.destroy();
      }
    });
  });
});

describe('connections', () => {
  const h1: Transport = TRANSPORTS[1][1];
  const h2Default: Transport = TRANSPORTS[0][1];

  it('the keep-alive client reuses one connection for consecutive ConverseStream and Converse calls', async () => {
    const keepAlive = newClient(sim.url, h1);
    try {
      for (let i = 0; i < 3; i++) {
        const { error } = await converseStream(keepAlive, request(`question ${i}`));
        expect(error).toBeUndefined();
        await keepAlive.send(new ConverseCommand(request(`question ${i}`)));
      }
    } finally {
      keepAlive.destroy();
    }

    expect(sim.stats.calls).toBe(6);
    expect(sim.stats.connections).toBe(1);
    expect(sim.stats.connectionsByProtocol['http/1.1']).toBe(1);
  });

  it('the keep-alive client opens one connection per concurrent call, and reuses them afterwards', async () => {
    const keepAlive = newClient(sim.url, h1);
    try {
      await Promise.all([1, 2, 3].map((i) => converseStream(keepAlive, request(`concurrent ${i}`))));
      await Promise.all([1, 2, 3].map((i) => converseStream(keepAlive, request(`again ${i}`))));
    } finally {
      keepAlive.destroy();
    }

    expect(sim.stats.calls).toBe(6);
    expect(sim.stats.connections).toBe(3);
  });

  it('after an aborted stream, the keep-alive client replaces the connection it dropped, and only that one', async () => {
    const keepAlive = newClient(sim.url, h1);
    try {
      await converseStream(keepAlive, request());
      sim.configure({ mode: 'normal', ttftMs: 0, tokensPerSecond: 20 });
      const controller = new AbortController();
      const response = await keepAlive.send(new ConverseStreamCommand(request()), { abortSignal: controller.signal });
      try {
        for await (const event of response.stream ?? []) if (event.contentBlockDelta) controller.abort();
      } catch {
        // The abort itself is tested per transport above.
      }
      await until(() => sim.stats.active === 0);
      sim.configure({ mode: 'normal' });
      await converseStream(keepAlive, request());
      await converseStream(keepAlive, request());
    } finally {
      keepAlive.destroy();
    }

    expect(sim.stats.cancelled).toBe(1);
    expect(sim.stats.connections).toBe(2);
  });

  // Why the functions do not use the SDK's default handler for Bedrock (see `bedrockRequestHandler`).
  it('the SDK default client opens a new HTTP/2 connection for every call', async () => {
    const fresh = newClient(sim.url, h2Default);
    try {
      await converseStream(fresh, request());
      await converseStream(fresh, request());
      await fresh.send(new ConverseCommand(request()));
    } finally {
      fresh.destroy();
    }

    expect(sim.stats.connectionsByProtocol).toEqual({ h2: 3, 'http/1.1': 0 });
  });

  it('keeps serving after a connection that closed before its protocol could be told', async () => {
    const { hostname, port } = new URL(sim.url);
    const socket = tcpConnect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.end('PRI * HT'); // a prefix of the HTTP/2 preface, then nothing
    await new Promise((resolve) => socket.once('close', resolve));
    const keepAlive = newClient(sim.url, h1);

    const { error } = await converseStream(keepAlive, request()).finally(() => keepAlive.destroy());

    expect(error).toBeUndefined();
    expect(sim.stats.connections).toBe(1);
  });
});

describe('settings validation', () => {
  it('starts from the documented defaults, and slow mode has its own pace unless given', () => {
    expect(sim.state()).toEqual({
      default: { mode: 'normal', ttftMs: 20, tokensPerSecond: 2000, failRate: 1 },
      models: {},
    });

    const slow = sim.configure({ mode: 'slow' }).default;
    expect(slow).toEqual({ mode: 'slow', ttftMs: 3000, tokensPerSecond: 20, failRate: 1 });
    expect(sim.configure({ mode: 'slow', ttftMs: 5 }).default).toMatchObject({ ttftMs: 5, tokensPerSecond: 20 });
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
});
