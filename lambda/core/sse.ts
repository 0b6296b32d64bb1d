/**
 * Server-Sent Events on a Lambda response stream. Every event carries an `id:` (a counter, so a client can tell
 * whether it missed one); a `: keep-alive` comment is written whenever nothing else has been sent for `keepAliveMs`,
 * which keeps proxies and the API Gateway idle timeout from closing a stream while the model thinks.
 *
 * A comment is one line with no blank line after it. The SSE spec ignores comment lines wherever they stand, but a
 * blank line dispatches an event: popular POST-SSE clients (`@microsoft/fetch-event-source`, sse.js) then hand the
 * application an empty message, whose `JSON.parse(data)` throws.
 */
import type { Writable } from 'node:stream';
import type { StreamEventData } from '../../config/responses';
import type { ApiError } from './errors';

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // Stops nginx-style proxies in front of a client from buffering the stream.
  'x-accel-buffering': 'no',
};

/** The events of the native stream; each one's data is typed by the contract's schema (config/responses.ts). */
export type SseEventName = keyof StreamEventData;

/**
 * A `text/event-stream` body: raw writes, a `: keep-alive` comment whenever nothing else was written for
 * `keepAliveMs`, and nothing once closed or once the client's stream is gone. The native and the OpenAI-compatible
 * streams differ only in how they frame their events.
 */
export class EventStreamWriter {
  private lastWriteAt: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly out: Writable,
    private readonly keepAliveMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.lastWriteAt = now();
  }

  comment(text: string): boolean {
    return this.write(`: ${text}\n`);
  }

  startKeepAlive(): void {
    const tick = Math.max(50, Math.floor(this.keepAliveMs / 4));
    this.timer = setInterval(() => {
      if (this.now() - this.lastWriteAt >= this.keepAliveMs) this.comment('keep-alive');
    }, tick);
    this.timer.unref?.();
  }

  /** Stops the keep-alive timer; the caller ends the underlying stream. */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** Writes `chunk`; returns false once the stream can no longer be written. */
  protected write(chunk: string): boolean {
    if (this.closed || this.out.destroyed || this.out.writableEnded) return false;
    this.lastWriteAt = this.now();
    this.out.write(chunk);
    return true;
  }
}

/** The native stream: named events, each with an `id:` counter. */
export class SseWriter extends EventStreamWriter {
  private nextId = 1;
  private listener: ((id: number, sse: string) => void) | undefined;

  /**
   * Also hands each event's id and exact bytes (keep-alive comments excluded) to `listener`, after the client's write:
   * the stream log records them (lambda/core/streams/log.ts). `listener` must not block.
   */
  tee(listener: (id: number, sse: string) => void): this {
    this.listener = listener;
    return this;
  }

  /** Writes one event; returns false once the stream can no longer be written. */
  event<N extends SseEventName>(name: N, data: StreamEventData[N]): boolean {
    const id = this.nextId++;
    const chunk = `id: ${id}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    const written = this.write(chunk);
    this.listener?.(id, chunk);
    return written;
  }
}

/**
 * The data of an `error` event: the error body every response uses, plus `retryAfterSeconds` where known. A stream has
 * committed to `200` before the failure, so the `Retry-After` a `503` would carry has to travel in the event itself.
 */
export function errorEventData(err: ApiError): StreamEventData['error'] {
  const body = err.toBody();
  const seconds = err.retryAfterWholeSeconds;
  return seconds === undefined ? body : { error: { ...body.error, retryAfterSeconds: seconds } };
}
