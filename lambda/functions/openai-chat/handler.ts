/**
 * POST /chat/completions: OpenAI's chat API over the same guarded chat core as /chat/stream (usage plan, token budget,
 * breakers and fallbacks, deadlines, client-disconnect abort, the one log line and metrics).
 *
 * One STREAM integration serves both forms: `stream: true` gets `chat.completion.chunk` events, otherwise one
 * `chat.completion` JSON body, written through the same response stream once the answer is complete. Everything that
 * can fail fast (body, key, model name, budget, breakers with no fallback) fails before anything is committed, with a
 * real status in OpenAI's error shape; a failure after a stream committed is a final `data: {"error":…}`, never
 * `[DONE]`.
 */
import type { Writable } from 'node:stream';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { ENDPOINTS } from '../../../config/metrics';
import { createChatService } from '../../aws/chat-runtime';
import { createRequestRecorder } from '../../aws/feedback-runtime';
import { createStreamLogWriter, streamLogStore } from '../../aws/stream-log-runtime';
import type { ChatCall, ChatResult } from '../../core/chat';
import { resolveCaller } from '../../core/identity';
import { ChatRequestRecord, clientDisconnect, createLogger, createMetrics } from '../../core/observability';
import { headerOf, JSON_HEADERS, requestIdOf, streamPreludeFor } from '../../core/http';
import { toOpenAIError } from '../../core/openai/errors';
import { parseOpenAIChatRequest } from '../../core/openai/request';
import {
  ChunkWriter,
  chatCompletion,
  chatCompletionChunk,
  completionIdentity,
  finishReasonOf,
  toolCallDelta,
  usageOf,
} from '../../core/openai/response';
import { openAIRateLimitHeaders, rateLimitHeaders } from '../../core/rate-limit-headers';
import { cacheDirectivesOf, cacheStatusHeaders } from '../../core/response-cache';
import { deadlineFrom, lazy, runtimeConfig } from '../../core/runtime';
import { SSE_HEADERS } from '../../core/sse';
import { cancelAware, finalStatusOf, reportStreamCancelled } from '../../core/streams/cancel';

