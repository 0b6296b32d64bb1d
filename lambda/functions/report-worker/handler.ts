/**
 * The report worker: SQS event source with partial batch responses. Each message is one report job (see
 * `core/reports/worker.ts` for why nothing runs twice and nothing stays stuck); a job to retry becomes a batch item
 * failure after its message's visibility is shortened to the backoff.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { ChatContext } from '../../core/chat';
import type { ModelRequest } from '../../core/model';
import { ENV, requireEnv } from '../../../config/runtime';
import { sqsClient } from '../../aws/clients';
import { createLogger, createMetrics } from '../../core/observability';
import { reportEventPublisher, reportRepository, reportsConfig } from '../../core/reports/runtime';
import { delayRedelivery, receiveCountOf, reportIdOf, RetryLaterError } from '../../core/reports/sqs';
import { retryDelaySeconds } from '../../core/reports/model';
import { RETRY_BASE_SECONDS, retryCapSeconds, runReportJob, type JobOutcome } from '../../core/reports/worker';
import { createChatService, generate, lazy } from '../../core/runtime';

const logger = createLogger();
const metrics = createMetrics();
const processor = new BatchProcessor(EventType.SQS);
// The breaker and the budget report through this function's logger and metrics, like every other model caller's.
const chatService = lazy(() => createChatService({ logger, metrics }));

/** Kept back from the function's deadline to record the outcome and publish the event after the model call. */
const FINISH_MARGIN_MS = 5_000;

export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  logger.addContext(context);
  const deadlineAt = Date.now() + Math.max(0, context.getRemainingTimeInMillis() - FINISH_MARGIN_MS);
  const deps = {
    repo: reportRepository(),
    publisher: reportEventPublisher(),
    generate: (request: ModelRequest, ctx: ChatContext) => generate(chatService(), request, ctx),
    config: reportsConfig(),
  };

  const recordHandler = async (record: SQSRecord): Promise<void> => {
    const reportId = reportIdOf(record);
    if (!reportId) {
      logger.error('malformed report job dropped', { messageId: record.messageId });
      return;
    }
    const receiveCount = receiveCountOf(record);
    let outcome: JobOutcome;
    try {
      outcome = await runReportJob(reportId, { receiveCount, deadlineAt }, deps);
    } catch (err) {
      // Our own dependencies failed (DynamoDB, EventBridge): try again soon rather than after the visibility timeout.
      const delaySeconds = retryDelaySeconds(receiveCount, { baseSeconds: RETRY_BASE_SECONDS, capSeconds: retryCapSeconds(deps.config) });
      logger.warn('report job failed; retrying', { reportId, receiveCount, delaySeconds, error: err as Error });
      await delayRedelivery(sqsClient(), requireEnv(ENV.reportsQueueUrl), record.receiptHandle, delaySeconds);
      throw err;
    }
    logger.info('report job', { reportId, receiveCount, outcome: outcome.kind });
    switch (outcome.kind) {
      case 'completed':
      case 'failed': {
        metrics.addMetric(outcome.kind === 'completed' ? 'ReportsCompleted' : 'ReportsFailed', MetricUnit.Count, 1);
        const finishedAt = Date.parse(outcome.report.finishedAt ?? outcome.report.updatedAt);
        metrics.addMetric('ReportTurnaround', MetricUnit.Milliseconds, finishedAt - Date.parse(outcome.report.createdAt));
        return;
      }
      case 'republished':
        metrics.addMetric('ReportEventsRepublished', MetricUnit.Count, 1);
        return;
      case 'retry':
        metrics.addMetric('ReportRetries', MetricUnit.Count, 1);
        await delayRedelivery(sqsClient(), requireEnv(ENV.reportsQueueUrl), record.receiptHandle, outcome.delaySeconds);
        throw new RetryLaterError(reportId, outcome.delaySeconds, `${outcome.error.code}: ${outcome.error.message}`);
      default:
        return;
    }
  };

  try {
    return await processPartialResponse(event, recordHandler, processor, { context, throwOnFullBatchFailure: false });
  } finally {
    metrics.publishStoredMetrics();
  }
};
