/**
 * The typed client against answers the API itself never gives but a client meets in the wild: a proxy's HTML error
 * page, a gateway's empty `503` with a dated `Retry-After`, an event stream cut before its end, events split across
 * packets with CRLF line ends, a refused connection. Each comes from a real HTTP server on 127.0.0.1 that answers as
 * the test says, so the client's reading of the wire is what is tested.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ChatStreamEvent, GenAIClient, GenAIError, parseRetryAfter } from '../../clients/typescript/src';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let baseUrl: string;
let handle: Handler;
const seen: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      handle(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen.length = 0;
});

const client = (overrides: { baseUrl?: string } = {}) =>
  new GenAIClient({ baseUrl: overrides.baseUrl ?? baseUrl, apiKey: 'transport-test-key-00000000' });

const answer = (status: number, body: string, headers: Record<string, string> = {}): Handler => {
  return (_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  };
};

/** An event stream written in the given pieces, `gapMs` apart; `end: false` leaves the response open. */
const stream = (pieces: string[], options: { gapMs?: number; finish?: 'end' | 'destroy' } = {}): Handler => {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'x-request-id': 'req-header-1' });
    let i = 0;
    const next = () => {
      if (i < pieces.length) {
        res.write(pieces[i++]);
        setTimeout(next, options.gapMs ?? 5);
      } else if (options.finish === 'destroy') res.socket?.destroy();
      else res.end();
    };
    next();
  };
};

async function outcome(
  iterable: AsyncIterable<ChatStreamEvent>,
): Promise<{ events: ChatStreamEvent[]; error?: unknown }> {
  const events: ChatStreamEvent[] = [];
  try {
    for await (const event of iterable) events.push(event);
    return { events };
  } catch (error) {
    return { events, error };
  }
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );

const START = 'id: 1\nevent: start\ndata: {"requestId":"req-1","model":"m1"}\n\n';
const DELTA = (id: number, text: string) => `id: ${id}\nevent: delta\ndata: ${JSON.stringify({ text })}\n\n`;
const END = (id: number) =>
  `id: ${id}\nevent: end\ndata: {"model":"m1","stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":2},"metrics":{"ttftMs":5,"latencyMs":9}}\n\n`;

describe('error answers that are not the contract’s JSON', () => {
  it('a proxy’s HTML error page is a GenAIError with the status, never a SyntaxError', async () => {
    handle = answer(502, '<html><body><h1>502 Bad Gateway</h1></body></html>', { 'content-type': 'text/html' });
    const calls: [string, Promise<unknown>][] = [
      ['chat', client().chat({ message: 'hi' })],
      ['chatStream', outcome(client().chatStream({ message: 'hi' })).then((o) => Promise.reject(o.error))],
      ['reports.get', client().reports.get('r-1')],
      ['models', client().models()],
      ['feedback', client().feedback({ requestId: 'r-1', rating: 'up' })],
    ];
    for (const [name, call] of calls) {
      const err = await rejection(call);
      expect([name, err]).toEqual([name, expect.any(GenAIError)]);
      expect(err).toMatchObject({ status: 502, code: 'GATEWAY_ERROR', retryable: true });
      expect((err as GenAIError).message).toContain('502 Bad Gateway');
    }
  });

  it('API Gateway’s own bodies map by status: {"message": null} 500 is retryable, 413 is not', async () => {
    handle = answer(500, '{"message":null}', { 'content-type': 'application/json' });
    await expect(client().chat({ message: 'hi' })).rejects.toMatchObject({
      status: 500,
      code: 'GATEWAY_ERROR',
      retryable: true,
      message: 'HTTP 500',
    });
    handle = answer(413, '{"message":"Request Too Long"}', { 'content-type': 'application/json' });
    await expect(client().chat({ message: 'hi' })).rejects.toMatchObject({
      status: 413,
      code: 'GATEWAY_ERROR',
      retryable: false,
      message: 'Request Too Long',
    });
  });

  it('an empty 503 gives retryAfterSeconds from an HTTP-date Retry-After, and requestId from x-request-id', async () => {
    const in30s = new Date(Date.now() + 30_000).toUTCString();
    handle = answer(503, '', { 'retry-after': in30s, 'x-request-id': 'req-503' });
    const err = (await rejection(client().chat({ message: 'hi' }))) as GenAIError;
    expect(err).toMatchObject({ status: 503, code: 'GATEWAY_ERROR', retryable: true, requestId: 'req-503' });
    expect(err.retryAfterSeconds).toBeGreaterThanOrEqual(28);
    expect(err.retryAfterSeconds).toBeLessThanOrEqual(31);
  });

  it('a 200 whose body is not JSON is INVALID_RESPONSE', async () => {
    handle = answer(200, 'OK', { 'content-type': 'text/plain' });
    await expect(client().chat({ message: 'hi' })).rejects.toMatchObject({
      status: 200,
      code: 'INVALID_RESPONSE',
      retryable: false,
    });
  });
});

