/** GET /reports/{id}: a report's status, and its result or error once finished. Other users' reports do not exist. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { NotFoundError, toApiError } from '../../core/errors';
import { errorResponse, jsonResponse, withResponseHeaders } from '../../core/http';
import { resolveCaller } from '../../core/identity';
import { createLogger } from '../../core/observability';
import { isFinished, isReportId, toView } from '../../core/reports/model';
import { reportRepository, reportsConfig } from '../../aws/reports-runtime';

const logger = createLogger();

const serve = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  logger.addContext(context);
  try {
    const caller = resolveCaller(event);
    const reportId = event.pathParameters?.id ?? '';
    const notFound = new NotFoundError('Report not found');
    if (!isReportId(reportId)) throw notFound;
    const report = await reportRepository().get(reportId);
    // 404, not 403: whether someone else's report exists is not this caller's business.
    if (!report || report.userId !== caller.userId) throw notFound;
    const headers: Record<string, string> = isFinished(report.status)
      ? {}
      : { 'retry-after': String(reportsConfig().reports.pollAfterSeconds) };
    return jsonResponse(200, toView(report), headers);
  } catch (err) {
    const apiErr = toApiError(err);
    if (apiErr.code === 'INTERNAL_ERROR') logger.error('unexpected error', { error: err as Error });
    return errorResponse(apiErr);
  }
};

export const handler = withResponseHeaders(serve);
