/**
 * A raw HTTP/1.1 client over node:net, for requests fetch refuses to send: unparsable targets, malformed request lines
 * and headers, odd methods, bodies shorter than their Content-Length, duplicated headers.
 */
import { connect } from 'node:net';

export interface RawResponse {
  /** Status of the final response; undefined when none arrived. */
  readonly status?: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The body, de-chunked. */
  readonly body: Buffer;
  /** The server closed the connection (after answering, or without answering). */
  readonly closed: boolean;
  /** Nothing ended the exchange within `waitMs`: the server held the connection open. */
  readonly hung: boolean;
  /** A socket error (a reset, for one), if any. */
  readonly error?: string;
  /** Milliseconds from connecting to the end of the exchange. */
  readonly elapsedMs: number;
}

export interface RawRequestOptions {
  /** Give up (and report `hung`) after this long. @default 5_000 */
  readonly waitMs?: number;
  /** Bytes to send after the first part, each after `dripMs` (a slow client). */
  readonly drip?: readonly (string | Buffer)[];
  /** @default 100 */
  readonly dripMs?: number;
  /** Keep reading after a complete answer until the server closes the connection (or `waitMs` passes). @default false */
  readonly untilClosed?: boolean;
}

/**
 * Sends `request` as is and reads until the server closes the connection, answers completely (by Content-Length or a
 * final chunk), or `waitMs` passes. Interim 1xx responses are skipped.
 */
export function rawRequest(
  baseUrl: string,
  request: string | Buffer,
  options: RawRequestOptions = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const socket = connect(Number(port), hostname);
    const finish = (closed: boolean, hung: boolean) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      socket.destroy();
      resolve({ ...parseResponse(Buffer.concat(chunks)), closed, hung, error, elapsedMs: Date.now() - started });
    };
    socket.once('connect', () => {
      socket.write(request);
      (options.drip ?? []).forEach((part, i) => {
        timers.push(setTimeout(() => socket.writable && socket.write(part), (i + 1) * (options.dripMs ?? 100)));
      });
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (!options.untilClosed && parseResponse(Buffer.concat(chunks)).complete) finish(false, false);
    });
    socket.on('error', (err) => {
      error = (err as NodeJS.ErrnoException).code ?? err.message;
    });
    socket.once('close', () => finish(true, false));
    timers.push(
      setTimeout(
        () => finish(false, !(options.untilClosed && parseResponse(Buffer.concat(chunks)).complete)),
        options.waitMs ?? 5_000,
      ),
    );
  });
}

function parseResponse(data: Buffer): {
  status?: number;
  headers: Record<string, string>;
  body: Buffer;
  complete: boolean;
} {
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return { headers: {}, body: Buffer.alloc(0), complete: false };
    const lines = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(lines[0])?.[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const after = rest.subarray(end + 4);
    if (status >= 100 && status < 200) {
      rest = after;
      continue;
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const { body, complete } = dechunk(after);
      return { status, headers, body, complete };
    }
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      return { status, headers, body: after.subarray(0, length), complete: after.length >= length };
    }
    // Neither: the body runs until the server closes the connection.
    return { status, headers, body: after, complete: false };
  }
}