describe('reading an event stream', () => {
  it('reads events split at every byte, with CRLF line ends, comments and unknown event types in between', async () => {
    const wire = [
      ': keep-alive\r\n',
      START.replaceAll('\n', '\r\n'),
      ': keep-alive\n',
      'id: 2\nevent: ping\ndata: {}\n\n',
      DELTA(3, 'Hé, ').replaceAll('\n', '\r\n'),
      DELTA(4, 'wörld 🌍'),
      END(5),
    ].join('');
    // One byte per write, so multi-byte characters and fields are split across reads.
    const bytes = [...Buffer.from(wire, 'utf8')].map((b) => Buffer.from([b]).toString('latin1'));
    handle = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const b of bytes) res.write(Buffer.from(b, 'latin1'));
      res.end();
    };
    const { events, error } = await outcome(client().chatStream({ message: 'hi' }));
    expect(error).toBeUndefined();
    expect(events).toEqual([
      { type: 'start', id: '1', requestId: 'req-1', model: 'm1' },
      { type: 'delta', id: '3', text: 'Hé, ' },
      { type: 'delta', id: '4', text: 'wörld 🌍' },
      {
        type: 'end',
        id: '5',
        model: 'm1',
        stopReason: 'end_turn',
        usage: { inputTokens: 3, outputTokens: 2 },
        metrics: { ttftMs: 5, latencyMs: 9 },
      },
    ]);
  });

  it('keeps the end event’s optional fields: prompt-cache token counts, cost and the response cache mark', async () => {
    const end =
      'id: 2\nevent: end\ndata: {"model":"m1","stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":2,' +
      '"cacheReadInputTokens":1200,"cacheWriteInputTokens":0},"metrics":{"ttftMs":5,"latencyMs":9},' +
      '"costUsd":0.000399,"cached":true}\n\n';
    handle = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(START + end);
    };
    const { events } = await outcome(client().chatStream({ message: 'hi' }));
    expect(events.at(-1)).toEqual({
      type: 'end',
      id: '2',
      model: 'm1',
      stopReason: 'end_turn',
      usage: { inputTokens: 3, outputTokens: 2, cacheReadInputTokens: 1200, cacheWriteInputTokens: 0 },
      metrics: { ttftMs: 5, latencyMs: 9 },
      costUsd: 0.000399,
      cached: true,
    });
  });

  it('stops at the end event and closes the connection, whatever follows', async () => {
    let closed = false;
    handle = (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(START + END(2));
      // Never ends on its own: the client must hang up after `end`.
      req.socket.on('close', () => {
        closed = true;
      });
    };
    const { events, error } = await outcome(client().chatStream({ message: 'hi' }));
    expect(error).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['start', 'end']);
    await waitUntil(() => closed);
  });

  it.each([
    ['ends cleanly', 'end'],
    ['is reset', 'destroy'],
  ] as const)(
    'with resume: false, a stream whose connection %s before end or error rejects with STREAM_INTERRUPTED after its events',
    async (_what, finish) => {
      handle = stream([START, DELTA(2, 'partial ')], { finish });
      const { events, error } = await outcome(client().chatStream({ message: 'hi' }, { resume: false }));
      expect(events.map((e) => e.type)).toEqual(['start', 'delta']);
      expect(error).toBeInstanceOf(GenAIError);
      expect(error).toMatchObject({ code: 'STREAM_INTERRUPTED', retryable: true, status: 200, requestId: 'req-1' });
      expect(seen.map((r) => r.method)).toEqual(['POST']);
    },
  );

  it('resumes a cut stream from its last event id, and yields an event the server sends again only once', async () => {
    handle = (req, res) => {
      if (req.method === 'POST') return stream([START, DELTA(2, 'Hello ')], { finish: 'destroy' })(req, res, '');
      // The resumed stream repeats event 2 (a server replaying too much must not double the text).
      stream([DELTA(2, 'Hello '), DELTA(3, 'world'), END(4)])(req, res, '');
    };
    const resumed: unknown[] = [];
    const { events, error } = await outcome(
      client().chatStream({ message: 'hi' }, { resume: { delayMs: 1 }, onResume: (info) => resumed.push(info) }),
    );
    expect(error).toBeUndefined();
    expect(events.map((e) => e.id)).toEqual(['1', '2', '3', '4']);
    expect(events.map((e) => (e.type === 'delta' ? e.text : '')).join('')).toBe('Hello world');
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /chat/stream', 'GET /chat/stream/req-1']);
    expect(seen[1]!.headers['last-event-id']).toBe('2');
    expect(seen[1]!.headers['x-api-key']).toBe('transport-test-key-00000000');
    expect(resumed).toEqual([
      expect.objectContaining({ requestId: 'req-1', lastEventId: '2', attempt: 1, cause: expect.any(GenAIError) }),
    ]);
  });

  it('gives up after maxAttempts resumes that fail in a row, with STREAM_INTERRUPTED caused by the last failure', async () => {
    handle = (req, res) => {
      if (req.method === 'POST') return stream([START, DELTA(2, 'Hi')], { finish: 'destroy' })(req, res, '');
      answer(503, '{"error":{"code":"SERVICE_UNAVAILABLE","message":"busy","retryable":true}}')(req, res, '');
    };
    const { events, error } = await outcome(
      client().chatStream({ message: 'hi' }, { resume: { maxAttempts: 2, delayMs: 1 } }),
    );
    expect(events.map((e) => e.id)).toEqual(['1', '2']);
    expect(error).toMatchObject({ code: 'STREAM_INTERRUPTED', retryable: true, requestId: 'req-1' });
    expect((error as GenAIError).cause).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
    expect(seen.map((r) => r.method)).toEqual(['POST', 'GET', 'GET']);
  });

  it('stops at once when the stream cannot be resumed (410 STREAM_EXPIRED): STREAM_INTERRUPTED caused by it', async () => {
    handle = (req, res) => {
      if (req.method === 'POST') return stream([START], { finish: 'end' })(req, res, '');
      answer(410, '{"error":{"code":"STREAM_EXPIRED","message":"gone","retryable":false}}')(req, res, '');
    };
    const { error } = await outcome(client().chatStream({ message: 'hi' }, { resume: { delayMs: 1 } }));
    expect(error).toMatchObject({ code: 'STREAM_INTERRUPTED', requestId: 'req-1' });
    expect((error as GenAIError).cause).toMatchObject({ code: 'STREAM_EXPIRED', status: 410 });
    expect(seen.map((r) => r.method)).toEqual(['POST', 'GET']);
    // Nothing was yielded but start: the resume asked from that id.
    expect(seen[1]!.headers['last-event-id']).toBe('1');
  });

  it('an event that is not JSON, or a 200 that is not an event stream, is INVALID_RESPONSE', async () => {
    handle = stream([START, 'id: 2\nevent: delta\ndata: {"text":\n\n']);
    const broken = await outcome(client().chatStream({ message: 'hi' }));
    expect(broken.error).toMatchObject({ code: 'INVALID_RESPONSE', requestId: 'req-1' });

    handle = answer(200, '{"text":"not a stream"}', { 'content-type': 'application/json', 'x-request-id': 'req-j' });
    const json = await outcome(client().chatStream({ message: 'hi' }));
    expect(json.events).toEqual([]);
    expect(json.error).toMatchObject({ code: 'INVALID_RESPONSE', status: 200, requestId: 'req-j' });
  });
});

