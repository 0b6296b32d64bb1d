/** POST /reports: accept a long job, answer `202` with its id and where to poll. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { toApiError } from '../../core/errors';
import { errorResponse, jsonResponse, withResponseHeaders } from '../../core/http';
import { resolveCaller } from '../../core/identity';
import { createLogger } from '../../core/observability';
import { parseSubmitReportRequest, statusUrlOf } from '../../core/reports/api';
import { submitReport } from '../../core/reports/submit';
import { checkReportCallbackUrl, reportQueue, reportRepository, reportsConfig } from '../../aws/reports-runtime';

const logger = createLogger();

const serve = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  logger.addContext(context);
  try {
    const request = parseSubmitReportRequest(event);
    const caller = resolveCaller(event);
    const result = await submitReport(request, caller, {
      repo: reportRepository(),
      queue: reportQueue(),
      config: reportsConfig(),
      checkCallbackUrl: checkReportCallbackUrl,
    });
    const statusUrl = statusUrlOf(event, result.reportId);
    logger.info('report accepted', { reportId: result.reportId, user_id: caller.userId, replayed: result.replayed });
    return jsonResponse(
      202,
      { reportId: result.reportId, status: result.status, statusUrl },
      { location: statusUrl, ...(result.replayed ? { 'idempotent-replayed': 'true' } : {}) },
    );
  } catch (err) {
    const apiErr = toApiError(err);
    if (apiErr.code === 'INTERNAL_ERROR') logger.error('unexpected error', { error: err as Error });
    return errorResponse(apiErr);
  }
};

export const handler = withResponseHeaders(serve);
