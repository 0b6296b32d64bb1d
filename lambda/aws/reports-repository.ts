/**
 * The reports table on DynamoDB ({@link ReportStore}). Every state change is a conditional write whose condition states the transition it makes, so
 * concurrent workers, redeliveries and the dead-letter backstop can race without a report being run twice or finished
 * twice. Expiry (leases, idempotency keys) is compared inside the conditions; TTL only cleans up.
 */
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import {
  epochSecondsAfterDays,
  idempotencyKeyOf,
  reportKey,
  type FinishedStatus,
  type IdempotencyItem,
  type ReportError,
  type ReportItem,
} from '../core/reports/model';
import type { CreateResult, Heartbeat, IdempotencyClaim, NewReport, Outcome, ReportStore } from '../core/reports/ports';
import { isConditionalCheckFailed } from './dynamodb-errors';

/** Condition part: the owner has not asked to cancel (`:true` bound to `true`). */
const NO_CANCEL_REQUESTED = '(attribute_not_exists(cancelRequested) OR cancelRequested <> :true)';

export interface ReportRepositoryOptions {
  documentClient: DynamoDBDocumentClient;
  tableName: string;
  /** How long finished reports are kept (TTL). */
  retentionDays: number;
}

export class DynamoReportRepository implements ReportStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly retentionDays: number;

  constructor(options: ReportRepositoryOptions) {
    this.client = options.documentClient;
    this.tableName = options.tableName;
    this.retentionDays = options.retentionDays;
  }

  async get(reportId: string): Promise<ReportItem | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: reportKey(reportId) }, ConsistentRead: true }),
    );
    return Item as ReportItem | undefined;
  }

  /**
   * Writes a new `QUEUED` report, unless one with this id exists already: then it returns that one, so the caller can
   * tell its own write (applied by an SDK retry, or by a concurrent replay of the same submission) from a stranger's.
   */
  async create(report: NewReport, now: number): Promise<CreateResult> {
    const iso = new Date(now).toISOString();
    const item: ReportItem = {
      ...report,
      pk: reportKey(report.reportId),
      status: 'QUEUED',
      createdAt: iso,
      updatedAt: iso,
      attempts: 0,
      expiresAt: epochSecondsAfterDays(now, this.retentionDays),
    };
    try {
      await this.client.send(
        new PutCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
      return { created: true, item };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
    }
    return { created: false, existing: await this.get(report.reportId) };
  }

  /** Removes a report that was never enqueued (its submit failed), only while nobody has touched it. */
  async deleteUnstarted(reportId: string): Promise<boolean> {
    return this.ignoreConditionFailure(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: reportKey(reportId) },
        ConditionExpression: '#status = :queued AND attempts = :zero',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':queued': 'QUEUED', ':zero': 0 },
      }),
    );
  }

  /**
   * Reserves an `Idempotency-Key` for a report: succeeds when the key is unused or its record has expired
   * (`validHours` after it was written).
   */
  async claimIdempotencyKey(
    userId: string,
    key: string,
    record: { reportId: string; requestHash: string },
    now: number,
    validHours: number,
  ): Promise<IdempotencyClaim> {
    const pk = idempotencyKeyOf(userId, key);
    const item: IdempotencyItem = {
      pk,
      ...record,
      createdAt: new Date(now).toISOString(),
      expiresAt: Math.floor(now / 1000) + validHours * 3600,
    };
    // A key released by a failed submit between our write and our read is simply claimed again (bounded).
    for (let tries = 0; ; tries++) {
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: item,
            ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now',
            ExpressionAttributeValues: { ':now': Math.floor(now / 1000) },
          }),
        );
        return { created: true };
      } catch (err) {
        if (!isConditionalCheckFailed(err)) throw err;
      }
      const existing = await this.getIdempotencyKey(userId, key);
      if (existing || tries >= 2) {
        if (!existing) throw new Error(`Idempotency key record ${pk} keeps changing`);
        return { created: false, existing };
      }
    }
  }

  /** The record of an `Idempotency-Key`, whether or not it has expired. */
  async getIdempotencyKey(userId: string, key: string): Promise<IdempotencyItem | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: idempotencyKeyOf(userId, key) }, ConsistentRead: true }),
    );
    return Item as IdempotencyItem | undefined;
  }

  /**
   * Frees a key whose submit created nothing, so a retry with the same key starts afresh. False when the key no longer
   * names this report (or an SDK retry finds it gone), or when a replay has pinned it ({@link pinIdempotencyKey}).
   */
  async releaseIdempotencyKey(userId: string, key: string, reportId: string): Promise<boolean> {
    return this.ignoreConditionFailure(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: idempotencyKeyOf(userId, key) },
        ConditionExpression: 'reportId = :reportId AND attribute_not_exists(replayedAt)',
        ExpressionAttributeValues: { ':reportId': reportId },
      }),
    );
  }

  /**
   * Marks a key as answered by a replay before the replay answers with its report. It races the first submit's
   * {@link releaseIdempotencyKey} on the same item, so exactly one of them wins: either the report is promised (and kept),
   * or the key was freed and the replay starts over. False when the key no longer names this report.
   */
  async pinIdempotencyKey(userId: string, key: string, reportId: string, now: number): Promise<boolean> {
    return this.ignoreConditionFailure(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: idempotencyKeyOf(userId, key) },
        UpdateExpression: 'SET replayedAt = if_not_exists(replayedAt, :iso)',
        ConditionExpression: 'reportId = :reportId',
        ExpressionAttributeValues: { ':reportId': reportId, ':iso': new Date(now).toISOString() },
      }),
    );
  }

  /**
   * `QUEUED → RUNNING`, or takes over a `RUNNING` report whose lease has expired (its worker died). Returns the report
   * with its new attempt number (the lease token), or undefined when it is not claimable (finished, leased, unknown).
   */
  async claim(reportId: string, now: number, leaseMs: number): Promise<ReportItem | undefined> {
    return this.transition(reportId, {
      set: 'SET #status = :running, leaseUntil = :lease, attempts = attempts + :one, updatedAt = :iso',
      condition: '#status = :queued OR (#status = :running AND leaseUntil < :now)',
      values: {
        ':running': 'RUNNING',
        ':queued': 'QUEUED',
        ':lease': now + leaseMs,
        ':one': 1,
        ':now': now,
        ':iso': new Date(now).toISOString(),
      },
    });
  }

  /**
   * The lease holder's heartbeat: a conditional write on its own lease (`attempts`) that returns `cancelRequested`
   * (`UPDATED_NEW`), so learning of a cancel costs no read. `heartbeatAt` is the last time the holder was seen alive.
   */
  async heartbeat(reportId: string, attempt: number, now: number): Promise<Heartbeat> {
    const updated = await this.transition<{ cancelRequested?: boolean }>(reportId, {
      set: 'SET heartbeatAt = :now, cancelRequested = if_not_exists(cancelRequested, :false)',
      condition: '#status = :running AND attempts = :attempt',
      values: { ':running': 'RUNNING', ':attempt': attempt, ':now': now, ':false': false },
      returnValues: 'UPDATED_NEW',
    });
    return updated ? { held: true, cancelRequested: updated.cancelRequested === true } : { held: false };
  }

  /** `QUEUED`, or `RUNNING` whose lease expired (its worker died), → `CANCELLED`, for the report's owner only. */
  async cancelIdle(reportId: string, userId: string, now: number): Promise<ReportItem | undefined> {
    return this.cancelWhere(reportId, now, {
      condition: 'userId = :user AND (#status = :queued OR (#status = :running AND leaseUntil < :now))',
      values: { ':user': userId, ':queued': 'QUEUED', ':running': 'RUNNING', ':now': now },
    });
  }

  /** Sets `cancelRequested` on a `RUNNING` report with a live lease, for its owner only; the first request's time stays. */
  async requestCancel(reportId: string, userId: string, now: number): Promise<ReportItem | undefined> {
    return this.transition(reportId, {
      set: 'SET cancelRequested = :true, cancelRequestedAt = if_not_exists(cancelRequestedAt, :iso)',
      condition: 'userId = :user AND #status = :running AND leaseUntil >= :now',
      values: {
        ':user': userId,
        ':running': 'RUNNING',
        ':now': now,
        ':true': true,
        ':iso': new Date(now).toISOString(),
      },
    });
  }

  /** `RUNNING → CANCELLED` by the lease holder once a cancel was requested; undefined if it lost the lease. */
  async finishCancelled(reportId: string, attempt: number, now: number): Promise<ReportItem | undefined> {
    return this.cancelWhere(reportId, now, {
      condition: '#status = :running AND attempts = :attempt AND cancelRequested = :true',
      values: { ':running': 'RUNNING', ':attempt': attempt, ':true': true },
    });
  }

  /**
   * `RUNNING → QUEUED` after a retryable failure, by the lease holder only and only while no cancel was requested; false
   * if it no longer holds the lease or the report is to be cancelled.
   */
  async release(reportId: string, attempt: number, lastError: ReportError, now: number): Promise<boolean> {
    return this.ignoreConditionFailure(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: reportKey(reportId) },
        UpdateExpression: 'SET #status = :queued, lastError = :error, updatedAt = :iso REMOVE leaseUntil',
        ConditionExpression: `#status = :running AND attempts = :attempt AND ${NO_CANCEL_REQUESTED}`,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':queued': 'QUEUED',
          ':running': 'RUNNING',
          ':attempt': attempt,
          ':true': true,
          ':error': lastError,
          ':iso': new Date(now).toISOString(),
        },
      }),
    );
  }

  /**
   * `RUNNING → COMPLETED | FAILED` by the lease holder while no cancel was requested (a cancel that got in first wins);
   * returns the finished report, or undefined if it lost the lease or the report is to be cancelled.
   */
  async finish(reportId: string, attempt: number, outcome: Outcome, now: number): Promise<ReportItem | undefined> {
    return this.finishWhere(reportId, outcome, now, {
      condition: `#status = :running AND attempts = :attempt AND ${NO_CANCEL_REQUESTED}`,
      values: { ':running': 'RUNNING', ':attempt': attempt, ':true': true },
    });
  }

  /**
   * `QUEUED | RUNNING (lease expired) → FAILED` for a report whose deliveries are exhausted (the dead-letter backstop).
   * Undefined when it is finished already or a live worker holds it.
   */
  async failAbandoned(reportId: string, error: ReportError, now: number): Promise<ReportItem | undefined> {
    return this.finishWhere(reportId, { status: 'FAILED', error }, now, {
      condition: '#status = :queued OR (#status = :running AND leaseUntil < :now)',
      values: { ':queued': 'QUEUED', ':running': 'RUNNING', ':now': now },
    });
  }

  /** Records that the report's event is on the bus. */
  async markEventPublished(reportId: string, now: number): Promise<void> {
    await this.ignoreConditionFailure(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: reportKey(reportId) },
        UpdateExpression: 'SET eventPublishedAt = :iso',
        ConditionExpression: '#status IN (:completed, :failed, :cancelled) AND attribute_not_exists(eventPublishedAt)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':completed': 'COMPLETED',
          ':failed': 'FAILED',
          ':cancelled': 'CANCELLED',
          ':iso': new Date(now).toISOString(),
        },
      }),
    );
  }

  /** `→ CANCELLED` under `guard`; the cancelled report, or undefined when the guard did not hold. */
  private async cancelWhere(
    reportId: string,
    now: number,
    guard: { condition: string; values: Record<string, unknown> },
  ): Promise<ReportItem | undefined> {
    const iso = new Date(now).toISOString();
    return this.transition(reportId, {
      set:
        'SET #status = :cancelled, cancelledAt = :iso, finishedAt = :iso, updatedAt = :iso, expiresAt = :expires ' +
        'REMOVE leaseUntil',
      condition: guard.condition,
      values: {
        ...guard.values,
        ':cancelled': 'CANCELLED',
        ':iso': iso,
        ':expires': epochSecondsAfterDays(now, this.retentionDays),
      },
    });
  }

  private async finishWhere(
    reportId: string,
    outcome: Outcome,
    now: number,
    guard: { condition: string; values: Record<string, unknown> },
  ): Promise<ReportItem | undefined> {
    const status: FinishedStatus = outcome.status;
    const iso = new Date(now).toISOString();
    const values: Record<string, unknown> = {
      ...guard.values,
      ':status': status,
      ':iso': iso,
      ':expires': epochSecondsAfterDays(now, this.retentionDays),
    };
    let set = 'SET #status = :status, finishedAt = :iso, updatedAt = :iso, expiresAt = :expires';
    if (outcome.status === 'COMPLETED') {
      set += ', #result = :result, model = :model, modelLatencyMs = :modelMs';
      values[':result'] = outcome.result;
      values[':model'] = outcome.model;
      values[':modelMs'] = outcome.modelLatencyMs;
    } else {
      set += ', #error = :error';
      values[':error'] = outcome.error;
    }
    return this.transition(reportId, {
      set: `${set} REMOVE leaseUntil`,
      condition: guard.condition,
      names: outcome.status === 'COMPLETED' ? { '#result': 'result' } : { '#error': 'error' },
      values,
    });
  }

  /**
   * One conditional update of a report (`#status` names its status): the item after it (`ALL_NEW`, or only the updated
   * attributes with `UPDATED_NEW`), or undefined when the condition did not hold — the report is not in the state the
   * transition starts from, or another writer got there first.
   */
  private async transition<T = ReportItem>(
    reportId: string,
    update: {
      set: string;
      condition: string;
      values: Record<string, unknown>;
      names?: Record<string, string>;
      returnValues?: 'ALL_NEW' | 'UPDATED_NEW';
    },
  ): Promise<T | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: reportKey(reportId) },
          UpdateExpression: update.set,
          ConditionExpression: update.condition,
          ExpressionAttributeNames: { '#status': 'status', ...update.names },
          ExpressionAttributeValues: update.values,
          ReturnValues: update.returnValues ?? 'ALL_NEW',
        }),
      );
      return (Attributes ?? {}) as T;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return undefined;
      throw err;
    }
  }

  /** Runs a conditional write; true if it applied, false if its condition did not hold. */
  private async ignoreConditionFailure(command: UpdateCommand | DeleteCommand): Promise<boolean> {
    try {
      await this.client.send(command as UpdateCommand);
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }
}
