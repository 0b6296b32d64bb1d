/**
 * The model as the chat core sees it: requests, answers and stream events, and the {@link ModelInvoker} port. Bedrock's
 * Converse and ConverseStream implement it in `lambda/aws/bedrock-invoker.ts`.
 */

/** Image formats Converse accepts as bytes. */
export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp';

/** One block of a turn that carries more than text (Converse's `ContentBlock` members we use). */
export type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'image'; format: ImageFormat; bytes: Uint8Array }
  /** The model's call of a tool, replayed from an earlier answer; `input` is the JSON object it passed. */
  | { type: 'toolUse'; toolUseId: string; name: string; input: Record<string, unknown> }
  /** The client's answer to a tool call, in the user turn that follows it. */
  | { type: 'toolResult'; toolUseId: string; text: string };

export interface ChatTurn {
  role: 'user' | 'assistant';
  /** Plain text, or blocks when the turn carries images, tool calls or tool results. */
  content: string | ContentBlock[];
}

/** A tool the model may call: its name and the JSON schema of its input. */
export interface ToolDefinition {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
}

/** How the model may use the tools: as it sees fit, at least one, or the named one. */
export type ToolChoice = { type: 'auto' } | { type: 'any' } | { type: 'tool'; name: string };

export interface ModelRequest {
  messages: ChatTurn[];
  system?: string;
  maxTokens: number;
  /** Sampling settings, passed to the model as given; unset: the model's own defaults. */
  temperature?: number;
  topP?: number;
  /** Text that ends the answer where the model would produce it (not included in the answer). */
  stopSequences?: string[];
  /** Tools offered to the model; unset or empty: none (then `toolChoice` is ignored). */
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
}

/**
 * Tokens of one call as Bedrock's Converse reports them. `inputTokens` are the input tokens read normally: with prompt
 * caching, those read from the cache and those written to it are counted apart, not in `inputTokens`.
 */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens read from the prompt cache; set only when the model reported it (the request had cache points). */
  cacheReadInputTokens?: number;
  /** Input tokens written to the prompt cache; set only when the model reported it. */
  cacheWriteInputTokens?: number;
}

/** Every token the model read or wrote: the token budget's and the model quotas' measure of a call. */
export function totalTokens(usage: TokenUsage): number {
  return (
    usage.inputTokens + usage.outputTokens + (usage.cacheReadInputTokens ?? 0) + (usage.cacheWriteInputTokens ?? 0)
  );
}

/** A tool call the model made; `input` is its JSON text (a streamed call arrives in fragments). */
export interface ToolCall {
  toolUseId: string;
  name: string;
  input: string;
}

/**
 * A streamed tool call: `toolUseStart` opens call number `index` (0, 1, … in the order the model starts them), then
 * `toolUseDelta`s carry fragments of its input JSON.
 */
export type ToolCallEvent =
  | { type: 'toolUseStart'; index: number; toolUseId: string; name: string }
  | { type: 'toolUseDelta'; index: number; input: string };

export type ModelStreamEvent =
  | { type: 'delta'; text: string }
  | ToolCallEvent
  | { type: 'stop'; stopReason: string }
  | { type: 'usage'; usage: TokenUsage };

export interface ModelCompletion {
  text: string;
  /** The tool calls of the answer, in order; empty or unset: none. */
  toolCalls?: ToolCall[];
  stopReason: string;
  usage: TokenUsage;
}

/** What the chat core needs from a model; the Bedrock implementation is the only production one. */
export interface ModelInvoker {
  stream(modelId: string, request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelStreamEvent>;
  complete(modelId: string, request: ModelRequest, signal: AbortSignal): Promise<ModelCompletion>;
}
