/**
 * The model through Bedrock Runtime's Converse and ConverseStream APIs. Nothing here decides about retries or
 * fallbacks (see `lambda/core/chat.ts`); this module only translates requests, responses and stream events.
 */
import {
  type ContentBlock as BedrockContentBlock,
  ConverseCommand,
  type ConverseCommandInput,
  ConverseStreamCommand,
  type BedrockRuntimeClient,
  type Message,
  type ToolConfiguration,
  type TokenUsage as BedrockTokenUsage,
  type ToolUseBlock,
} from '@aws-sdk/client-bedrock-runtime';
import type { PromptCachingConfig } from '../../config/schema';
import { planCachePoints } from '../core/prompt-cache';
import type {
  ChatTurn,
  ContentBlock,
  ModelCompletion,
  ModelInvoker,
  ModelRequest,
  ModelStreamEvent,
  TokenUsage,
  ToolCall,
} from '../core/model';
import { bedrockClient } from './clients';

/** Converse's JSON document type (tool inputs and schemas); our JSON objects are such documents. */
type Document = NonNullable<ToolUseBlock['input']>;

function toBedrockBlock(block: ContentBlock): BedrockContentBlock {
  switch (block.type) {
    case 'text':
      return { text: block.text };
    case 'image':
      return { image: { format: block.format, source: { bytes: block.bytes } } };
    case 'toolUse':
      return { toolUse: { toolUseId: block.toolUseId, name: block.name, input: block.input as Document } };
    case 'toolResult':
      return { toolResult: { toolUseId: block.toolUseId, content: [{ text: block.text }] } };
  }
}

function toBedrockMessages(messages: ChatTurn[]): Message[] {
  return messages.map((m) => ({
    role: m.role,
    content: typeof m.content === 'string' ? [{ text: m.content }] : m.content.map(toBedrockBlock),
  }));
}

function toolConfig(request: ModelRequest): ToolConfiguration | undefined {
  if (!request.tools?.length) return undefined;
  const choice = request.toolChoice;
  return {
    tools: request.tools.map((tool) => ({
      toolSpec: { name: tool.name, description: tool.description, inputSchema: { json: tool.inputSchema as Document } },
    })),
    toolChoice:
      choice?.type === 'tool' ? { tool: { name: choice.name } } : choice?.type === 'any' ? { any: {} } : { auto: {} },
  };
}

/** Converse's `cachePoint` block: the prompt prefix up to here is cached (the only type is `default`). */
const CACHE_POINT = { cachePoint: { type: 'default' as const } };

function commandInput(modelId: string, request: ModelRequest, caching?: PromptCachingConfig): ConverseCommandInput {
  const messages = toBedrockMessages(request.messages);
  const plan = caching ? planCachePoints(request, caching.minTokensPerCheckpoint) : { afterSystem: false };
  if (plan.afterMessage !== undefined) messages[plan.afterMessage]?.content?.push(CACHE_POINT);
  return {
    modelId,
    messages,
    system: request.system ? [{ text: request.system }, ...(plan.afterSystem ? [CACHE_POINT] : [])] : undefined,
    inferenceConfig: {
      maxTokens: request.maxTokens,
      temperature: request.temperature,
      topP: request.topP,
      stopSequences: request.stopSequences,
    },
    toolConfig: toolConfig(request),
  };
}

/** Converse's usage as the core's: the cache counts only when the model reported them. */
function usageOf(usage: BedrockTokenUsage | undefined): TokenUsage {
  return {
    inputTokens: usage?.inputTokens ?? 0,
    outputTokens: usage?.outputTokens ?? 0,
    ...(usage?.cacheReadInputTokens === undefined ? {} : { cacheReadInputTokens: usage.cacheReadInputTokens }),
    ...(usage?.cacheWriteInputTokens === undefined ? {} : { cacheWriteInputTokens: usage.cacheWriteInputTokens }),
  };
}

export interface BedrockModelInvokerOptions {
  /** `models.promptCaching`: the models whose requests get cache points, and their minimum tokens per checkpoint. */
  readonly promptCaching?: Readonly<Record<string, PromptCachingConfig>>;
}

export class BedrockModelInvoker implements ModelInvoker {
  private readonly promptCaching: Readonly<Record<string, PromptCachingConfig>>;

  constructor(
    private readonly client: BedrockRuntimeClient = bedrockClient(),
    options: BedrockModelInvokerOptions = {},
  ) {
    this.promptCaching = options.promptCaching ?? {};
  }

  private input(modelId: string, request: ModelRequest): ConverseCommandInput {
    const caching = Object.hasOwn(this.promptCaching, modelId) ? this.promptCaching[modelId] : undefined;
    return commandInput(modelId, request, caching);
  }

  async *stream(modelId: string, request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelStreamEvent> {
    const response = await this.client.send(new ConverseStreamCommand(this.input(modelId, request)), {
      abortSignal: signal,
    });
    if (!response.stream) return;
    // Converse numbers content blocks (text and tool calls alike); the core numbers tool calls only, 0, 1, ….
    const toolIndexOfBlock = new Map<number, number>();
    for await (const event of response.stream) {
      const start = event.contentBlockStart;
      const delta = event.contentBlockDelta?.delta;
      if (delta?.text) yield { type: 'delta', text: delta.text };
      else if (start?.start?.toolUse) {
        const index = toolIndexOfBlock.size;
        toolIndexOfBlock.set(start.contentBlockIndex ?? index, index);
        const { toolUseId = '', name = '' } = start.start.toolUse;
        yield { type: 'toolUseStart', index, toolUseId, name };
      } else if (delta?.toolUse?.input) {
        const index = toolIndexOfBlock.get(event.contentBlockDelta?.contentBlockIndex ?? -1);
        if (index !== undefined) yield { type: 'toolUseDelta', index, input: delta.toolUse.input };
      } else if (event.messageStop) yield { type: 'stop', stopReason: event.messageStop.stopReason ?? 'end_turn' };
      else if (event.metadata?.usage) {
        yield { type: 'usage', usage: usageOf(event.metadata.usage) };
      }
    }
  }

  async complete(modelId: string, request: ModelRequest, signal: AbortSignal): Promise<ModelCompletion> {
    const response = await this.client.send(new ConverseCommand(this.input(modelId, request)), {
      abortSignal: signal,
    });
    const blocks = response.output?.message?.content ?? [];
    const text = blocks.map((block) => block.text ?? '').join('');
    const toolCalls: ToolCall[] = blocks.flatMap((block) =>
      block.toolUse
        ? [
            {
              toolUseId: block.toolUse.toolUseId ?? '',
              name: block.toolUse.name ?? '',
              input: JSON.stringify(block.toolUse.input ?? {}),
            },
          ]
        : [],
    );
    return {
      text,
      toolCalls,
      stopReason: response.stopReason ?? 'end_turn',
      usage: usageOf(response.usage),
    };
  }
}
