/**
 * `genai bench`: the load and failure test, against the local cloud or a deployed stage. Streamed and synchronous
 * calls side by side (cli/load.ts), for a bounded duration and a bounded request count; then TTFT, latency and
 * tokens/s p50/p99 for each, and the share of 429s, 5xx and other errors, as a table or `--json`.
 */
import { table } from '../../bench/stats';
import type { ChatRequest } from '../../clients/typescript/src';
import { API_OPTIONS, expectPositionals, intOption } from '../args';
import { defineCommand } from '../command';
import { CommandError, EXIT, UnreachableError, UsageError } from '../errors';
import { type Counts, count, MODES, type ModeSummary, type Percentiles, runLoad, summarize } from '../load';
import { formatMs, formatRate } from '../format';
import { createClient, resolveApiTarget } from '../target';

const OPTIONS = {
  ...API_OPTIONS,
  concurrency: { type: 'string' },
  duration: { type: 'string' },
  requests: { type: 'string' },
  timeout: { type: 'string' },
  'max-tokens': { type: 'string' },
  prompt: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Defaults stay small (a bench is easy to start by mistake against a paid stage); the caps are hard. */
const LIMITS = {
  concurrency: { min: 1, max: 64, default: 4 },
  duration: { min: 1, max: 600, default: 20 },
  requests: { min: 1, max: 10_000, default: 200 },
  timeout: { min: 1, max: 900, default: 30 },
  maxTokens: { min: 1, max: 4096, default: 64 },
} as const;

const DEFAULT_PROMPT = 'In two sentences: why does streaming make a slow model feel fast?';

const HELP = `Usage: genai bench [--url <api>] [--key <key>] [options]

The load and failure test: streamed (POST /chat/stream) and synchronous (POST /chat) calls side by side, from
--concurrency workers that take turns between the two, until --duration seconds have passed or --requests calls were
made, whichever comes first (calls in flight then finish, each within --timeout). Prints, for stream and for sync:
time to first token, latency and output tokens/s (p50, p99; measured here, network included; a synchronous call's TTFT
is its latency), and the share of 429s, 5xx and other errors (other 4xx, no answer, an error event mid-stream).

Options:
  --concurrency <n>  calls in flight at once (${LIMITS.concurrency.min}-${LIMITS.concurrency.max}, default ${LIMITS.concurrency.default})
  --duration <s>     stop starting calls after this many seconds (${LIMITS.duration.min}-${LIMITS.duration.max}, default ${LIMITS.duration.default})
  --requests <n>     and after this many calls (${LIMITS.requests.min}-${LIMITS.requests.max}, default ${LIMITS.requests.default})
  --timeout <s>      longest a call may take (${LIMITS.timeout.min}-${LIMITS.timeout.max}, default ${LIMITS.timeout.default})
  --max-tokens <n>   maxTokens of every call (${LIMITS.maxTokens.min}-${LIMITS.maxTokens.max}, default ${LIMITS.maxTokens.default})
  --prompt <text>    the message of every call (default: a fixed question)
  --json             print the results as one JSON object: settings, elapsedMs, and for stream, sync and total the
                     counts (requests, ok, rateLimited, serverErrors, otherErrors), their shares (0-1), the failed
                     calls by error code, and (stream, sync) ttftMs, latencyMs, tokensPerSecond as {p50, p99}
  --url, --key, --bearer, -h, --help: see genai --help

Each call counts against the key's usage plan and token budget: a free-plan key soon gets 429s, which is the point of
the failure half. Exit 0 when any call succeeded; 1 when none did (3 when none got an answer).`;

function percent(n: number, share: number): string {
  return `${n} (${(share * 100).toFixed(1)}%)`;
}

function render(stream: ModeSummary, sync: ModeSummary, total: Counts, elapsedMs: number, concurrency: number): string {
  const pair = (f: (s: ModeSummary) => string) => [f(stream), f(sync)];
  const pct = (f: (p: ModeSummary) => Percentiles, fmt: (v: number | null) => string, p: 'p50' | 'p99') =>
    pair((s) => fmt(f(s)[p]));
  const rows: string[][] = [
    ['requests', ...pair((s) => String(s.requests))],
    ['ok', ...pair((s) => String(s.ok))],
    ['TTFT p50', ...pct((s) => s.ttftMs, formatMs, 'p50')],
    ['TTFT p99', ...pct((s) => s.ttftMs, formatMs, 'p99')],
    ['latency p50', ...pct((s) => s.latencyMs, formatMs, 'p50')],
    ['latency p99', ...pct((s) => s.latencyMs, formatMs, 'p99')],
    ['tokens/s p50', ...pct((s) => s.tokensPerSecond, formatRate, 'p50')],
    ['tokens/s p99', ...pct((s) => s.tokensPerSecond, formatRate, 'p99')],
    ['429', ...pair((s) => percent(s.rateLimited, s.rateLimitedShare))],
    ['5xx', ...pair((s) => percent(s.serverErrors, s.serverErrorShare))],
    ['other errors', ...pair((s) => percent(s.otherErrors, s.otherErrorShare))],
  ];
  const codes = Object.entries(total.errors)
    .sort(([, a], [, b]) => b - a)
    .map(([code, n]) => `${code} ×${n}`);
  return [
    table(['', 'stream', 'sync'], rows),
    '',
    `${total.requests} calls in ${formatMs(elapsedMs)} at concurrency ${concurrency}: ` +
      `${percent(total.rateLimited, total.rateLimitedShare)} 429, ${percent(total.serverErrors, total.serverErrorShare)} 5xx, ` +
      `${percent(total.otherErrors, total.otherErrorShare)} other errors`,
    ...(codes.length ? [`errors: ${codes.join(', ')}`] : []),
  ].join('\n');
}

export const command = defineCommand({
  name: 'bench',
  options: OPTIONS,
  help: HELP,
  async run({ values, positionals }, ctx) {
    expectPositionals('bench', positionals, []);
    const int = (flag: string, raw: string | undefined, bounds: (typeof LIMITS)[keyof typeof LIMITS]) =>
      intOption('bench', flag, raw, bounds);
    const settings = {
      concurrency: int('--concurrency', values.concurrency, LIMITS.concurrency),
      durationSeconds: int('--duration', values.duration, LIMITS.duration),
      maxRequests: int('--requests', values.requests, LIMITS.requests),
      timeoutSeconds: int('--timeout', values.timeout, LIMITS.timeout),
      maxTokens: int('--max-tokens', values['max-tokens'], LIMITS.maxTokens),
    };
    const prompt = values.prompt ?? DEFAULT_PROMPT;
    if (!prompt.trim()) throw new UsageError('--prompt is empty', 'bench');
    const target = resolveApiTarget(values, ctx.env, 'bench');
    const request: ChatRequest = { message: prompt, maxTokens: settings.maxTokens };

    ctx.stderr.write(
      `bench: stream and sync side by side against ${target.baseUrl}, concurrency ${settings.concurrency}, ` +
        `for ${settings.durationSeconds} s or ${settings.maxRequests} calls\n`,
    );
    const { samples, elapsedMs } = await runLoad(createClient(target, ctx), {
      concurrency: settings.concurrency,
      durationMs: settings.durationSeconds * 1000,
      maxRequests: settings.maxRequests,
      timeoutMs: settings.timeoutSeconds * 1000,
      request,
      signal: ctx.signal,
    });
    const [stream, sync] = MODES.map((mode) => summarize(samples.filter((s) => s.mode === mode))) as [
      ModeSummary,
      ModeSummary,
    ];
    const total = count(samples);
    ctx.stdout.write(
      values.json
        ? `${JSON.stringify({ url: target.baseUrl, settings, elapsedMs: Math.round(elapsedMs), stream, sync, total })}\n`
        : `${render(stream, sync, total, elapsedMs, settings.concurrency)}\n`,
    );
    if (total.ok > 0) return EXIT.ok;
    const [code] = Object.entries(total.errors).sort(([, a], [, b]) => b - a)[0] ?? ['NO_CALLS'];
    if (code === 'NETWORK_ERROR' && total.errors[code] === total.requests) {
      throw new UnreachableError(`no call got an answer from ${target.baseUrl}`);
    }
    throw new CommandError(code, `none of the ${total.requests} calls succeeded`);
  },
});
