/**
 * The stream log on the real AWS clients: the store the chat functions write with and the cancel function updates, and
 * a writer per stream whose failures go to the function's own logger and `StreamLogErrors`. The table's name comes
 * from `STREAMS_TABLE_NAME` (`ENV.streamsTable`), which the stack sets together with each function's grants.
 */
import { METRICS } from '../../config/metrics';
import { ENV, requireEnv } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { addMetric } from '../core/observability';
import { type FunctionObservability, runtimeConfig } from '../core/runtime';
import { StreamLogWriter } from '../core/streams/log';
import { DynamoStreamLogStore } from './stream-log-store';

/** The streams table, its name read when first used. */
export function streamLogStore(): DynamoStreamLogStore {
  return new DynamoStreamLogStore({ tableName: () => requireEnv(ENV.streamsTable) });
}

/**
 * A log writer for one stream, or undefined when `streams.enabled` is off. A write that fails is logged (never with
 * the stream's content) and counted; the live stream goes on without its log.
 */
export function createStreamLogWriter(
  requestId: string,
  store: DynamoStreamLogStore,
  { logger, metrics }: FunctionObservability,
  cfg: AppConfig = runtimeConfig(),
): StreamLogWriter | undefined {
  if (!cfg.streams.enabled) return undefined;
  return new StreamLogWriter({
    store,
    config: cfg.streams,
    onError: (err) => {
      logger.warn('stream log write failed; the stream goes on without its log (no resume, no cancel)', {
        requestId,
        error: err as Error,
      });
      addMetric(metrics.singleMetric(), METRICS.streamLogErrors, 1);
    },
  });
}
