/**
 * OpenAI's response objects, built from the chat core's results: `chat.completion`, `chat.completion.chunk`, the
 * `model` list, and the Server-Sent Events framing of a stream (`data:` lines only, then `data: [DONE]`), as the
 * OpenAI SDKs parse them.
 */
import type { z } from 'zod';
import type { ChatResult } from '../chat';
import type { TokenUsage, ToolCall, ToolCallEvent } from '../model';
import { EventStreamWriter } from '../sse';
import type { OpenAIErrorBody } from './errors';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  chunkDeltaSchema,
  chunkToolCallSchema,
  finishReasonSchema,
  ModelList,
  modelEntrySchema,
  openAIUsageSchema,
} from './schemas';

// The objects below are typed by the contract's schemas (./schemas.ts), from which the OpenAPI description is generated.
export type FinishReason = z.infer<typeof finishReasonSchema>;

/** Converse's `stopReason` as OpenAI's `finish_reason`. */
export function finishReasonOf(stopReason: string): FinishReason {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'guardrail_intervened':
    case 'content_filtered':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, and the configured degraded answer: the answer is complete.
      return 'stop';
  }
}

export type OpenAIUsage = z.infer<typeof openAIUsageSchema>;

/**
 * Converse's usage in OpenAI's terms. Bedrock counts the input tokens read from and written to the prompt cache apart
 * from `inputTokens`; OpenAI's `prompt_tokens` counts every input token, and `prompt_tokens_details.cached_tokens` says
 * how many of them came from the cache.
 */
export function usageOf(usage: TokenUsage): OpenAIUsage {
  const cached = usage.cacheReadInputTokens ?? 0;
  const prompt = usage.inputTokens + cached + (usage.cacheWriteInputTokens ?? 0);
  return {
    prompt_tokens: prompt,
    completion_tokens: usage.outputTokens,
    total_tokens: prompt + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: cached },
  };
}

/** The fields every object of one completion shares. */
export interface CompletionIdentity {
  /** `chatcmpl-…`, the same in every chunk of a stream. */
  id: string;
  /** Unix seconds when the request arrived. */
  created: number;
}

export function completionIdentity(requestId: string, nowMs: number): CompletionIdentity {
  return { id: `chatcmpl-${requestId}`, created: Math.floor(nowMs / 1000) };
}

/** A tool call as OpenAI's `ChatCompletionMessageToolCall`: the Converse `toolUseId` is its id. */
function messageToolCall(call: ToolCall) {
  return { id: call.toolUseId, type: 'function' as const, function: { name: call.name, arguments: call.input } };
}

/** A non-streaming answer; `usage` is always present. */
export function chatCompletion(identity: CompletionIdentity, result: ChatResult): ChatCompletion {
  const toolCalls = result.toolCalls ?? [];
  // OpenAI answers `content: null` when the model only called tools.
  const content = toolCalls.length > 0 && result.text === '' ? null : result.text;
  return {
    id: identity.id,
    object: 'chat.completion' as const,
    created: identity.created,
    model: result.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant' as const,
          content,
          refusal: null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls.map(messageToolCall) } : {}),
        },
        logprobs: null,
        finish_reason: finishReasonOf(result.stopReason),
      },
    ],
    usage: usageOf(result.usage),
  };
}

/** A fragment of a streamed tool call (`ChatCompletionChunk.Choice.Delta.ToolCall`). */
export type ChunkToolCall = z.infer<typeof chunkToolCallSchema>;

export type ChunkDelta = z.infer<typeof chunkDeltaSchema>;

/**
 * A streamed tool call event as a chunk delta: the first names the call (`id`, `type`, `function.name`, empty
 * arguments), the next ones carry `function.arguments` fragments; `index` tells the calls apart.
 */
export function toolCallDelta(event: ToolCallEvent): ChunkDelta {
  const call: ChunkToolCall =
    event.type === 'toolUseStart'
      ? { index: event.index, id: event.toolUseId, type: 'function', function: { name: event.name, arguments: '' } }
      : { index: event.index, function: { arguments: event.input } };
  return { tool_calls: [call] };
}

/**
 * One `chat.completion.chunk`. With `include_usage`, every chunk carries `usage: null` except the last, which has
 * the usage and no choices (OpenAI's documented shape).
 */
export function chatCompletionChunk(
  identity: CompletionIdentity,
  model: string,
  choice: { delta: ChunkDelta; finishReason: FinishReason | null } | undefined,
  usage?: { includeUsage: boolean; value?: OpenAIUsage },
): ChatCompletionChunk {
  return {
    id: identity.id,
    object: 'chat.completion.chunk' as const,
    created: identity.created,
    model,
    choices: choice ? [{ index: 0, delta: choice.delta, logprobs: null, finish_reason: choice.finishReason }] : [],
    ...(usage?.includeUsage ? { usage: usage.value ?? null } : {}),
  };
}

/**
 * A stream of OpenAI chunks: one `data:` line per object and no event names (the SDKs read unnamed events only), a
 * `: keep-alive` comment whenever nothing else was written for `keepAliveMs` (comments are ignored by every SSE parser),
 * and `data: [DONE]` only after a complete answer.
 */
export class ChunkWriter extends EventStreamWriter {
  data(value: unknown): boolean {
    return this.write(`data: ${JSON.stringify(value)}\n\n`);
  }

  /** The failure that ends the stream, as OpenAI reports one mid-stream: an `error` object, and no `[DONE]`. */
  error(body: OpenAIErrorBody): boolean {
    return this.data(body);
  }

  done(): boolean {
    return this.write('data: [DONE]\n\n');
  }
}

/** Prefixes of cross-Region inference profile ids, which come before the provider (`us.anthropic.…`). */
const GEOGRAPHY_PREFIXES = new Set(['us', 'eu', 'apac', 'jp', 'au', 'ca', 'global', 'us-gov']);

/** Who "owns" a model in `GET /models`: the provider segment of a Bedrock id (`us.anthropic.…` → `anthropic`). */
export function ownerOf(modelId: string): string {
  const parts = (modelId.split('/').pop() ?? '').split('.');
  const [first, second] = parts;
  if (parts.length < 2 || !first) return 'bedrock';
  return GEOGRAPHY_PREFIXES.has(first) && parts.length > 2 && second ? second : first;
}

export type ModelEntry = z.infer<typeof modelEntrySchema>;

/** `GET /models`: the configured ids, then the aliases, each listed once; `created` is not known for Bedrock models. */
export function modelList(ids: readonly string[], aliases: Readonly<Record<string, { model: string }>>): ModelList {
  const entry = (id: string, target: string): ModelEntry => ({
    id,
    object: 'model',
    created: 0,
    owned_by: ownerOf(target),
  });
  return {
    object: 'list' as const,
    data: [...ids.map((id) => entry(id, id)), ...Object.entries(aliases).map(([name, a]) => entry(name, a.model))],
  };
}
