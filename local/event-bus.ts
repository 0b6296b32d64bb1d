/**
 * The local stand-in for an EventBridge event bus: an HTTP server speaking `PutEvents` on the JSON 1.1 protocol
 * (`X-Amz-Target: AWSEvents.PutEvents`), so the unchanged `@aws-sdk/client-eventbridge` reaches it through
 * `AWS_ENDPOINT_URL_EVENTBRIDGE`.
 *
 * Each accepted entry becomes an EventBridge event (`version`, `id`, `detail-type`, `source`, `time`, `detail`, …), is
 * matched against the rules (`event-pattern.ts`), and is delivered to every target of every matching rule in the
 * background, after the `PutEvents` response, as EventBridge does: with retries and backoff, then to the target's
 * dead-letter handler with the reason.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs, type BackoffPolicy } from '../config/backoff';
import { matchesPattern, readJsonPath, type EventPattern } from './event-pattern';

export interface BusEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
}

/** A failure a target reports; `retryable: false` sends the event straight to the dead-letter handler. */
export class TargetDeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'TargetDeliveryError';
  }
}

export interface BusTarget {
  readonly id: string;
  /** `InputPath` of the target. @default '$' (the whole event) */
  readonly inputPath?: string;
  /** Retries after the first attempt (EventBridge's `RetryPolicy.MaximumRetryAttempts`). */
  readonly retryAttempts: number;
  /** Waits between attempts (`config/backoff.ts`). */
  readonly backoff: BackoffPolicy;
  deliver(input: unknown, event: BusEvent): Promise<void>;
  deadLetter(input: unknown, event: BusEvent, reason: string): Promise<void>;
}

export interface BusRule {
  readonly name: string;
  readonly pattern: EventPattern;
  readonly targets: readonly BusTarget[];
}

export interface LocalEventBusOptions {
  readonly busName: string;
  readonly rules: readonly BusRule[];
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 */
  readonly port?: number;
  /** @default 'us-east-1' */
  readonly region?: string;
  readonly onError?: (err: unknown) => void;
}

export interface LocalEventBusStats {
  /** Entries accepted by PutEvents. */
  events: number;
  /** Target deliveries that succeeded. */
  delivered: number;
  /** Failed attempts (including ones retried later). */
  failedAttempts: number;
  deadLettered: number;
  /** PutEvents calls answered with an injected failure. */
  injectedFailures: number;
}

const ACCOUNT = '000000000000';

export class LocalEventBus {
  readonly stats: LocalEventBusStats = {
    events: 0,
    delivered: 0,
    failedAttempts: 0,
    deadLettered: 0,
    injectedFailures: 0,
  };
  /** Every accepted event, in order (for tests and the bench). */
  readonly events: BusEvent[] = [];
  private readonly pending = new Set<Promise<void>>();
  private failNext = 0;
  private closed = false;
  private readonly closing = new AbortController();

