/**
 * Satisfaction feedback: who may rate a request, and the rating itself.
 *
 * Every answered request leaves a request record (config/tables.ts `requests`): its id, its owner, its endpoint and the
 * model that served it, kept `feedback.retentionDays`. The chat functions write it once the request's outcome is known
 * (`ChatRequestRecord` in observability.ts), the report worker as it finishes a report; never on the path to the first
 * token, and a failed write never fails the answer ({@link RequestRecorder}). `POST /feedback` then stores the caller's
 * rating on their own record with one conditional write ({@link submitFeedback}): another user's request, an unknown
 * one and an expired one are the same `404`.
 *
 * The store is a port ({@link RequestRecordStore}); its DynamoDB adapter is `lambda/aws/request-records.ts`.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { feedbackRequestSchema, type FeedbackRequest, type Rating } from '../../config/contract';
import { DIMENSIONS, METRICS } from '../../config/metrics';
import { NotFoundError, ValidationError } from './errors';
import { addMetric } from './observability';
import { parseJsonBody, parseWith } from './validation';

/** The request record as stored: who a request belongs to, what served it, and the owner's rating once given. */
export interface RequestRecord {
  /** A chat request's `requestId`, or a report's `reportId`. */
  requestId: string;
  userId: string;
  /** `RATED_ENDPOINTS` in config/metrics.ts. */
  endpoint: string;
  /** The model that served the request (`degraded` for the configured degraded answer, `none` when none did). */
  model: string;
  createdAt: string;
  /** Epoch seconds after which the request can no longer be rated; DynamoDB TTL removes the item some time later. */
  expiresAt: number;
  rating?: Rating;
  /** The owner's own words; user content, never logged. */
  comment?: string;
  ratedAt?: string;
}

/** What the chat functions and the report worker know about a request when they record it. */
export type NewRequestRecord = Pick<RequestRecord, 'requestId' | 'userId' | 'endpoint' | 'model'>;

/** One rating, as written on the record: a new rating replaces the previous one, comment included. */
export interface FeedbackEntry {
  rating: Rating;
  comment?: string;
  ratedAt: string;
}

/** The requests table. */
export interface RequestRecordStore {
  /**
   * Writes a record unless one with its id exists: a request is recorded once, so a repeated write (a redelivered
   * report job) can neither move a request to another user nor erase its rating. False when one existed.
   */
  put(record: RequestRecord): Promise<boolean>;
  /**
   * Stores `feedback` on the record of `requestId` in one conditional write, only if `userId` owns it and it has not
   * expired at `nowSeconds`. The rated record, or undefined when there is no such record for this user.
   */
  rate(
    requestId: string,
    userId: string,
    feedback: FeedbackEntry,
    nowSeconds: number,
  ): Promise<RequestRecord | undefined>;
}

/** Epoch seconds `days` after `nowMs`. */
export function expiresAtAfterDays(nowMs: number, days: number): number {
  return Math.floor(nowMs / 1000) + days * 86_400;
}

export interface RequestRecorderOptions {
  store: RequestRecordStore;
  /** `feedback.retentionDays`: how long a request can be rated. */
  retentionDays: number;
  logger: Pick<Logger, 'warn'>;
  metrics: Pick<Metrics, 'singleMetric'>;
  now?: () => number;
}

/**
 * Records who a request belongs to. Never throws: the request has been answered, and a record that could not be
 * written only means it cannot be rated, so a failure is logged (without the request's content) and counted as
 * `RequestRecordErrors`, which the dashboard graphs and an alarm watches.
 */
export class RequestRecorder {
  private readonly now: () => number;

  constructor(private readonly options: RequestRecorderOptions) {
    this.now = options.now ?? Date.now;
  }

