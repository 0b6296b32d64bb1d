/**
 * The OpenAPI 3.1 description of the API, generated, never written by hand: the paths and methods from the route table
 * (config/routes.ts), the bodies from the contract's zod schemas (config/contract.ts, config/responses.ts,
 * lambda/core/openai/schemas.ts), the error codes from the error classes (lambda/core/errors.ts), and the words from
 * the per-route documentation (openapi/operations.ts). `npm run openapi` writes it to docs/openapi.json; the local
 * cloud serves it at `GET /openapi.json`.
 *
 * The generator refuses to describe what it cannot vouch for: a route without documentation, documentation of a route
 * that does not exist, a request schema other than the one the route table names, an error code that no error class
 * answers with that status, a parameter the route does not have.
 */
import { z } from 'zod';
import { API_KEY_HEADER } from '../config/auth';
import { errorBodySchemaFor, gatewayMessageSchemaFor } from '../config/responses';
import { ROUTES, type RouteDefinition } from '../config/routes';
import packageJson from '../package.json';
import {
  chatCompletionStreamEventSchema,
  chatStreamEventSchema,
  inlineSchema,
  type JsonSchema,
  namedSchemas,
  type SchemaName,
  schemaComponents,
  schemaRef,
} from './components';
import { type ErrorCodeFacts, errorCatalogue } from './error-codes';
import { type Body, type HeaderName, OPERATIONS, type OperationDoc, type ResponseDoc, TAGS } from './operations';

export type OpenApiDocument = Record<string, unknown>;

/** The description is wrong or incomplete: the message names the route and what to fix. */
export class OpenApiGenerationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpenApiGenerationError';
  }
}

export interface OpenApiSources {
  /** @default ROUTES */
  readonly routes?: readonly RouteDefinition[];
  /** @default OPERATIONS */
  readonly operations?: Readonly<Record<string, OperationDoc>>;
}

const DESCRIPTION = [
  'Streaming chat over Server-Sent Events, long jobs as reports with signed webhooks, synchronous chat, and an ' +
    'OpenAI-compatible surface, guarded by a circuit breaker shared by every instance, model fallbacks, usage plans ' +
    'and a daily token budget per user.',
  'Authenticate with an API key, as `x-api-key: <key>` or as `Authorization: Bearer <key>`; the key carries its ' +
    'usage plan, and the user is derived from it server-side. CORS preflights (`OPTIONS`) need no key.',
  'Errors are `{"error":{"code","message","retryable"}}` on the native routes and OpenAI\'s ' +
    '`{"error":{"message","type","param","code"}}` on the OpenAI-compatible ones; API Gateway\'s own rejections (a ' +
    'missing key, a usage-plan throttle or quota) keep its `{"message"}` shape. Every response carries its request ' +
    'id in `x-request-id`. Response objects may gain fields: ignore the ones you do not know.',
  "Generated from the route table and the contract's zod schemas by `npm run openapi`.",
].join('\n\n');

const SERVERS = [
  {
    url: 'https://{restApiId}.execute-api.{region}.amazonaws.com/v1',
    description: 'A deployed stage: the stack output `ApiUrl` (also the OpenAI base URL).',
    variables: {
      restApiId: { default: 'abc123', description: 'The REST API id: the stack output `ApiId`.' },
      region: { default: 'us-east-1', description: 'The AWS Region of the stack.' },
    },
  },
  {
    url: 'http://127.0.0.1:3000',
    description: 'The local cloud (`npm start`); every route is also served under `/v1`.',
  },
];

const SECURITY_SCHEMES = {
  ApiKey: {
    type: 'apiKey',
    in: 'header',
    name: API_KEY_HEADER,
    description: 'The API key. Every route accepts it here or as a bearer token.',
  },
  Bearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'The API key as `Authorization: Bearer <key>`, as OpenAI clients send it.',
  },
};

const REQUEST_ID_HEADER = {
  description:
    'The id of this request: quote it when reporting a problem, or rate the answer with `POST /feedback`. The ' +
    'native answers also carry it in the body (`requestId`).',
  required: true,
  schema: { type: 'string' },
};

const HEADER_SCHEMAS: Readonly<Record<HeaderName, JsonSchema>> = {
  'Retry-After': { type: 'integer', minimum: 0 },
  Location: { type: 'string', format: 'uri' },
  'Idempotent-Replayed': { type: 'string', const: 'true' },
  'x-should-retry': { type: 'string', const: 'false' },
  'x-cache': { type: 'string', enum: ['hit', 'miss', 'bypass'] },
  'WWW-Authenticate': { type: 'string', const: 'Bearer' },
  // Structured field Lists (RFC 9651), as draft-ietf-httpapi-ratelimit-headers-11 defines them.
  'RateLimit-Policy': { type: 'string', examples: ['"concurrency";q=20;qu="concurrent-requests"'] },
  RateLimit: { type: 'string', examples: ['"concurrency";r=19'] },
  'x-ratelimit-limit-requests': { type: 'integer', minimum: 1 },
  'x-ratelimit-remaining-requests': { type: 'integer', minimum: 0 },
  'x-ratelimit-reset-requests': { type: 'string', examples: ['2s', '1m30s'] },
  'x-ratelimit-limit-tokens': { type: 'integer', minimum: 1 },
  'x-ratelimit-remaining-tokens': { type: 'integer', minimum: 0 },
  'x-ratelimit-reset-tokens': { type: 'string', examples: ['5h30m0s'] },
};