const ENDPOINT = ENDPOINTS.openaiChat;
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
    const identity = completionIdentity(requestId, Date.now());
    const config = runtimeConfig();
    // As in /chat/stream: where the platform signals a disconnect (the local gateway does, Lambda does not), generation
    // stops and the model is not blamed; `POST /chat/stream/{requestId}/cancel` (this response's `x-request-id`) stops
    // it the same way, through the stream log's head. The chunks themselves are not logged: resume serves the native
    // stream only.
    const log = createStreamLogWriter(requestId, streamLogs(), { logger, metrics }, config);
    const disconnect = clientDisconnect(responseStream);
    const signal = log ? AbortSignal.any([disconnect, log.cancelSignal]) : disconnect;
    const produced = { chars: 0 };
    let maxTokens = 0;
    const record = new ChatRequestRecord(ENDPOINT, requestId, requestRecorder());
    const respond = (statusCode: number, headers: Record<string, string>) =>
      awslambda.HttpResponseStream.from(responseStream, prelude(statusCode, headers));
    let chunks: ChunkWriter | undefined;
    let call: ChatCall | undefined;
    try {
      const caller = resolveCaller(event);
      record.userId = caller.userId;
      record.plan = caller.plan;
      const parsed = parseOpenAIChatRequest(event.body, config, event.isBase64Encoded);
      maxTokens = parsed.request.maxTokens;
      // OpenAI's `user` names the client's own end user: logged for the operator, never sent to the model.
      record.clientUser = parsed.user;
      const deadlineAt = deadlineFrom(context.getRemainingTimeInMillis(), config.chat.streamTimeoutSeconds * 1000);
      const active = await chatService().begin(parsed.request, {
        caller,
        requestId,
        deadlineAt,
        signal,
        models: parsed.models,
        cacheControl: cacheDirectivesOf(headerOf(event.headers, 'cache-control')),
      });
      call = active;
      record.model = active.model;
      // Not awaited: the head is written while the model is called.
      log?.start({ requestId, userId: caller.userId, endpoint: ENDPOINT, model: active.model });
      // The user's limits with this call's slot and tokens held: the standard headers and OpenAI's.
      const limits = { ...rateLimitHeaders(active.limits), ...openAIRateLimitHeaders(active.limits) };
      if (!parsed.stream) {
        const result = await active.complete();
        record.answered(result);
        // OpenAI's body has no field for it: `x-cache` says the answer was stored (a fallback from the cache too).
        const cache = cacheStatusHeaders(result.cached ? 'hit' : active.cacheStatus);
        respond(200, { ...JSON_HEADERS, ...limits, ...cache }).write(JSON.stringify(chatCompletion(identity, result)));
      } else {
        const cache = cacheStatusHeaders(active.cacheStatus);
        chunks = new ChunkWriter(respond(200, { ...SSE_HEADERS, ...limits, ...cache }), config.chat.keepAliveMs);
        chunks.startKeepAlive();
        record.answered(await streamChunks(active, chunks, identity, parsed.includeUsage, produced));
      }
    } catch (raw) {
      const err = cancelAware(raw, log);
      const apiErr = record.failed(err, logger);
      if (apiErr?.code === 'CANCELLED') {
        const { userId } = record;
        reportStreamCancelled(logger, metrics, {
          requestId,
          userId,
          endpoint: ENDPOINT,
          maxTokens,
          outputChars: produced.chars,
        });
      }
      const openaiErr = apiErr && toOpenAIError(apiErr);
      if (openaiErr && chunks) {
        chunks.error(openaiErr.body);
      } else if (openaiErr) {
        record.status = openaiErr.status;
        respond(openaiErr.status, { ...JSON_HEADERS, ...openaiErr.headers }).write(JSON.stringify(openaiErr.body));
      }
    } finally {
      chunks?.close();
      await Promise.all([call?.flush(), record.recorded(), log?.end(finalStatusOf(record.errorCode))]);
      if (!responseStream.writableEnded) responseStream.end();
      await record.report(logger, metrics);
    }
  },
);

/**
 * Streams one answer as `chat.completion.chunk`s (text, and tool calls as `tool_calls` deltas), then the finish chunk, the usage chunk when asked for, and `[DONE]`.
 * The role chunk waits for the first token, so that every chunk names the model that is answering (a model that fails
 * before its first token hands over to the next one unseen).
 */
async function streamChunks(
  call: ChatCall,
  writer: ChunkWriter,
  identity: ReturnType<typeof completionIdentity>,
  includeUsage: boolean,
  produced: { chars: number },
): Promise<ChatResult> {
  const usage = { includeUsage };
  let started = false;
  const open = (servingModel: string) => {
    if (started) return;
    started = true;
    const role = { delta: { role: 'assistant' as const, content: '' }, finishReason: null };
    writer.data(chatCompletionChunk(identity, servingModel, role, usage));
  };
  const result = await call.stream(
    (text) => {
      produced.chars += text.length;
      open(call.model);
      writer.data(chatCompletionChunk(identity, call.model, { delta: { content: text }, finishReason: null }, usage));
    },
    (event) => {
      open(call.model);
      writer.data(
        chatCompletionChunk(identity, call.model, { delta: toolCallDelta(event), finishReason: null }, usage),
      );
    },
  );
  open(result.model);
  const finish = { delta: {}, finishReason: finishReasonOf(result.stopReason) };
  writer.data(chatCompletionChunk(identity, result.model, finish, usage));
  if (includeUsage) {
    writer.data(
      chatCompletionChunk(identity, result.model, undefined, { includeUsage: true, value: usageOf(result.usage) }),
    );
  }
  writer.done();
  return result;
}
