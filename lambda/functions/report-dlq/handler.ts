/**
 * The dead-letter backstop of the report queue: a job whose deliveries are exhausted (its last worker died too) fails
 * its report with `RETRIES_EXHAUSTED` and publishes the event, so no report stays `RUNNING` or `QUEUED` forever.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { METRICS } from '../../../config/metrics';
import { reportEventPublisher, reportRepository, reportsConfig } from '../../aws/reports-runtime';
import { createLogger, createMetrics } from '../../core/observability';
import { reportIdOf, RetryLaterError } from '../../core/reports/sqs';
import { failExhaustedReport } from '../../core/reports/worker';

const logger = createLogger();
const metrics = createMetrics();
const processor = new BatchProcessor(EventType.SQS);

export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  logger.addContext(context);
  const deps = { repo: reportRepository(), publisher: reportEventPublisher(), config: reportsConfig() };

  const recordHandler = async (record: SQSRecord): Promise<void> => {
    const reportId = reportIdOf(record);
    if (!reportId) {
      logger.error('malformed report job dropped', { messageId: record.messageId });
      return;
    }
    const outcome = await failExhaustedReport(reportId, deps);
    logger.warn('exhausted report job', { reportId, outcome: outcome.kind });
    if (outcome.kind === 'failed') metrics.addMetric(METRICS.reportsExhausted.name, METRICS.reportsExhausted.unit, 1);
    // A live worker still holds it: the message comes back after the queue's visibility timeout.
    if (outcome.kind === 'retry') throw new RetryLaterError(reportId, outcome.delaySeconds, outcome.error.message);
  };

  try {
    return await processPartialResponse(event, recordHandler, processor, { context, throwOnFullBatchFailure: false });
  } finally {
    metrics.publishStoredMetrics();
  }
};