function dechunk(data: Buffer): { body: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return { body: Buffer.concat(parts), complete: false };
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), complete: false };
    if (size === 0) return { body: Buffer.concat(parts), complete: data.indexOf('\r\n', lineEnd + 2) >= 0 };
    if (data.length < lineEnd + 2 + size) {
      parts.push(data.subarray(lineEnd + 2));
      return { body: Buffer.concat(parts), complete: false };
    }
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/** The body as JSON, or undefined when it is not JSON. */
export function jsonOf(res: RawResponse): unknown {
  try {
    return JSON.parse(res.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// A seeded generator of malformed and edge-case requests over every route.
// ---------------------------------------------------------------------------------------------------------------------

export interface FuzzContext {
  /** A valid API key. */
  readonly key: string;
  /** A valid key of another user. */
  readonly otherKey: string;
  /** Ids of reports that belong to `key`'s user. */
  readonly reportIds: readonly string[];
  /** Ids of reports that belong to `otherKey`'s user. */
  readonly foreignReportIds: readonly string[];
  /**
   * Request ids `key`'s user may rate (`POST /feedback`): finished reports and answered chat requests.
   * @default reportIds
   */
  readonly ratedIds?: readonly string[];
  /**
   * Request ids of `key`'s user's streams (`POST /chat/stream/{requestId}/cancel`: finished ones answer 409).
   * @default ratedIds
   */
  readonly streamIds?: readonly string[];
}

export interface FuzzCase {
  /** `category/route`: what was varied, and where; failures are grouped by it. */
  readonly label: string;
  /** The request line, for reports. */
  readonly requestLine: string;
  /** The whole request, bytes on the wire. */
  readonly request: Buffer;
  /** False for HEAD, whose answers carry no body. */
  readonly expectsBody: boolean;
}

type Random = () => number;

/** Raw JSON text, so that bodies can carry what JSON.stringify never writes: duplicated keys, `__proto__`, 1e400. */
type Json = string;

const str = (s: string): Json => JSON.stringify(s);
const obj = (entries: readonly (readonly [string, Json])[]): Json =>
  `{${entries.map(([k, v]) => `${str(k)}:${v}`).join(',')}}`;
const arr = (items: readonly Json[]): Json => `[${items.join(',')}]`;

/** Strings at the edges of Unicode and of what the API passes on: lone surrogates, NUL, RTL overrides, emoji. */
const EDGE_STRINGS = [
  'hi',
  'Explain circuit breakers in two sentences',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud83dy',
  '\udc00\ud800',
  '\u202eevil\u202c.txt',
  '\u200f\u200e\u2066isolate\u2069',
  'שלום עולם',
  'مرحبا بالعالم',
  '👩‍👩‍👧‍👦🏳️‍🌈🇺🇳',
  '😀'.repeat(300),
  'e\u0301\u0302\u0303\u0304',
  'Z\u0335\u0321\u0322\u034ea\u0336l\u0337g\u0338o',
  '\ufeffbom',
  '\uffff\ufffe\ufdd0',
  '\u2028\u2029',
  '\t\r\n\u000b\u000c',
  '\u0007\u001b[31mred',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '${jndi:ldap://x/a}',
  '%s%s%n%x',
  '\\',
  '"',
  '{{7*7}}',
  '../../etc/passwd',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
];

/** Number literals at the edges: overflow, underflow, negative zero, beyond 2^53 and 2^64. */
const EDGE_NUMBERS = [
  '0',
  '-0',
  '1',
  '-1',
  '1.5',
  '0.1',
  '1e308',
  '-1e308',
  '1e309',
  '-1e309',
  '1e-400',
  '4.9e-324',
  '12345678901234567890',
  '-12345678901234567890',
  '9007199254740993',
  '1e126',
  '123456789012345678901234567890.5',
  '1E2',
  '8192',
  '8193',
  '100000',
  '100001',
  '2147483648',
  '1e21',
];

/** Not JSON numbers at all. */
const BAD_NUMBERS = ['NaN', 'Infinity', '-Infinity', '0x1F', '01', '+1', '.5', '1.', '1e', '--1', '1_000'];

/** Keys that reach prototypes when code merges objects carelessly. */
const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  'valueOf',
  '__defineGetter__',
  'toJSON',
];

const WRONG_VALUES: Json[] = [
  'null',
  'true',
  'false',
  '0',
  '-1',
  '1.5',
  '""',
  '[]',
  '{}',
  '"str"',
  '[1,2,3]',
  '{"a":1}',
  '[null]',
  '[{}]',
  '"\\u0000"',
];

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/JSON',
  'application/merge-patch+json',
  '*/*',
  '',
  'garbage',
  'application/json, text/plain',
  'application/json; boundary=' + 'x'.repeat(500),
];

const CALLBACK_URLS = [
  'http://127.0.0.1:1/hook',
  'https://127.0.0.1:1/hook',
  'https://[::1]/hook',
  'https://169.254.169.254/latest/meta-data',
  'https://10.0.0.1/hook',
  'https://[fd00::1]/hook',
  'https://0x7f000001/hook',
  'https://2130706433/hook',
  'https://localhost/hook',
  'file:///etc/passwd',
  'javascript:alert(1)',
  'ftp://127.0.0.1/x',
  'https://',
  'https://:443',
  'https://user:pass@127.0.0.1/hook',
  'https://127.0.0.1:99999/hook',
  '//127.0.0.1/hook',
  'not a url',
  '',
  'https://127.0.0.1/' + 'a'.repeat(2_100),
  'https://127.0.0.1/\u0000',
  'https://xn--nxasmq6b.example/hook',
  'HTTPS://127.0.0.1/HOOK',
];

const ODD_IDS = [
  '',
  '.',
  '..',
  '%2e%2e',
  '%00',
  '%ZZ',
  '%c0%af',
  '%ff',
  '%F0%9F%98%80',
  '%E2%80%AE',
  'a%2Fb',
  '%20',
  '+',
  '*',
  '~',
  '..%2f..%2fchat',
  '%25',
  "'",
  '"',
  '<script>',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  '0',
  '-1',
  '1e400',
];

/** Ids a rating may name: the caller's own, someone else's, an OpenAI completion id, ids nobody issued. */
function feedbackId(r: Random, ctx: FuzzContext): string {
  const own = ctx.ratedIds?.length ? ctx.ratedIds : ctx.reportIds;
  return pickFrom(r, [
    () => pickFrom(r, own),
    () => pickFrom(r, own),
    () => pickFrom(r, ctx.foreignReportIds),
    () => `chatcmpl-${pickFrom(r, own)}`,
    () => '00000000-0000-4000-8000-000000000000',
    () => pickFrom(r, ['x', 'a'.repeat(128), 'chatcmpl-', 'req:1.2_3-4']),
  ])();
}

/** Bodies that each route would accept, built from edge-case strings. */
function validBody(route: BodyRoute, r: Random, ctx: FuzzContext): Json {
  if (route === 'feedback') {
    const entries: [string, Json][] = [
      ['requestId', str(feedbackId(r, ctx))],
      ['rating', str(pickFrom(r, ['up', 'down']))],
    ];
    if (r() < 0.5) entries.push(['comment', str(pickFrom(r, EDGE_STRINGS))]);
    return obj(entries);
  }
  if (route === 'openai') {
    const role = pickFrom(r, ['user', 'user', 'system', 'developer', 'assistant']);
    const turns: Json[] = [
      obj([
        ['role', str(role)],
        ['content', str(pickFrom(r, EDGE_STRINGS))],
      ]),
    ];
    if (role !== 'user')
      turns.push(
        obj([
          ['role', str('user')],
          ['content', str(pickFrom(r, EDGE_STRINGS))],
        ]),
      );
    const entries: [string, Json][] = [
      ['model', str(pickFrom(r, OPENAI_MODELS))],
      ['messages', arr(turns)],
    ];
    if (r() < 0.5) entries.push(['stream', String(r() < 0.7)]);
    if (r() < 0.3) entries.push(['stream_options', obj([['include_usage', 'true']])]);
    if (r() < 0.4) entries.push([pickFrom(r, ['max_tokens', 'max_completion_tokens']), String(int(r, 1, 300))]);
    if (r() < 0.2) entries.push(['temperature', pickFrom(r, ['0', '0.5', '1', '2', '-1'])]);
    return obj(entries);
  }
  if (route === 'reports') {
    const entries: [string, Json][] = [
      [
        'prompt',
        str(
          pickFrom(
            r,
            EDGE_STRINGS.filter((s) => s.trim()),
          ),
        ),
      ],
    ];
    if (r() < 0.5)
      entries.push([
        'metadata',
        obj([
          ['ticket', str(pickFrom(r, EDGE_STRINGS))],
          ['n', pickFrom(r, EDGE_NUMBERS)],
        ]),
      ]);
    return obj(entries);
  }
  const entries: [string, Json][] = [['message', str(pickFrom(r, EDGE_STRINGS))]];
  if (r() < 0.3) entries.push(['system', str(pickFrom(r, EDGE_STRINGS))]);
  if (r() < 0.3) {
    const turns = 2 * int(r, 0, 2);
    entries.push([
      'history',
      arr(
        Array.from({ length: turns }, (_, i) =>
          obj([
            ['role', str(i % 2 ? 'assistant' : 'user')],
            ['content', str(pickFrom(r, EDGE_STRINGS))],
          ]),
        ),
      ),
    ]);
  }
  if (r() < 0.5) entries.push(['maxTokens', String(int(r, 1, 300))]);
  return obj(entries);
}

/** Nesting `depth` levels deep: arrays, objects, or both alternating. */
function deep(depth: number, kind: 'array' | 'object' | 'mixed', leaf: Json = '1'): Json {
  if (kind === 'array') return '['.repeat(depth) + leaf + ']'.repeat(depth);
  if (kind === 'object') return '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
  const half = Math.ceil(depth / 2);
  return '[{"a":'.repeat(half) + leaf + '}]'.repeat(half);
}

/** An object with `key` at `depth` levels down. */
function keyAtDepth(key: string, depth: number, value: Json): Json {
  let out = obj([[key, value]]);
  for (let i = 0; i < depth; i++) out = obj([['n', out]]);
  return out;
}

type BodyRoute = 'chat-stream' | 'chat' | 'reports' | 'openai' | 'feedback';
const BODY_ROUTES: Record<BodyRoute, string> = {
  'chat-stream': '/chat/stream',
  chat: '/chat',
  reports: '/reports',
  openai: '/chat/completions',
  feedback: '/feedback',
};
/** The field a body of each route cannot do without. */
const MAIN_FIELD: Record<BodyRoute, string> = {
  'chat-stream': 'message',
  chat: 'message',
  reports: 'prompt',
  openai: 'messages',
  feedback: 'requestId',
};
const FIELDS: Record<BodyRoute, readonly string[]> = {
  'chat-stream': ['message', 'history', 'system', 'maxTokens'],
  chat: ['message', 'history', 'system', 'maxTokens'],
  reports: ['prompt', 'callbackUrl', 'metadata'],
  feedback: ['requestId', 'rating', 'comment'],
  openai: [
    'model',
    'messages',
    'stream',
    'stream_options',
    'max_tokens',
    'temperature',
    'stop',
    'tools',
    'tool_choice',
    'n',
  ],
};
/** The OpenAI route's `model`: configured ids and aliases, and names nobody configured. */
const OPENAI_MODELS = [
  'us.anthropic.claude-sonnet-4-20250514-v1:0',
  'default',
  'gpt-4o',
  '',
  'us.anthropic.claude-3-5-haiku-20241022-v1:0',
];

/** The smallest valid OpenAI request body's fields, for mutations to start from. */
function openaiBase(): [string, Json][] {
  return [
    ['model', str(OPENAI_MODELS[0] ?? '')],
    [
      'messages',
      arr([
        obj([
          ['role', str('user')],
          ['content', str('hi')],
        ]),
      ]),
    ],
  ];
}

function pickFrom<T>(r: Random, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)];
}

