/**
 * What the description says about each route, keyed by the route table's `id` (config/routes.ts): summary, request
 * body, parameters and every documented response. Bodies are named schemas (openapi/components.ts), error bodies name
 * their codes (checked against `lambda/core/errors.ts`), and API Gateway's own rejections name their messages. A route
 * without an entry here fails the generator, and the tests with it.
 */
import { z } from 'zod';
import { IDEMPOTENCY_KEY } from '../lambda/core/reports/submit';
import type { SchemaName } from './components';

export type Tag = 'Chat' | 'Reports' | 'Feedback' | 'OpenAI-compatible';

export const TAGS: Readonly<Record<Tag, string>> = {
  Chat: 'Chat answers: streamed as Server-Sent Events, or whole.',
  Reports: 'Long jobs: an instant `202`, then the result by polling or a signed webhook.',
  Feedback: 'Satisfaction feedback on answers.',
  'OpenAI-compatible':
    "OpenAI's chat API: the stage URL (ending in `/v1`) is the OpenAI base URL, so OpenAI SDKs and tools work " +
    'unchanged.',
};

/** Response headers a route may send besides `x-request-id`, which every response carries. */
export type HeaderName =
  | 'Retry-After'
  | 'Location'
  | 'Idempotent-Replayed'
  | 'x-should-retry'
  | 'x-cache'
  | 'WWW-Authenticate'
  | 'RateLimit-Policy'
  | 'RateLimit'
  | 'x-ratelimit-limit-requests'
  | 'x-ratelimit-remaining-requests'
  | 'x-ratelimit-reset-requests'
  | 'x-ratelimit-limit-tokens'
  | 'x-ratelimit-remaining-tokens'
  | 'x-ratelimit-reset-tokens';

/** One possible JSON body of a response. */
export type Body =
  /** A named schema. */
  | { readonly schema: SchemaName }
  /** The native error body, `code` one of these. */
  | { readonly errors: readonly [string, ...string[]] }
  /** API Gateway's own rejection, `{"message"}`, with one of these messages. */
  | { readonly gateway: readonly [string, ...string[]] };

export interface HeaderUse {
  /** Whether every response with this status carries it. */
  readonly required: boolean;
  readonly description: string;
}

export interface ResponseDoc {
  readonly description: string;
  /** `application/json` bodies; with more than one, the body is one of them. Unset and no stream: no body. */
  readonly json?: readonly Body[];
  /** A `text/event-stream` body, each event as this schema describes. */
  readonly eventStream?: 'ChatStreamEvent' | 'ChatCompletionStreamEvent';
  readonly headers?: Partial<Record<HeaderName, HeaderUse>>;
}

export interface ParameterDoc {
  readonly description: string;
  readonly schema: z.ZodType<string>;
}

export interface RequestBodyDoc {
  /**
   * The body's named schema. Where the route table names a `requestSchema`, it must be that very schema; the
   * OpenAI-compatible route validates its body in the function, in OpenAI's error shape, and names none there.
   */
  readonly schema: SchemaName;
  readonly description: string;
  /** Checked against the schema and the handler's parser by the tests. */
  readonly examples: Readonly<Record<string, { readonly summary: string; readonly value: unknown }>>;
}

export interface OperationDoc {
  readonly summary: string;
  readonly description: string;
  readonly tag: Tag;
  readonly requestBody?: RequestBodyDoc;
  /** A `POST` that takes no body: a command on the resource its path names (a cancel). */
  readonly noRequestBody?: true;
  /** Path parameters of the route's path and the request headers of its `requestHeaders`, by name. */
  readonly parameters?: Readonly<Record<string, ParameterDoc>>;
  readonly responses: Readonly<Record<number, ResponseDoc>>;
}

const RETRY_AFTER_503: HeaderUse = { required: true, description: 'Whole seconds after which a retry may succeed.' };

const validationError = (what: string): ResponseDoc => ({
  description: `Bad input: ${what}. The message names the field first (\`field: problem\`). Nothing was changed.`,
  json: [{ errors: ['VALIDATION_ERROR'] }],
});

