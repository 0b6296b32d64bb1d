/**
 * What every function shares at module scope: the configuration it was deployed with and the chat service wired to
 * the real AWS clients (Bedrock, and the guard table for the breaker and the token budget). Built lazily, once per
 * execution environment.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { ENV, readRuntimeConfig, requireEnv } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { CircuitBreaker } from './breaker';
import { ChatService, type ChatContext, type ChatResult } from './chat';
import { BedrockModelInvoker, type ModelRequest } from './model';
import { TokenBudget } from './token-budget';

let config: AppConfig | undefined;
let service: ChatService | undefined;

export function runtimeConfig(): AppConfig {
  config ??= readRuntimeConfig();
  return config;
}

/** The chat service of this execution environment; the first caller's logger and metrics are the ones it uses. */
export function chatService(observability: { logger?: Logger; metrics?: Metrics } = {}): ChatService {
  if (!service) {
    const cfg = runtimeConfig();
    const tableName = requireEnv(ENV.guardTable);
    const { logger, metrics } = observability;
    service = new ChatService({
      config: cfg,
      invoker: new BedrockModelInvoker(),
      guard: new CircuitBreaker({ tableName, settings: cfg.breaker, logger, metrics }),
      budget: new TokenBudget({ tableName, plans: cfg.plans, logger }),
      onGuardError: (err, modelId) => logger?.warn('circuit breaker unavailable; calling unguarded', { modelId, error: err as Error }),
    });
  }
  return service;
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
export async function generate(
  request: ModelRequest,
  ctx: ChatContext,
  observability: { logger?: Logger; metrics?: Metrics } = {},
): Promise<ChatResult> {
  const call = await chatService(observability).begin(request, ctx);
  try {
    return await call.stream(() => undefined);
  } finally {
    await call.flush();
  }
}