function int(r: Random, min: number, max: number): number {
  return min + Math.floor(r() * (max - min + 1));
}

/** One body of the given category for a body route. */
function mutateBody(category: string, route: BodyRoute, r: Random, ctx: FuzzContext): Json | Buffer {
  const main = MAIN_FIELD[route];
  const base = (): [string, Json][] =>
    route === 'openai'
      ? openaiBase()
      : route === 'feedback'
        ? [
            [main, str(feedbackId(r, ctx))],
            ['rating', str('up')],
          ]
        : [[main, str('hi')]];
  switch (category) {
    case 'malformed-json': {
      const text = validBody(route, r, ctx);
      const at = int(r, 0, text.length);
      return pickFrom(r, [
        () => text.slice(0, at),
        () =>
          text.slice(0, at) + pickFrom(r, ['{', '}', '[', ']', ',', ':', '"', '\\', "'", '\u0000']) + text.slice(at),
        () => text.slice(0, at) + text.slice(at + 1),
        () => text + pickFrom(r, ['x', '}', ',', ' {}', '\u0000']),
        () => '\ufeff' + text,
        () => text.replace(/"/g, "'"),
        () => text.replace(/}$/, ',}'),
        () => `/* c */${text}`,
        () => obj([[main, pickFrom(r, BAD_NUMBERS)]]),
        () => `{${main}:"hi"}`,
        () => `{"${main}":"hi\nline"}`,
        () => `{"${main}":"\\x41"}`,
        () => `{"${main}":"\\ud800\\u"}`,
        () => text.repeat(2),
      ])();
    }
    case 'wrong-type': {
      const field = pickFrom(r, FIELDS[route]);
      const entries = base().filter(([k]) => k !== field);
      entries.push([field, pickFrom(r, WRONG_VALUES)]);
      return pickFrom(r, [obj(entries), pickFrom(r, WRONG_VALUES), arr([obj(entries)])]);
    }
    case 'deep-nesting': {
      const depth = pickFrom(r, [5_000, 5_000, 1_000, 100, 33, 32, 31]);
      const nested = deep(depth, pickFrom(r, ['array', 'object', 'mixed'] as const));
      const field =
        route === 'reports'
          ? pickFrom(r, ['metadata', 'metadata', 'prompt', 'top'])
          : route === 'feedback'
            ? pickFrom(r, ['requestId', 'rating', 'comment', 'top'])
            : pickFrom(r, ['history', 'message', 'system', 'maxTokens', 'top']);
      if (field === 'top') return nested;
      if (field === 'metadata') return obj([...base(), ['metadata', obj([['deep', nested]])]]);
      if (field === 'history')
        return obj([
          ...base(),
          [
            'history',
            arr([
              obj([
                ['role', str('user')],
                ['content', nested],
              ]),
            ]),
          ],
        ]);
      return obj([...base().filter(([k]) => k !== field), [field, nested]]);
    }
    case 'unicode': {
      const s = pickFrom(r, EDGE_STRINGS);
      if (r() < 0.3) {
        // Bytes that are not UTF-8 at all: a lone continuation byte, an overlong '/', a CESU-8 surrogate, 0xFF.
        const bad = pickFrom(r, [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff, 0xfe], [0xf4, 0x90, 0x80, 0x80]]);
        return Buffer.concat([Buffer.from(`{"${main}":"a`), Buffer.from(bad), Buffer.from('b"}')]);
      }
      if (route === 'feedback')
        return obj([
          [main, str(r() < 0.5 ? s : feedbackId(r, ctx))],
          ['rating', str(r() < 0.2 ? s : 'down')],
          ['comment', str(s)],
        ]);
      if (route === 'reports')
        return obj([
          [main, str(s || 'x')],
          [
            'metadata',
            obj([
              [s, str(s)],
              ['k', str(s)],
            ]),
          ],
        ]);
      return obj([
        [main, str(s)],
        [
          'history',
          arr([
            obj([
              ['role', str('user')],
              ['content', str(s)],
            ]),
            obj([
              ['role', str('assistant')],
              ['content', str(s)],
            ]),
          ]),
        ],
      ]);
    }
    case 'edge-numbers': {
      const n = pickFrom(r, EDGE_NUMBERS);
      if (route === 'reports') {
        return obj([
          ...base(),
          ['metadata', pickFrom(r, [obj([['n', n]]), obj([['list', arr([n, n])]]), keyAtDepth('n', int(r, 1, 10), n)])],
        ]);
      }
      if (route === 'feedback') return obj([...base(), [pickFrom(r, ['rating', 'comment', 'requestId']), n]]);
      return obj([...base(), ['maxTokens', n]]);
    }
    case 'proto-keys': {
      const key = pickFrom(r, PROTO_KEYS);
      const value = pickFrom(r, ['{"polluted":true}', '{"prototype":{"polluted":true}}', '"x"', '1', 'null', '[]']);
      const where = pickFrom(r, ['top', 'nested', 'history', 'metadata']);
      if (where === 'top') return obj([[key, value], ...base()]);
      if (route === 'reports' && (where === 'metadata' || where === 'nested')) {
        return obj([...base(), ['metadata', keyAtDepth(key, where === 'nested' ? int(r, 1, 40) : 0, value)]]);
      }
      if (where === 'history')
        return obj([
          ...base(),
          [
            'history',
            arr([
              obj([
                ['role', str('user')],
                ['content', str('a')],
                [key, value],
              ]),
            ]),
          ],
        ]);
      return obj([...base(), [key, keyAtDepth(key, int(r, 1, 5), value)]]);
    }
    case 'duplicate-keys': {
      const field = pickFrom(r, FIELDS[route]);
      const valid =
        field === main
          ? str('hi')
          : field === 'maxTokens'
            ? '10'
            : field === 'metadata'
              ? '{}'
              : field === 'callbackUrl'
                ? str('https://127.0.0.1/x')
                : field === 'rating'
                  ? str('up')
                  : field === 'history'
                    ? '[]'
                    : str('s');
      const other = pickFrom(r, WRONG_VALUES);
      const pair: [string, Json][] =
        r() < 0.5
          ? [
              [field, valid],
              [field, other],
            ]
          : [
              [field, other],
              [field, valid],
            ];
      return obj(field === main ? pair : [...base(), ...pair]);
    }
    case 'empty-body':
      return pickFrom(r, ['', ' ', '\r\n', '\u0000', 'null', '""', '0', 'true', '{}', '[]', '{"":""}', '{"":null}']);
    case 'base64-body': {
      const text = validBody(route, r, ctx);
      return pickFrom(r, [
        () => Buffer.from(text).toString('base64'),
        () => Buffer.from(text).toString('base64url'),
        () => `"${Buffer.from(text).toString('base64')}"`,
        () => obj([[main, str(Buffer.from(text).toString('base64'))]]),
        () => 'e30=',
        () => 'data:application/json;base64,' + Buffer.from(text).toString('base64'),
      ])();
    }
    case 'random-bytes':
      return Buffer.from(Array.from({ length: int(r, 1, 2_048) }, () => int(r, 0, 255)));
    case 'large-body': {
      const size = pickFrom(r, [32_001, 100_001, 200_001, 1_000_000]);
      const field =
        route === 'reports'
          ? pickFrom(r, ['prompt', 'metadata', 'callbackUrl'])
          : route === 'feedback'
            ? pickFrom(r, ['comment', 'requestId'])
            : pickFrom(r, ['message', 'system', 'history']);
      if (field === 'metadata') return obj([...base(), ['metadata', obj([['big', str('m'.repeat(size))]])]]);
      if (field === 'history')
        return obj([
          ...base(),
          [
            'history',
            arr(
              Array.from({ length: int(r, 50, 600) }, (_, i) =>
                obj([
                  ['role', str(i % 2 ? 'assistant' : 'user')],
                  ['content', str('h'.repeat(Math.floor(size / 600) + 1))],
                ]),
              ),
            ),
          ],
        ]);
      if (field === 'callbackUrl')
        return obj([...base(), ['callbackUrl', str('https://127.0.0.1/' + 'c'.repeat(size))]]);
      return obj([
        ...base().filter(([k]) => k !== field),
        [field, str(pickFrom(r, ['x', '😀', '\u0000']).repeat(size))],
      ]);
    }
    case 'extra-fields':
      return obj([
        ...base(),
        [
          pickFrom(r, ['userId', 'user', 'model', 'plan', 'apiKey', 'temperature', '', ' ', 'MESSAGE', 'message ']),
          pickFrom(r, WRONG_VALUES),
        ],
      ]);
    case 'callback-url':
      return obj([...base(), ['callbackUrl', str(pickFrom(r, CALLBACK_URLS))]]);
    default:
      return validBody(route, r, ctx);
  }
}