/** No or unknown key on a native route. */
const FORBIDDEN: ResponseDoc = {
  description:
    'No or unknown API key (in `Authorization: Bearer` or `x-api-key`), or two different keys in the two headers: ' +
    'API Gateway\'s `{"message":"Forbidden"}`. `FORBIDDEN`: the request reached the function without passing the ' +
    'API key authorizer (a method deployed without it).',
  json: [{ gateway: ['Forbidden'] }, { errors: ['FORBIDDEN'] }],
};

/** A key the authorizer accepted but whose usage plan refuses it (on the OpenAI-compatible routes). */
const PLAN_FORBIDDEN: ResponseDoc = {
  description: 'The key is in no usage plan of this API: API Gateway\'s `{"message":"Forbidden"}`.',
  json: [{ gateway: ['Forbidden'] }],
};

const TOO_LARGE: ResponseDoc = {
  description: "The request is larger than API Gateway accepts (10 MB): API Gateway's own answer.",
  json: [{ gateway: ['Request Too Long'] }],
};

const USAGE_PLAN =
  "The key's usage plan refused the request, in API Gateway's shape: `Too Many Requests` (rate or burst) or " +
  '`Limit Exceeded` (daily request quota), without `Retry-After`: back off and retry.';

const PLAN_LIMITED: ResponseDoc = {
  description: USAGE_PLAN,
  json: [{ gateway: ['Too Many Requests', 'Limit Exceeded'] }],
};

/**
 * The standard rate-limit headers of the model routes (draft-ietf-httpapi-ratelimit-headers-11), reporting the
 * per-user concurrency limit (lambda/core/rate-limit-headers.ts).
 */
const RATE_LIMIT_HEADERS: Partial<Record<HeaderName, HeaderUse>> = {
  'RateLimit-Policy': {
    required: true,
    description:
      'The concurrency limit as a quota policy: `"concurrency";q=<maxConcurrentRequests>;qu="concurrent-requests"`.',
  },
  RateLimit: {
    required: true,
    description: 'The calls you may still start while this one runs: `"concurrency";r=<free slots>` (`r=0` on a 429).',
  },
};

/** The response cache's status on the chat routes (`cache.enabled`), and what `Cache-Control` asks of it. */
const CACHE_HEADERS: Partial<Record<HeaderName, HeaderUse>> = {
  'x-cache': {
    required: false,
    description:
      'With the response cache on (`cache.enabled`): `hit` (a stored answer, no model was called and no tokens ' +
      'were charged), `miss` (looked up, not found: a model answered and a complete answer is stored) or `bypass` ' +
      '(not looked up: `Cache-Control: no-cache` or `no-store`, or a `temperature` above 0). A stream that falls back ' +
      "on a stored answer after its headers were sent keeps the lookup's value; its `end` event says `cached`.",
  },
};

/**
 * The headers of an answer of a chat route: the rate-limit ones, which an answer from the response cache does not carry
 * (it holds no slot and no tokens), and `x-cache`.
 */
function answerHeaders(limits: Partial<Record<HeaderName, HeaderUse>>): Partial<Record<HeaderName, HeaderUse>> {
  const fromCache = 'Absent on an answer from the response cache (`x-cache: hit`), which holds no slot and no tokens.';
  return {
    ...Object.fromEntries(
      Object.entries(limits).map(([name, use]) => [
        name,
        { required: false, description: use.required ? `${use.description} ${fromCache}` : use.description },
      ]),
    ),
    ...CACHE_HEADERS,
  };
}

const CACHE_CONTROL: ParameterDoc = {
  description:
    'What the response cache (`cache.enabled`) may do for this request: `no-cache` asks for a fresh answer (the ' +
    'cache is not read; the answer is still stored), `no-store` keeps it out of the cache entirely (not read, not ' +
    'stored, and no stored answer served when no model can answer). Other directives are ignored.',
  schema: z.string().max(200),
};

