/**
 * The body of `POST /chat/stream` as typed events. `eventsource-parser` reads the SSE framing (fields split across
 * chunks, CRLF, multi-line data); comments such as `: keep-alive` never reach the caller.
 */
import { createParser, type EventSourceMessage, type ParseError } from 'eventsource-parser';
import { invalidResponse } from './errors.js';
import type { ApiErrorDetail, ChatEndEvent, ChatStreamEvent } from './types.js';

/**
 * Most characters one event may take before the stream is refused. The API's largest event (`end`) is a few hundred
 * bytes; the bound keeps a broken or hostile server from growing the buffer without limit.
 */
const MAX_EVENT_CHARS = 4 * 1024 * 1024;

/** Yields the SSE messages of a body in order and returns when the body ends. */
export async function* sseMessages(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): AsyncGenerator<EventSourceMessage> {
  const queue: EventSourceMessage[] = [];
  let overflow: ParseError | undefined;
  const parser = createParser({
    onEvent: (message) => void queue.push(message),
    // Unknown fields and bad `retry:` values are ignored, as the SSE spec says; only an oversized event is fatal.
    onError: (error) => {
      if (error.type === 'max-buffer-size-exceeded') overflow ??= error;
    },
    maxBufferSize: MAX_EVENT_CHARS,
  });
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    // An event cut off by the end of the body is dropped, as the SSE spec says: only complete events count.
    parser.feed(done ? decoder.decode() : decoder.decode(value, { stream: true }));
    if (overflow)
      throw invalidResponse(`A stream event exceeded ${MAX_EVENT_CHARS} characters`, 200, undefined, overflow);
    while (queue.length > 0) yield queue.shift()!;
    if (done) return;
  }
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The typed event of one SSE message; undefined for an event type this client does not know (a newer API may add
 * some), which the caller skips.
 */
export function toChatEvent(message: EventSourceMessage, requestId: string | undefined): ChatStreamEvent | undefined {
  const type = message.event;
  if (type !== 'start' && type !== 'delta' && type !== 'end' && type !== 'error') return undefined;
  const id = message.id ?? '';
  const bad = (why: string, cause?: unknown) =>
    invalidResponse(`The stream's ${type} event (id ${id || 'none'}) ${why}`, 200, requestId, cause);
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch (err) {
    throw bad('is not JSON', err);
  }
  if (!isObject(data)) throw bad('is not a JSON object');
  const text = (field: string): string => {
    const value = data[field];
    if (typeof value !== 'string') throw bad(`has no string "${field}"`);
    return value;
  };
  const number = (object: string, field: string): number => {
    const parent = data[object];
    const value = isObject(parent) ? parent[field] : undefined;
    if (typeof value !== 'number') throw bad(`has no number "${object}.${field}"`);
    return value;
  };
  switch (type) {
    case 'start':
      return { type, id, requestId: text('requestId'), model: text('model') };
    case 'delta':
      return { type, id, text: text('text') };
    case 'end': {
      const event: ChatEndEvent = {
        type,
        id,
        model: text('model'),
        stopReason: text('stopReason'),
        usage: { inputTokens: number('usage', 'inputTokens'), outputTokens: number('usage', 'outputTokens') },
        metrics: { ttftMs: number('metrics', 'ttftMs'), latencyMs: number('metrics', 'latencyMs') },
      };
      const usage = data.usage as Json;
      for (const field of ['cacheReadInputTokens', 'cacheWriteInputTokens'] as const)
        if (typeof usage[field] === 'number') event.usage[field] = usage[field];
      if (typeof data.cached === 'boolean') event.cached = data.cached;
      if (typeof data.costUsd === 'number') event.costUsd = data.costUsd;
      return event;
    }
    case 'error': {
      const error = data.error;
      if (!isObject(error) || typeof error.code !== 'string' || typeof error.message !== 'string')
        throw bad('has no error code and message');
      const detail: ApiErrorDetail = {
        code: error.code,
        message: error.message,
        retryable: error.retryable === true,
      };
      if (typeof error.retryAfterSeconds === 'number') detail.retryAfterSeconds = error.retryAfterSeconds;
      return { type, id, error: detail };
    }
  }
}
