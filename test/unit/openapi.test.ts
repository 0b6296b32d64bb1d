/**
 * The OpenAPI description: committed as generated, valid OpenAPI 3.1, exactly the route table's paths and methods,
 * complete for every route, and describing request bodies as the handlers accept them.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { chatRequestSchema } from '../../config/contract';
import type { ReportWebhookPayload } from '../../config/reports';
import type { reportWebhookPayloadSchema } from '../../config/responses';
import { ROUTES, type RouteDefinition } from '../../config/routes';
import { parseConfig } from '../../config/schema';
import { errorCatalogue } from '../../openapi/error-codes';
import { parseFeedbackRequest } from '../../lambda/core/feedback';
import { parseOpenAIChatRequest } from '../../lambda/core/openai/request';
import { parseSubmitReportRequest } from '../../lambda/core/reports/api';
import { parseChatRequest } from '../../lambda/core/validation';
import { buildOpenApiDocument, OPENAPI_FILE, OpenApiGenerationError, serializeOpenApi } from '../../openapi/document';
import { OPERATIONS } from '../../openapi/operations';
import { main as writeOpenApi } from '../../scripts/openapi';
import { pointerSegment, resolveRef, type SpecPaths, specSchemas, validateOpenApi } from '../helpers/openapi';

const ROOT = join(__dirname, '..', '..');
const MODEL = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const config = parseConfig({});
const document = buildOpenApiDocument();
const paths = document.paths as SpecPaths;
const schemas = specSchemas(document);

// The webhook schema and the payload the worker builds are the same type, both ways (checked by `npm run build`).
type WebhookBody = z.infer<typeof reportWebhookPayloadSchema>;
const payloadFitsSchema = (payload: ReportWebhookPayload): WebhookBody => payload;
const schemaFitsPayload = (body: WebhookBody): ReportWebhookPayload => body;
void payloadFitsSchema;
void schemaFitsPayload;

describe('docs/openapi.json', () => {
  it('is what the generator writes from the route table and the contract now', () => {
    const committed = readFileSync(join(ROOT, OPENAPI_FILE), 'utf8');
    const current = committed === serializeOpenApi(document);
    expect(current ? 'current' : `${OPENAPI_FILE} is out of date: run \`npm run openapi\` and commit it`).toBe(
      'current',
    );
  });

  it('is written by npm run openapi, whose --check tells a stale file apart', () => {
    const root = mkdtempSync(join(tmpdir(), 'openapi-'));
    try {
      mkdirSync(join(root, 'docs'));
      expect(writeOpenApi(['--check'], root)).toEqual({
        message: 'docs/openapi.json is not current: run npm run openapi',
        exitCode: 1,
      });
      expect(writeOpenApi([], root)).toEqual({ message: 'wrote docs/openapi.json', exitCode: 0 });
      expect(readFileSync(join(root, OPENAPI_FILE), 'utf8')).toBe(serializeOpenApi(document));
      expect(writeOpenApi(['--check'], root)).toEqual({ message: 'docs/openapi.json is current', exitCode: 0 });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('is valid OpenAPI 3.1 for a real validator', async () => {
    const result = await validateOpenApi(document);
    expect(result).toEqual({ valid: true, version: '3.1' });
  });
});

describe('paths', () => {
  const operations = Object.entries(paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
  );

  it('are exactly the routes of the route table, each method once', () => {
    expect(operations.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });

  it.each(ROUTES.map((r) => [r.id, r] as const))('%s has a unique operationId, a summary and a tag', (_id, route) => {
    const operation = paths[route.path]![route.method.toLowerCase()]!;
    const ids = Object.values(paths).flatMap((item) => Object.values(item).map((o) => o.operationId));
    expect(ids.filter((id) => id === operation.operationId)).toHaveLength(1);
    expect(operation.summary).toEqual(expect.any(String));
    expect(operation.tags).toHaveLength(1);
  });

  it.each(ROUTES.map((r) => [r.id, r] as const))('%s: every response carries x-request-id', (_id, route) => {
    const responses = paths[route.path]![route.method.toLowerCase()]!.responses;
    for (const response of Object.values(responses))
      expect(response.headers?.['x-request-id']).toEqual({ $ref: '#/components/headers/RequestId' });
  });

  it('answer a bad key as each route style does: 401 on the OpenAI-compatible routes, 403 on the others', () => {
    for (const route of ROUTES) {
      const responses = paths[route.path]![route.method.toLowerCase()]!.responses;
      expect(Object.keys(responses)).toContain(route.errorStyle === 'openai' ? '401' : '403');
    }
  });

  it('describe the stream route with its events, and the OpenAI route with JSON and chunks', () => {
    const stream = paths['/chat/stream']!.post!.responses['200']!.content!;
    expect(Object.keys(stream)).toEqual(['text/event-stream']);
    expect(stream['text/event-stream']!['x-itemSchema']).toEqual({ $ref: '#/components/schemas/ChatStreamEvent' });
    const completions = paths['/chat/completions']!.post!.responses['200']!.content!;
    expect(Object.keys(completions).sort()).toEqual(['application/json', 'text/event-stream']);
  });
});

describe('the generator', () => {
  const extra: RouteDefinition = {
    id: 'Extra',
    method: 'GET',
    path: '/extra',
    functionName: 'models',
    transferMode: 'BUFFERED',
  };

  it('refuses a route without documentation, naming it and where to add it', () => {
    expect(() => buildOpenApiDocument({ routes: [...ROUTES, extra] })).toThrow(
      /Route Extra \(GET \/extra\) has no documentation: add it to OPERATIONS in openapi\/operations\.ts/,
    );
  });

  it('refuses documentation of a route the route table does not have', () => {
    expect(() => buildOpenApiDocument({ routes: ROUTES.filter((r) => r.id !== 'Chat') })).toThrow(
      OpenApiGenerationError,
    );
  });

  it('refuses a request body other than the route table names', () => {
    const routes = ROUTES.map((r) => (r.id === 'SubmitReport' ? { ...r, requestSchema: chatRequestSchema } : r));
    expect(() => buildOpenApiDocument({ routes })).toThrow(/SubmitReport .*requestSchema/);
  });

  it('refuses an error code that no error class answers with that status', () => {
    const chat = OPERATIONS.Chat!;
    const operations = {
      ...OPERATIONS,
      Chat: {
        ...chat,
        responses: { ...chat.responses, 404: { description: 'x', json: [{ errors: ['VALIDATION_ERROR'] }] } },
      },
    } as typeof OPERATIONS;
    expect(() => buildOpenApiDocument({ operations })).toThrow(/VALIDATION_ERROR is answered with 400, not 404/);
  });

  it('refuses a route that leaves out the key refusal or the usage-plan 429', () => {
    const models = OPERATIONS.OpenAIModels!;
    const { 429: _limited, ...responses } = models.responses;
    expect(() =>
      buildOpenApiDocument({ operations: { ...OPERATIONS, OpenAIModels: { ...models, responses } } }),
    ).toThrow(/OpenAIModels .*429/);
  });
});

describe('error codes', () => {
  const codes = resolveRef<{ enum: string[] }>(document, '#/components/schemas/ErrorCode').enum;

  it('are those of the error classes, each with its status', () => {
    expect(codes).toEqual([...errorCatalogue().keys()]);
    expect(errorCatalogue().get('TOKEN_BUDGET_EXCEEDED')).toEqual({
      code: 'TOKEN_BUDGET_EXCEEDED',
      status: 429,
      retryable: true,
    });
  });

  it('include every code the README documents', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| \d{3} \| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.length).toBeGreaterThan(5);
    expect(codes).toEqual(expect.arrayContaining(documented));
  });
});

/** Request bodies: the schema in the description accepts exactly what the handler's parser accepts. */
describe('request schemas agree with the handlers', () => {
  const accepts = (parse: () => unknown) => {
    try {
      parse();
      return true;
    } catch {
      return false;
    }
  };
  const bodySchema = (path: string) =>
    `/paths/${pointerSegment(path)}/post/requestBody/content/application~1json/schema`;
  type Sample = [string, unknown];
  const cases: { route: string; parse: (body: unknown) => unknown; samples: Sample[] }[] = [
    {
      route: '/chat',
      parse: (body) => parseChatRequest(JSON.stringify(body), config),
      samples: [
        ['a message', { message: 'hi' }],
        [
          'every field',
          {
            message: 'hi',
            history: [
              { role: 'user', content: 'a' },
              { role: 'assistant', content: 'b' },
            ],
            system: 's',
            maxTokens: 5,
          },
        ],
        ['no message', { system: 's' }],
        ['an empty message', { message: '' }],
        ['an unknown field', { message: 'hi', temperature: 1 }],
        ['a fractional maxTokens', { message: 'hi', maxTokens: 1.5 }],
        ['maxTokens 0', { message: 'hi', maxTokens: 0 }],
        ['a history turn of another role', { message: 'hi', history: [{ role: 'system', content: 'a' }] }],
        ['a number as message', { message: 42 }],
      ],
    },
    {
      route: '/reports',
      parse: (body) => parseSubmitReportRequest({ body: JSON.stringify(body), isBase64Encoded: false, headers: {} }),
      samples: [
        ['a prompt', { prompt: 'p' }],
        ['every field', { prompt: 'p', callbackUrl: 'https://hooks.example.com/r', metadata: { a: [1, { b: null }] } }],
        ['no prompt', { metadata: {} }],
        ['metadata as a list', { prompt: 'p', metadata: [] }],
        ['an unknown field', { prompt: 'p', priority: 1 }],
        ['a callbackUrl over 2048 characters', { prompt: 'p', callbackUrl: `https://x.example/${'a'.repeat(2048)}` }],
      ],
    },
    {
      route: '/feedback',
      parse: (body) => parseFeedbackRequest(JSON.stringify(body)),
      samples: [
        ['a rating', { requestId: 'abc-123', rating: 'down' }],
        ['a rating with a comment', { requestId: 'chatcmpl-abc', rating: 'up', comment: 'good' }],
        ['another rating', { requestId: 'abc', rating: 'meh' }],
        ['a malformed request id', { requestId: '../etc', rating: 'up' }],
        ['no request id', { rating: 'up' }],
        ['an unknown field', { requestId: 'abc', rating: 'up', stars: 5 }],
      ],
    },
    {
      route: '/chat/completions',
      parse: (body) => parseOpenAIChatRequest(JSON.stringify(body), config),
      samples: [
        ['a user message', { model: MODEL, messages: [{ role: 'user', content: 'hi' }] }],
        [
          'null for unset fields',
          { model: MODEL, messages: [{ role: 'user', content: 'hi' }], temperature: null, stop: null, n: null },
        ],
        [
          'unknown fields (ignored)',
          { model: MODEL, messages: [{ role: 'user', content: 'hi' }], seed: 7, metadata: {} },
        ],
        [
          'text parts and an image',
          {
            model: MODEL,
            messages: [
              {
                role: 'user',
                content: [
                  { type: 'text', text: 'what?' },
                  { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
                ],
              },
            ],
          },
        ],
        [
          'a tool round trip',
          {
            model: MODEL,
            tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
            tool_choice: 'required',
            messages: [
              { role: 'user', content: 'weather?' },
              {
                role: 'assistant',
                content: null,
                tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }],
              },
              { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
            ],
          },
        ],
        ['no model', { messages: [{ role: 'user', content: 'hi' }] }],
        ['no messages', { model: MODEL }],
        ['no message at all', { model: MODEL, messages: [] }],
        ['n = 2', { model: MODEL, messages: [{ role: 'user', content: 'hi' }], n: 2 }],
        ['logprobs', { model: MODEL, messages: [{ role: 'user', content: 'hi' }], logprobs: true }],
        [
          'a remote image URL',
          {
            model: MODEL,
            messages: [
              { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] },
            ],
          },
        ],
        ['a function message', { model: MODEL, messages: [{ role: 'function', name: 'f', content: 'x' }] }],
        [
          'five stop sequences',
          { model: MODEL, messages: [{ role: 'user', content: 'hi' }], stop: ['a', 'b', 'c', 'd', 'e'] },
        ],
        ['temperature 3', { model: MODEL, messages: [{ role: 'user', content: 'hi' }], temperature: 3 }],
        ['an empty tools list', { model: MODEL, messages: [{ role: 'user', content: 'hi' }], tools: [] }],
        [
          'a bad tool name',
          {
            model: MODEL,
            messages: [{ role: 'user', content: 'hi' }],
            tools: [{ type: 'function', function: { name: 'a b' } }],
          },
        ],
        [
          'a JSON response format',
          { model: MODEL, messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object' } },
        ],
      ],
    },
  ];

  for (const { route, parse, samples } of cases) {
    it.each(samples)(`${route}: %s`, (_name, body) => {
      const bySpec = schemas.problems(bodySchema(route), body) === undefined;
      expect({ bySpec }).toEqual({ bySpec: accepts(() => parse(body)) });
    });
  }

  it.each(
    Object.entries(OPERATIONS).flatMap(([id, op]) =>
      Object.keys(op.requestBody?.examples ?? {}).map((name) => [id, name] as const),
    ),
  )('%s: example %s fits the schema and is accepted by the handler', (id, name) => {
    const route = ROUTES.find((r) => r.id === id)!;
    const example = OPERATIONS[id]!.requestBody!.examples[name]!.value;
    expect(schemas.problems(bodySchema(route.path), example)).toBeUndefined();
    const parsers: Record<string, (body: unknown) => unknown> = Object.fromEntries(
      cases.map((c) => [c.route, c.parse]),
    );
    expect(() => parsers[route.path === '/chat/stream' ? '/chat' : route.path]!(example)).not.toThrow();
  });
});
