/**
 * `GET /_local/breakers` (local only, never deployed): the shared circuit breaker of every configured model, read
 * fresh from the guard table through the same store the functions use (`lambda/aws/breaker-store.ts`), so the
 * playground can show a breaker trip, wait and probe while the simulator fails. The operator's equivalent on AWS is
 * `genai breaker status`.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type AppConfig, configuredModels } from '../config/schema';
import { DynamoBreakerStore } from '../lambda/aws/breaker-store';
import { CircuitBreaker } from '../lambda/core/breaker';
import type { ExtraRoute } from './gateway';
import { pathOf, replyError, replyJson, replyMethodNotAllowed } from './local-routes';

export const BREAKERS_PATH = '/_local/breakers';

export interface BreakerRouteOptions {
  readonly config: Pick<AppConfig, 'models' | 'breaker'>;
  /** The guard table. */
  readonly tableName: string;
  readonly documentClient: DynamoDBDocumentClient;
}

/** Answers `200 {"breakers": BreakerStatus[]}`, one per configured model (the chain first, then alias models). */
export function breakerRoute(options: BreakerRouteOptions): ExtraRoute {
  const store = new DynamoBreakerStore({ tableName: options.tableName, documentClient: options.documentClient });
  const breaker = new CircuitBreaker({ store, settings: options.config.breaker });
  const models = configuredModels(options.config);
  return async (req, res) => {
    if (pathOf(req) !== BREAKERS_PATH) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      replyMethodNotAllowed(res, ['GET']);
      return true;
    }
    try {
      replyJson(res, 200, { breakers: await Promise.all(models.map((m) => breaker.status(m))) });
    } catch (err) {
      replyError(res, 503, 'SERVICE_UNAVAILABLE', `the guard table could not be read: ${(err as Error).message}`);
    }
    return true;
  };
}
