/**
 * Response bodies of the native client contract (README.md, "Call the API"; docs/reports.md), as zod schemas beside
 * the request bodies in `contract.ts`. The OpenAPI description (`openapi/`, `docs/openapi.json`) is generated from
 * them, the SSE writer (`lambda/core/sse.ts`) types each event it writes with them, and the e2e tests check real
 * responses against the generated schemas, so the description, the code and the wire cannot drift apart.
 *
 * Objects are open (`z.object`, not strict): a client must ignore fields it does not know, so a new field is not a
 * breaking change. The tests hold the server to the documented fields anyway (test/e2e/openapi.test.ts).
 */
import { z } from 'zod';
import { REPORT_EVENT_TYPES } from './reports';

export const tokenUsageSchema = z
  .object({
    inputTokens: z
      .int()
      .nonnegative()
      .describe(
        'Tokens the model read (system prompt, history and message), besides those read from or written to the ' +
          'prompt cache, as Bedrock counts them.',
      ),
    outputTokens: z.int().nonnegative().describe('Tokens the model wrote.'),
    cacheReadInputTokens: z
      .int()
      .nonnegative()
      .optional()
      .describe('Input tokens read from the Bedrock prompt cache; present when the model has prompt caching.'),
    cacheWriteInputTokens: z
      .int()
      .nonnegative()
      .optional()
      .describe('Input tokens written to the Bedrock prompt cache; present when the model has prompt caching.'),
  })
  .describe("The model's token usage, as the model reported it (estimated when it reported none).");

export const chatMetricsSchema = z
  .object({
    ttftMs: z.number().nonnegative().describe('Time to first token: from the call to the first token, in ms.'),
    latencyMs: z.number().nonnegative().describe('From the call to the last token, in ms.'),
  })
  .describe('Timings of the model call.');

/** The id a client quotes to rate the answer (`POST /feedback`). */
const requestId = z.string().describe('Id of this request (also in the `x-request-id` header).');

const servingModel = z
  .string()
  .describe(
    'The model that served the answer: the primary model, a fallback (after a failure before the first token), or ' +
      '`degraded` when `models.degradedAnswer` was served.',
  );

const stopReason = z
  .string()
  .describe(
    "Why the model stopped, in Bedrock Converse's words: `end_turn`, `max_tokens`, `stop_sequence`, " +
      '`guardrail_intervened`, `content_filtered`, `model_context_window_exceeded`; `degraded` for the configured ' +
      'degraded answer.',
  );

const costUsd = z
  .number()
  .nonnegative()
  .optional()
  .describe(
    'What the call cost in US dollars (6 decimals, rounded up to the micro-dollar), from the configured prices ' +
      '(`models.prices`); 0 for an answer served without a model call; absent when the model has no price.',
  );

const errorCodeText = z.string().describe('Stable, machine-readable error code.');

const errorFields = (code: z.ZodType<string>) => ({
  code,
  message: z.string().describe('What went wrong, for a person; a 400 names the field first (`field: problem`).'),
  retryable: z.boolean().describe('Whether the same request may succeed later.'),
});

/**
 * The error body of every failure a function answers: `{"error":{"code","message","retryable"}}`. `code` narrows the
 * code (the OpenAPI generator passes the codes of `lambda/core/errors.ts`); by default, any string.
 */
export function errorBodySchemaFor(code: z.ZodType<string> = errorCodeText) {
  return z.object({ error: z.object(errorFields(code)) }).describe('An error answered by the API.');
}

export const errorBodySchema = errorBodySchemaFor();

/**
 * `409 ALREADY_FINISHED`: a cancel reached a stream or report that had already ended; `status` is how it ended (the
 * `AlreadyFinishedError` of lambda/core/errors.ts).
 */
export const alreadyFinishedErrorSchema = z
  .object({
    error: z.object({
      ...errorFields(z.literal('ALREADY_FINISHED').describe('Stable, machine-readable error code.')),
      status: z.enum(['COMPLETED', 'FAILED', 'CANCELLED']).describe('How it ended.'),
    }),
  })
  .describe('A cancel of something that has already finished.');

/**
 * The data of an `error` event: the error body, plus `retryAfterSeconds` where known (a stream committed to `200`
 * before the failure, so the `Retry-After` a `503` would carry travels in the event).
 */
export function streamErrorEventSchemaFor(code: z.ZodType<string> = errorCodeText) {
  return z
    .object({
      error: z.object({
        ...errorFields(code),
        retryAfterSeconds: z
          .int()
          .positive()
          .optional()
          .describe('Whole seconds after which a retry may succeed (the `Retry-After` of a `503`).'),
      }),
    })
    .describe('`event: error`: the stream failed after it started; it closes after this event.');
}

/**
 * API Gateway's own rejections (a missing key, a usage-plan throttle or quota, a timeout) keep its shape,
 * `{"message"}`. `message` narrows the message (the OpenAPI generator passes the ones a response can carry).
 */
export function gatewayMessageSchemaFor(message: z.ZodType<string> = z.string()) {
  return z
    .object({ message: message.describe("API Gateway's message, e.g. `Forbidden` or `Too Many Requests`.") })
    .describe("API Gateway's own rejection, in API Gateway's shape.");
}

