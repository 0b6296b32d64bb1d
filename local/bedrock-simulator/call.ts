import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Exchange } from './exchange';

/** One model or settings call: pacing timers that die with the exchange, and writes that are no-ops once it is gone. */
export class Call {
  private readonly startedAt = performance.now();
  private readonly requestId = randomUUID();
  private timer?: NodeJS.Timeout;
  private wake?: (alive: boolean) => void;
  private finished = false;
  private gone = false;

  constructor(private readonly exchange: Exchange) {
    exchange.onClose(() => {
      this.gone = true;
      this.stopWaiting();
    });
  }

  /** `listener(finished)` runs once when the exchange closes; `finished` is false if the client left first. */
  onClose(listener: (finished: boolean) => void): void {
    if (this.gone) return listener(this.finished);
    this.exchange.onClose(() => listener(this.finished));
  }

  /** Resolves true after `ms`, or false as soon as the client goes away (the timer is cleared). */
  wait(ms: number): Promise<boolean> {
    if (this.gone) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.wake = undefined;
          resolve(!this.gone);
        },
        Math.max(0, ms),
      );
    });
  }

  elapsedMs(): number {
    return Math.round(performance.now() - this.startedAt);
  }

  /** Starts a streamed response: status and headers go out now. */
  respond(status: number, contentType: string): void {
    if (!this.alive || this.exchange.headersSent) return;
    this.exchange.respond(status, this.headers(contentType));
  }

  write(chunk: Uint8Array): void {
    if (this.alive) this.exchange.write(chunk);
  }

  end(): void {
    if (!this.alive) return;
    this.finished = true;
    this.exchange.end();
  }

  json(status: number, body: unknown, extra: Record<string, string> = {}): void {
    if (!this.alive || this.exchange.headersSent) return;
    this.finished = true;
    this.exchange.respondWith(status, this.headers('application/json', extra), JSON.stringify(body));
  }

  /** A restJson1 error: the SDK names the thrown exception after `x-amzn-errortype`. */
  error(status: number, type: string, message: string): void {
    this.json(status, { message }, { 'x-amzn-errortype': type });
  }

  cancel(): void {
    if (this.alive) this.exchange.abort();
  }

  private headers(contentType: string, extra: Record<string, string> = {}): Record<string, string> {
    return { 'content-type': contentType, 'x-amzn-requestid': this.requestId, ...extra };
  }

  // `close` is emitted a tick after the exchange is destroyed; writing in between would throw.
  private get alive(): boolean {
    return !this.gone && !this.exchange.destroyed;
  }

  private stopWaiting(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wake?.(false);
    this.wake = undefined;
  }
}
