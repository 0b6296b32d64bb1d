/**
 * Text generation and failure injection for one model call: what `Converse` answers in one JSON body and what
 * `ConverseStream` paces out frame by frame, given the model's behaviour.
 */
import { performance } from 'node:perf_hooks';
import type { Call } from './call';
import { EVENT_STREAM, eventFrame, exceptionFrame } from './event-stream';
import type { CacheUsage, PromptCache } from './prompt-cache';
import { parseRequest, type ParsedRequest } from './request';
import type { ModelBehaviour } from './settings';
import { generateTokens } from './text';
import { chooseToolCall, type ToolCall } from './tools';

const THROTTLE_MESSAGE = 'Too many requests, please wait before trying again.';
const INTERNAL_ERROR_MESSAGE = 'The model encountered an internal error. Try your request again.';
const UNSUPPORTED_CACHING_MESSAGE =
  'You invoked an unsupported model or your request did not allow prompt caching. See the documentation for more information.';
const STREAM_FAILED_MESSAGE = 'The model stream failed while generating the response.';

export interface AnswerContext {
  /** Source of randomness for `failRate`. */
  readonly random: () => number;
  /** Called with the number of `contentBlockDelta` frames each time some are written. */
  readonly onTokensSent: (count: number) => void;
  /** The model called (the prompt cache is per model). */
  readonly modelId: string;
  readonly promptCache: PromptCache;
}

/** Characters of a tool call's input JSON per `contentBlockDelta`: the input streams as fragments, as on Bedrock. */
const INPUT_FRAGMENT_CHARS = 16;

/** What one call produces: its tokens, where it fails (if it does), and the usage it reports. */
interface Plan {
  /** Text tokens, or the fragments of the tool call's input JSON. */
  readonly tokens: readonly string[];
  /** Set when the answer is a tool call rather than text. */
  readonly toolCall?: ToolCall;
  readonly stopReason: 'max_tokens' | 'end_turn' | 'tool_use';
  /** Tokens produced before a mid-stream failure; undefined when the call succeeds. */
  readonly failAfter?: number;
  /** Milliseconds between tokens. */
  readonly interval: number;
  readonly usage: { inputTokens: number; outputTokens: number; totalTokens: number } & Partial<CacheUsage>;
}

export async function answer(
  call: Call,
  streaming: boolean,
  behaviour: ModelBehaviour,
  raw: string,
  context: AnswerContext,
): Promise<void> {
  const request = parseRequest(raw);
  if ('error' in request) return call.error(400, 'ValidationException', request.error);
  // Checked before the call is answered or fails, as Bedrock validates a request before it runs it.
  const supportsCaching = request.checkpoints.length === 0 || context.promptCache.supports(context.modelId);
  if (!supportsCaching) return call.error(400, 'ValidationException', UNSUPPORTED_CACHING_MESSAGE);

  const { mode, ttftMs } = behaviour;
  const failing = mode === 'throttle' || mode === 'error' || mode === 'midstream-error';
  // Draw only in failing modes, so a seeded sequence maps one-to-one onto the calls that could fail.
  const fails = failing && context.random() < behaviour.failRate;

  if (fails && (mode === 'throttle' || mode === 'error')) {
    if (!(await call.wait(ttftMs))) return;
    return mode === 'throttle'
      ? call.error(429, 'ThrottlingException', THROTTLE_MESSAGE)
      : call.error(500, 'InternalServerException', INTERNAL_ERROR_MESSAGE);
  }
  const caching =
    request.checkpoints.length > 0 ? context.promptCache.use(context.modelId, request.checkpoints) : undefined;
  const plan = planAnswer(request, behaviour, fails, caching);
  return streaming ? answerStream(call, plan, ttftMs, context) : answerConverse(call, plan, ttftMs);
}

function planAnswer(
  request: ParsedRequest,
  behaviour: ModelBehaviour,
  fails: boolean,
  caching: CacheUsage | undefined,
): Plan {
  const toolCall = chooseToolCall(request);
  let tokens: string[];
  let stopReason: Plan['stopReason'];
  if (toolCall) {
    // Not cut at maxTokens: a truncated input would not be JSON, and clients would have nothing to test against.
    tokens = fragments(JSON.stringify(toolCall.input), INPUT_FRAGMENT_CHARS);
    stopReason = 'tool_use';
  } else {
    const all = [...preamble(request), ...generateTokens(request.seedText)];
    tokens = request.maxTokens !== undefined ? all.slice(0, request.maxTokens) : all;
    stopReason = tokens.length < all.length ? 'max_tokens' : 'end_turn';
  }
  return {
    tokens,
    toolCall,
    stopReason,
    // Mid-stream failures show some content first, never all of it.
    failAfter: fails ? Math.max(0, Math.min(Math.max(3, Math.floor(tokens.length / 2)), tokens.length - 1)) : undefined,
    interval: 1000 / behaviour.tokensPerSecond,
    usage: usageOf(request.inputTokens, tokens.length, caching),
  };
}

