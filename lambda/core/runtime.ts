/**
 * What every function shares at run time: the configuration it was deployed with, its observability, values built
 * once per execution environment ({@link lazy}), call deadlines, and one guarded model call for callers outside a chat
 * request. The wiring to AWS is `lambda/aws/chat-runtime.ts`.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { readRuntimeConfig } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import type { ChatContext, ChatResult, ChatService } from './chat';
import type { ModelRequest } from './model';

let config: AppConfig | undefined;

export function runtimeConfig(): AppConfig {
  config ??= readRuntimeConfig();
  return config;
}

/** A function's Powertools logger and metrics: where the breaker, the budget and their warnings report. */
export interface FunctionObservability {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** A value built on first use and kept for the execution environment (clients, services). */
export function lazy<T>(build: () => T): () => T {
  let value: { built: T } | undefined;
  return () => (value ??= { built: build() }).built;
}

/** Time kept back from the function's deadline so an error can still be written and logged. */
export const DEADLINE_MARGIN_MS = 1_000;

/** The deadline of a call: the function's remaining time less a margin, capped by `limitMs` when given. */
export function deadlineFrom(remainingMs: number, limitMs?: number, now = Date.now()): number {
  const budget = Math.max(0, remainingMs - DEADLINE_MARGIN_MS);
  return now + (limitMs === undefined ? budget : Math.min(budget, limitMs));
}

/**
 * One guarded model call (token budget, breaker, fallbacks) for callers outside a chat request, such as the report
 * worker. Streams internally, so the TTFT timeout and slow-call detection apply as they do to chat.
 */
export async function generate(service: ChatService, request: ModelRequest, ctx: ChatContext): Promise<ChatResult> {
  const call = await service.begin(request, ctx);
  try {
    return await call.stream(() => undefined);
  } finally {
    await call.flush();
  }
}
