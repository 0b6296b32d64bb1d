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
import type { ChatCall } from '../../core/chat';
import { errorResponse, headerOf, requestIdOf, streamPreludeFor } from '../../core/http';
import { resolveCaller } from '../../core/identity';
import { ChatRequestRecord, clientDisconnect, createLogger, createMetrics } from '../../core/observability';
import { createChatService } from '../../aws/chat-runtime';
import { createRequestRecorder } from '../../aws/feedback-runtime';
import { createStreamLogWriter, streamLogStore } from '../../aws/stream-log-runtime';
import { deadlineFrom, lazy, runtimeConfig } from '../../core/runtime';
import { errorEventData, SSE_HEADERS, SseWriter } from '../../core/sse';
import { cancelAware, finalStatusOf, reportStreamCancelled } from '../../core/streams/cancel';
import { rateLimitHeaders } from '../../core/rate-limit-headers';
import { cacheDirectivesOf, cacheStatusHeaders } from '../../core/response-cache';
import { parseChatRequest } from '../../core/validation';

const ENDPOINT = ENDPOINTS.chatStream;
const logger = createLogger();
const metrics = createMetrics();
const chatService = lazy(() => createChatService({ logger, metrics, endpoint: ENDPOINT }));
const requestRecorder = lazy(() => createRequestRecorder({ logger, metrics }));
const streamLogs = lazy(streamLogStore);

export const handler = awslambda.streamifyResponse(
  async (event: APIGatewayProxyEvent, responseStream: Writable, context: Context): Promise<void> => {
    logger.addContext(context);
    const requestId = requestIdOf(event, context);
    const prelude = streamPreludeFor(event, context);
    const config = runtimeConfig();
    // The stream log (lambda/core/streams/log.ts) records every event for resume, and its flushes read back the cancel
    // flag that `POST /chat/stream/{requestId}/cancel` sets: that is how a cancel reaches this function on Lambda.
    const log = createStreamLogWriter(requestId, streamLogs(), { logger, metrics }, config);
    // Lambda does not tell a function when the client disconnects (the stream only closes when we end it); where the
    // platform does signal it, as the local gateway does, generation stops and the model is not blamed. A cancel
    // aborts the call the same way.
    const disconnect = clientDisconnect(responseStream);
    const signal = log ? AbortSignal.any([disconnect, log.cancelSignal]) : disconnect;
    const record = new ChatRequestRecord(ENDPOINT, requestId, requestRecorder());
    let sse: SseWriter | undefined;
    let call: ChatCall | undefined;
    let maxTokens = 0;
    let outputChars = 0;
    try {
      const request = parseChatRequest(event.body, config, event.isBase64Encoded);
      maxTokens = request.maxTokens;
      const caller = resolveCaller(event);
      record.userId = caller.userId;
      record.plan = caller.plan;
      const deadlineAt = deadlineFrom(context.getRemainingTimeInMillis(), config.chat.streamTimeoutSeconds * 1000);
      const cacheControl = cacheDirectivesOf(headerOf(event.headers, 'cache-control'));
      call = await chatService().begin(request, { caller, requestId, deadlineAt, signal, cacheControl });
      record.model = call.model;
      // Not awaited: the head is written while the model is called.
      log?.start({ requestId, userId: caller.userId, endpoint: ENDPOINT, model: call.model });

      const body = awslambda.HttpResponseStream.from(
        responseStream,
        prelude(200, { ...SSE_HEADERS, ...rateLimitHeaders(call.limits), ...cacheStatusHeaders(call.cacheStatus) }),
      );
      sse = new SseWriter(body, config.chat.keepAliveMs);
      if (log) sse.tee((id, bytes) => log.record(id, bytes));
      sse.event('start', { requestId, model: call.model });
      sse.startKeepAlive();
      const writer = sse;
      const result = await call.stream((text) => {
        outputChars += text.length;
        writer.event('delta', { text });
      });
      record.answered(result);
      const { model, stopReason, usage, metrics: timings, cached, costUsd } = result;
      sse.event('end', {
        model,
        stopReason,
        usage,
        metrics: timings,
        ...(cached ? { cached } : {}),
        ...(costUsd === undefined ? {} : { costUsd }),
      });
    } catch (raw) {
      const err = cancelAware(raw, log);
      const apiErr = record.failed(err, logger);
      if (apiErr?.code === 'CANCELLED') {
        reportStreamCancelled(logger, metrics, {
          requestId,
          userId: record.userId,
          endpoint: ENDPOINT,
          maxTokens,
          outputChars,
        });
      }
      if (apiErr && sse) {
        sse.event('error', errorEventData(apiErr));
      } else if (apiErr) {
        const response = errorResponse(apiErr);
        record.status = response.statusCode;
        const { statusCode, headers } = response;
        awslambda.HttpResponseStream.from(responseStream, prelude(statusCode, headers)).write(response.body);
      }
    } finally {
      sse?.close();
      // The client already has `end`; the breaker and budget writes finish before the stream closes and Lambda freezes,
      // and so does the request record, so that a client that has read the end can rate the answer at once.
      await Promise.all([call?.flush(), record.recorded(), log?.end(finalStatusOf(record.errorCode))]);
      if (!responseStream.writableEnded) responseStream.end();
      await record.report(logger, metrics);
    }
  },
);