/** Builds the description from the route table and the per-route documentation. */
export function buildOpenApiDocument(sources: OpenApiSources = {}): OpenApiDocument {
  const routes = sources.routes ?? ROUTES;
  const operations = sources.operations ?? OPERATIONS;
  const catalogue = errorCatalogue();
  const errorCode = z
    .enum([...catalogue.keys()] as [string, ...string[]])
    .describe(
      'Every error code: ' +
        [...catalogue.values()]
          .map((f) => `\`${f.code}\` (${f.status}${f.retryable ? ', retryable' : ''})`)
          .join(', ') +
        '.',
    );
  const named = namedSchemas(errorCode);
  const context: Context = { named, catalogue };

  const undocumented = Object.keys(operations).filter((id) => !routes.some((r) => r.id === id));
  if (undocumented.length > 0)
    throw new OpenApiGenerationError(
      `openapi/operations.ts documents routes that are not in the route table: ${undocumented.join(', ')}`,
    );
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const doc = operations[route.id];
    if (!doc)
      throw new OpenApiGenerationError(
        `Route ${route.id} (${route.method} ${route.path}) has no documentation: add it to OPERATIONS in openapi/operations.ts`,
      );
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operationOf(route, doc, context);
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Serverless GenAI API',
      version: packageJson.version,
      summary: 'The reference serverless GenAI API for AWS.',
      description: DESCRIPTION,
      license: { name: 'MIT-0', identifier: 'MIT-0' },
    },
    servers: SERVERS,
    security: [{ ApiKey: [] }, { Bearer: [] }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    webhooks: { reportFinished: { post: reportWebhook() } },
    components: {
      schemas: {
        ...schemaComponents(named),
        ChatStreamEvent: chatStreamEventSchema(),
        ChatCompletionStreamEvent: chatCompletionStreamEventSchema(),
      },
      headers: { RequestId: REQUEST_ID_HEADER },
      securitySchemes: SECURITY_SCHEMES,
    },
  };
}

/** The description as `docs/openapi.json` holds it: 2-space JSON, keys in the generator's order, a final newline. */
export function serializeOpenApi(document: OpenApiDocument): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

interface Context {
  readonly named: Readonly<Record<SchemaName, z.core.$ZodType>>;
  readonly catalogue: ReadonlyMap<string, ErrorCodeFacts>;
}

function operationOf(route: RouteDefinition, doc: OperationDoc, context: Context): Record<string, unknown> {
  const where = `Route ${route.id} (${route.method} ${route.path})`;
  const operation: Record<string, unknown> = {
    operationId: route.id.charAt(0).toLowerCase() + route.id.slice(1),
    summary: doc.summary,
    description: doc.description,
    tags: [doc.tag],
  };
  const parameters = parametersOf(route, doc, where);
  if (parameters.length > 0) operation.parameters = parameters;
  const body = requestBodyOf(route, doc, context, where);
  if (body) operation.requestBody = body;
  operation.responses = responsesOf(route, doc, context, where);
  return operation;
}

function parametersOf(route: RouteDefinition, doc: OperationDoc, where: string): Record<string, unknown>[] {
  const documented = doc.parameters ?? {};
  const wanted = [
    ...[...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1] as string, in: 'path', required: true })),
    ...(route.requestHeaders ?? []).map((name) => ({ name, in: 'header', required: false })),
    ...(route.requestQueryParameters ?? []).map((name) => ({ name, in: 'query', required: false })),
  ];
  const unused = Object.keys(documented).filter((name) => !wanted.some((p) => p.name === name));
  if (unused.length > 0)
    throw new OpenApiGenerationError(`${where} documents parameters it does not have: ${unused.join(', ')}`);
  return wanted.map(({ name, in: location, required }) => {
    const parameter = documented[name];
    if (!parameter) throw new OpenApiGenerationError(`${where}: document the ${location} parameter ${name}`);
    return { name, in: location, required, description: parameter.description, schema: inlineSchema(parameter.schema) };
  });
}

