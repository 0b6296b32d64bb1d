/**
 * POST /feedback: the caller rates one of their own requests (`204`); the last rating wins. Someone else's request, an
 * unknown one and an expired one are the same `404`. The rating is counted as the `Feedback` metric, by rating and the
 * rated request's model and endpoint; the comment is stored, never logged.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { requestRecordStore } from '../../aws/feedback-runtime';
import { toApiError } from '../../core/errors';
import { parseFeedbackRequest, reportFeedback, submitFeedback } from '../../core/feedback';
import { errorResponse, noContentResponse, requestIdOf, withResponseHeaders } from '../../core/http';
import { resolveCaller } from '../../core/identity';
import { createLogger, createMetrics } from '../../core/observability';
import { lazy } from '../../core/runtime';

const logger = createLogger();
const metrics = createMetrics();
const store = lazy(requestRecordStore);

const serve = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  logger.addContext(context);
  const requestId = requestIdOf(event, context);
  let userId: string | undefined;
  try {
    userId = resolveCaller(event).userId;
    const request = parseFeedbackRequest(event.body, event.isBase64Encoded);
    const rated = await submitFeedback(request, userId, { store: store() });
    reportFeedback(logger, metrics, rated, requestId);
    return noContentResponse();
  } catch (err) {
    const apiErr = toApiError(err);
    if (apiErr.code === 'INTERNAL_ERROR') logger.error('unexpected error', { error: err as Error });
    // The one line of a refused rating: who and why, never what the body said.
    else logger.info('feedback refused', { requestId, user_id: userId, status: apiErr.status, error: apiErr.code });
    return errorResponse(apiErr);
  }
};

export const handler = withResponseHeaders(serve);
