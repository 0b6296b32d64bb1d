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
import { type ChatCall, ClientGoneError, type ChatResult } from '../../core/chat';
import { toApiError } from '../../core/errors';
import { resolveCaller } from '../../core/identity';
import { createLogger, createMetrics, reportChatRequest } from '../../core/observability';
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
import { deadlineFrom, lazy, runtimeConfig } from '../../core/runtime';
import { SSE_HEADERS } from '../../core/sse';

const ENDPOINT = ENDPOINTS.openaiChat;
const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };
const logger = createLogger();
const metrics = createMetrics();
const chatService = lazy(() => createChatService({ logger, metrics }));

export const handler = awslambda.streamifyResponse(
  async (event: APIGatewayProxyEvent, responseStream: Writable, context: Context): Promise<void> => {
    logger.addContext(context);
    const requestId = event.requestContext?.requestId ?? context.awsRequestId;
    const identity = completionIdentity(requestId, Date.now());
    const config = runtimeConfig();
    // As in /chat/stream: where the platform signals a disconnect (the local gateway does, Lambda does not), generation
    // stops and the model is not blamed.
    const clientGone = new AbortController();
    responseStream.on('close', () => clientGone.abort());
    responseStream.on('error', () => clientGone.abort());

    const respond = (statusCode: number, headers: Record<string, string>) =>
      awslambda.HttpResponseStream.from(responseStream, { statusCode, headers });
    let chunks: ChunkWriter | undefined;
    let userId: string | undefined;
    let model: string | undefined;
    let call: ChatCall | undefined;
    let result: ChatResult | undefined;
    let status = 200;
    let errorCode: string | undefined;
    let failure: unknown;
    let clientUser: string | undefined;
    try {
      const caller = resolveCaller(event);
      userId = caller.userId;
      const parsed = parseOpenAIChatRequest(event.body, config, event.isBase64Encoded);
      clientUser = parsed.user;
      const deadlineAt = deadlineFrom(context.getRemainingTimeInMillis(), config.chat.streamTimeoutSeconds * 1000);
      const active = await chatService().begin(parsed.request, {
        caller,
        requestId,
        deadlineAt,
        signal: clientGone.signal,
        models: parsed.models,
      });
      call = active;
      model = active.model;

      if (!parsed.stream) {
        result = await active.complete();
        model = result.model;
        respond(200, JSON_HEADERS).write(JSON.stringify(chatCompletion(identity, result)));
      } else {
        chunks = new ChunkWriter(respond(200, SSE_HEADERS), config.chat.keepAliveMs);
        chunks.startKeepAlive();
        result = await streamChunks(active, chunks, identity, parsed.includeUsage);
        model = result.model;
      }
    } catch (err) {
      if (err instanceof ClientGoneError) {
        status = 499;
        errorCode = 'CLIENT_CLOSED';
      } else {
        const apiErr = toApiError(err);
        errorCode = apiErr.code;
        failure = err;
        if (apiErr.code === 'INTERNAL_ERROR') logger.error('unexpected error', { error: err as Error });
        const openaiErr = toOpenAIError(apiErr);
        if (chunks) {
          chunks.error(openaiErr.body);
        } else {
          status = openaiErr.status;
          respond(status, { ...JSON_HEADERS, ...openaiErr.headers }).write(JSON.stringify(openaiErr.body));
        }
      }
    } finally {
      chunks?.close();
      await call?.flush();
      if (!responseStream.writableEnded) responseStream.end();
      // OpenAI's `user` names the client's own end user: logged for the operator, never sent to the model.
      if (clientUser !== undefined) logger.appendKeys({ client_user: clientUser });
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
      if (clientUser !== undefined) logger.removeKeys(['client_user']);
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
