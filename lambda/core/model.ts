/**
 * The model as the chat core sees it: requests, answers and stream events, and the {@link ModelInvoker} port. Bedrock's
 * Converse and ConverseStream implement it in `lambda/aws/bedrock-invoker.ts`.
 */

export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
}

export interface ModelRequest {
  messages: ChatTurn[];
  system?: string;
  maxTokens: number;
  /** Sampling settings, passed to the model as given; unset: the model's own defaults. */
  temperature?: number;
  topP?: number;
  /** Text that ends the answer where the model would produce it (not included in the answer). */
  stopSequences?: string[];
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export type ModelStreamEvent =
  | { type: 'delta'; text: string }
  | { type: 'stop'; stopReason: string }
  | { type: 'usage'; usage: TokenUsage };

export interface ModelCompletion {
  text: string;
  stopReason: string;
  usage: TokenUsage;
}

/** What the chat core needs from a model; the Bedrock implementation is the only production one. */
export interface ModelInvoker {
  stream(modelId: string, request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelStreamEvent>;
  complete(modelId: string, request: ModelRequest, signal: AbortSignal): Promise<ModelCompletion>;
}
