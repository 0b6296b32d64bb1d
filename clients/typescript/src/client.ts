/** The client: one object per base URL and API key. */
import { abortReason, sleep, throwIfAborted } from './abort.js';
import { GenAIError, invalidResponse } from './errors.js';
import { Transport } from './http.js';
import { ReportsApi } from './reports.js';
import { sseMessages, toChatEvent } from './sse.js';
import type { ChatRequest, ChatResponse, ChatStreamEvent, Feedback, ModelList, StreamCancellation } from './types.js';

export interface GenAIClientOptions {
  /**
   * The API's base URL: the stage URL (`https://abc123.execute-api.eu-west-1.amazonaws.com/v1`), a custom domain, or
   * the local cloud (`http://127.0.0.1:3000`). A trailing slash is ignored.
   */
  baseUrl: string;
  /** The API key. */
  apiKey: string;
  /**
   * How the key is sent: `x-api-key: <key>`, or `Authorization: Bearer <key>`. Both carry the key's usage plan.
   * @default 'x-api-key'
   */
  auth?: 'x-api-key' | 'bearer';
  /** The `fetch` to use (a proxy agent, instrumentation, a test double). @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Headers sent with every request, e.g. a tracing header. The key and content headers take precedence. */
  headers?: Record<string, string>;
}

/** Options of every call. */
export interface CallOptions {
  /**
   * Aborting it cancels the call: the promise (or the stream's iteration) rejects with the signal's reason, a
   * `DOMException` named `AbortError` unless the caller gave another, and the HTTP connection is closed.
   */
  signal?: AbortSignal;
}

/** How `chatStream` resumes a dropped connection. */
export interface ResumePolicy {
  /** Attempts in a row without a new event before giving up. @default 3 */
  maxAttempts?: number;
  /** The wait before the first attempt; it doubles with each attempt in a row. @default 250 */
  delayMs?: number;
}

/** What `onResume` is told before each attempt to resume a dropped stream. */
export interface StreamResumeInfo {
  requestId: string;
  /** The id of the last event yielded; undefined when none was (the stream is read again from its start). */
  lastEventId?: string;
  /** 1 for the first attempt after a drop; it counts attempts in a row without a new event. */
  attempt: number;
  /** Why the connection dropped: a `STREAM_INTERRUPTED` or `NETWORK_ERROR` {@link GenAIError}. */
  cause: GenAIError;
}

/** Options of `chatStream`. */
export interface ChatStreamOptions extends CallOptions {
  /**
   * Whether, and how, a dropped connection is resumed from the API's stream log (`GET /chat/stream/{requestId}`).
   * @default true (3 attempts, the first after 250 ms)
   */
  resume?: boolean | ResumePolicy;
  /** Called before each attempt to resume, e.g. to tell the user. */
  onResume?: (info: StreamResumeInfo) => void;
}

/** Options of `resumeStream`. */
export interface ResumeStreamOptions extends CallOptions {
  /** The id of the last event already read: the stream goes on after it. Without it, it is read from the start. */
  lastEventId?: string;
}

const DEFAULT_RESUME_ATTEMPTS = 3;
const DEFAULT_RESUME_DELAY_MS = 250;

function resumePolicy(option: ChatStreamOptions['resume']): Required<ResumePolicy> | undefined {
  if (option === false) return undefined;
  const given = option === true || option === undefined ? {} : option;
  const maxAttempts = given.maxAttempts ?? DEFAULT_RESUME_ATTEMPTS;
  const delayMs = given.delayMs ?? DEFAULT_RESUME_DELAY_MS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    throw new RangeError('resume.maxAttempts must be an integer >= 1');
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError('resume.delayMs must be a finite number >= 0');
  return { maxAttempts, delayMs };
}

/** Whether event id `id` comes after `last` (ids count up from 1); an id that is not a number is never skipped. */
function isAfter(id: string, last: string): boolean {
  if (!/^\d+$/.test(id) || !/^\d+$/.test(last)) return true;
  return BigInt(id) > BigInt(last);
}

