/**
 * The composition root of the functions that call models: a chat service wired to the real AWS clients (Bedrock, the
 * guard table for the breaker, the token budget and the per-model quotas, and the response cache's table) and to the
 * calling function's own logger and metrics. Each function builds its service once per execution environment, at module scope, with `lazy`, so no
 * function can end up with another's observability, or with none.
 */
import { ENDPOINTS } from '../../config/metrics';
import { ENV, requireEnv } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { CircuitBreaker } from '../core/breaker';
import { ChatService } from '../core/chat';
import { ModelQuota } from '../core/quota';
import { runtimeConfig, type FunctionObservability } from '../core/runtime';
import { ResponseCache } from '../core/response-cache';
import { TokenBudget } from '../core/token-budget';
import { BedrockModelInvoker } from './bedrock-invoker';
import { DynamoBreakerStore } from './breaker-store';
import { DynamoQuotaStore } from './quota-store';
import { DynamoResponseCacheStore } from './response-cache-store';
import { DynamoTokenBudgetStore } from './token-budget-store';

/** A function's observability, and the endpoint its cache metrics are counted under (`config/metrics.ts`). */
export interface ChatServiceObservability extends FunctionObservability {
  /** The `endpoint` dimension of the response cache's metrics. @default 'chat' */
  readonly endpoint?: string;
}

/** The guarded chat service of one function. */
export function createChatService(
  { logger, metrics, endpoint = ENDPOINTS.chat }: ChatServiceObservability,
  cfg: AppConfig = runtimeConfig(),
): ChatService {
  const tableName = requireEnv(ENV.guardTable);
  return new ChatService({
    config: cfg,
    invoker: new BedrockModelInvoker(undefined, { promptCaching: cfg.models.promptCaching }),
    guard: new CircuitBreaker({ store: new DynamoBreakerStore({ tableName }), settings: cfg.breaker, logger, metrics }),
    budget: new TokenBudget({ store: new DynamoTokenBudgetStore({ tableName }), plans: cfg.plans, logger }),
    quota:
      Object.keys(cfg.models.quotas).length > 0
        ? new ModelQuota({ store: new DynamoQuotaStore({ tableName }), quotas: cfg.models.quotas, logger, metrics })
        : undefined,
    // The stack grants the cache table only with `cache.enabled`, and sets its name with the grant.
    cache: cfg.cache?.enabled
      ? new ResponseCache({
          store: new DynamoResponseCacheStore({ tableName: requireEnv(ENV.cacheTable) }),
          settings: cfg.cache,
          endpoint,
          prices: cfg.models.prices,
          logger,
          metrics,
        })
      : undefined,
    onGuardError: (err, modelId) =>
      logger.warn('circuit breaker unavailable; calling unguarded', { modelId, error: err as Error }),
  });
}
