/** POST /chat: the synchronous baseline. The whole answer in one JSON response. */
import { ENDPOINTS } from '../../../config/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { errorResponse, headerOf, jsonResponse, requestIdOf, withResponseHeaders } from '../../core/http';
import { resolveCaller } from '../../core/identity';
import { ChatRequestRecord, createLogger, createMetrics } from '../../core/observability';
import { createChatService } from '../../aws/chat-runtime';
import { createRequestRecorder } from '../../aws/feedback-runtime';
import { deadlineFrom, lazy, runtimeConfig } from '../../core/runtime';
import { rateLimitHeaders } from '../../core/rate-limit-headers';
import { cacheDirectivesOf, cacheStatusHeaders } from '../../core/response-cache';
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
const chatService = lazy(() => createChatService({ logger, metrics, endpoint: ENDPOINT }));
const requestRecorder = lazy(() => createRequestRecorder({ logger, metrics }));

const serve = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  logger.addContext(context);
  const requestId = requestIdOf(event, context);
  const config = runtimeConfig();
  const record = new ChatRequestRecord(ENDPOINT, requestId, requestRecorder());
  let response: APIGatewayProxyResult;
  try {
    const request = parseChatRequest(event.body, config, event.isBase64Encoded);
    const caller = resolveCaller(event);
    record.userId = caller.userId;
    record.plan = caller.plan;
    const deadlineAt = deadlineFrom(context.getRemainingTimeInMillis(), syncDeadlineMs(config.chat.syncTimeoutSeconds));
    const cacheControl = cacheDirectivesOf(headerOf(event.headers, 'cache-control'));
    const call = await chatService().begin(request, { caller, requestId, deadlineAt, cacheControl });
    record.model = call.model;
    try {
      const result = await call.complete();
      record.answered(result);
      // A stored answer served as a fallback is a hit too: the headers are not sent yet.
      const cache = cacheStatusHeaders(result.cached ? 'hit' : call.cacheStatus);
      response = jsonResponse(200, result, { ...rateLimitHeaders(call.limits), ...cache });
    } finally {
      await call.flush();
    }
  } catch (err) {
    response = errorResponse(record.failed(err, logger) ?? err);
  }
  record.status = response.statusCode;
  await record.report(logger, metrics);
  return response;
};

export const handler = withResponseHeaders(serve);
