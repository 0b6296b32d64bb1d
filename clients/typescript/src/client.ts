/** The client: one object per base URL and API key. */
import { abortReason, throwIfAborted } from './abort.js';
import { GenAIError, invalidResponse } from './errors.js';
import { Transport } from './http.js';
import { ReportsApi } from './reports.js';
import { sseMessages, toChatEvent } from './sse.js';
import type { ChatRequest, ChatResponse, ChatStreamEvent, Feedback, ModelList } from './types.js';

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

export class GenAIClient {
  /** Async reports: `create`, `get`, `waitFor`. */
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
   * `POST /chat/stream`: the answer as typed events, in order: `start` (with the `requestId` that `feedback()` rates),
   * `delta`s, then `end`, or `error` when the model failed after the stream started. The iteration ends after `end`
   * or `error`; an `error` event is yielded, not thrown, so the text so far can be kept.
   *
   * Rejects (on the first `next()`, before any event) with a {@link GenAIError} when the API refuses the request:
   * `VALIDATION_ERROR`, `FORBIDDEN`, `TOKEN_BUDGET_EXCEEDED` or `THROTTLED` (429), `MODEL_UNAVAILABLE` (503), with
   * `retryAfterSeconds` where the API sent `Retry-After`. Rejects with `STREAM_INTERRUPTED` (retryable) when the
   * connection ends before `end` or `error`. The request is sent when the iteration starts; leaving the loop early
   * (`break`) closes the connection, so the API stops generating.
   *
   * @example
   * for await (const event of client.chatStream({ message: 'Hello' }, { signal })) {
   *   if (event.type === 'delta') process.stdout.write(event.text);
   *   if (event.type === 'end') console.log(`\n${event.usage.outputTokens} tokens, TTFT ${event.metrics.ttftMs} ms`);
   *   if (event.type === 'error') console.error(`\n${event.error.code}: ${event.error.message}`);
   * }
   */
  async *chatStream(request: ChatRequest, options: CallOptions = {}): AsyncGenerator<ChatStreamEvent, void, undefined> {
    const { signal } = options;
    throwIfAborted(signal);
    // Ends the HTTP exchange: on the caller's abort, after the last event, or when the caller stops iterating.
    const connection = new AbortController();
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    const onAbort = () => {
      const reason = abortReason(signal!);
      connection.abort(reason);
      // Also releases a `fetch` that ignores its signal (some polyfills do).
      reader?.cancel(reason).catch(() => undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let requestId: string | undefined;
    let bodyEnded = false;
    try {
      const response = await this.transport.send('POST', '/chat/stream', {
        body: request,
        accept: 'text/event-stream',
        signal: connection.signal,
      });
      requestId = response.headers.get('x-request-id') ?? undefined;
      if (response.status !== 200) throw await this.transport.failure(response, signal);
      const contentType = response.headers.get('content-type') ?? '';
      if (!contentType.toLowerCase().startsWith('text/event-stream') || !response.body)
        throw invalidResponse(
          `POST /chat/stream answered 200 with ${contentType || 'no content type'}`,
          200,
          requestId,
        );
      reader = response.body.getReader();
      for await (const message of sseMessages(reader)) {
        const event = toChatEvent(message, requestId);
        if (event === undefined) continue;
        if (event.type === 'start') requestId = event.requestId;
        yield event;
        if (event.type === 'end' || event.type === 'error') return;
      }
      bodyEnded = true;
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
      if (!bodyEnded) {
        connection.abort();
        reader?.cancel().catch(() => undefined);
      }
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