interface RequestParts {
  method: string;
  target: string;
  headers: [string, string][];
  body?: Buffer;
  version?: string;
  /** A Content-Length that differs from the body's. */
  contentLength?: number;
}

/** Serialises a request; adds Host and `Connection: close` unless present, and Content-Length for a body. */
export function buildRequest(parts: RequestParts): Buffer {
  const names = new Set(parts.headers.map(([n]) => n.toLowerCase()));
  const headers = [...parts.headers];
  if (!names.has('host')) headers.unshift(['Host', '127.0.0.1']);
  if (!names.has('connection')) headers.push(['Connection', 'close']);
  const body = parts.body ?? Buffer.alloc(0);
  if (!names.has('content-length') && !names.has('transfer-encoding') && (body.length > 0 || parts.method === 'POST')) {
    headers.push(['Content-Length', String(parts.contentLength ?? body.length)]);
  }
  const head = `${parts.method} ${parts.target} ${parts.version ?? 'HTTP/1.1'}\r\n${headers.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

const BODY_CATEGORIES: readonly [string, number][] = [
  ['valid', 8],
  ['malformed-json', 10],
  ['wrong-type', 10],
  ['deep-nesting', 6],
  ['unicode', 8],
  ['edge-numbers', 8],
  ['proto-keys', 8],
  ['duplicate-keys', 6],
  ['empty-body', 4],
  ['base64-body', 4],
  ['random-bytes', 3],
  ['large-body', 2],
  ['extra-fields', 3],
  ['content-type', 5],
  ['callback-url', 4],
];

const REQUEST_CATEGORIES: readonly [string, number][] = [
  ['body', 62],
  ['models', 3],
  ['report-id', 10],
  ['stream-resume', 5],
  ['stream-cancel', 5],
  ['report-cancel', 5],
  ['odd-method', 4],
  ['odd-path', 6],
  ['idempotency-key', 5],
  ['forwarded-proto', 3],
  ['api-key', 6],
  ['transport', 4],
];

function weighted(r: Random, table: readonly [string, number][]): string {
  const total = table.reduce((sum, [, w]) => sum + w, 0);
  let at = r() * total;
  for (const [name, w] of table) {
    at -= w;
    if (at < 0) return name;
  }
  return table[table.length - 1][0];
}

/** One case; `r` decides everything, so a seed reproduces the run. */
function generateCase(r: Random, ctx: FuzzContext): FuzzCase {
  const category = weighted(r, REQUEST_CATEGORIES);
  const json = (key = ctx.key): [string, string][] => [
    ['x-api-key', key],
    ['Content-Type', 'application/json'],
  ];
  const route = pickFrom(r, Object.keys(BODY_ROUTES) as BodyRoute[]);
  const toBuffer = (b: Json | Buffer) => (typeof b === 'string' ? Buffer.from(b, 'utf8') : b);
  let label: string;
  let parts: RequestParts;

  switch (category) {
    case 'body': {
      const sub = weighted(r, BODY_CATEGORIES);
      label = `${sub}/${route}`;
      if (sub === 'content-type') {
        const type = pickFrom(r, CONTENT_TYPES);
        const headers: [string, string][] = [['x-api-key', ctx.key]];
        if (type || r() < 0.5) headers.push(['Content-Type', type]);
        parts = {
          method: 'POST',
          target: BODY_ROUTES[route],
          headers,
          body: toBuffer(r() < 0.5 ? validBody(route, r, ctx) : `${MAIN_FIELD[route]}=hi`),
        };
      } else {
        parts = {
          method: 'POST',
          target: BODY_ROUTES[route],
          headers: json(),
          body: toBuffer(mutateBody(sub, route, r, ctx)),
        };
      }
      break;
    }
    case 'models': {
      // GET /models: the list of models, with the key in either header or none, and odd query strings.
      const auth = pickFrom(r, ['x-api-key', 'bearer', 'missing', 'garbage']);
      label = `models-${auth}/models`;
      const headers: [string, string][] = [];
      if (auth === 'x-api-key') headers.push(['x-api-key', ctx.key]);
      if (auth === 'bearer') headers.push(['Authorization', `Bearer ${ctx.key}`]);
      if (auth === 'garbage')
        headers.push(['Authorization', pickFrom(r, ['Bearer', 'Bearer  ', 'Basic eDp5', `bearer ${ctx.key}`])]);
      const query = pickFrom(r, ['', '?limit=1', '?after=%zz', `?${'x'.repeat(3_000)}`, '/', '/default']);
      parts = { method: 'GET', target: `/models${query}`, headers };
      break;
    }
    case 'report-id': {
      const kind = pickFrom(r, ['own', 'foreign', 'odd', 'long', 'random', 'query']);
      label = `report-id-${kind}/get-report`;
      const id =
        kind === 'own'
          ? pickFrom(r, ctx.reportIds)
          : kind === 'foreign'
            ? pickFrom(r, ctx.foreignReportIds)
            : kind === 'odd'
              ? pickFrom(r, ODD_IDS)
              : kind === 'long'
                ? 'x'.repeat(pickFrom(r, [256, 1_025, 4_000, 9_000, 12_000]))
                : kind === 'random'
                  ? Array.from({ length: int(r, 1, 60) }, () =>
                      pickFrom(r, [...'abcdefABCDEF0123456789-_.~!$&()*,;=:@']),
                    ).join('')
                  : `${pickFrom(r, ctx.reportIds)}?${pickFrom(r, ['a=1', 'a=1&a=2', '%zz=1', '=', '&&', 'x'.repeat(3_000), 'id=../chat'])}`;
      parts = { method: 'GET', target: `/reports/${id}`, headers: [['x-api-key', ctx.key]] };
      break;
    }
    case 'stream-cancel': {
      // POST /chat/stream/{requestId}/cancel: own (finished) streams, others' ids, odd, long and random ids, with or
      // without a body (the route takes none).
      const kind = pickFrom(r, ['own', 'foreign', 'odd', 'long', 'random', 'completion-id']);
      label = `stream-cancel-${kind}/cancel-stream`;
      const own = ctx.streamIds ?? ctx.ratedIds ?? ctx.reportIds;
      const id =
        kind === 'own'
          ? pickFrom(r, own)
          : kind === 'foreign'
            ? pickFrom(r, ctx.foreignReportIds)
            : kind === 'odd'
              ? pickFrom(r, ODD_IDS)
              : kind === 'long'
                ? 'x'.repeat(pickFrom(r, [129, 256, 4_000, 9_000]))
                : kind === 'random'
                  ? Array.from({ length: int(r, 1, 60) }, () =>
                      pickFrom(r, [...'abcdefABCDEF0123456789-_.~!$&()*,;=:@']),
                    ).join('')
                  : `chatcmpl-${pickFrom(r, own)}`;
      const withBody = r() < 0.4;
      parts = {
        method: 'POST',
        target: `/chat/stream/${id}/cancel`,
        headers: withBody ? json() : [['x-api-key', ctx.key]],
        body: withBody ? toBuffer(validBody(route, r, ctx)) : undefined,
      };
      break;
    }
    case 'report-cancel': {
      // POST /reports/{id}/cancel: others' reports, odd, long and random ids, with or without a body (the route takes
      // none). The fuzzing user's own reports are left alone: the other routes' cases rate and poll them.
      const kind = pickFrom(r, ['foreign', 'odd', 'long', 'random']);
      label = `report-cancel-${kind}/cancel-report`;
      const id =
        kind === 'foreign'
          ? pickFrom(r, ctx.foreignReportIds)
          : kind === 'odd'
            ? pickFrom(r, ODD_IDS)
            : kind === 'long'
              ? 'x'.repeat(pickFrom(r, [37, 256, 4_000, 9_000]))
              : Array.from({ length: int(r, 1, 60) }, () =>
                  pickFrom(r, [...'abcdefABCDEF0123456789-_.~!$&()*,;=:@']),
                ).join('');
      const withBody = r() < 0.4;
      parts = {
        method: 'POST',
        target: `/reports/${id}/cancel`,
        headers: withBody ? json() : [['x-api-key', ctx.key]],
        body: withBody ? toBuffer(validBody(route, r, ctx)) : undefined,
      };
      break;
    }
    case 'stream-resume': {
      // GET /chat/stream/{requestId}: own streams from the start or after good, odd and out-of-range Last-Event-IDs (as
      // the header or the lastEventId query parameter), others' ids, odd, long and random ids.
      const kind = pickFrom(r, ['own', 'foreign', 'odd', 'long', 'random']);
      label = `stream-resume-${kind}/resume-stream`;
      const own = ctx.streamIds ?? ctx.ratedIds ?? ctx.reportIds;
      const id =
        kind === 'own'
          ? pickFrom(r, own)
          : kind === 'foreign'
            ? pickFrom(r, ctx.foreignReportIds)
            : kind === 'odd'
              ? pickFrom(r, ODD_IDS)
              : kind === 'long'
                ? 'x'.repeat(pickFrom(r, [129, 256, 4_000, 9_000]))
                : Array.from({ length: int(r, 1, 60) }, () =>
                    pickFrom(r, [...'abcdefABCDEF0123456789-_.~!$&()*,;=:@']),
                  ).join('');
      const lastEventId = pickFrom(r, [
        undefined,
        '0',
        '1',
        '3',
        '999999',
        '',
        ' ',
        '-1',
        'abc',
        '1e3',
        '0x10',
        '007',
        '18446744073709551616',
        'x'.repeat(3_000),
      ]);
      const inQuery = lastEventId !== undefined && r() < 0.5;
      const headers: [string, string][] = [['x-api-key', ctx.key]];
      if (lastEventId !== undefined && !inQuery) headers.push(['Last-Event-ID', lastEventId]);
      const query = inQuery ? `?lastEventId=${encodeURIComponent(lastEventId)}` : '';
      parts = { method: 'GET', target: `/chat/stream/${id}${query}`, headers };
      break;
    }
    case 'odd-method': {
      const method = pickFrom(r, [
        'PUT',
        'DELETE',
        'PATCH',
        'OPTIONS',
        'HEAD',
        'TRACE',
        'FOO',
        'PROPFIND',
        'GET',
        'POST',
        'M-SEARCH',
        'PURGE',
        'LINK',
      ]);
      const target = pickFrom(r, [...Object.values(BODY_ROUTES), `/reports/${pickFrom(r, ctx.reportIds)}`, '/']);
      label = `odd-method-${method}/${target.split('/')[1] || 'root'}`;
      const body =
        method === 'GET' || method === 'HEAD'
          ? r() < 0.3
            ? Buffer.from(validBody(route, r, ctx))
            : undefined
          : toBuffer(validBody(route, r, ctx));
      parts = { method, target, headers: json(), body };
      break;
    }
    case 'odd-path': {
      const target = pickFrom(r, [
        '//chat',
        '/chat/',
        '/chat//stream',
        '/chat/stream/',
        '///reports',
        '/reports/',
        '/reports//x',
        '/reports/%00',
        '/reports/../chat',
        '/reports/./x',
        '/./chat',
        '/chat/stream/../../chat',
        '/CHAT',
        '/Chat/Stream',
        '/chat%2fstream',
        '/chat%2Fstream',
        '/chat;x=1',
        '/chat?x=1',
        '/chat#frag',
        '/v1/chat',
        '/local/chat',
        '/_local/model/x',
        '/%63hat',
        '/chat%00',
        '/chat\u00e9',
        '/' + 'a/'.repeat(500),
        '/reports/' + 'a'.repeat(10_500),
        '*',
        'chat',
        '/reports/{id}',
      ]);
      const method = pickFrom(r, ['GET', 'POST']);
      label = `odd-path-${method}/${target.slice(0, 24)}`;
      parts = {
        method,
        target,
        headers: json(),
        body: method === 'POST' ? toBuffer(validBody(route, r, ctx)) : undefined,
      };
      break;
    }
    case 'idempotency-key': {
      const value = pickFrom(r, [
        '',
        ' ',
        'a',
        'k'.repeat(255),
        'k'.repeat(256),
        'k'.repeat(300),
        'k'.repeat(5_000),
        'two words',
        'tab\there',
        'é-latin1',
        '\u00ff\u00fe',
        'null',
        '0',
        '../../x',
        '%00',
        '"quoted"',
        'a,b',
        'fuzz-shared-key',
        'fuzz-shared-key',
        '*',
      ]);
      label = 'idempotency-key/reports';
      const headers = json();
      headers.push(['Idempotency-Key', value]);
      if (r() < 0.2) headers.push(['Idempotency-Key', 'second-value']);
      parts = {
        method: 'POST',
        target: '/reports',
        headers,
        body: toBuffer(
          r() < 0.7
            ? validBody('reports', r, ctx)
            : mutateBody(pickFrom(r, ['wrong-type', 'malformed-json', 'proto-keys']), 'reports', r, ctx),
        ),
      };
      break;
    }
    case 'forwarded-proto': {
      const value = pickFrom(r, [
        'https',
        'http',
        'HTTPS',
        '',
        'javascript',
        'https, http',
        'ftp',
        'h'.repeat(2_000),
        'https://evil',
        '\u00e9',
        '%00',
        'wss',
      ]);
      const target = pickFrom(r, ['/reports', '/chat', '/chat/stream', `/reports/${pickFrom(r, ctx.reportIds)}`]);
      label = `forwarded-proto/${target.split('/')[1]}`;
      const headers = json();
      headers.push(['X-Forwarded-Proto', value]);
      if (r() < 0.3) headers.push(['X-Forwarded-Host', pickFrom(r, ['evil.example', '', '127.0.0.1:1', 'a b'])]);
      if (r() < 0.3) headers.push(['Host', pickFrom(r, ['evil.example', '127.0.0.1:99999', '[::1]', 'a'.repeat(300)])]);
      const get = target.startsWith('/reports/');
      parts = {
        method: get ? 'GET' : 'POST',
        target,
        headers,
        body: get ? undefined : toBuffer(validBody(target === '/reports' ? 'reports' : 'chat', r, ctx)),
      };
      break;
    }
    case 'api-key': {
      const kind = pickFrom(r, [
        'missing',
        'empty',
        'garbage',
        'padded',
        'twice',
        'other-user',
        'bearer',
        'case',
        'long',
        'latin1',
      ]);
      label = `api-key-${kind}/${route}`;
      const key =
        kind === 'empty'
          ? ''
          : kind === 'garbage'
            ? Array.from({ length: int(r, 1, 80) }, () => String.fromCharCode(int(r, 33, 126))).join('')
            : kind === 'padded'
              ? ` ${ctx.key} `
              : kind === 'other-user'
                ? ctx.otherKey
                : kind === 'case'
                  ? ctx.key.toUpperCase()
                  : kind === 'long'
                    ? ctx.key.repeat(200)
                    : kind === 'latin1'
                      ? `${ctx.key}\u00e9`
                      : ctx.key;
      const headers: [string, string][] = [['Content-Type', 'application/json']];
      if (kind === 'bearer') headers.push(['Authorization', `Bearer ${ctx.key}`]);
      else if (kind !== 'missing') headers.push([pickFrom(r, ['x-api-key', 'X-API-KEY', 'X-Api-Key']), key]);
      if (kind === 'twice') headers.push(['x-api-key', 'second-key-00000000000000000']);
      const get = r() < 0.3;
      parts = get
        ? { method: 'GET', target: `/reports/${pickFrom(r, ctx.reportIds)}`, headers }
        : { method: 'POST', target: BODY_ROUTES[route], headers, body: toBuffer(validBody(route, r, ctx)) };
      break;
    }
    default: {
      const kind = pickFrom(r, [
        'absolute-form',
        'http10',
        'short-length',
        'chunked',
        'bad-chunked',
        'obs-fold',
        'continue',
        'many-headers',
        'nul-header',
        'lowercase-method',
        'pipelined',
      ]);
      label = `transport-${kind}/${route}`;
      const body = Buffer.from(validBody(route, r, ctx));
      const target = BODY_ROUTES[route];
      if (kind === 'absolute-form')
        parts = {
          method: 'POST',
          target: pickFrom(r, [
            `http://127.0.0.1${target}`,
            `http://[${target}`,
            `http://evil.example${target}`,
            `https://x:y@h:1${target}?q`,
          ]),
          headers: json(),
          body,
        };
      else if (kind === 'http10') parts = { method: 'POST', target, headers: json(), body, version: 'HTTP/1.0' };
      else if (kind === 'short-length')
        parts = { method: 'POST', target, headers: json(), body, contentLength: int(r, 0, body.length - 1) };
      else if (kind === 'chunked' || kind === 'bad-chunked') {
        const chunked =
          kind === 'chunked'
            ? `${body.length.toString(16)}\r\n${body.toString('latin1')}\r\n0\r\n\r\n`
            : pickFrom(r, [
                'zz\r\n{}\r\n0\r\n\r\n',
                `${body.length.toString(16)};${'e'.repeat(20_000)}\r\n`,
                '5\r\n{}\r\n0\r\n\r\n',
                '-1\r\n',
              ]);
        parts = {
          method: 'POST',
          target,
          headers: [...json(), ['Transfer-Encoding', 'chunked']],
          body: Buffer.from(chunked, 'latin1'),
        };
      } else if (kind === 'obs-fold')
        parts = { method: 'POST', target, headers: [...json(), ['X-Folded', 'a\r\n b']], body };
      else if (kind === 'continue')
        parts = {
          method: 'POST',
          target,
          headers: [...json(), ['Expect', pickFrom(r, ['100-continue', 'teapot'])]],
          body,
        };
      else if (kind === 'many-headers')
        parts = {
          method: 'POST',
          target,
          headers: [
            ...json(),
            ...Array.from({ length: int(r, 100, 600) }, (_, i): [string, string] => [`x-h${i}`, 'v']),
          ],
          body,
        };
      else if (kind === 'nul-header')
        parts = { method: 'POST', target, headers: [...json(), ['X-Nul', 'a\u0000b']], body };
      else if (kind === 'lowercase-method') parts = { method: 'post', target, headers: json(), body };
      else
        parts = {
          method: 'POST',
          target,
          headers: [...json(), ['Connection', 'keep-alive']],
          body: Buffer.concat([body, buildRequest({ method: 'GET', target: '/reports/x', headers: json() })]),
        };
    }
  }
  const request = buildRequest(parts);
  return {
    label,
    requestLine: `${parts.method} ${parts.target.slice(0, 80)}`,
    request,
    expectsBody: parts.method !== 'HEAD',
  };
}

/** `count` cases from `seed`, plus a fixed few that are too costly to leave to chance (bodies over 10 MB). */
export function generateFuzzCases(
  seed: number,
  count: number,
  ctx: FuzzContext,
  random: (seed: number) => Random,
): FuzzCase[] {
  const r = random(seed);
  const cases = Array.from({ length: count }, () => generateCase(r, ctx));
  for (const route of Object.keys(BODY_ROUTES) as BodyRoute[]) {
    const main = route === 'openai' ? 'message' : MAIN_FIELD[route];
    cases.push({
      label: `oversized-body/${route}`,
      requestLine: `POST ${BODY_ROUTES[route]}`,
      request: buildRequest({
        method: 'POST',
        target: BODY_ROUTES[route],
        headers: [
          ['x-api-key', ctx.key],
          ['Content-Type', 'application/json'],
        ],
        body: Buffer.from(obj([[main, str('o'.repeat(10 * 1024 * 1024))]])),
      }),
      expectsBody: true,
    });
  }
  return cases;
}
