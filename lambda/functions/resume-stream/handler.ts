/**
 * GET /chat/stream/{requestId}: resumes a stream of the caller's from the stream log (STREAM integration). Replays the
 * events after `Last-Event-ID` (or `?lastEventId=`; the header wins) with their original ids and bytes, then follows the
 * live answer until its `end` or `error`. The writer is another function: this one reads only the table.
 *
 * Checks run before the response commits, so they get real statuses: `400` for a malformed Last-Event-ID, `404` for an
 * unknown id or someone else's (or with `streams.enabled` off, when nothing is logged), `410` past retention.
 */
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import type { Writable } from 'node:stream';
import { ENV, requireEnv } from '../../../config/runtime';
import { DynamoStreamLogReader } from '../../aws/stream-log-reader';
import { NotFoundError, toApiError } from '../../core/errors';
import { errorResponse, headerOf, requestIdOf, streamPreludeFor } from '../../core/http';
import { resolveCaller } from '../../core/identity';
import { clientDisconnect, createLogger, createMetrics } from '../../core/observability';
import { deadlineFrom, lazy, runtimeConfig } from '../../core/runtime';
import { EventStreamWriter, errorEventData, SSE_HEADERS } from '../../core/sse';
import { lastEventIdOf } from '../../core/streams/replay';
import { type FollowResult, followStream, followTiming, openStream, reportResume } from '../../core/streams/resume';

const logger = createLogger();
const metrics = createMetrics();
const reader = lazy(() => new DynamoStreamLogReader({ tableName: () => requireEnv(ENV.streamsTable) }));

/** The resumed stream: logged events go out as their stored bytes; this function's own events have no id. */
class ReplayWriter extends EventStreamWriter {
  bytes(chunk: string): boolean {
    return this.write(chunk);
  }
}

export const handler = awslambda.streamifyResponse(
  async (event: APIGatewayProxyEvent, responseStream: Writable, context: Context): Promise<void> => {
    logger.addContext(context);
    const requestId = requestIdOf(event, context);
    const prelude = streamPreludeFor(event, context);
    const config = runtimeConfig();
    const signal = clientDisconnect(responseStream);
    const streamId = event.pathParameters?.requestId;
    const startedAt = Date.now();
    let userId: string | undefined;
    let resumedAfter: number | undefined;
    let out: ReplayWriter | undefined;
    let followed: FollowResult | undefined;
    let status = 200;
    let errorCode: string | undefined;
    try {
      userId = resolveCaller(event).userId;
      resumedAfter = lastEventIdOf(headerOf(event.headers, 'last-event-id'), event.queryStringParameters?.lastEventId);
      if (!config.streams.enabled) throw new NotFoundError('No stream with this requestId');
      const head = await openStream(reader(), streamId, userId, resumedAfter, startedAt);

      const body = awslambda.HttpResponseStream.from(responseStream, prelude(200, SSE_HEADERS));
      const writer = new ReplayWriter(body, config.chat.keepAliveMs);
      out = writer;
      writer.startKeepAlive();
      followed = await followStream({
        reader: reader(),
        head,
        lastEventId: resumedAfter,
        timing: followTiming(config.streams, config.chat),
        deadlineAt: deadlineFrom(context.getRemainingTimeInMillis()),
        send: (bytes) => writer.bytes(bytes),
        sendError: (err) => void writer.bytes(`event: error\ndata: ${JSON.stringify(errorEventData(err))}\n\n`),
        signal,
      });
      if (followed.outcome === 'interrupted' || followed.outcome === 'deadline') errorCode = 'STREAM_INTERRUPTED';
    } catch (err) {
      const apiErr = toApiError(err);
      errorCode = apiErr.code;
      if (apiErr.code === 'INTERNAL_ERROR') logger.error('unexpected error', { error: err as Error });
      if (out) {
        // Committed: the log could not be read further. The client resumes again from its last event id.
        out.bytes(`event: error\ndata: ${JSON.stringify(errorEventData(apiErr))}\n\n`);
      } else {
        const response = errorResponse(apiErr);
        status = response.statusCode;
        awslambda.HttpResponseStream.from(responseStream, prelude(status, response.headers)).write(response.body);
      }
    } finally {
      out?.close();
      if (!responseStream.writableEnded) responseStream.end();
      reportResume(logger, metrics, {
        requestId,
        streamRequestId: streamId,
        userId,
        status,
        lastEventId: resumedAfter,
        result: followed,
        errorCode,
        durationMs: Date.now() - startedAt,
      });
    }
  },
);
