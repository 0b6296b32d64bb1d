/**
 * The API's request and response shapes, as the contract in the repository's README.md describes them. Types only:
 * nothing here exists at run time.
 */

/** One earlier turn of a conversation. */
export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** Body of `POST /chat/stream` and `POST /chat`. */
export interface ChatRequest {
  /** The next user turn. */
  message: string;
  /** Earlier turns: alternating, starting with `user` and ending with `assistant`. */
  history?: ChatMessage[];
  /** System prompt. */
  system?: string;
  /** Upper bound on the answer's length, capped by the API's `chat.maxTokensLimit`. */
  maxTokens?: number;
}

export interface TokenUsage {
  /** Input tokens the model read, besides those read from or written to its prompt cache. */
  inputTokens: number;
  outputTokens: number;
  /** Input tokens read from the model's prompt cache (Bedrock prompt caching), when there were any. */
  cacheReadInputTokens?: number;
  /** Input tokens written to the model's prompt cache, when there were any. */
  cacheWriteInputTokens?: number;
}

export interface ChatMetrics {
  /** Time to the first token, measured by the API, in milliseconds. */
  ttftMs: number;
  /** Time to the whole answer, measured by the API, in milliseconds. */
  latencyMs: number;
}

/** The `error` object of an error body or of a stream's `error` event. */
export interface ApiErrorDetail {
  code: string;
  message: string;
  retryable: boolean;
  /** On a stream's `error` event: the `Retry-After` a `503` would have carried. */
  retryAfterSeconds?: number;
}

/**
 * One event of `POST /chat/stream`, in the order the API sends them: `start`, then `delta`s, then exactly one `end` or
 * `error`. `id` is the SSE event id (`"1"`, `"2"`, …).
 */
export type ChatStreamEvent =
  | { type: 'start'; id: string; requestId: string; model: string }
  | { type: 'delta'; id: string; text: string }
  | {
      type: 'end';
      id: string;
      /** The model that served: it differs from `start.model` after a fallback. */
      model: string;
      stopReason: string;
      usage: TokenUsage;
      metrics: ChatMetrics;
      /** Set when the answer came from the API's response cache. */
      cached?: boolean;
      /** What the call cost in US dollars at the API's configured prices (0 when cached); absent for an unpriced model. */
      costUsd?: number;
    }
  | { type: 'error'; id: string; error: ApiErrorDetail };

/** Answer of `POST /chat/stream/{requestId}/cancel` (`202`): the stream stops within a second. */
export interface StreamCancellation {
  requestId: string;
  status: 'CANCELLING' | (string & {});
}

/** The events of a stream, by `type`. */
export type ChatStartEvent = Extract<ChatStreamEvent, { type: 'start' }>;
export type ChatDeltaEvent = Extract<ChatStreamEvent, { type: 'delta' }>;
export type ChatEndEvent = Extract<ChatStreamEvent, { type: 'end' }>;
export type ChatErrorEvent = Extract<ChatStreamEvent, { type: 'error' }>;

/** Answer of `POST /chat`. */
export interface ChatResponse {
  requestId: string;
  model: string;
  text: string;
  stopReason: string;
  usage: TokenUsage;
  metrics: ChatMetrics;
  /** Set when the answer came from the API's response cache (`model` and `usage` are those of the stored call). */
  cached?: boolean;
  /** What the call cost in US dollars at the API's configured prices (0 when cached); absent for an unpriced model. */
  costUsd?: number;
}

/** Body of `POST /reports`. */
export interface SubmitReportRequest {
  prompt: string;
  /** Where the signed webhook goes when the report ends: `https`, public addresses only. */
  callbackUrl?: string;
  /** Any JSON object, stored with the report and never sent to the model. */
  metadata?: Record<string, unknown>;
}

/** `CANCELLED` is the state of a report cancelled by its owner. */
export type ReportStatus = 'QUEUED' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

/** Answer of `POST /reports` (`202`). */
export interface ReportAccepted {
  reportId: string;
  status: ReportStatus;
  /** Where to poll: `GET` it with the same key. */
  statusUrl: string;
  /** The `Location` header (the same URL as `statusUrl`). */
  location: string;
  /** True when an `Idempotency-Key` matched an earlier request and this is its report (`Idempotent-Replayed`). */
  replayed: boolean;
}

export interface ReportResult {
  text: string;
  usage: TokenUsage;
  /** Set when the result came from the API's response cache. */
  cached?: boolean;
  /** What the model call cost in US dollars at the API's configured prices (0 when cached); absent when unpriced. */
  costUsd?: number;
}

/** Answer of `GET /reports/{id}`. */
export interface Report {
  reportId: string;
  status: ReportStatus;
  createdAt: string;
  updatedAt: string;
  /** Once `COMPLETED`. */
  result?: ReportResult;
  /** Once `FAILED`. */
  error?: { code: string; message: string };
  /** Once `CANCELLED`. */
  cancelledAt?: string;
  /** While a `RUNNING` report is being cancelled: when the cancel was asked (it becomes `CANCELLED` within seconds). */
  cancelRequestedAt?: string;
  /** From `Retry-After`, sent while the report is not finished: when to poll again. */
  retryAfterSeconds?: number;
}

/** Answer of `GET /models`, in OpenAI's list shape. */
export interface ModelList {
  object: 'list';
  data: Model[];
}

export interface Model {
  id: string;
  object: 'model';
  /** Unix seconds. */
  created: number;
  owned_by: string;
}

/** Body of `POST /feedback`. */
export interface Feedback {
  /** The `requestId` of the answer being rated (a stream's `start` event, or `ChatResponse.requestId`). */
  requestId: string;
  rating: 'up' | 'down';
  comment?: string;
}

/** The event types of report webhooks; a newer API may add more `report.*` types. */
export type ReportWebhookEventType = 'report.completed' | 'report.failed' | 'report.cancelled' | (string & {});

/** The body of a report webhook (README.md and docs/reports.md, "Payload"). */
export interface ReportWebhookEvent {
  type: ReportWebhookEventType;
  reportId: string;
  status: ReportStatus;
  result?: ReportResult;
  error?: { code: string; message: string };
  /** When the report finished (ISO 8601); the same on every delivery of this webhook. */
  occurredAt: string;
}
