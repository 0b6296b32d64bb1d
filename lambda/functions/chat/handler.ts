/** POST /chat: the synchronous baseline. The whole answer in one JSON response. */
import { ENDPOINTS } from '../../../config/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { ChatResult } from '../../core/chat';
import { toApiError } from '../../core/errors';
import { errorResponse, jsonResponse } from '../../core/http';
import { resolveCaller } from '../../core/identity';
import { createLogger, createMetrics, reportChatRequest } from '../../core/observability';
import { createChatService } from '../../aws/chat-runtime';
import { deadlineFrom, lazy, runtimeConfig } from '../../core/runtime';
import { parseChatRequest } from '../../core/validation';

const ENDPOINT = ENDPOINTS.chat;

/**
 * Time kept back from the gateway's integration timeout (`chat.syncTimeoutSeconds`), whose clock started before this
 * function's did: a call still running then ends with our own `504 DEADLINE_EXCEEDED`, which the client can read,
 * instead of API Gateway's bare timeout.
 */
const SYNC_ANSWER_MARGIN_MS = 1_500;

const syncDeadlineMs = (syncTimeoutSeconds: number) => syncTimeoutSeconds * 1000 - SYNC_ANSWER_MARGIN_MS;
const logger = createLogger();
const metrics = createMetrics();
const chatService = lazy(() => createChatService({ logger, metrics }));

export const handler = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  logger.addContext(context);
  const requestId = event.requestContext?.requestId ?? context.awsRequestId;
  const config = runtimeConfig();
  let userId: string | undefined;
  let model: string | undefined;
  let result: ChatResult | undefined;
  let response: APIGatewayProxyResult;
  let errorCode: string | undefined;
  let failure: unknown;
  try {
    const request = parseChatRequest(event.body, config, event.isBase64Encoded);
    const caller = resolveCaller(event);
    userId = caller.userId;
    const deadlineAt = deadlineFrom(context.getRemainingTimeInMillis(), syncDeadlineMs(config.chat.syncTimeoutSeconds));
    const call = await chatService().begin(request, { caller, requestId, deadlineAt });
    model = call.model;
    try {
      result = await call.complete();
    } finally {
      await call.flush();
    }
    model = result.model;
    response = jsonResponse(200, result);
  } catch (err) {
    const apiErr = toApiError(err);
    errorCode = apiErr.code;
    failure = err;
    if (apiErr.code === 'INTERNAL_ERROR') logger.error('unexpected error', { error: err as Error });
    response = errorResponse(apiErr);
  }
  reportChatRequest(logger, metrics, {
    endpoint: ENDPOINT,
    requestId,
    userId,
    model,
    status: response.statusCode,
    result,
    errorCode,
    error: failure,
  });
  return response;
};
