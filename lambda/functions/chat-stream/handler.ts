/**
 * POST /chat/stream: Server-Sent Events over Lambda response streaming (API Gateway STREAM integration).
 *
 * Everything that can fail fast (body, key, token budget, breakers with no fallback) runs before the response
 * commits, so it gets a real status and a JSON body. After `start`, failures are `event: error`, and the stream always
 * ends with `end` or `error`.
 */
import { ENDPOINTS } from '../../../config/metrics';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import type { Writable } from 'node:stream';
import { ClientGoneError, type ChatCall, type ChatResult } from '../../core/chat';
import { toApiError } from '../../core/errors';
import { errorResponse } from '../../core/http';
import { resolveCaller } from '../../core/identity';
import { createLogger, createMetrics, reportChatRequest } from '../../core/observability';
import { createChatService } from '../../aws/chat-runtime';
import { deadlineFrom, lazy, runtimeConfig } from '../../core/runtime';
import { errorEventData, SSE_HEADERS, SseWriter } from '../../core/sse';
import { parseChatRequest } from '../../core/validation';

const ENDPOINT = ENDPOINTS.chatStream;
const logger = createLogger();
const metrics = createMetrics();
const chatService = lazy(() => createChatService({ logger, metrics }));

export const handler = awslambda.streamifyResponse(
  async (event: APIGatewayProxyEvent, responseStream: Writable, context: Context): Promise<void> => {
    logger.addContext(context);
    const requestId = event.requestContext?.requestId ?? context.awsRequestId;
    const config = runtimeConfig();
    // Lambda does not tell a function when the client disconnects (the stream only closes when we end it); where the
    // platform does signal it, as the local gateway does, generation stops and the model is not blamed.
    const clientGone = new AbortController();
    responseStream.on('close', () => clientGone.abort());
    responseStream.on('error', () => clientGone.abort());

    let sse: SseWriter | undefined;
    let userId: string | undefined;
    let model: string | undefined;
    let call: ChatCall | undefined;
    let result: ChatResult | undefined;
    let status = 200;
    let errorCode: string | undefined;
    let failure: unknown;
    try {
      const request = parseChatRequest(event.body, config, event.isBase64Encoded);
      const caller = resolveCaller(event);
      userId = caller.userId;
      const deadlineAt = deadlineFrom(context.getRemainingTimeInMillis(), config.chat.streamTimeoutSeconds * 1000);
      call = await chatService().begin(request, { caller, requestId, deadlineAt, signal: clientGone.signal });
      model = call.model;

      const body = awslambda.HttpResponseStream.from(responseStream, { statusCode: 200, headers: SSE_HEADERS });
      sse = new SseWriter(body, config.chat.keepAliveMs);
      sse.event('start', { requestId, model: call.model });
      sse.startKeepAlive();
      const writer = sse;
      result = await call.stream((text) => writer.event('delta', { text }));
      model = result.model;
      sse.event('end', {
        model: result.model,
        stopReason: result.stopReason,
        usage: result.usage,
        metrics: result.metrics,
      });
    } catch (err) {
      if (err instanceof ClientGoneError) {
        status = 499;
        errorCode = 'CLIENT_CLOSED';
      } else {
        const apiErr = toApiError(err);
        errorCode = apiErr.code;
        failure = err;
        if (apiErr.code === 'INTERNAL_ERROR') logger.error('unexpected error', { error: err as Error });
        if (sse) {
          sse.event('error', errorEventData(apiErr));
        } else {
          const response = errorResponse(apiErr);
          status = response.statusCode;
          awslambda.HttpResponseStream.from(responseStream, { statusCode: status, headers: response.headers }).write(
            response.body,
          );
        }
      }
    } finally {
      sse?.close();
      // The client already has `end`; the breaker and budget writes finish before the stream closes and Lambda freezes.
      await call?.flush();
      if (!responseStream.writableEnded) responseStream.end();
      reportChatRequest(logger, metrics, {
        endpoint: ENDPOINT,
        requestId,
        userId,
        model,
        status,
        result,
        errorCode,
        error: failure,
      });
    }
  },
);
