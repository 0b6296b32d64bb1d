/**
 * The named schemas of the description (`components.schemas`): the contract's zod schemas, each under one name, so
 * every body that uses one refers to it. Request bodies are the very instances the route table and the handlers use
 * (the generator checks the identity); responses are those of config/responses.ts and lambda/core/openai/schemas.ts.
 */
import { z } from 'zod';
import {
  chatMessageSchema,
  chatRequestSchema,
  feedbackRequestSchema,
  submitReportRequestSchema,
} from '../config/contract';
import {
  alreadyFinishedErrorSchema,
  chatMetricsSchema,
  chatResponseSchema,
  errorBodySchemaFor,
  reportAcceptedSchema,
  reportErrorSchema,
  reportResultSchema,
  reportStatusSchema,
  reportWebhookPayloadSchema,
  STREAM_EVENTS,
  streamCancelAcceptedSchema,
  streamErrorEventSchemaFor,
  tokenUsageSchema,
} from '../config/responses';
import {
  assistantMessageSchema,
  chatCompletionChunkSchema,
  chatCompletionRequestSchema,
  chatCompletionSchema,
  chunkDeltaSchema,
  chunkToolCallSchema,
  finishReasonSchema,
  functionToolSchema,
  imagePartSchema,
  messageToolCallSchema,
  modelEntrySchema,
  modelListSchema,
  openAIErrorBodySchema,
  openAIUsageSchema,
  systemMessageSchema,
  textContentSchema,
  textPartSchema,
  toolMessageSchema,
  userMessageSchema,
} from '../lambda/core/openai/schemas';

/** The named schemas; `errorCode` is the enum of every code a client can see. */
export function namedSchemas(errorCode: z.ZodType<string>) {
  return {
    // Native requests: the route table's schemas.
    ChatRequest: chatRequestSchema,
    ChatMessage: chatMessageSchema,
    SubmitReportRequest: submitReportRequestSchema,
    FeedbackRequest: feedbackRequestSchema,
    // Native responses.
    ChatResponse: chatResponseSchema,
    TokenUsage: tokenUsageSchema,
    ChatMetrics: chatMetricsSchema,
    StreamStartEvent: STREAM_EVENTS.start,
    StreamDeltaEvent: STREAM_EVENTS.delta,
    StreamEndEvent: STREAM_EVENTS.end,
    StreamErrorEvent: streamErrorEventSchemaFor(errorCode),
    ReportAccepted: reportAcceptedSchema,
    ReportStatus: reportStatusSchema,
    ReportResult: reportResultSchema,
    ReportError: reportErrorSchema,
    ReportWebhook: reportWebhookPayloadSchema,
    StreamCancelAccepted: streamCancelAcceptedSchema,
    ErrorBody: errorBodySchemaFor(errorCode),
    AlreadyFinishedError: alreadyFinishedErrorSchema,
    ErrorCode: errorCode,
    // OpenAI-compatible.
    ChatCompletionRequest: chatCompletionRequestSchema,
    ChatCompletionSystemMessage: systemMessageSchema,
    ChatCompletionUserMessage: userMessageSchema,
    ChatCompletionAssistantMessage: assistantMessageSchema,
    ChatCompletionToolMessage: toolMessageSchema,
    ChatCompletionTextContent: textContentSchema,
    ChatCompletionTextPart: textPartSchema,
    ChatCompletionImagePart: imagePartSchema,
    ChatCompletionMessageToolCall: messageToolCallSchema,
    ChatCompletionTool: functionToolSchema,
    ChatCompletion: chatCompletionSchema,
    ChatCompletionChunk: chatCompletionChunkSchema,
    ChatCompletionChunkDelta: chunkDeltaSchema,
    ChatCompletionChunkToolCall: chunkToolCallSchema,
    FinishReason: finishReasonSchema,
    OpenAIUsage: openAIUsageSchema,
    ModelList: modelListSchema,
    Model: modelEntrySchema,
    OpenAIErrorBody: openAIErrorBodySchema,
  } satisfies Record<string, z.core.$ZodType>;
}