function checkedId(value: unknown, name: string): void {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${name} must be a non-empty string`);
}

export class GenAIClient {
  /** Async reports: `create`, `get`, `cancel`, `waitFor`. */
  readonly reports: ReportsApi;
  private readonly transport: Transport;

  constructor(options: GenAIClientOptions) {
    const baseUrl = checkedBaseUrl(options?.baseUrl);
    if (typeof options.apiKey !== 'string' || options.apiKey.trim() === '')
      throw new TypeError('apiKey must be a non-empty string');
    const auth = options.auth ?? 'x-api-key';
    if (auth !== 'x-api-key' && auth !== 'bearer') throw new TypeError("auth must be 'x-api-key' or 'bearer'");
    const custom = options.fetch;
    if (custom === undefined && typeof globalThis.fetch !== 'function')
      throw new TypeError('No fetch is available here: pass one as options.fetch');
    this.transport = new Transport({
      baseUrl,
      apiKey: options.apiKey,
      auth,
      // Called as a plain function: browsers refuse `fetch` called as a method of another object.
      fetch: custom ?? ((input, init) => globalThis.fetch(input, init)),
      headers: { ...options.headers },
    });
    this.reports = new ReportsApi(this.transport);
  }

  /**
   * `POST /chat/stream`: the answer as typed events, in order: `start` (with the `requestId` that `feedback()` rates and
   * `cancelStream()` stops), `delta`s, then `end`, or `error` when the model failed (or the stream was cancelled:
   * `CANCELLED`) after the stream started. The iteration ends after `end` or `error`; an `error` event is yielded, not
   * thrown, so the text so far can be kept.
   *
   * A dropped connection (a network error, or a body that ends before `end` or `error`) is resumed by default: the
   * client waits `delayMs` (doubling with each attempt in a row), then reads the rest with {@link resumeStream} after
   * the last event id it yielded, so no event is yielded twice and none is missed. `onResume` is told of each attempt.
   * After `maxAttempts` failed attempts in a row, or when the API cannot resume the stream (`404`, `410
   * STREAM_EXPIRED`), it rejects with `STREAM_INTERRUPTED` (retryable), its `cause` saying why. `resume: false` rejects
   * at the first drop.
   *
   * Rejects (on the first `next()`, before any event) with a {@link GenAIError} when the API refuses the request:
   * `VALIDATION_ERROR`, `FORBIDDEN`, `TOKEN_BUDGET_EXCEEDED`, `COST_BUDGET_EXCEEDED`, `CONCURRENCY_LIMIT_EXCEEDED`,
   * `MODEL_QUOTA_EXCEEDED` or `THROTTLED` (429), `MODEL_UNAVAILABLE` (503), with `retryAfterSeconds` where the API sent
   * `Retry-After`. The request is sent when the iteration starts; leaving the
   * loop early (`break`) or aborting the signal closes the connection. Where the platform does not tell the API that
   * a client left (Lambda response streaming does not), only {@link cancelStream} stops the generation.
   *
   * @example
   * for await (const event of client.chatStream({ message: 'Hello' }, { signal })) {
   *   if (event.type === 'delta') process.stdout.write(event.text);
   *   if (event.type === 'end') console.log(`\n${event.usage.outputTokens} tokens, TTFT ${event.metrics.ttftMs} ms`);
   *   if (event.type === 'error') console.error(`\n${event.error.code}: ${event.error.message}`);
   * }
   */
  async *chatStream(
    request: ChatRequest,
    options: ChatStreamOptions = {},
  ): AsyncGenerator<ChatStreamEvent, void, undefined> {
    const { signal } = options;
    throwIfAborted(signal);
    const policy = resumePolicy(options.resume);
    let requestId: string | undefined;
    let lastEventId: string | undefined;
    let startSeen = false;
    let failedInARow = 0;
    let resuming = false;
    let source: AsyncGenerator<ChatStreamEvent, void, undefined> = this.events(
      'POST /chat/stream',
      () => this.transport.send('POST', '/chat/stream', { body: request, accept: 'text/event-stream', signal }),
      signal,
      (id) => {
        requestId ??= id;
      },
    );
    for (;;) {
      try {
        for await (const event of source) {
          // A resumed stream starts after the last id yielded; anything at or before it is never yielded again.
          if (event.type === 'start') {
            requestId = event.requestId;
            if (startSeen) continue;
            startSeen = true;
          } else if (lastEventId !== undefined && !isAfter(event.id, lastEventId)) continue;
          if (event.id !== '') lastEventId = event.id;
          failedInARow = 0;
          yield event;
          if (event.type === 'end' || event.type === 'error') return;
        }
        return;
      } catch (err) {
        if (signal?.aborted) throw abortReason(signal);
        if (!(err instanceof GenAIError) || policy === undefined || requestId === undefined) throw err;
        // A drop: the connection failed or the body ended early; while resuming, also an answer that may change.
        const drop = err.code === 'STREAM_INTERRUPTED' || err.code === 'NETWORK_ERROR' || (resuming && err.retryable);
        if (!drop && !resuming) throw err;
        if (!drop)
          throw new GenAIError(`The stream was interrupted and cannot be resumed: ${err.message}`, {
            status: err.status,
            code: 'STREAM_INTERRUPTED',
            retryable: true,
            requestId,
            cause: err,
          });
        failedInARow += 1;
        if (failedInARow > policy.maxAttempts)
          throw new GenAIError(
            `The stream was interrupted and ${policy.maxAttempts} attempts to resume it failed: ${err.message}`,
            { status: err.status, code: 'STREAM_INTERRUPTED', retryable: true, requestId, cause: err },
          );
        await sleep(policy.delayMs * 2 ** (failedInARow - 1), signal);
        options.onResume?.({ requestId, lastEventId, attempt: failedInARow, cause: err });
        resuming = true;
        source = this.resumeStream(requestId, { lastEventId, signal });
      }
    }
  }

  /**
   * `GET /chat/stream/{requestId}`: a stream of the caller's read again from the API's stream log, as the same typed
   * events with the same ids: the events after `lastEventId` (all of them without it), then the live answer until its
   * `end` or `error`. Works while the answer is still generating and after it ended, within the API's retention (an
   * hour by default).
   *
   * Rejects before any event with a {@link GenAIError}: `NOT_FOUND` for an unknown id or another user's,
   * `STREAM_EXPIRED` (410) past retention, `VALIDATION_ERROR` for a `lastEventId` that is not one of the stream's. A
   * resumed stream whose writer stopped ends with an `error` event `STREAM_INTERRUPTED`; a connection that drops
   * rejects with `STREAM_INTERRUPTED` (resume again from the last id read).
   *
   * @example
   * for await (const event of client.resumeStream(requestId, { lastEventId: '12' })) {
   *   if (event.type === 'delta') process.stdout.write(event.text);
   * }
   */
  resumeStream(requestId: string, options: ResumeStreamOptions = {}): AsyncGenerator<ChatStreamEvent, void, undefined> {
    checkedId(requestId, 'requestId');
    const { lastEventId, signal } = options;
    if (lastEventId !== undefined && !/^\d+$/.test(lastEventId))
      throw new TypeError('lastEventId must be an event id of the stream ("1", "2", …)');
    const headers: Record<string, string> = lastEventId === undefined ? {} : { 'last-event-id': lastEventId };
    const path = `/chat/stream/${encodeURIComponent(requestId)}`;
    return this.events(
      'GET /chat/stream/{requestId}',
      () => this.transport.send('GET', path, { headers, accept: 'text/event-stream', signal }),
      signal,
      () => undefined,
      requestId,
    );
  }

  /**
   * `POST /chat/stream/{requestId}/cancel`: stops a stream of the caller's that is still generating, by the
   * `requestId` of its `start` event (or the `x-request-id` of an OpenAI completion). Resolves with `{requestId,
   * status: 'CANCELLING'}` (`202`, again on a second cancel): the API stops the model within a second and ends the
   * stream with an `error` event `CANCELLED`. Rejects with a {@link GenAIError}: `ALREADY_FINISHED` (409) when the
   * stream had ended, its final `status` on the error; `NOT_FOUND` for an unknown id or another user's;
   * `STREAM_EXPIRED` (410) past retention.
   *
   * @example
   * await client.cancelStream(requestId).catch((err) => {
   *   if (!(err instanceof GenAIError && err.code === 'ALREADY_FINISHED')) throw err;
   * });
   */
  async cancelStream(requestId: string, options: CallOptions = {}): Promise<StreamCancellation> {
    checkedId(requestId, 'requestId');
    throwIfAborted(options.signal);
    const { body, response } = await this.transport.json<StreamCancellation>(
      'POST',
      `/chat/stream/${encodeURIComponent(requestId)}/cancel`,
      { signal: options.signal },
    );
    if (typeof body?.requestId !== 'string' || typeof body.status !== 'string')
      throw invalidResponse(
        'POST /chat/stream/{requestId}/cancel answered without requestId and status',
        response.status,
      );
    return { requestId: body.requestId, status: body.status };
  }

  /**
   * One event stream: sends the request, checks that a `200` event stream came back, and yields its typed events until
   * `end` or `error`. A body that ends before either, or a connection that fails, rejects with `STREAM_INTERRUPTED`;
   * the caller's abort rejects with its reason. Leaving early closes the connection.
   */
  private async *events(
    what: string,
    open: () => Promise<Response>,
    signal: AbortSignal | undefined,
    onRequestId: (requestId: string) => void,
    knownRequestId?: string,
  ): AsyncGenerator<ChatStreamEvent, void, undefined> {
    throwIfAborted(signal);
    let requestId = knownRequestId;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    // Also releases a `fetch` that ignores its signal (some polyfills do).
    const onAbort = () => reader?.cancel(abortReason(signal!)).catch(() => undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    let finished = false;
    try {
      const response = await open();
      const headerId = response.headers.get('x-request-id') ?? undefined;
      if (headerId !== undefined && knownRequestId === undefined) {
        requestId = headerId;
        onRequestId(headerId);
      }
      if (response.status !== 200) throw await this.transport.failure(response, signal);
      const contentType = response.headers.get('content-type') ?? '';
      if (!contentType.toLowerCase().startsWith('text/event-stream') || !response.body)
        throw invalidResponse(`${what} answered 200 with ${contentType || 'no content type'}`, 200, requestId);
      reader = response.body.getReader();
      for await (const message of sseMessages(reader)) {
        const event = toChatEvent(message, requestId);
        if (event === undefined) continue;
        if (event.type === 'start') {
          requestId = event.requestId;
          onRequestId(event.requestId);
        }
        if (event.type === 'end' || event.type === 'error') finished = true;
        yield event;
        if (finished) return;
      }
      finished = true;
      throw new GenAIError('The stream ended before its end or error event', {
        status: 200,
        code: 'STREAM_INTERRUPTED',
        retryable: true,
        requestId,
      });
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal);
      if (err instanceof GenAIError) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      throw new GenAIError(`The stream was interrupted: ${reason}`, {
        status: 200,
        code: 'STREAM_INTERRUPTED',
        retryable: true,
        requestId,
        cause: err,
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // Closes the connection unless the body was read to its end: after the last event, or when the caller stopped.
      reader?.cancel().catch(() => undefined);
    }
  }

  /**
   * `POST /chat`: the whole answer at once. Rejects with a {@link GenAIError}: the same codes as `chatStream`, plus
   * `DEADLINE_EXCEEDED` (504) when the answer takes longer than the API's synchronous limit.
   *
   * @example
   * const { text, requestId, usage } = await client.chat({ message: 'Hello', maxTokens: 200 });
   */
  async chat(request: ChatRequest, options: CallOptions = {}): Promise<ChatResponse> {
    throwIfAborted(options.signal);
    const { body, response } = await this.transport.json<ChatResponse>('POST', '/chat', {
      body: request,
      signal: options.signal,
    });
    if (typeof body?.text !== 'string' || typeof body.requestId !== 'string')
      throw invalidResponse('POST /chat answered without text and requestId', response.status);
    return body;
  }

  /**
   * `GET /models`: the model ids (then aliases) the API serves, in OpenAI's list shape.
   *
   * @example
   * const { data } = await client.models();
   * console.log(data.map((m) => m.id));
   */
  async models(options: CallOptions = {}): Promise<ModelList> {
    throwIfAborted(options.signal);
    const { body, response } = await this.transport.json<ModelList>('GET', '/models', { signal: options.signal });
    if (!Array.isArray(body?.data)) throw invalidResponse('GET /models answered without a data list', response.status);
    return body;
  }

  /**
   * `POST /feedback`: rates an answer of the caller's own, by the `requestId` of its `start` event or `chat()` answer.
   * Resolves when the API has recorded it (`204`); `NOT_FOUND` for an unknown or another user's `requestId`.
   *
   * @example
   * await client.feedback({ requestId, rating: 'up', comment: 'Clear and short' });
   */
  async feedback(feedback: Feedback, options: CallOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const response = await this.transport.send('POST', '/feedback', { body: feedback, signal: options.signal });
    if (!response.ok) throw await this.transport.failure(response, options.signal);
    // Read to the end so the connection can be reused.
    await response.arrayBuffer().catch(() => undefined);
  }
}

function checkedBaseUrl(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError('baseUrl must be a string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`baseUrl is not a URL: ${value}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('baseUrl must be an http(s) URL');
  if (url.search !== '' || url.hash !== '') throw new TypeError('baseUrl must not have a query or a fragment');
  if (url.username !== '' || url.password !== '') throw new TypeError('baseUrl must not carry credentials');
  return url.href.replace(/\/+$/, '');
}
