/**
 * Several chat services on one guard table, each with its own SDK client and budget store: as many Lambda
 * instances of a chat function, for tests of limits that must hold across instances (the per-user record in
 * `lambda/aws/token-budget-store.ts`: token and dollar budgets, concurrency leases).
 */
import type { AppConfig } from '../../config/schema';
import { DynamoTokenBudgetStore } from '../../lambda/aws/token-budget-store';
import { type ChatCall, ChatService } from '../../lambda/core/chat';
import type { ModelInvoker, ModelRequest } from '../../lambda/core/model';
import { TokenBudget } from '../../lambda/core/token-budget';
import { documentClient, dynamoClient } from './dynalite';

export interface ChatInstances {
  readonly services: readonly ChatService[];
  /**
   * Begins `count` calls of `request` for `userId` (plan `pro`) at once, spread over the instances in turn; request ids
   * `<round>-<i>`, deadlines a minute away.
   */
  beginAll(
    request: ModelRequest,
    userId: string,
    round: string,
    count: number,
  ): Promise<PromiseSettledResult<ChatCall>[]>;
  /** Closes every instance's SDK client. */
  destroy(): void;
}

export function chatInstances(options: {
  endpoint: string;
  tableName: string;
  config: AppConfig;
  invoker: ModelInvoker;
  /** @default 8 */
  count?: number;
}): ChatInstances {
  const { endpoint, tableName, config, invoker, count = 8 } = options;
  const clients = Array.from({ length: count }, () => dynamoClient(endpoint));
  const services = clients.map(
    (client) =>
      new ChatService({
        config,
        invoker,
        budget: new TokenBudget({
          store: new DynamoTokenBudgetStore({ tableName, documentClient: documentClient(client) }),
          plans: config.plans,
        }),
      }),
  );
  return {
    services,
    beginAll: (request, userId, round, calls) =>
      Promise.allSettled(
        Array.from({ length: calls }, (_, i) =>
          services[i % services.length].begin(request, {
            caller: { userId, plan: 'pro' },
            requestId: `${round}-${i}`,
            deadlineAt: Date.now() + 60_000,
          }),
        ),
      ),
    destroy: () => {
      for (const client of clients) client.destroy();
    },
  };
}