  private constructor(
    private readonly options: LocalEventBusOptions,
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(options: LocalEventBusOptions): Promise<LocalEventBus> {
    let bus: LocalEventBus | undefined;
    const server = createServer((req, res) => void bus?.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    const { address, port } = server.address() as AddressInfo;
    bus = new LocalEventBus(options, server, `http://${address}:${port}`);
    return bus;
  }

  get arn(): string {
    return `arn:aws:events:${this.options.region ?? 'us-east-1'}:${ACCOUNT}:event-bus/${this.options.busName}`;
  }

  /** Makes the next `count` PutEvents calls fail with `InternalException` (as EventBridge can), to test recovery. */
  failPutEvents(count: number): void {
    this.failNext = count;
  }

  /** Waits (bounded) until no delivery is pending. */
  async idle(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.pending.size > 0 && Date.now() < until) {
      const timeout = new AbortController();
      await Promise.race([
        Promise.allSettled([...this.pending]),
        sleep(Math.max(0, until - Date.now()), undefined, { signal: timeout.signal }).catch(() => undefined),
      ]);
      timeout.abort();
    }
  }

  /** Stops accepting events; deliveries still retrying are abandoned. */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    if (req.method !== 'POST' || target !== 'AWSEvents.PutEvents') {
      return reply(res, 400, {
        __type: 'UnknownOperationException',
        message: `The local bus only implements PutEvents (got ${target || req.method})`,
      });
    }
    if (this.failNext > 0) {
      this.failNext--;
      this.stats.injectedFailures++;
      return reply(res, 500, { __type: 'InternalException', message: 'Injected failure' });
    }
    let body: { Entries?: Record<string, unknown>[] };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
    } catch {
      return reply(res, 400, { __type: 'ValidationException', message: 'Body is not JSON' });
    }
    const entries = body.Entries ?? [];
    if (entries.length < 1 || entries.length > 10) {
      return reply(res, 400, { __type: 'ValidationException', message: 'Entries: between 1 and 10 entries' });
    }
    let failed = 0;
    const results = entries.map((entry) => {
      const outcome = this.accept(entry);
      if ('ErrorCode' in outcome) failed++;
      return outcome;
    });
    reply(res, 200, { Entries: results, FailedEntryCount: failed });
  }

  private accept(entry: Record<string, unknown>): { EventId: string } | { ErrorCode: string; ErrorMessage: string } {
    const busName = entry.EventBusName === undefined ? 'default' : String(entry.EventBusName);
    if (busName !== this.options.busName && busName !== this.arn) {
      return { ErrorCode: 'ResourceNotFoundException', ErrorMessage: `Event bus ${busName} does not exist.` };
    }
    if (typeof entry.Source !== 'string' || typeof entry.DetailType !== 'string' || typeof entry.Detail !== 'string') {
      return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Source, DetailType and Detail are required' };
    }
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail);
    } catch {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail must be a JSON object.' };
    }
    const event: BusEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': entry.DetailType,
      source: entry.Source,
      account: ACCOUNT,
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.options.region ?? 'us-east-1',
      resources: Array.isArray(entry.Resources) ? (entry.Resources as string[]) : [],
      detail,
    };
    this.stats.events++;
    this.events.push(event);
    for (const rule of this.options.rules) {
      let matched = false;
      try {
        matched = matchesPattern(rule.pattern, event);
      } catch (err) {
        this.options.onError?.(err);
      }
      if (!matched) continue;
      for (const target of rule.targets) this.track(this.deliver(target, event));
    }
    return { EventId: event.id };
  }

  private track(work: Promise<void>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  private async deliver(target: BusTarget, event: BusEvent): Promise<void> {
    const input = readJsonPath(event, target.inputPath ?? '$');
    let reason = '';
    for (let attempt = 1; attempt <= 1 + target.retryAttempts; attempt++) {
      if (this.closed) return;
      try {
        await target.deliver(input, event);
        this.stats.delivered++;
        return;
      } catch (err) {
        this.stats.failedAttempts++;
        reason = err instanceof Error ? err.message : String(err);
        if (err instanceof TargetDeliveryError && !err.retryable) break;
      }
      if (attempt <= target.retryAttempts) {
        // Aborted by close(): the loop then sees `closed` and abandons the delivery.
        await sleep(backoffMs(target.backoff, attempt), undefined, { signal: this.closing.signal }).catch(
          () => undefined,
        );
      }
    }
    if (this.closed) return;
    this.stats.deadLettered++;
    try {
      await target.deadLetter(input, event, reason);
    } catch (err) {
      this.options.onError?.(err);
    }
  }
}

/** The status codes on which EventBridge retries an API destination; others go to the dead-letter queue at once. */
export function isRetryableDestinationStatus(status: number): boolean {
  return status >= 500 || status === 401 || status === 407 || status === 409 || status === 429;
}

/**
 * An API destination target: POSTs the input as JSON with the connection's API-key header, within EventBridge's 5 s
 * limit for an endpoint to answer.
 */
export function apiDestinationTarget(options: {
  id: string;
  endpoint: string;
  apiKeyHeader: string;
  apiKeyValue: string;
  inputPath?: string;
  retryAttempts: number;
  backoff: BackoffPolicy;
  deadLetter: BusTarget['deadLetter'];
  timeoutMs?: number;
}): BusTarget {
  return {
    id: options.id,
    inputPath: options.inputPath,
    retryAttempts: options.retryAttempts,
    backoff: options.backoff,
    deadLetter: options.deadLetter,
    async deliver(input) {
      let response: Response;
      try {
        response = await fetch(options.endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8', [options.apiKeyHeader]: options.apiKeyValue },
          body: JSON.stringify(input),
          signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
          redirect: 'manual',
        });
        await response.arrayBuffer().catch(() => undefined);
      } catch (err) {
        throw new TargetDeliveryError(`${options.endpoint}: ${(err as Error).message}`, true);
      }
      if (response.status >= 200 && response.status < 300) return;
      throw new TargetDeliveryError(
        `${options.endpoint}: HTTP ${response.status}`,
        isRetryableDestinationStatus(response.status),
      );
    },
  };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
  res.end(JSON.stringify(body));
}
