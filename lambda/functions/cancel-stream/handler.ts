/**
 * POST /chat/stream/{requestId}/cancel: the owner stops a stream that is still generating. `202 {"requestId","status":
 * "CANCELLING"}` while it runs (again on a second cancel): the generating function reads the flag on its next stream
 * log flush (within `streams.flushIntervalMs`), aborts the model call and ends the stream with `event: error`
 * `CANCELLED`. `409 ALREADY_FINISHED` with the final `status` once it ended; `410 STREAM_EXPIRED` past retention;
 * `404` for unknown ids, other users' ids, and any id while `streams.enabled` is off. The only write is one conditional
 * UpdateItem on the stream's head.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { streamLogStore } from '../../aws/stream-log-runtime';
import { toApiError } from '../../core/errors';
import { ratedRequestId } from '../../core/feedback';
import { errorResponse, jsonResponse, requestIdOf, withResponseHeaders } from '../../core/http';
import { resolveCaller } from '../../core/identity';
import { createLogger } from '../../core/observability';
import { lazy, runtimeConfig } from '../../core/runtime';
import { cancelStream } from '../../core/streams/cancel';

const logger = createLogger();
const store = lazy(streamLogStore);

const serve = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  logger.addContext(context);
  const requestId = requestIdOf(event, context);
  // An OpenAI completion id (`chatcmpl-<requestId>`) names the same request as its `x-request-id`.
  const streamId = ratedRequestId(event.pathParameters?.requestId ?? '');
  let userId: string | undefined;
  try {
    userId = resolveCaller(event).userId;
    const accepted = await cancelStream(streamId, userId, {
      store: store(),
      enabled: runtimeConfig().streams.enabled,
    });
    logger.info('stream cancel requested', { requestId, stream_request_id: streamId, user_id: userId, status: 202 });
    return jsonResponse(202, accepted);
  } catch (err) {
    const apiErr = toApiError(err);
    if (apiErr.code === 'INTERNAL_ERROR') logger.error('unexpected error', { error: err as Error });
    else
      logger.info('stream cancel refused', {
        requestId,
        stream_request_id: streamId,
        user_id: userId,
        status: apiErr.status,
        error: apiErr.code,
      });
    return errorResponse(apiErr);
  }
};

export const handler = withResponseHeaders(serve);
