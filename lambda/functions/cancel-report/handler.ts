/**
 * POST /reports/{id}/cancel: the owner cancels a report (`lambda/core/reports/cancel.ts`). `200` with the report
 * `CANCELLED` when it had not started; `202` with the report still `RUNNING` (and `cancelRequestedAt`) when its worker
 * is on it and stops within about two seconds; `409 ALREADY_FINISHED` once it has finished; `404` for unknown ids and
 * other users' reports.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { CANCEL_KINDS, DIMENSIONS, METRICS } from '../../../config/metrics';
import { NotFoundError, toApiError } from '../../core/errors';
import { errorResponse, jsonResponse, withResponseHeaders } from '../../core/http';
import { resolveCaller } from '../../core/identity';
import { createLogger, createMetrics } from '../../core/observability';
import { cancelReport } from '../../core/reports/cancel';
import { isReportId, toView } from '../../core/reports/model';
import { reportEventPublisher, reportRepository } from '../../aws/reports-runtime';

const logger = createLogger();
const metrics = createMetrics();

/** `Retry-After` of a `202`: the worker stops within `reports.cancelCheckIntervalMs` (at most 1 s) plus the abort. */
const CANCEL_POLL_AFTER_SECONDS = 2;

const serve = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  logger.addContext(context);
  try {
    const caller = resolveCaller(event);
    const reportId = event.pathParameters?.id ?? '';
    if (!isReportId(reportId)) throw new NotFoundError('Report not found');
    const outcome = await cancelReport(reportId, caller, {
      repo: reportRepository(),
      publisher: reportEventPublisher(),
      onPublishError: (err, report) =>
        logger.warn('report.cancelled not published; the job redelivery publishes it', {
          reportId: report.reportId,
          error: err as Error,
        }),
    });
    logger.info('report cancel', { reportId, user_id: caller.userId, outcome: outcome.kind });
    if (outcome.kind === 'cancelled') {
      const single = metrics.singleMetric();
      single.addDimension(DIMENSIONS.kind, CANCEL_KINDS.report);
      single.addMetric(METRICS.cancelled.name, METRICS.cancelled.unit, 1);
      return jsonResponse(200, toView(outcome.report));
    }
    return jsonResponse(202, toView(outcome.report), { 'retry-after': String(CANCEL_POLL_AFTER_SECONDS) });
  } catch (err) {
    const apiErr = toApiError(err);
    if (apiErr.code === 'INTERNAL_ERROR') logger.error('unexpected error', { error: err as Error });
    return errorResponse(apiErr);
  }
};

export const handler = withResponseHeaders(serve);