describe('the connection', () => {
  it('a refused connection is NETWORK_ERROR with status 0, retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await rejection(client({ baseUrl: `http://127.0.0.1:${port}` }).chat({ message: 'hi' }));
    expect(err).toBeInstanceOf(GenAIError);
    expect(err).toMatchObject({ status: 0, code: 'NETWORK_ERROR', retryable: true });
  });

  it('aborting a call that waits for its answer rejects with the signal’s reason and closes the connection', async () => {
    let closed = false;
    handle = (req) => req.socket.on('close', () => (closed = true)); // never answers
    const controller = new AbortController();
    const reason = new Error('navigated away');
    setTimeout(() => controller.abort(reason), 100);
    await expect(client().chat({ message: 'hi' }, { signal: controller.signal })).rejects.toBe(reason);
    await waitUntil(() => closed);
  });

  it('joins paths to a base URL with a stage path and a trailing slash', async () => {
    handle = answer(200, '{"object":"list","data":[]}', { 'content-type': 'application/json' });
    await client({ baseUrl: `${baseUrl}/v1/` }).models();
    await client({ baseUrl: `${baseUrl}/v1/` })
      .reports.get('a b/c')
      .catch(() => undefined);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /v1/models', 'GET /v1/reports/a%20b%2Fc']);
  });

  it('refuses options that cannot work with a TypeError', () => {
    const ok = { baseUrl, apiKey: 'k'.repeat(20) };
    expect(() => new GenAIClient({ ...ok, baseUrl: 'not a url' })).toThrow(TypeError);
    expect(() => new GenAIClient({ ...ok, baseUrl: 'ftp://example.com' })).toThrow(TypeError);
    expect(() => new GenAIClient({ ...ok, baseUrl: `${baseUrl}?stage=v1` })).toThrow(TypeError);
    expect(() => new GenAIClient({ ...ok, apiKey: ' ' })).toThrow(TypeError);
    expect(() => new GenAIClient({ ...ok, auth: 'basic' as 'bearer' })).toThrow(TypeError);
  });
});

