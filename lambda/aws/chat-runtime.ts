/**
 * The composition root of the functions that call models: a chat service wired to the real AWS clients (Bedrock, and
 * the guard table for the breaker, the token budget and the per-model quotas) and to the calling function's own logger
 * and metrics. Each function builds its service once per execution environment, at module scope, with `lazy`, so no
 * function can end up with another's observability, or with none.
 */
import { ENV, requireEnv } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { CircuitBreaker } from '../core/breaker';
import { ChatService } from '../core/chat';
import { ModelQuota } from '../core/quota';
import { runtimeConfig, type FunctionObservability } from '../core/runtime';
import { TokenBudget } from '../core/token-budget';
import { BedrockModelInvoker } from './bedrock-invoker';
import { DynamoBreakerStore } from './breaker-store';
import { DynamoQuotaStore } from './quota-store';
import { DynamoTokenBudgetStore } from './token-budget-store';

/** The guarded chat service of one function. */
export function createChatService(
  { logger, metrics }: FunctionObservability,
  cfg: AppConfig = runtimeConfig(),
): ChatService {
  const tableName = requireEnv(ENV.guardTable);
  return new ChatService({
    config: cfg,
    invoker: new BedrockModelInvoker(),
    guard: new CircuitBreaker({ store: new DynamoBreakerStore({ tableName }), settings: cfg.breaker, logger, metrics }),
    budget: new TokenBudget({ store: new DynamoTokenBudgetStore({ tableName }), plans: cfg.plans, logger }),
    quota:
      Object.keys(cfg.models.quotas).length > 0
        ? new ModelQuota({ store: new DynamoQuotaStore({ tableName }), quotas: cfg.models.quotas, logger, metrics })
        : undefined,
    onGuardError: (err, modelId) =>
      logger.warn('circuit breaker unavailable; calling unguarded', { modelId, error: err as Error }),
  });
}