function requestBodyOf(
  route: RouteDefinition,
  doc: OperationDoc,
  context: Context,
  where: string,
): Record<string, unknown> | undefined {
  const body = doc.requestBody;
  if (!body) {
    if (route.requestSchema || (route.method === 'POST' && !doc.noRequestBody))
      throw new OpenApiGenerationError(`${where}: document its request body`);
    return undefined;
  }
  if (route.requestSchema && context.named[body.schema] !== route.requestSchema)
    throw new OpenApiGenerationError(
      `${where}: its request body must be the route table's requestSchema, which is not the schema named ${body.schema}`,
    );
  return {
    description: body.description,
    required: true,
    content: {
      'application/json': {
        schema: schemaRef(body.schema),
        examples: Object.fromEntries(
          Object.entries(body.examples).map(([name, { summary, value }]) => [name, { summary, value }]),
        ),
      },
    },
  };
}

function responsesOf(
  route: RouteDefinition,
  doc: OperationDoc,
  context: Context,
  where: string,
): Record<string, unknown> {
  const statuses = Object.keys(doc.responses)
    .map(Number)
    .sort((a, b) => a - b);
  // The gateway answers every route's key and usage-plan refusals: no route may leave them out.
  const keyRefusal = route.errorStyle === 'openai' ? 401 : 403;
  for (const required of [keyRefusal, 429]) {
    if (!statuses.includes(required)) throw new OpenApiGenerationError(`${where}: document its ${required} response`);
  }
  if (!statuses.some((s) => s >= 200 && s < 300))
    throw new OpenApiGenerationError(`${where}: document its success response`);
  return Object.fromEntries(
    statuses.map((status) => [String(status), responseOf(status, doc.responses[status]!, context, where)]),
  );
}

function responseOf(status: number, doc: ResponseDoc, context: Context, where: string): Record<string, unknown> {
  const headers: Record<string, unknown> = { 'x-request-id': { $ref: '#/components/headers/RequestId' } };
  for (const [name, use] of Object.entries(doc.headers ?? {}) as [
    HeaderName,
    { required: boolean; description: string },
  ][]) {
    headers[name] = { description: use.description, required: use.required, schema: HEADER_SCHEMAS[name] };
  }
  const content: Record<string, unknown> = {};
  if (doc.json && doc.json.length > 0) {
    const schemas = doc.json.map((body) => bodySchema(body, status, context, where));
    content['application/json'] = { schema: schemas.length === 1 ? schemas[0] : { oneOf: schemas } };
  }
  if (doc.eventStream) {
    content['text/event-stream'] = {
      schema: { type: 'string', description: 'Server-Sent Events; each event as `x-itemSchema` describes.' },
      'x-itemSchema': schemaRef(doc.eventStream),
    };
  }
  return { description: doc.description, headers, ...(Object.keys(content).length > 0 ? { content } : {}) };
}

function bodySchema(body: Body, status: number, context: Context, where: string): JsonSchema {
  if ('schema' in body) return schemaRef(body.schema);
  if ('gateway' in body) return inlineSchema(gatewayMessageSchemaFor(z.enum(body.gateway)));
  for (const code of body.errors) {
    const facts = context.catalogue.get(code);
    if (!facts)
      throw new OpenApiGenerationError(`${where}: no error class in lambda/core/errors.ts has the code ${code}`);
    if (facts.status !== status)
      throw new OpenApiGenerationError(`${where}: ${code} is answered with ${facts.status}, not ${status}`);
  }
  return inlineSchema(errorBodySchemaFor(z.enum(body.errors)));
}

/** The webhook a finished report sends to its `callbackUrl` and to the deploy-time subscribers. */
function reportWebhook(): Record<string, unknown> {
  const signed = (description: string) => ({ description, required: false, schema: { type: 'string' } });
  return {
    operationId: 'reportFinished',
    summary: 'A report finished',
    description:
      "Sent when a report reaches `COMPLETED` or `FAILED`: to the report's `callbackUrl`, signed per the Standard " +
      'Webhooks spec, and to every deploy-time subscriber (`webhooks.subscribers`), authenticated by its API ' +
      "destination's connection. Any `2xx` within `webhooks.deliveryTimeoutMs` is a delivery; anything else is " +
      'retried with backoff, then dead-lettered. The same webhook may arrive twice: deduplicate on `webhook-id`.',
    tags: ['Reports'],
    security: [],
    parameters: [
      {
        name: 'webhook-id',
        in: 'header',
        ...signed('`msg_<reportId>`, the same on every attempt (per-report callbacks).'),
      },
      { name: 'webhook-timestamp', in: 'header', ...signed('Unix seconds of this attempt (per-report callbacks).') },
      {
        name: 'webhook-signature',
        in: 'header',
        ...signed(
          '`v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">`, keyed by the base64-decoded ' +
            'signing secret (per-report callbacks).',
        ),
      },
    ],
    requestBody: { required: true, content: { 'application/json': { schema: schemaRef('ReportWebhook') } } },
    responses: { '2XX': { description: 'Delivered.' } },
  };
}

/** Where the description is committed, from the repository root. */
export const OPENAPI_FILE = 'docs/openapi.json';