export type SchemaName = keyof ReturnType<typeof namedSchemas>;

/** Where a named schema is in the document. */
export const schemaRef = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** A JSON Schema object, as the document holds it. */
export type JsonSchema = Record<string, unknown>;

/**
 * The JSON Schemas (2020-12, the dialect of OpenAPI 3.1) of the named schemas, with `$ref`s between them. Bodies are
 * described as a client sends or reads them (`io: 'input'`): request objects are closed where the handler refuses
 * unknown fields, response objects are open, so a new field never breaks a client that checks them.
 */
export function schemaComponents(schemas: Readonly<Record<string, z.core.$ZodType>>): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) {
    if (registry.has(schema)) throw new Error(`Schema ${id} is already named ${registry.get(schema)?.id}`);
    registry.add(schema, { id });
  }
  const { schemas: converted } = z.toJSONSchema(registry, { ...CONVERSION, uri: (id) => schemaRef(id).$ref });
  return Object.fromEntries(Object.keys(schemas).map((id) => [id, withoutDialect(converted[id] as JsonSchema)]));
}

/** One schema, written out in full (for a body narrowed to some error codes). */
export function inlineSchema(schema: z.core.$ZodType): JsonSchema {
  return withoutDialect(z.toJSONSchema(schema, CONVERSION));
}

/** Formats every JSON Schema validator knows; zod spells each out as a `pattern` too, which adds nothing but noise. */
const STANDARD_FORMATS = new Set(['date-time', 'uuid', 'uri', 'email']);

const CONVERSION = {
  target: 'draft-2020-12',
  io: 'input',
  unrepresentable: 'throw',
  override: ({ jsonSchema }) => {
    if (typeof jsonSchema.format === 'string' && STANDARD_FORMATS.has(jsonSchema.format)) delete jsonSchema.pattern;
  },
} satisfies Parameters<typeof z.toJSONSchema>[1];

/** The document's dialect applies to every schema in it: `$schema` and the registry's `$id` are left out. */
function withoutDialect(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}

/**
 * One event of the native stream, as OpenAPI 3.2 describes `text/event-stream` items (`itemSchema`): the event name,
 * its `id`, and its `data` (JSON text of the event's schema).
 */
export function chatStreamEventSchema(): JsonSchema {
  const events: [string, SchemaName][] = [
    ['start', 'StreamStartEvent'],
    ['delta', 'StreamDeltaEvent'],
    ['end', 'StreamEndEvent'],
    ['error', 'StreamErrorEvent'],
  ];
  return {
    description:
      'One event of `POST /chat/stream`: `start`, then a `delta` per model chunk, then `end` or `error`. Every event ' +
      'has an `id` (1, 2, …). `: keep-alive` comment lines come while nothing else is sent; SSE parsers skip them.',
    type: 'object',
    required: ['event', 'id', 'data'],
    oneOf: events.map(([event, name]) => ({
      properties: {
        event: { const: event },
        id: { type: 'string', pattern: '^[1-9][0-9]*$' },
        data: { type: 'string', contentMediaType: 'application/json', contentSchema: schemaRef(name) },
      },
    })),
  };
}

/** One event of a streamed `POST /chat/completions`: unnamed `data:` lines, as the OpenAI SDKs read them. */
export function chatCompletionStreamEventSchema(): JsonSchema {
  return {
    description:
      'One event of a streamed chat completion: a `chat.completion.chunk`, the final `[DONE]` after a complete ' +
      'answer, or, when the stream fails after it started, an OpenAI error object (and no `[DONE]`).',
    type: 'object',
    required: ['data'],
    // anyOf: `contentSchema` only annotates, so every branch accepts any text; the branch is told by the data itself.
    anyOf: [
      {
        properties: {
          data: {
            type: 'string',
            contentMediaType: 'application/json',
            contentSchema: schemaRef('ChatCompletionChunk'),
          },
        },
      },
      { properties: { data: { const: '[DONE]' } } },
      {
        properties: {
          data: { type: 'string', contentMediaType: 'application/json', contentSchema: schemaRef('OpenAIErrorBody') },
        },
      },
    ],
  };
}