/** Bedrock's usage: the input read from or written to the prompt cache is counted apart from `inputTokens`. */
function usageOf(input: number, output: number, caching: CacheUsage | undefined): Plan['usage'] {
  if (!caching) return { inputTokens: input, outputTokens: output, totalTokens: input + output };
  const { cacheReadInputTokens: read, cacheWriteInputTokens: written } = caching;
  const uncached = Math.max(0, input - read - written);
  return {
    inputTokens: uncached,
    outputTokens: output,
    totalTokens: uncached + read + written + output,
    cacheReadInputTokens: read,
    cacheWriteInputTokens: written,
  };
}

/**
 * What the text answer starts with, so a client can see what reached the model: each image of the last user message
 * (`I see an image: image/png 1234 bytes.`), and each tool result it carries (`The get_weather tool returned: …`).
 * One token per word, like the generated text that follows.
 */
function preamble(request: ParsedRequest): string[] {
  const sentences = [
    ...request.images.map((image) => `I see an image: image/${image.format} ${image.bytes} bytes.`),
    ...request.toolResults.map(
      (result) => `The ${result.toolName} tool ${result.status === 'error' ? 'failed' : 'returned'}: ${result.text}`,
    ),
  ];
  return sentences.flatMap((sentence) => `${sentence} `.split(/(?<= )/));
}

function fragments(text: string, size: number): string[] {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += size) parts.push(text.slice(i, i + size));
  return parts;
}

/** `Converse`: the whole answer once it would have been generated, or the failure at the moment it would occur. */
async function answerConverse(call: Call, plan: Plan, ttftMs: number): Promise<void> {
  const produced = plan.failAfter ?? plan.tokens.length;
  if (!(await call.wait(ttftMs + Math.max(0, produced - 1) * plan.interval))) return;
  if (plan.failAfter !== undefined) return call.error(500, 'InternalServerException', STREAM_FAILED_MESSAGE);
  const { toolCall } = plan;
  const content = toolCall
    ? [{ toolUse: { toolUseId: toolCall.toolUseId, name: toolCall.name, input: toolCall.input } }]
    : [{ text: plan.tokens.join('') }];
  call.json(200, {
    output: { message: { role: 'assistant', content } },
    stopReason: plan.stopReason,
    usage: plan.usage,
    metrics: { latencyMs: call.elapsedMs() },
  });
}

/** `ConverseStream`: `messageStart`, paced deltas, then the closing events or a `modelStreamErrorException`. */
async function answerStream(call: Call, plan: Plan, ttftMs: number, context: AnswerContext): Promise<void> {
  call.respond(200, EVENT_STREAM);
  call.write(eventFrame('messageStart', { role: 'assistant' }));
  if (!(await call.wait(ttftMs))) return;
  const { toolCall } = plan;
  if (toolCall) {
    const start = { toolUse: { toolUseId: toolCall.toolUseId, name: toolCall.name } };
    call.write(eventFrame('contentBlockStart', { contentBlockIndex: 0, start }));
  }
  if (!(await streamTokens(call, plan, context))) return;

  if (plan.failAfter !== undefined) {
    call.write(
      exceptionFrame('modelStreamErrorException', {
        message: STREAM_FAILED_MESSAGE,
        originalStatusCode: 500,
        originalMessage: 'Internal server error in the model.',
      }),
    );
    return call.end();
  }
  call.write(eventFrame('contentBlockStop', { contentBlockIndex: 0 }));
  call.write(eventFrame('messageStop', { stopReason: plan.stopReason }));
  call.write(eventFrame('metadata', { usage: plan.usage, metrics: { latencyMs: call.elapsedMs() } }));
  call.end();
}

/** Writes the deltas at the plan's pace; false when the client went away first. */
async function streamTokens(call: Call, plan: Plan, context: AnswerContext): Promise<boolean> {
  const limit = plan.failAfter ?? plan.tokens.length;
  const firstAt = performance.now();
  let sent = 0;
  while (sent < limit) {
    // Timers are coarser than fast token intervals: send every token that is due, one frame each, per tick.
    const due = Math.min(limit, Math.floor((performance.now() - firstAt) / plan.interval) + 1);
    const frames: Uint8Array[] = [];
    for (; sent < due; sent++) {
      const token = plan.tokens[sent];
      const delta = plan.toolCall ? { toolUse: { input: token } } : { text: token };
      frames.push(eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta }));
    }
    context.onTokensSent(frames.length);
    call.write(Buffer.concat(frames));
    if (sent < limit && !(await call.wait(firstAt + sent * plan.interval - performance.now()))) return false;
  }
  return true;
}
