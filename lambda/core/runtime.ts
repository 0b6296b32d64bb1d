/**
 * The composition root of the functions that call models: the configuration they were deployed with, and a chat
 * service wired to the real AWS clients (Bedrock, and the guard table for the breaker and the token budget) and to
 * the calling function's own logger and metrics. Each function builds its service once per execution environment,
 * at module scope, with {@link lazy}, so no function can end up with another's observability, or with none.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { ENV, readRuntimeConfig, requireEnv } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { DynamoBreakerStore } from '../aws/breaker-store';
import { DynamoTokenBudgetStore } from '../aws/token-budget-store';
import { CircuitBreaker } from './breaker';
import { ChatService, type ChatContext, type ChatResult } from './chat';
import { BedrockModelInvoker, type ModelRequest } from './model';
import { TokenBudget } from './token-budget';

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

/** The guarded chat service of one function. */
export function createChatService({ logger, metrics }: FunctionObservability, cfg: AppConfig = runtimeConfig()): ChatService {
  const tableName = requireEnv(ENV.guardTable);
  return new ChatService({
    config: cfg,
    invoker: new BedrockModelInvoker(),
    guard: new CircuitBreaker({ store: new DynamoBreakerStore({ tableName }), settings: cfg.breaker, logger, metrics }),
    budget: new TokenBudget({ store: new DynamoTokenBudgetStore({ tableName }), plans: cfg.plans, logger }),
    onGuardError: (err, modelId) => logger.warn('circuit breaker unavailable; calling unguarded', { modelId, error: err as Error }),
  });
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
