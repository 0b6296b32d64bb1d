/** `genai chat "<message>"`: one answer, streamed (or `--sync`), with the client-side TTFT, latency and tokens/s. */
import {
  type ChatRequest,
  type ClientMetrics,
  type GenAIClient,
  measureClientMetrics,
} from '../../clients/typescript/src';
import { API_OPTIONS, expectPositionals, intOption } from '../args';
import { defineCommand } from '../command';
import type { CliContext } from '../context';
import { EXIT, UsageError } from '../errors';
import { printApiError } from '../failure';
import { formatMs, formatRate } from '../format';
import { createClient, resolveApiTarget } from '../target';

const OPTIONS = {
  ...API_OPTIONS,
  sync: { type: 'boolean' },
  json: { type: 'boolean' },
  system: { type: 'string' },
  'max-tokens': { type: 'string' },
  'model-info': { type: 'boolean' },
} as const;

/** How long Ctrl-C waits for the API to accept the cancel before the command ends anyway. */
const CANCEL_WAIT_MS = 1_000;

/** Far above any model's output limit; the API caps it at `chat.maxTokensLimit` and names the field if it is over. */
const MAX_TOKENS_BOUND = 1_000_000;

const HELP = `Usage: genai chat <message> [options]

Sends <message> to POST /chat/stream and writes the answer to stdout as it arrives, then writes the time to first
token (TTFT), the total latency, output tokens per second (output tokens / time from first token to end) and the
model that served to stderr, so stdout stays the answer. "-" reads the message from stdin.

Options:
  --sync             call POST /chat instead (the whole answer at once: the baseline); same metrics, TTFT = latency
  --json             print one JSON object when done, instead of the text: requestId, model, text, stopReason,
                     usage, costUsd (null when the model has no price), cached, metrics {ttftMs, latencyMs,
                     tokensPerSecond} (measured here), apiMetrics {ttftMs, latencyMs} (measured by the API); a failed
                     stream adds error {code, message, retryable}
  --system <text>    system prompt
  --max-tokens <n>   upper bound on the answer's length in tokens
  --model-info       also print the request id, the model asked first and the one that served (a fallback shows),
                     the stop reason, the token counts, the cost and the API's own TTFT and latency
  --url, --key, --bearer, -h, --help: see genai --help

Ctrl-C cancels the answer on the server (POST /chat/stream/{requestId}/cancel, waiting at most ${CANCEL_WAIT_MS / 1000} s for it,
so the API stops generating even where the platform does not report a closed connection, as on Lambda), keeps the
text so far and exits 130. A dropped connection resumes by itself from the last event received (GET
/chat/stream/{requestId} with Last-Event-ID; stderr says "resumed after event N"), so no text is lost or repeated.
An error after the answer started keeps the text received so far on stdout, prints the error to stderr and exits 1.`;

/** The answer and what it took, whichever endpoint served it. */
interface Answer {
  requestId?: string;
  /** The model the API tried first (`start`); a stream only. */
  firstModel?: string;
  model?: string;
  text: string;
  stopReason?: string;
  usage?: { inputTokens: number; outputTokens: number };
  /** What the call cost at the API's prices (`models.prices`); unset when the model has none. */
  costUsd?: number;
  /** Whether the answer came from the API's response cache. */
  cached?: boolean;
  metrics: ClientMetrics;
  apiMetrics?: { ttftMs: number; latencyMs: number };
  error?: { code: string; message: string; retryable: boolean; retryAfterSeconds?: number };
}

async function readStdin(ctx: CliContext): Promise<string> {
  const chunks: string[] = [];
  for await (const chunk of ctx.stdin ?? []) chunks.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
  return chunks.join('').replace(/\n$/, '');
}

async function streamed(client: GenAIClient, request: ChatRequest, ctx: CliContext, echo: boolean): Promise<Answer> {
  const answer: Omit<Answer, 'metrics'> = { text: '' };
  const sentAt = performance.now();
  let firstTokenAt: number | undefined;
  let resumedAfter: string | undefined;
  try {
    const events = client.chatStream(request, {
      signal: ctx.signal,
      onResume: (info) => {
        resumedAfter = info.lastEventId ?? '0';
      },
    });
    for await (const event of events) {
      if (resumedAfter !== undefined) {
        ctx.stderr.write(
          `${answer.text && !answer.text.endsWith('\n') && echo ? '\n' : ''}resumed after event ${resumedAfter}\n`,
        );
        resumedAfter = undefined;
      }
      if (event.type === 'start') {
        answer.requestId = event.requestId;
        answer.firstModel = event.model;
      } else if (event.type === 'delta') {
        firstTokenAt ??= performance.now();
        answer.text += event.text;
        if (echo) ctx.stdout.write(event.text);
      } else if (event.type === 'end') {
        answer.model = event.model;
        answer.stopReason = event.stopReason;
        answer.usage = event.usage;
        answer.apiMetrics = event.metrics;
        answer.costUsd = event.costUsd;
        answer.cached = event.cached;
      } else {
        answer.error = event.error;
      }
    }
  } catch (err) {
    // Ctrl-C: closing the connection is not enough where the platform does not tell the function (Lambda), so the
    // answer is cancelled on the server, waiting a bounded time; the interrupt is reported whatever the API answers.
    if (ctx.signal.aborted && answer.requestId !== undefined) await cancelOnServer(client, answer.requestId);
    throw err;
  } finally {
    // Whatever ends the stream (an interrupt too), the text so far ends its line.
    if (echo && answer.text && !answer.text.endsWith('\n')) ctx.stdout.write('\n');
  }
  const outputTokens = answer.usage?.outputTokens ?? 0;
  return {
    ...answer,
    metrics: measureClientMetrics({ sentAt, firstTokenAt, doneAt: performance.now(), outputTokens }),
  };
}