/** OpenAI's rate-limit headers on the OpenAI-compatible route (lambda/core/rate-limit-headers.ts says what each reports). */
const OPENAI_RATE_LIMIT_HEADERS: Partial<Record<HeaderName, HeaderUse>> = {
  'x-ratelimit-limit-requests': { required: true, description: 'Calls you may have in flight at once.' },
  'x-ratelimit-remaining-requests': { required: true, description: 'Calls you may still start while this one runs.' },
  'x-ratelimit-reset-requests': {
    required: true,
    description: 'Until every call in flight now has ended at the latest (`2s`, `1m30s`).',
  },
  'x-ratelimit-limit-tokens': { required: true, description: 'Model tokens per day (UTC).' },
  'x-ratelimit-remaining-tokens': {
    required: false,
    description: "Tokens left today once this call's estimate is held; not on a 429.",
  },
  'x-ratelimit-reset-tokens': {
    required: true,
    description: 'Until the token budget resets at midnight UTC (`5h30m0s`).',
  },
};

const CONCURRENCY =
  '`CONCURRENCY_LIMIT_EXCEEDED`: you already have `maxConcurrentRequests` calls in flight (`/chat/stream`, `/chat` ' +
  'and `/chat/completions` together); retry after `Retry-After`, or once one of them ends. Nothing was started.';

const MODEL_QUOTA =
  '`MODEL_QUOTA_EXCEEDED`: every model this request may use is at its requests- or tokens-per-minute quota ' +
  '(`models.quotas`, shared by every instance); retry after `Retry-After`. Nothing was started.';

const COST_BUDGET =
  "`COST_BUDGET_EXCEEDED`: the user's dollar budget (`plans.<plan>.usdPerDay` or `usdPerMonth`) has no room for " +
  "this request's cost estimate (`Retry-After` until the UTC day or month ends), or this request alone may cost more " +
  'than the budget (no `Retry-After`). Nothing was started.';

const BUDGET_LIMITED: ResponseDoc = {
  description:
    `${USAGE_PLAN} \`TOKEN_BUDGET_EXCEEDED\`: the user's daily token budget is spent (\`Retry-After\` until it ` +
    'resets at midnight UTC), or this request alone may use more tokens than the plan allows per day (no ' +
    `\`Retry-After\`: ask for fewer \`maxTokens\`). ${COST_BUDGET} ${CONCURRENCY} ${MODEL_QUOTA}`,
  json: [
    { gateway: ['Too Many Requests', 'Limit Exceeded'] },
    { errors: ['TOKEN_BUDGET_EXCEEDED', 'COST_BUDGET_EXCEEDED', 'CONCURRENCY_LIMIT_EXCEEDED', 'MODEL_QUOTA_EXCEEDED'] },
  ],
  headers: {
    'Retry-After': {
      required: false,
      description:
        'With `TOKEN_BUDGET_EXCEEDED` or `COST_BUDGET_EXCEEDED`: seconds until it resets; with ' +
        '`CONCURRENCY_LIMIT_EXCEEDED`: seconds to wait; ' +
        "with `MODEL_QUOTA_EXCEEDED`: seconds until a model's quota has room.",
    },
    'RateLimit-Policy': { required: false, description: 'With `CONCURRENCY_LIMIT_EXCEEDED`: the concurrency policy.' },
    RateLimit: { required: false, description: 'With `CONCURRENCY_LIMIT_EXCEEDED`: `"concurrency";r=0`.' },
  },
};

const MODEL_UNAVAILABLE: ResponseDoc = {
  description:
    "`MODEL_UNAVAILABLE`: every model's breaker is open, or every model failed before answering. " +
    '`SERVICE_UNAVAILABLE`: a backing service (DynamoDB, …) is unavailable. Retry after `Retry-After`.',
  json: [{ errors: ['MODEL_UNAVAILABLE', 'SERVICE_UNAVAILABLE'] }],
  headers: { 'Retry-After': RETRY_AFTER_503 },
};

const SERVICE_UNAVAILABLE: ResponseDoc = {
  description: 'A backing service (DynamoDB, SQS, …) is unavailable; nothing was changed. Retry after `Retry-After`.',
  json: [{ errors: ['SERVICE_UNAVAILABLE'] }],
  headers: { 'Retry-After': RETRY_AFTER_503 },
};

const CHAT_EXAMPLES = {
  question: {
    summary: 'A question',
    value: { message: 'Explain circuit breakers in two sentences', maxTokens: 200 },
  },
  conversation: {
    summary: 'A follow-up, with the conversation so far and a system prompt',
    value: {
      message: 'And what does half-open mean?',
      history: [
        { role: 'user', content: 'What is a circuit breaker?' },
        { role: 'assistant', content: 'A guard that stops calling a failing service for a while.' },
      ],
      system: 'Answer in one paragraph.',
    },
  },
};

