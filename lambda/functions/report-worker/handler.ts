/**
 * The report worker: SQS event source with partial batch responses. Each message is one report job (see
 * `core/reports/worker.ts` for why nothing runs twice and nothing stays stuck); a job to retry becomes a batch item
 * failure after its message's visibility is shortened to the backoff.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { CANCEL_KINDS, DIMENSIONS, METRICS, RATED_ENDPOINTS } from '../../../config/metrics';
import { reportEventPublisher, reportQueue, reportRepository, reportsConfig } from '../../aws/reports-runtime';
import type { ChatContext } from '../../core/chat';
import type { ModelRequest } from '../../core/model';
import { createLogger, createMetrics, recordCost } from '../../core/observability';
import { receiveCountOf, reportIdOf, RetryLaterError } from '../../core/reports/sqs';
import {
  reportRetryPolicy,
  retryDelaySeconds,
  runReportJob,
  type JobOutcome,
  type ReportWorkerDeps,
} from '../../core/reports/worker';
import { createChatService } from '../../aws/chat-runtime';
import { createRequestRecorder } from '../../aws/feedback-runtime';
import { generate, lazy } from '../../core/runtime';

const logger = createLogger();
const metrics = createMetrics();
const processor = new BatchProcessor(EventType.SQS);
// The breaker and the budget report through this function's logger and metrics, like every other model caller's.
const chatService = lazy(() => createChatService({ logger, metrics, endpoint: RATED_ENDPOINTS.reports }));
const requestRecorder = lazy(() => createRequestRecorder({ logger, metrics }));

/** Kept back from the function's deadline to record the outcome and publish the event after the model call. */
const FINISH_MARGIN_MS = 5_000;

export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  logger.addContext(context);
  const deadlineAt = Date.now() + Math.max(0, context.getRemainingTimeInMillis() - FINISH_MARGIN_MS);
  const deps: ReportWorkerDeps = {
    repo: reportRepository(),
    publisher: reportEventPublisher(),
    generate: (request: ModelRequest, ctx: ChatContext) => generate(chatService(), request, ctx),
    config: reportsConfig(),
    requests: requestRecorder(),
    onHeartbeatError: (err, reportId) =>
      logger.warn('report lease heartbeat failed; the job goes on', { reportId, error: err as Error }),
  };
  const recordHandler = (record: SQSRecord) => runJob(record, deadlineAt, deps);
  try {
    return await processPartialResponse(event, recordHandler, processor, { context, throwOnFullBatchFailure: false });
  } finally {
    metrics.publishStoredMetrics();
  }
};

async function runJob(record: SQSRecord, deadlineAt: number, deps: ReportWorkerDeps): Promise<void> {
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
    const delaySeconds = retryDelaySeconds(reportRetryPolicy(deps.config), receiveCount);
    logger.warn('report job failed; retrying', { reportId, receiveCount, delaySeconds, error: err as Error });
    await reportQueue().delayRedelivery(record.receiptHandle, delaySeconds);
    throw err;
  }
  logger.info('report job', { reportId, receiveCount, outcome: outcome.kind, ...modelCallFields(outcome) });
  await recordOutcome(record, reportId, outcome);
}

/**
 * The model call of a job that completed a report, for its log line: who, which model, its tokens and its cost (the
 * fields and names of the chat request line, so that one Logs Insights query sums spend by user across both).
 */
function modelCallFields(outcome: JobOutcome): Record<string, unknown> {
  if (outcome.kind !== 'completed') return {};
  const { report } = outcome;
  const usage = report.result?.usage;
  return {
    user_id: report.userId,
    plan: report.plan,
    model: report.model,
    input_tokens: usage?.inputTokens,
    output_tokens: usage?.outputTokens,
    cache_read_input_tokens: usage?.cacheReadInputTokens,
    cache_write_input_tokens: usage?.cacheWriteInputTokens,
    cost_usd: report.result?.costUsd,
  };
}

/** Metrics of a job's outcome; a retry shortens the message's visibility and fails the record. */
async function recordOutcome(record: SQSRecord, reportId: string, outcome: JobOutcome): Promise<void> {
  switch (outcome.kind) {
    case 'completed':
    case 'failed': {
      const counter = outcome.kind === 'completed' ? METRICS.reportsCompleted : METRICS.reportsFailed;
      metrics.addMetric(counter.name, counter.unit, 1);
      const finishedAt = Date.parse(outcome.report.finishedAt ?? outcome.report.updatedAt);
      const turnaround = finishedAt - Date.parse(outcome.report.createdAt);
      metrics.addMetric(METRICS.reportTurnaround.name, METRICS.reportTurnaround.unit, turnaround);
      const { result, model, plan } = outcome.report;
      if (result?.costUsd !== undefined && model !== undefined) recordCost(metrics, model, plan, result.costUsd);
      return;
    }
    case 'cancelled': {
      const single = metrics.singleMetric();
      single.addDimension(DIMENSIONS.kind, CANCEL_KINDS.report);
      single.addMetric(METRICS.cancelled.name, METRICS.cancelled.unit, 1);
      return;
    }
    case 'republished':
      metrics.addMetric(METRICS.reportEventsRepublished.name, METRICS.reportEventsRepublished.unit, 1);
      return;
    case 'paced':
      // A new message, so the wait for the model quota is not a delivery (the receive count moves the job toward the
      // dead-letter queue). The delivered message is acknowledged only once the new one is sent.
      try {
        await reportQueue().enqueue(reportId, outcome.delaySeconds);
      } catch (err) {
        logger.warn('paced report job not re-sent; retrying as a delivery', { reportId, error: err as Error });
        await reportQueue().delayRedelivery(record.receiptHandle, outcome.delaySeconds);
        throw new RetryLaterError(reportId, outcome.delaySeconds, 'MODEL_QUOTA_EXCEEDED: the job could not be paced');
      }
      metrics.addMetric(METRICS.reportsPaced.name, METRICS.reportsPaced.unit, 1);
      logger.info('report job paced by the model quota', { reportId, delaySeconds: outcome.delaySeconds });
      return;
    case 'retry':
      metrics.addMetric(METRICS.reportRetries.name, METRICS.reportRetries.unit, 1);
      await reportQueue().delayRedelivery(record.receiptHandle, outcome.delaySeconds);
      throw new RetryLaterError(reportId, outcome.delaySeconds, `${outcome.error.code}: ${outcome.error.message}`);
    default:
      return;
  }
}