/** Asks the API to stop generating; gives up after {@link CANCEL_WAIT_MS}. A finished stream is nothing to cancel. */
async function cancelOnServer(client: GenAIClient, requestId: string): Promise<void> {
  try {
    await client.cancelStream(requestId, { signal: AbortSignal.timeout(CANCEL_WAIT_MS) });
  } catch {
    // ALREADY_FINISHED, a network failure or the wait running out: the interrupt is what the user asked for.
  }
}

async function buffered(client: GenAIClient, request: ChatRequest, ctx: CliContext, echo: boolean): Promise<Answer> {
  const sentAt = performance.now();
  const response = await client.chat(request, { signal: ctx.signal });
  const metrics = measureClientMetrics({
    sentAt,
    doneAt: performance.now(),
    outputTokens: response.usage.outputTokens,
  });
  if (echo) ctx.stdout.write(response.text.endsWith('\n') ? response.text : `${response.text}\n`);
  const { requestId, model, text, stopReason, usage, costUsd, cached, metrics: apiMetrics } = response;
  return { requestId, model, text, stopReason, usage, costUsd, cached, metrics, apiMetrics };
}

function printMetrics(answer: Answer, ctx: CliContext, modelInfo: boolean): void {
  const { metrics } = answer;
  const fallback = answer.firstModel && answer.model && answer.firstModel !== answer.model;
  ctx.stderr.write(
    `TTFT ${formatMs(metrics.ttftMs)} · latency ${formatMs(metrics.latencyMs)} · ${formatRate(metrics.tokensPerSecond)}` +
      ` · model ${answer.model}${fallback ? ` (fallback from ${answer.firstModel})` : ''}\n`,
  );
  if (!modelInfo) return;
  const lines = [
    `request id:  ${answer.requestId ?? '–'}`,
    ...(answer.firstModel ? [`asked first: ${answer.firstModel}`] : []),
    `served by:   ${answer.model ?? '–'}`,
    `stop reason: ${answer.stopReason ?? '–'}`,
    `tokens:      ${answer.usage?.inputTokens ?? '–'} in, ${answer.usage?.outputTokens ?? '–'} out`,
    `cost:        ${answer.costUsd === undefined ? '–' : `$${answer.costUsd}`}${answer.cached ? ' (from the response cache)' : ''}`,
    `API timing:  TTFT ${formatMs(answer.apiMetrics?.ttftMs)}, latency ${formatMs(answer.apiMetrics?.latencyMs)}`,
  ];
  ctx.stderr.write(`${lines.join('\n')}\n`);
}

function toJson(answer: Answer): Record<string, unknown> {
  return {
    requestId: answer.requestId ?? null,
    model: answer.model ?? answer.firstModel ?? null,
    text: answer.text,
    stopReason: answer.stopReason ?? null,
    usage: answer.usage ?? null,
    costUsd: answer.costUsd ?? null,
    cached: answer.cached === true,
    metrics: answer.metrics,
    apiMetrics: answer.apiMetrics ?? null,
    ...(answer.error ? { error: answer.error } : {}),
  };
}

export const command = defineCommand({
  name: 'chat',
  options: OPTIONS,
  help: HELP,
  async run({ values, positionals }, ctx) {
    let [message] = expectPositionals('chat', positionals, ['<message>']);
    const maxTokens = intOption('chat', '--max-tokens', values['max-tokens'], { min: 1, max: MAX_TOKENS_BOUND });
    if (values.system === '') throw new UsageError('--system is empty', 'chat');
    const client = createClient(resolveApiTarget(values, ctx.env, 'chat'), ctx);
    if (message === '-') message = await readStdin(ctx);
    if (!message?.trim()) throw new UsageError('<message> is empty', 'chat');

    const request: ChatRequest = {
      message,
      ...(values.system !== undefined ? { system: values.system } : {}),
      ...(maxTokens !== undefined ? { maxTokens } : {}),
    };
    const echo = !values.json;
    const answer = values.sync
      ? await buffered(client, request, ctx, echo)
      : await streamed(client, request, ctx, echo);
    if (values.json) ctx.stdout.write(`${JSON.stringify(toJson(answer))}\n`);
    if (answer.error) {
      printApiError(ctx.stderr, { ...answer.error, requestId: answer.requestId });
      return EXIT.failed;
    }
    if (!values.json) printMetrics(answer, ctx, values['model-info'] === true);
    return EXIT.ok;
  },
});
