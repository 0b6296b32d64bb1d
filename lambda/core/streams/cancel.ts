/**
 * Cancelling a stream: the route's decision (`POST /chat/stream/{requestId}/cancel`) and, on the generating side, the
 * words and the bookkeeping of a stream that stopped because its owner asked.
 *
 * The route sets the head's cancel flag under the owner, status and retention conditions; the generating function reads
 * the flag back on its next flush ({@link StreamLogWriter}), aborts the model call exactly as a client disconnect does
 * (the breaker is not told, the budget is settled with the tokens used), and ends the stream with `CANCELLED`.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { CANCEL_KINDS, DIMENSIONS, METRICS } from '../../../config/metrics';
import { estimateTokens } from '../chat-call';
import { AlreadyFinishedError, CancelledError, NotFoundError, StreamExpiredError } from '../errors';
import { ClientGoneError } from '../model-attempt';
import { addMetric } from '../observability';
import type { StreamFinalStatus, StreamLogStore, StreamLogWriter } from './log';

/** The `202` body of an accepted cancel. */
export interface CancelAccepted {
  readonly requestId: string;
  readonly status: 'CANCELLING';
}

/** Longest request id the route accepts (the API's ids are UUIDs; an OpenAI completion id adds `chatcmpl-`). */
const MAX_REQUEST_ID_LENGTH = 128;

/**
 * Asks the stream `requestId` of `userId` to stop. Answers the `202` body while it runs (again on a second cancel);
 * throws {@link NotFoundError} for unknown and other users' ids (and whenever the log is off),
 * {@link AlreadyFinishedError} with the final status, or {@link StreamExpiredError} past retention.
 */
export async function cancelStream(
  requestId: string,
  userId: string,
  deps: { store: Pick<StreamLogStore, 'requestCancel'>; enabled: boolean; now?: number },
): Promise<CancelAccepted> {
  const notFound = () => new NotFoundError(`No stream ${JSON.stringify(requestId)} of yours is known`);
  if (!deps.enabled || requestId.length === 0 || requestId.length > MAX_REQUEST_ID_LENGTH) throw notFound();
  const outcome = await deps.store.requestCancel(requestId, userId, deps.now ?? Date.now());
  switch (outcome.kind) {
    case 'requested':
      return { requestId, status: 'CANCELLING' };
    case 'finished':
      throw new AlreadyFinishedError(`The stream already ended as ${outcome.status}`, outcome.status);
    case 'expired':
      throw new StreamExpiredError('The stream is past its retention and can no longer be cancelled');
    case 'notFound':
      throw notFound();
  }
}

/**
 * What a stream's failure means once its log may have seen a cancel: the abort a cancel causes reaches the chat core as
 * a client that went away ({@link ClientGoneError}); here it becomes the {@link CancelledError} the client is told.
 */
export function cancelAware(err: unknown, log: Pick<StreamLogWriter, 'cancelled'> | undefined): unknown {
  if (log?.cancelled && err instanceof ClientGoneError) {
    return new CancelledError('The stream was cancelled by its owner', { cause: err });
  }
  return err;
}

export interface StreamCancelFacts {
  readonly requestId: string;
  readonly userId?: string;
  readonly endpoint: string;
  /** The call's `maxTokens`: what its budget reservation held for the answer. */
  readonly maxTokens: number;
  /** Characters of answer (text and tool input) generated before the cancel. */
  readonly outputChars: number;
}

/**
 * The one log line of a cancelled stream and its metrics: `Cancelled` and `TokensSavedByCancel` (the `maxTokens`
 * reservation less the output tokens used, as the budget settlement estimates them), both by `kind` `stream`.
 */
export function reportStreamCancelled(
  logger: Pick<Logger, 'info'>,
  metrics: Pick<Metrics, 'singleMetric'>,
  facts: StreamCancelFacts,
): void {
  const outputTokens = estimateTokens(facts.outputChars);
  const saved = Math.max(0, facts.maxTokens - outputTokens);
  logger.info('stream cancelled', {
    requestId: facts.requestId,
    user_id: facts.userId,
    endpoint: facts.endpoint,
    output_tokens: outputTokens,
    tokens_saved: saved,
  });
  for (const [spec, value] of [
    [METRICS.cancelled, 1],
    [METRICS.tokensSavedByCancel, saved],
  ] as const) {
    const single = metrics.singleMetric();
    single.addDimension(DIMENSIONS.kind, CANCEL_KINDS.stream);
    addMetric(single, spec, value);
  }
}

/** How a logged stream ended, from the error code its client saw (none: the answer completed). */
export function finalStatusOf(errorCode: string | undefined): StreamFinalStatus {
  if (errorCode === undefined) return 'COMPLETED';
  return errorCode === 'CANCELLED' ? 'CANCELLED' : 'FAILED';
}