  /** True when the record is stored (by this write or an earlier one), false when the write failed. */
  async record(entry: NewRequestRecord): Promise<boolean> {
    const now = this.now();
    const record: RequestRecord = {
      ...entry,
      createdAt: new Date(now).toISOString(),
      expiresAt: expiresAtAfterDays(now, this.options.retentionDays),
    };
    try {
      await this.options.store.put(record);
      return true;
    } catch (err) {
      this.options.logger.warn('request record not written; the request cannot be rated', {
        requestId: entry.requestId,
        endpoint: entry.endpoint,
        error: err as Error,
      });
      addMetric(this.options.metrics.singleMetric(), METRICS.requestRecordErrors, 1);
      return false;
    }
  }
}

/** The API's completion ids are `chatcmpl-<requestId>` (lambda/core/openai/response.ts); both name the same request. */
const OPENAI_COMPLETION_PREFIX = 'chatcmpl-';

/** The request id a client sent: a completion id names its request; any other id is taken as it is. */
export function ratedRequestId(id: string): string {
  return id.startsWith(OPENAI_COMPLETION_PREFIX) && id.length > OPENAI_COMPLETION_PREFIX.length
    ? id.slice(OPENAI_COMPLETION_PREFIX.length)
    : id;
}

/** A lone UTF-16 surrogate: text no UTF-8 store can hold, so it is refused rather than mangled. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Validates a `POST /feedback` body against the contract. An empty (or blank) comment is no comment. Every failure is a
 * `400` naming the field.
 */
export function parseFeedbackRequest(body: string | null | undefined, isBase64Encoded = false): FeedbackRequest {
  const request = parseWith(feedbackRequestSchema, parseJsonBody(body, isBase64Encoded));
  if (request.comment !== undefined && LONE_SURROGATE.test(request.comment)) {
    throw new ValidationError('comment: must be valid Unicode text (it holds an unpaired surrogate)');
  }
  const comment = request.comment?.trim() ? request.comment : undefined;
  return { requestId: request.requestId, rating: request.rating, ...(comment === undefined ? {} : { comment }) };
}

export interface SubmitFeedbackDeps {
  store: Pick<RequestRecordStore, 'rate'>;
  now?: () => number;
}

/**
 * Stores the caller's rating of one of their own requests; the last rating wins. Throws {@link NotFoundError} for a
 * request that is unknown, expired, or someone else's: which of the three is not the caller's business.
 */
export async function submitFeedback(
  request: FeedbackRequest,
  userId: string,
  deps: SubmitFeedbackDeps,
): Promise<RequestRecord> {
  const now = (deps.now ?? Date.now)();
  const feedback: FeedbackEntry = {
    rating: request.rating,
    ...(request.comment === undefined ? {} : { comment: request.comment }),
    ratedAt: new Date(now).toISOString(),
  };
  const rated = await deps.store.rate(ratedRequestId(request.requestId), userId, feedback, Math.floor(now / 1000));
  if (!rated) throw new NotFoundError('Request not found');
  return rated;
}

/**
 * The `Feedback` metric of one rating (count 1, by rating, the rated request's model and endpoint) and the one log
 * line, then the flush. The comment is the user's own words: only whether there was one, and its length, are logged.
 */
export function reportFeedback(
  logger: Pick<Logger, 'info'>,
  metrics: Pick<Metrics, 'addDimensions' | 'addMetric' | 'publishStoredMetrics'>,
  rated: Pick<RequestRecord, 'requestId' | 'userId' | 'endpoint' | 'model' | 'rating' | 'comment'>,
  requestId: string,
): void {
  logger.info('feedback recorded', {
    requestId,
    rated_request_id: rated.requestId,
    user_id: rated.userId,
    endpoint: rated.endpoint,
    model: rated.model,
    rating: rated.rating,
    comment_chars: rated.comment?.length ?? 0,
  });
  metrics.addDimensions({
    [DIMENSIONS.rating]: rated.rating ?? 'none',
    [DIMENSIONS.model]: rated.model,
    [DIMENSIONS.endpoint]: rated.endpoint,
  });
  addMetric(metrics, METRICS.feedback, 1);
  metrics.publishStoredMetrics();
}
