/**
 * The request records on the real AWS clients: the recorder the chat functions and the report worker write with, and
 * the store the feedback function rates on. The table's name comes from `REQUESTS_TABLE_NAME` (`ENV.requestsTable`),
 * which the stack sets together with the one permission each function has on the table (PutItem, or UpdateItem).
 */
import { ENV, requireEnv } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { RequestRecorder } from '../core/feedback';
import { runtimeConfig, type FunctionObservability } from '../core/runtime';
import { DynamoRequestRecordStore } from './request-records';

/** The requests table, its name read when first written. */
export function requestRecordStore(): DynamoRequestRecordStore {
  return new DynamoRequestRecordStore({ tableName: () => requireEnv(ENV.requestsTable) });
}

/** Records who each request of a function belongs to; failures go to the function's own logger and metrics. */
export function createRequestRecorder(
  { logger, metrics }: FunctionObservability,
  cfg: AppConfig = runtimeConfig(),
): RequestRecorder {
  return new RequestRecorder({
    store: requestRecordStore(),
    retentionDays: cfg.feedback.retentionDays,
    logger,
    metrics,
  });
}
