/**
 * What every function shares at module scope: the configuration it was deployed with and the chat service wired to
 * the real AWS clients. Built lazily, once per execution environment.
 */
import { readRuntimeConfig } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { ChatService, type ChatContext, type ChatResult } from './chat';
import { BedrockModelInvoker, type ModelRequest } from './model';

let config: AppConfig | undefined;
let service: ChatService | undefined;

export function runtimeConfig(): AppConfig {
  config ??= readRuntimeConfig();
  return config;
}

export function chatService(): ChatService {
  service ??= new ChatService({ config: runtimeConfig(), invoker: new BedrockModelInvoker() });
  return service;
}

/** Time kept back from the function's deadline so an error can still be written and logged. */
export const DEADLINE_MARGIN_MS = 1_000;

/** The deadline of a call: the function's remaining time less a margin, capped by `limitMs` when given. */
export function deadlineFrom(remainingMs: number, limitMs?: number, now = Date.now()): number {
  const budget = Math.max(0, remainingMs - DEADLINE_MARGIN_MS);
  return now + (limitMs === undefined ? budget : Math.min(budget, limitMs));
}

/** One guarded, non-streaming model call (token budget, breaker, fallbacks) for callers outside a chat request. */
export async function generate(request: ModelRequest, ctx: ChatContext): Promise<ChatResult> {
  const call = await chatService().begin(request, ctx);
  return call.stream(() => undefined);
}
