/**
 * The model through Bedrock Runtime's Converse and ConverseStream APIs. Nothing here decides about retries or
 * fallbacks (see `lambda/core/chat.ts`); this module only translates requests, responses and stream events.
 */
import {
  ConverseCommand,
  ConverseStreamCommand,
  type BedrockRuntimeClient,
  type Message,
} from '@aws-sdk/client-bedrock-runtime';
import type { ChatTurn, ModelCompletion, ModelInvoker, ModelRequest, ModelStreamEvent } from '../core/model';
import { bedrockClient } from './clients';

function toBedrockMessages(messages: ChatTurn[]): Message[] {
  return messages.map((m) => ({ role: m.role, content: [{ text: m.content }] }));
}

function commandInput(modelId: string, request: ModelRequest) {
  return {
    modelId,
    messages: toBedrockMessages(request.messages),
    system: request.system ? [{ text: request.system }] : undefined,
    inferenceConfig: {
      maxTokens: request.maxTokens,
      temperature: request.temperature,
      topP: request.topP,
      stopSequences: request.stopSequences,
    },
  };
}

export class BedrockModelInvoker implements ModelInvoker {
  constructor(private readonly client: BedrockRuntimeClient = bedrockClient()) {}

  async *stream(modelId: string, request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelStreamEvent> {
    const response = await this.client.send(new ConverseStreamCommand(commandInput(modelId, request)), {
      abortSignal: signal,
    });
    if (!response.stream) return;
    for await (const event of response.stream) {
      const text = event.contentBlockDelta?.delta?.text;
      if (text) yield { type: 'delta', text };
      else if (event.messageStop) yield { type: 'stop', stopReason: event.messageStop.stopReason ?? 'end_turn' };
      else if (event.metadata?.usage) {
        yield {
          type: 'usage',
          usage: {
            inputTokens: event.metadata.usage.inputTokens ?? 0,
            outputTokens: event.metadata.usage.outputTokens ?? 0,
          },
        };
      }
    }
  }

  async complete(modelId: string, request: ModelRequest, signal: AbortSignal): Promise<ModelCompletion> {
    const response = await this.client.send(new ConverseCommand(commandInput(modelId, request)), {
      abortSignal: signal,
    });
    const text = (response.output?.message?.content ?? []).map((block) => block.text ?? '').join('');
    return {
      text,
      stopReason: response.stopReason ?? 'end_turn',
      usage: { inputTokens: response.usage?.inputTokens ?? 0, outputTokens: response.usage?.outputTokens ?? 0 },
    };
  }
}