const CHAT_BODY =
  '`message` is the next user turn; `history` alternates, starting with `user` and ending with `assistant`. ' +
  '`maxTokens` is at most `chat.maxTokensLimit`; `message`, `system` and each history turn at most ' +
  '`chat.maxMessageChars`, all together at most `chat.maxTotalChars`.';

// OpenAI-compatible routes answer a bad key with OpenAI's 401, and their errors in OpenAI's shape.
const OPENAI_UNAUTHORIZED: ResponseDoc = {
  description:
    "No or unknown API key: OpenAI's `invalid_api_key` error, so the OpenAI SDKs raise `AuthenticationError`. Send " +
    'the key as `Authorization: Bearer <key>` (or `x-api-key`).',
  json: [{ schema: 'OpenAIErrorBody' }],
  headers: { 'WWW-Authenticate': { required: false, description: '`Bearer` (API Gateway sends it).' } },
};

export const OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  ChatStream: {
    summary: 'Stream a chat answer (Server-Sent Events)',
    description:
      'The answer token by token: `start` before the model is called, a `delta` per model chunk, then `end` (with ' +
      'the model that actually served, usage and timings) or `error`. A stream always ends with `end` or `error`. ' +
      'Before the model has answered, a failing model hands over to the next configured one inside the same stream. ' +
      'Everything that can fail fast (body, key, limits, breakers with no model left) fails before the stream ' +
      'starts, with a real status and a JSON body. Cancel with `POST /chat/stream/{requestId}/cancel` (closing the ' +
      'connection stops the model only where the platform reports it, which Lambda does not).',
    tag: 'Chat',
    requestBody: { schema: 'ChatRequest', description: CHAT_BODY, examples: CHAT_EXAMPLES },
    parameters: { 'Cache-Control': CACHE_CONTROL },
    responses: {
      200: {
        description:
          'The answer, as Server-Sent Events (`text/event-stream`). A failure after `start` is an `error` event, ' +
          'and the stream closes: when every model fails before answering, that is `MODEL_UNAVAILABLE` with ' +
          '`retryAfterSeconds`. OpenAPI 3.1 cannot describe the events themselves: `x-itemSchema` (OpenAPI 3.2’s ' +
          '`itemSchema`) does.',
        eventStream: 'ChatStreamEvent',
        headers: answerHeaders(RATE_LIMIT_HEADERS),
      },
      400: validationError(
        'malformed JSON, wrong types, empty or oversized fields, bad history, out-of-range `maxTokens`',
      ),
      403: FORBIDDEN,
      413: TOO_LARGE,
      429: BUDGET_LIMITED,
      503: {
        ...MODEL_UNAVAILABLE,
        description: `${MODEL_UNAVAILABLE.description} Once \`start\` is sent this is an \`error\` event instead.`,
      },
    },
  },
  ResumeChatStream: {
    summary: 'Resume a stream (Server-Sent Events)',
    description:
      'Resumes one of your streams from the stream log, kept `streams.retentionMinutes`: every event after ' +
      '`Last-Event-ID` (or `lastEventId`; the header wins) with its original `id:` and bytes, then the live answer as ' +
      'it is written (within about half a second), until its `end` or `error`; then the connection closes. Without ' +
      'either, from the first event (`start`). Keep-alive comments while waiting. Works from any connection: the ' +
      'stream is read from the log, not from the function that generates it.',
    tag: 'Chat',
    parameters: {
      requestId: {
        description: "The stream's `requestId` (its `start` event, or the `x-request-id` of `POST /chat/stream`).",
        schema: z.string().min(1).max(128),
      },
      'Last-Event-ID': {
        description: 'The `id:` of the last event received; the events after it are sent. Wins over `lastEventId`.',
        schema: z.string().regex(/^[0-9]+$/),
      },
      lastEventId: {
        description: 'As `Last-Event-ID`, for clients that cannot set headers (`EventSource` on a first connection).',
        schema: z.string().regex(/^[0-9]+$/),
      },
    },
    responses: {
      200: {
        description:
          'The events after `Last-Event-ID`, as the live stream sent them, then the rest of the answer as it comes. ' +
          'If the stream stops being written before it finishes (its function died, or the log could not be ' +
          'written), or this connection reaches its time limit, it ends with an `error` event `STREAM_INTERRUPTED` ' +
          '(retryable, with no `id:`, so resuming again from the last id continues where it stopped).',
        eventStream: 'ChatStreamEvent',
      },
      400: validationError('`Last-Event-ID` or `lastEventId` is not a non-negative integer, or is after the end'),
      403: FORBIDDEN,
      404: {
        description:
          "No such stream, another user's, a `POST /chat/completions` stream (only native streams are resumable), or " +
          'the stream log is off (`streams.enabled: false`): the same `404`.',
        json: [{ errors: ['NOT_FOUND'] }],
      },
      410: {
        description: 'The stream is past `streams.retentionMinutes` (answered for a day after, then `404`).',
        json: [{ errors: ['STREAM_EXPIRED'] }],
      },
      429: PLAN_LIMITED,
      503: SERVICE_UNAVAILABLE,
    },
  },
  CancelChatStream: {
    summary: 'Cancel a stream',
    description:
      'Stops one of your streams while it is generating: `POST /chat/stream` by its `requestId` (the `start` event, ' +
      'or `x-request-id`), and `POST /chat/completions` by its `x-request-id` (or its completion `id`, ' +
      '`chatcmpl-<requestId>`). Within about a second (`streams.flushIntervalMs`) the model call is stopped, the ' +
      'stream ends with `event: error` `CANCELLED` (the OpenAI route: a final `data: {"error":{…,"code":' +
      '"cancelled"}}` and no `[DONE]`; a non-streaming completion answers `499` with that error), and its owner is ' +
      'charged only the tokens used. Cancelling again while it stops answers `202` again. Works where closing the ' +
      'connection does not stop the model (Lambda is not told when a client leaves). No body.',
    tag: 'Chat',
    noRequestBody: true,
    parameters: {
      requestId: {
        description: "The stream's `requestId`, or an OpenAI completion `id`. Unknown and other users' ids are `404`.",
        schema: z.string().min(1).max(128),
      },
    },
    responses: {
      202: {
        description: 'The stream is running: it is asked to stop.',
        json: [{ schema: 'StreamCancelAccepted' }],
      },
      403: FORBIDDEN,
      404: {
        description:
          "No such stream, another user's, or the stream log is off (`streams.enabled: false`): the same `404`.",
        json: [{ errors: ['NOT_FOUND'] }],
      },
      409: {
        description: 'It has already finished (`COMPLETED`, `FAILED` or `CANCELLED`): the body says which.',
        json: [{ schema: 'AlreadyFinishedError' }],
      },
      410: {
        description: 'The stream is past `streams.retentionMinutes` (answered for a day after, then `404`).',
        json: [{ errors: ['STREAM_EXPIRED'] }],
      },
      429: PLAN_LIMITED,
      503: SERVICE_UNAVAILABLE,
    },
  },
  Chat: {
    summary: 'Get a whole chat answer (synchronous)',
    description:
      'The whole answer at once, for short calls and as the baseline. It must finish within ' +
      '`chat.syncTimeoutSeconds`; use `POST /chat/stream` or `POST /reports` for long answers.',
    tag: 'Chat',
    requestBody: { schema: 'ChatRequest', description: CHAT_BODY, examples: CHAT_EXAMPLES },
    parameters: { 'Cache-Control': CACHE_CONTROL },
    responses: {
      200: {
        description: 'The whole answer.',
        json: [{ schema: 'ChatResponse' }],
        headers: answerHeaders(RATE_LIMIT_HEADERS),
      },
      400: validationError(
        'malformed JSON, wrong types, empty or oversized fields, bad history, out-of-range `maxTokens`',
      ),
      403: FORBIDDEN,
      413: TOO_LARGE,
      429: BUDGET_LIMITED,
      503: MODEL_UNAVAILABLE,
      504: {
        description:
          '`DEADLINE_EXCEEDED`: the answer took longer than `chat.syncTimeoutSeconds` allows. `Endpoint request ' +
          "timed out`: API Gateway's own integration timeout.",
        json: [{ errors: ['DEADLINE_EXCEEDED'] }, { gateway: ['Endpoint request timed out'] }],
      },
    },
  },
  SubmitReport: {
    summary: 'Submit a report (a long job)',
    description:
      'Queues the job and answers at once with its id and where to poll. The result arrives by polling ' +
      '`GET /reports/{id}`, and, with a `callbackUrl`, as a signed webhook (see `webhooks`). With an ' +
      '`Idempotency-Key`, the same key and body return the same report for `reports.idempotencyHours`.',
    tag: 'Reports',
    requestBody: {
      schema: 'SubmitReportRequest',
      description:
        '`callbackUrl` must be `https` and must not resolve to a loopback, private, link-local or metadata address. ' +
        '`metadata` is any JSON object stored with the report: at most `reports.maxMetadataBytes` of JSON, 32 levels ' +
        'deep, with numbers a 64-bit float keeps exactly (send large ids as strings).',
      examples: {
        report: {
          summary: 'A report with a webhook',
          value: {
            prompt: 'Write a one-page market summary',
            callbackUrl: 'https://hooks.example.com/reports',
            metadata: { ticket: 'OPS-42' },
          },
        },
      },
    },
    parameters: {
      'Idempotency-Key': {
        description:
          'Makes retries safe: the same key with the same body returns the same report; with another body, `422`. ' +
          'Printable ASCII without spaces, up to 255 characters.',
        schema: z.string().regex(IDEMPOTENCY_KEY),
      },
    },
    responses: {
      202: {
        description: 'Accepted and queued.',
        json: [{ schema: 'ReportAccepted' }],
        headers: {
          Location: { required: true, description: 'The `statusUrl`: where to poll.' },
          'Idempotent-Replayed': {
            required: false,
            description: '`true` when an earlier request with this `Idempotency-Key` created the report.',
          },
        },
      },
      400: validationError('malformed JSON, a missing or oversized `prompt`, a refused `callbackUrl`, bad `metadata`'),
      403: FORBIDDEN,
      413: TOO_LARGE,
      422: {
        description: 'The `Idempotency-Key` was used with another body.',
        json: [{ errors: ['IDEMPOTENCY_KEY_REUSED'] }],
      },
      429: PLAN_LIMITED,
      503: {
        ...SERVICE_UNAVAILABLE,
        description: `${SERVICE_UNAVAILABLE.description} Retrying with the same \`Idempotency-Key\` is safe.`,
      },
    },
  },
  GetReport: {
    summary: "Get a report's status and result",
    description:
      'The status (`QUEUED → RUNNING → COMPLETED | FAILED`, or `CANCELLED` with `cancelledAt` once its owner ' +
      'cancelled it), with the result or the error once finished. Poll after ' +
      '`Retry-After` while it is not finished.',
    tag: 'Reports',
    parameters: {
      id: {
        description: "The `reportId`. Unknown ids and other users' reports are `404`.",
        schema: z.uuid(),
      },
    },
    responses: {
      200: {
        description: "The report's status.",
        json: [{ schema: 'ReportStatus' }],
        headers: {
          'Retry-After': { required: false, description: 'While not finished: seconds until the next poll.' },
        },
      },
      403: FORBIDDEN,
      404: { description: "No such report, or another user's.", json: [{ errors: ['NOT_FOUND'] }] },
      429: PLAN_LIMITED,
      503: SERVICE_UNAVAILABLE,
    },
  },
  CancelReport: {
    summary: 'Cancel a report',
    description:
      'Cancels one of your reports. A `QUEUED` report is `CANCELLED` at once and its model is never called (`200`). ' +
      'A `RUNNING` one is asked to stop (`202`, still `RUNNING` with `cancelRequestedAt`): its worker stops the model ' +
      'call within about two seconds, is charged only the tokens used, and the report becomes `CANCELLED`. Either way ' +
      'a `report.cancelled` webhook and event follow. Asking again while it is stopping answers `202` again. A report ' +
      'that has finished (also one whose result was written just before the cancel) is `409 ALREADY_FINISHED` with ' +
      'its `status`. No body.',
    tag: 'Reports',
    noRequestBody: true,
    parameters: {
      id: {
        description: "The `reportId`. Unknown ids and other users' reports are `404`.",
        schema: z.uuid(),
      },
    },
    responses: {
      200: {
        description: 'It had not started: it is `CANCELLED` now, with `cancelledAt`.',
        json: [{ schema: 'ReportStatus' }],
      },
      202: {
        description:
          'It is running: the cancel is requested (`cancelRequestedAt`); poll `GET /reports/{id}` until `CANCELLED`.',
        json: [{ schema: 'ReportStatus' }],
        headers: { 'Retry-After': { required: true, description: 'Seconds until the report has stopped.' } },
      },
      403: FORBIDDEN,
      404: { description: "No such report, or another user's.", json: [{ errors: ['NOT_FOUND'] }] },
      409: {
        description: 'It has already finished (`COMPLETED`, `FAILED` or `CANCELLED`): the body says which.',
        json: [{ schema: 'AlreadyFinishedError' }],
      },
      429: PLAN_LIMITED,
      503: SERVICE_UNAVAILABLE,
    },
  },
  OpenAIChatCompletions: {
    summary: 'Create a chat completion (OpenAI-compatible)',
    description:
      "OpenAI's chat completions over the same guarded chat core as `POST /chat/stream` (usage plan, token budget, " +
      'breakers and fallbacks, deadlines). `stream: true` answers `chat.completion.chunk` events, then ' +
      '`data: [DONE]`; otherwise one `chat.completion`. Function tools and `data:` URL images are supported; ' +
      "parameters whose meaning cannot be honoured are refused with `400` naming them in `param`. Errors are OpenAI's " +
      '`{"error":{"message","type","param","code"}}`, so the OpenAI SDKs raise their own error classes.',
    tag: 'OpenAI-compatible',
    parameters: { 'Cache-Control': CACHE_CONTROL },
    requestBody: {
      schema: 'ChatCompletionRequest',
      description: 'As OpenAI defines it; the schema says what this API accepts and refuses.',
      examples: {
        stream: {
          summary: 'A streamed answer with usage',
          value: {
            model: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
            messages: [
              { role: 'system', content: 'Be brief.' },
              { role: 'user', content: 'Hello' },
            ],
            stream: true,
            stream_options: { include_usage: true },
          },
        },
        tools: {
          summary: 'A function tool',
          value: {
            model: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
            messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
            tools: [
              {
                type: 'function',
                function: {
                  name: 'get_weather',
                  description: 'The current weather in a city',
                  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
                },
              },
            ],
          },
        },
      },
    },
    responses: {
      200: {
        description:
          'Without `stream`: one `chat.completion` (always with `usage`). With `stream: true`: Server-Sent Events, ' +
          'one `data:` line per `chat.completion.chunk` (a role chunk, one per token, tool call fragments, a chunk ' +
          'with `finish_reason`, with `include_usage` a last chunk with `usage`), then `data: [DONE]`. A failure ' +
          'after the stream started ends it with a `data:` error object and no `[DONE]`. `x-itemSchema` (OpenAPI ' +
          '3.2’s `itemSchema`) describes the events.',
        json: [{ schema: 'ChatCompletion' }],
        eventStream: 'ChatCompletionStreamEvent',
        headers: answerHeaders({ ...RATE_LIMIT_HEADERS, ...OPENAI_RATE_LIMIT_HEADERS }),
      },
      400: {
        description:
          '`invalid_request_error`, naming the field in `param`: malformed JSON, wrong types or values, a refused ' +
          'parameter (`unsupported_parameter`), a malformed conversation.',
        json: [{ schema: 'OpenAIErrorBody' }],
      },
      401: OPENAI_UNAUTHORIZED,
      403: PLAN_FORBIDDEN,
      404: {
        description: '`model_not_found`: `model` is neither a configured model id nor an alias (`GET /models`).',
        json: [{ schema: 'OpenAIErrorBody' }],
      },
      413: TOO_LARGE,
      429: {
        description:
          `${USAGE_PLAN} \`rate_limit_exceeded\` (type \`tokens\`): the user's daily token budget is spent; ` +
          '`x-should-retry: false` keeps the SDKs from retrying, since it resets daily. `rate_limit_exceeded` (type ' +
          '`requests`): you already have `maxConcurrentRequests` calls in flight; the SDKs retry after ' +
          '`Retry-After`, with the limits in the rate-limit headers. `rate_limit_exceeded` (type `requests` or ' +
          '`tokens`, without `x-should-retry`): every model this request may use is at its per-minute quota ' +
          '(`models.quotas`); the SDKs retry after `Retry-After`. `insufficient_quota` (type `insufficient_quota`): ' +
          "the user's dollar budget (`plans.<plan>.usdPerDay` or `usdPerMonth`) is spent; `x-should-retry: false`, " +
          'and `Retry-After` until the UTC day or month ends.',
        json: [{ gateway: ['Too Many Requests', 'Limit Exceeded'] }, { schema: 'OpenAIErrorBody' }],
        headers: {
          'Retry-After': {
            required: false,
            description:
              'With `rate_limit_exceeded`: seconds until the budget resets (type `tokens`), to wait for a slot ' +
              "(type `requests`), or until a model's quota has room; with `insufficient_quota`: until the dollar " +
              'budget resets.',
          },
          'x-should-retry': {
            required: false,
            description: '`false` when the daily token budget or the dollar budget is spent.',
          },
          ...Object.fromEntries(
            Object.entries({ ...RATE_LIMIT_HEADERS, ...OPENAI_RATE_LIMIT_HEADERS }).map(([name, use]) => [
              name,
              { required: false, description: `With type \`requests\`: ${use.description}` },
            ]),
          ),
        },
      },
      503: {
        description:
          '`model_unavailable`: no model can answer right now; `service_unavailable`: a backing service is down. ' +
          'Retry after `Retry-After`.',
        json: [{ schema: 'OpenAIErrorBody' }],
        headers: { 'Retry-After': RETRY_AFTER_503 },
      },
      499: {
        description:
          '`cancelled` (without `stream`): its owner cancelled it (`POST /chat/stream/{requestId}/cancel` with this ' +
          "request's `x-request-id`); only the tokens used are charged. A cancelled stream instead ends with a `data:` " +
          'error object with code `cancelled` and no `[DONE]`.',
        json: [{ schema: 'OpenAIErrorBody' }],
        headers: { 'x-should-retry': { required: true, description: '`false`: retrying would not undo the cancel.' } },
      },
      504: {
        description: '`timeout`: the answer ran out of time (without `stream`).',
        json: [{ schema: 'OpenAIErrorBody' }],
      },
    },
  },
  OpenAIModels: {
    summary: 'List the models (OpenAI-compatible)',
    description: 'The names `model` accepts: the configured model ids (primary, then fallbacks), then the aliases.',
    tag: 'OpenAI-compatible',
    responses: {
      200: { description: "The models, in OpenAI's list shape.", json: [{ schema: 'ModelList' }] },
      401: OPENAI_UNAUTHORIZED,
      403: PLAN_FORBIDDEN,
      429: PLAN_LIMITED,
    },
  },
  Feedback: {
    summary: 'Rate an answer',
    description:
      "A thumbs up or down on one of the caller's own requests, within `feedback.retentionDays`; the last rating " +
      'wins. The comment is stored, never logged.',
    tag: 'Feedback',
    requestBody: {
      schema: 'FeedbackRequest',
      description:
        '`requestId` is what the answer named: `requestId` of `/chat/stream` (`start`) and `/chat`, the ' +
        "`x-request-id` header of any answer, a report's `reportId`, or an OpenAI completion's `id` " +
        '(`chatcmpl-<requestId>`).',
      examples: {
        up: {
          summary: 'A thumbs up with a comment',
          value: { requestId: '5f0c4f4e-8a51-4d8e-9d3c-2c7a8e0b6b11', rating: 'up', comment: 'Clear and short.' },
        },
      },
    },
    responses: {
      204: { description: 'The rating is stored.' },
      400: validationError('malformed JSON, a missing or malformed `requestId`, a `rating` other than up or down'),
      403: FORBIDDEN,
      404: {
        description: "No such request of the caller's: unknown, expired, or another user's.",
        json: [{ errors: ['NOT_FOUND'] }],
      },
      413: TOO_LARGE,
      429: PLAN_LIMITED,
      503: SERVICE_UNAVAILABLE,
    },
  },
};
