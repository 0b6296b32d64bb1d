/**
 * A client of the streaming endpoint written only from the contract: fetch + eventsource-parser, recording when each
 * event and comment arrived.
 */
import { fetchEventSource, type EventSourceMessage } from '@microsoft/fetch-event-source';
import { createParser, type EventSourceMessage as ParsedMessage } from 'eventsource-parser';

export interface ReceivedEvent {
  event: string;
  id?: string;
  data: any;
  at: number;
}

export interface SseResult {
  status: number;
  headers: Headers;
  events: ReceivedEvent[];
  comments: string[];
  /** The body, when the response was not an event stream (a JSON error before the stream started). */
  json?: any;
}

export interface StreamOptions {
  apiKey?: string;
  body: unknown;
  /** Called for each event as it arrives; return true to abort the request (client goes away). */
  onEvent?: (event: ReceivedEvent) => boolean | undefined;
  /** Request headers besides the body type and the key (e.g. `cache-control`). */
  headers?: Record<string, string>;
}

export async function streamChat(baseUrl: string, options: StreamOptions): Promise<SseResult> {
  const controller = new AbortController();
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  const res = await fetch(`${baseUrl}/chat/stream`, {
    method: 'POST',
    headers,
    body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    signal: controller.signal,
  });
  const result: SseResult = { status: res.status, headers: res.headers, events: [], comments: [] };
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    const text = await res.text();
    try {
      result.json = JSON.parse(text);
    } catch {
      result.json = text;
    }
    return result;
  }
  let aborted = false;
  const parser = createParser({
    onEvent: (message) => {
      // A chunk can carry several events: the ones after the abort are what the dropped client never saw.
      if (aborted) return;
      const received: ReceivedEvent = {
        event: message.event ?? 'message',
        id: message.id,
        data: JSON.parse(message.data),
        at: performance.now(),
      };
      result.events.push(received);
      if (options.onEvent?.(received)) {
        aborted = true;
        controller.abort();
      }
    },
    onComment: (comment) => result.comments.push(comment.trim()),
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (aborted) break;
    }
  } catch (err) {
    if (!aborted) throw err;
  }
  return result;
}

/** The messages of a whole event-stream body, in order, as eventsource-parser reads them (`event` unset when unnamed). */
export function sseMessages(text: string): ParsedMessage[] {
  const messages: ParsedMessage[] = [];
  createParser({ onEvent: (message) => void messages.push(message) }).feed(text);
  return messages;
}

export async function postJson(
  url: string,
  body: unknown,
  apiKey?: string,
): Promise<{ status: number; headers: Headers; json: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey) headers['x-api-key'] = apiKey;
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, json };
}

/** Polls `check` until it returns a value, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Streams a chat answer with `@microsoft/fetch-event-source`, the most used POST-SSE client in browsers, and returns
 * every message its `onmessage` received. It expects a browser: `window` for its timers and `document` for page
 * visibility, which Node has not, so both get the smallest stand-ins that let it run.
 */
export async function streamWithFetchEventSource(
  url: string,
  apiKey: string,
  body: unknown,
): Promise<EventSourceMessage[]> {
  const g = globalThis as { window?: unknown; document?: unknown };
  g.window ??= globalThis;
  g.document ??= { hidden: false, addEventListener: () => undefined, removeEventListener: () => undefined };
  const messages: EventSourceMessage[] = [];
  await fetchEventSource(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
    body: JSON.stringify(body),
    openWhenHidden: true,
    onmessage: (message) => void messages.push(message),
    onerror: (err) => {
      throw err; // no automatic retry: one attempt is the test
    },
  });
  return messages;
}
