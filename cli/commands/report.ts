/** `genai report "<prompt>"`: submits an async report; with `--wait`, follows it to the end and prints the result. */
import type { Report, SubmitReportRequest } from '../../clients/typescript/src';
import { API_OPTIONS, expectPositionals, intOption, type OptionValues } from '../args';
import { defineCommand } from '../command';
import type { CliContext } from '../context';
import { CommandError, EXIT, UsageError } from '../errors';
import { Progress } from '../progress';
import { createClient, resolveApiTarget } from '../target';

const OPTIONS = {
  ...API_OPTIONS,
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
  'callback-url': { type: 'string' },
  'idempotency-key': { type: 'string' },
  metadata: { type: 'string' },
  timeout: { type: 'string' },
} as const;

const DEFAULT_TIMEOUT_SECONDS = 600;
const MAX_TIMEOUT_SECONDS = 24 * 3600;

const HELP = `Usage: genai report <prompt> [options]
       genai report cancel <reportId> [--json]

Submits <prompt> as an async report (POST /reports) and prints its id on stdout. With --wait, follows it (GET
/reports/{id}, as often as its Retry-After says) until it ends, showing each status change on stderr (with a
spinner when stderr is a terminal), then prints the result text on stdout.

Options:
  --wait                   wait for the report to end and print its result
  --json                   print JSON instead: the accepted report ({reportId, status, statusUrl, …}), or with
                           --wait the finished report ({reportId, status, createdAt, updatedAt, result | error})
  --callback-url <url>     https URL that receives the signed webhook when the report ends
  --idempotency-key <key>  makes a retried submission return the same report instead of a new one
  --metadata <json>        a JSON object stored with the report (never sent to the model)
  --timeout <seconds>      how long --wait waits (default ${DEFAULT_TIMEOUT_SECONDS}); then exit 1 with TIMEOUT
  --url, --key, --bearer, -h, --help: see genai --help

A report that ends FAILED or CANCELLED exits 1 with "error: <CODE>: <message>" on stderr.

Ctrl-C during --wait only stops waiting (exit 130): it asks nothing and the report goes on; stderr names the
command that cancels it.

genai report cancel <reportId> cancels a report of yours (POST /reports/{id}/cancel): a QUEUED one is CANCELLED at
once, a RUNNING one stops within about two seconds ("cancelling"). Prints the report's id and status on stdout (with
--json, the report). A report that had already ended exits 1 with "error: ALREADY_FINISHED: …" and its state.`;

function parseMetadata(raw: string | undefined): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new UsageError('--metadata must be JSON, e.g. \'{"ticket":"T-1"}\'', 'report');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError('--metadata must be a JSON object', 'report');
  }
  return value as Record<string, unknown>;
}

/** The result of a finished report on stdout; a report that did not complete is an error (exit 1). */
function finish(report: Report, json: boolean, write: (text: string) => void): number {
  if (json) write(`${JSON.stringify(report)}\n`);
  if (report.status === 'COMPLETED') {
    const text = report.result?.text ?? '';
    if (!json) write(text.endsWith('\n') ? text : `${text}\n`);
    return EXIT.ok;
  }
  if (report.status === 'CANCELLED') throw new CommandError('CANCELLED', `report ${report.reportId} was cancelled`);
  throw new CommandError(
    report.error?.code ?? 'REPORT_FAILED',
    report.error?.message ?? `report ${report.reportId} ended ${report.status}`,
  );
}

/** `genai report cancel <reportId>`: the report's id and its status after the cancel. */
async function cancel(
  values: OptionValues<typeof OPTIONS>,
  positionals: readonly string[],
  ctx: CliContext,
): Promise<number> {
  const [, reportId] = expectPositionals('report', positionals, ['cancel', '<reportId>']);
  if (!reportId?.trim()) throw new UsageError('<reportId> is empty', 'report');
  for (const flag of ['wait', 'callback-url', 'idempotency-key', 'metadata', 'timeout'] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} does not apply to report cancel`, 'report');
  }
  const client = createClient(resolveApiTarget(values, ctx.env, 'report'), ctx);
  const report = await client.reports.cancel(reportId, { signal: ctx.signal });
  if (values.json) ctx.stdout.write(`${JSON.stringify(report)}\n`);
  else ctx.stdout.write(`${report.reportId} ${report.status === 'CANCELLED' ? 'CANCELLED' : 'cancelling'}\n`);
  return EXIT.ok;
}

export const command = defineCommand({
  name: 'report',
  options: OPTIONS,
  help: HELP,
  async run({ values, positionals }, ctx) {
    if (positionals[0] === 'cancel' && positionals.length > 1) return cancel(values, positionals, ctx);
    const [prompt] = expectPositionals('report', positionals, ['<prompt>']);
    if (!prompt?.trim()) throw new UsageError('<prompt> is empty', 'report');
    const timeoutSeconds = intOption('report', '--timeout', values.timeout, {
      min: 1,
      max: MAX_TIMEOUT_SECONDS,
      default: DEFAULT_TIMEOUT_SECONDS,
    });
    if (values.timeout !== undefined && !values.wait)
      throw new UsageError('--timeout applies to --wait only', 'report');
    const metadata = parseMetadata(values.metadata);
    const callbackUrl = values['callback-url'];
    if (callbackUrl !== undefined && !URL.canParse(callbackUrl)) {
      throw new UsageError(`--callback-url "${callbackUrl}" is not a URL`, 'report');
    }
    const idempotencyKey = values['idempotency-key'];
    if (idempotencyKey === '') throw new UsageError('--idempotency-key is empty', 'report');
    const client = createClient(resolveApiTarget(values, ctx.env, 'report'), ctx);

    const request: SubmitReportRequest = {
      prompt,
      ...(callbackUrl !== undefined ? { callbackUrl } : {}),
      ...(metadata !== undefined ? { metadata } : {}),
    };
    const accepted = await client.reports.create(request, {
      signal: ctx.signal,
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    });
    if (!values.wait) {
      ctx.stdout.write(values.json ? `${JSON.stringify(accepted)}\n` : `${accepted.reportId}\n`);
      ctx.stderr.write(`${accepted.replayed ? 'already submitted' : 'submitted'}: poll ${accepted.statusUrl}\n`);
      return EXIT.ok;
    }

    const progress = new Progress(ctx.stderr, `report ${accepted.reportId}`);
    progress.update(accepted.status);
    let done: Report;
    try {
      done = await client.reports.waitFor(accepted.reportId, {
        signal: ctx.signal,
        timeoutMs: timeoutSeconds * 1000,
        onProgress: (r) => progress.update(r.status),
      });
    } catch (err) {
      progress.stop();
      // Ctrl-C stops the waiting, not the report.
      if (ctx.signal.aborted)
        ctx.stderr.write(
          `report ${accepted.reportId} goes on; "genai report cancel ${accepted.reportId}" cancels it\n`,
        );
      throw err;
    } finally {
      progress.stop();
    }
    return finish(done, values.json === true, (text) => ctx.stdout.write(text));
  },
});