/** `cached: true`: the answer came from the response cache; absent when a model answered. */
const cached = z
  .literal(true)
  .optional()
  .describe(
    'Present, `true`, when the answer came from the response cache (`cache.enabled`): a repeated request, or a stored ' +
      'answer served because no model could answer. `model`, `stopReason` and `usage` are those of the call that ' +
      'produced it; the request was charged no tokens.',
  );

/** `POST /chat`. */
export const chatResponseSchema = z
  .object({
    requestId,
    model: servingModel,
    text: z.string().describe('The whole answer.'),
    stopReason,
    usage: tokenUsageSchema,
    metrics: chatMetricsSchema,
    cached,
    costUsd,
  })
  .describe('The whole answer of a synchronous chat call.');

/** `POST /chat/stream`: the data of each named event, by event name. */
export const streamStartEventSchema = z
  .object({
    requestId,
    model: z.string().describe('The model that is called first; `end.model` names the one that served.'),
  })
  .describe('`event: start`: written before the model is called.');

export const streamDeltaEventSchema = z
  .object({ text: z.string().describe('The next piece of the answer.') })
  .describe('`event: delta`: one per model chunk.');

export const streamEndEventSchema = z
  .object({ model: servingModel, stopReason, usage: tokenUsageSchema, metrics: chatMetricsSchema, cached, costUsd })
  .describe('`event: end`: the answer is complete; the stream closes after this event.');

export const STREAM_EVENTS = {
  start: streamStartEventSchema,
  delta: streamDeltaEventSchema,
  end: streamEndEventSchema,
  error: streamErrorEventSchemaFor(),
} as const;

/** The data each event of the native stream carries, by event name. */
export type StreamEventData = { [E in keyof typeof STREAM_EVENTS]: z.infer<(typeof STREAM_EVENTS)[E]> };

export const REPORT_STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;

const reportId = z.uuid().describe('The report id, as `POST /reports` answered it.');

export const reportResultSchema = z
  .object({ text: z.string().describe("The model's answer."), usage: tokenUsageSchema, cached, costUsd })
  .describe('The result of a `COMPLETED` report.');

export const reportErrorSchema = z
  .object({
    code: z.string().describe('Why the report failed, e.g. `MODEL_UNAVAILABLE`.'),
    message: z.string().describe('What went wrong, for a person.'),
  })
  .describe('Why a `FAILED` report failed.');

/** `POST /reports`. */
export const reportAcceptedSchema = z
  .object({
    reportId,
    status: z.literal('QUEUED').describe('A new report is queued; a replayed `Idempotency-Key` answers the same body.'),
    statusUrl: z.url().describe('Where to poll: the absolute URL of `GET /reports/{id}` (also in `Location`).'),
  })
  .describe('The report is accepted and queued.');

/** `GET /reports/{id}`. */
export const reportStatusSchema = z
  .object({
    reportId,
    status: z
      .enum(REPORT_STATUSES)
      .describe('`QUEUED → RUNNING → COMPLETED | FAILED`; `CANCELLED` once its owner cancelled it before it finished.'),
    createdAt: z.iso.datetime().describe('When the report was accepted (ISO 8601, UTC).'),
    updatedAt: z.iso.datetime().describe('When its status last changed (ISO 8601, UTC).'),
    result: reportResultSchema.optional().describe('Present once `COMPLETED`.'),
    error: reportErrorSchema.optional().describe('Present once `FAILED`.'),
    cancelRequestedAt: z.iso
      .datetime()
      .optional()
      .describe('While `RUNNING`: when its owner asked to cancel it (the worker stops within 2 s).'),
    cancelledAt: z.iso
      .datetime()
      .optional()
      .describe('Present once `CANCELLED`: when it was cancelled (ISO 8601, UTC).'),
  })
  .describe("A report's status, with its result or error once finished.");

export type ReportStatusBody = z.infer<typeof reportStatusSchema>;

/** The webhook a finished report sends (docs/reports.md, "Payload"). */
export const reportWebhookPayloadSchema = z
  .object({
    type: z.enum(REPORT_EVENT_TYPES).describe('What happened.'),
    reportId,
    status: z.enum(['COMPLETED', 'FAILED', 'CANCELLED']).describe("The report's final status."),
    result: reportResultSchema.optional().describe('Present for `report.completed`.'),
    error: reportErrorSchema.optional().describe('Present for `report.failed`.'),
    occurredAt: z.iso.datetime().describe('When the report finished (ISO 8601); the same on every redelivery.'),
  })
  .describe('The body of a report webhook.');

/** `POST /chat/stream/{requestId}/cancel`: the cancel is requested. */
export const streamCancelAcceptedSchema = z
  .object({
    requestId: z.string().describe('The stream cancelled (its `requestId`, without a `chatcmpl-` prefix).'),
    status: z
      .literal('CANCELLING')
      .describe(
        'The stream is asked to stop: within about a second it ends with `event: error` `CANCELLED` (the OpenAI ' +
          'route: an error chunk with code `cancelled`) and its owner is charged only the tokens used.',
      ),
  })
  .describe('The cancel of a running stream is requested.');
