/** Helpers for report tests and the reports bench: an API client, webhook receivers, bounded polling. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** A JSON client for one API key. */
export function reportsApi(baseUrl: string, apiKey: string) {
  const call = async <T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        'x-api-key': apiKey,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as T };
  };
  return {
    submit: (body: unknown, headers?: Record<string, string>) =>
      call<{ reportId: string; status: string; statusUrl: string; error?: { code: string; message: string } }>(
        'POST',
        '/reports',
        body,
        headers,
      ),
    get: (reportId: string) => call<ReportBody>('GET', `/reports/${encodeURIComponent(reportId)}`),
    /** `POST /reports/{id}/cancel`: the report (`200`, `202`) or an error body (`404`, `409`). */
    cancel: (reportId: string) =>
      call<Partial<ReportBody> & { error?: { code: string; message: string; retryable: boolean; status?: string } }>(
        'POST',
        `/reports/${encodeURIComponent(reportId)}/cancel`,
      ),
    getUrl: async (url: string) => {
      const res = await fetch(url, { headers: { 'x-api-key': apiKey } });
      return { status: res.status, headers: res.headers, body: (await res.json()) as ReportBody };
    },
  };
}

export interface ReportBody {
  reportId: string;
  status: 'QUEUED' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
  createdAt: string;
  updatedAt: string;
  /** While `RUNNING`: when its owner asked to cancel it. */
  cancelRequestedAt?: string;
  /** Once `CANCELLED`. */
  cancelledAt?: string;
  result?: { text: string; usage: { inputTokens: number; outputTokens: number } };
  error?: { code: string; message: string };
}

/** Polls `GET /reports/{id}` until the report is finished or cancelled (bounded), returning every status seen in order. */
export async function waitForReport(
  api: ReturnType<typeof reportsApi>,
  reportId: string,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<{ report: ReportBody; seen: string[]; retryAfter: (string | null)[] }> {
  const seen: string[] = [];
  const retryAfter: (string | null)[] = [];
  const report = await waitFor(
    async () => {
      const { status, body, headers } = await api.get(reportId);
      if (status !== 200) throw new Error(`GET /reports/${reportId} answered ${status}: ${JSON.stringify(body)}`);
      if (seen[seen.length - 1] !== body.status) seen.push(body.status);
      retryAfter.push(headers.get('retry-after'));
      return body.status === 'COMPLETED' || body.status === 'FAILED' || body.status === 'CANCELLED' ? body : undefined;
    },
    {
      timeoutMs: options.timeoutMs ?? 20_000,
      intervalMs: options.intervalMs ?? 50,
      what: `report ${reportId} to finish`,
    },
  );
  return { report, seen, retryAfter };
}

/** Calls `probe` until it returns a value other than undefined, or fails after `timeoutMs` saying what it waited for. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const until = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`Timed out waiting for ${options.what ?? 'a condition'}`);
    await sleep(options.intervalMs ?? 50);
  }
}

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
  receivedAt: number;
}

/** A webhook receiver on 127.0.0.1: records every POST, answers `status()` (200 by default). */
export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly received: ReceivedWebhook[];
  /** What to answer next; change it to simulate a failing subscriber. */
  status: () => number;
  /** Stops listening (the subscriber is down); `open()` listens again on the same port. */
  down(): Promise<void>;
  open(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(path = '/hook', port = 0): Promise<Receiver> {
  const received: ReceivedWebhook[] = [];
  let server: Server | undefined;
  const receiver: Receiver = {
    url: '',
    port: 0,
    received,
    status: () => 200,
    async open() {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(body) as Record<string, unknown>;
          } catch {
            // recorded as text
          }
          const status = receiver.status();
          if (status >= 200 && status < 300)
            received.push({ headers: req.headers, body, json, receivedAt: Date.now() });
          res.writeHead(status).end();
        });
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(receiver.port, '127.0.0.1', () => resolve());
      });
      const actual = (server.address() as AddressInfo).port;
      Object.assign(receiver, { port: actual, url: `http://127.0.0.1:${actual}${path}` });
    },
    async down() {
      const s = server;
      server = undefined;
      if (!s) return;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
    async close() {
      await receiver.down();
    },
  };
  Object.assign(receiver, { port });
  await receiver.open();
  return receiver;
}