describe('waitFor against a flaky status endpoint', () => {
  const report = (status: string) =>
    JSON.stringify({ reportId: 'r-1', status, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:01Z' });

  it('waits out a retryable 503’s Retry-After, then resolves; onProgress sees only the reports read', async () => {
    const answers: Handler[] = [
      answer(503, '{"error":{"code":"SERVICE_UNAVAILABLE","message":"busy","retryable":true}}', { 'retry-after': '1' }),
      answer(200, report('COMPLETED'), { 'content-type': 'application/json' }),
    ];
    const at: number[] = [];
    handle = (req, res, body) => {
      at.push(Date.now());
      answers.shift()!(req, res, body);
    };
    const progress: string[] = [];
    const done = await client().reports.waitFor('r-1', { onProgress: (r) => progress.push(r.status) });
    expect(done.status).toBe('COMPLETED');
    expect(progress).toEqual(['COMPLETED']);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(950);
  });

  it('keeps a far Retry-After within maxIntervalMs', async () => {
    const answers: Handler[] = [
      answer(200, report('RUNNING'), { 'content-type': 'application/json', 'retry-after': '3600' }),
      answer(200, report('COMPLETED'), { 'content-type': 'application/json' }),
    ];
    handle = (req, res, body) => answers.shift()!(req, res, body);
    const started = Date.now();
    const progress: { status: string; retryAfterSeconds?: number }[] = [];
    await client().reports.waitFor('r-1', {
      maxIntervalMs: 300,
      onProgress: ({ status, retryAfterSeconds }) => progress.push({ status, retryAfterSeconds }),
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(progress).toEqual([{ status: 'RUNNING', retryAfterSeconds: 3600 }, { status: 'COMPLETED' }]);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    ['5', 5],
    ['0', 0],
    [' 120 ', 120],
    ['Thu, 01 Jan 2026 00:00:30 GMT', 30],
    ['Thu, 01 Jan 2026 00:00:00 GMT', 0],
    ['Wed, 31 Dec 2025 23:00:00 GMT', 0],
    ['-5', undefined],
    ['soon', undefined],
    ['', undefined],
    [null, undefined],
  ])('%p is %p seconds', (value, seconds) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
