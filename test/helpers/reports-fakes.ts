/**
 * In-memory fakes of the report lifecycle's ports (`lambda/core/reports/ports.ts`) for unit tests: no server, no
 * network. {@link InMemoryReportStore} applies each transition under the same condition as the DynamoDB adapter
 * (`lambda/aws/reports-repository.ts`), atomically, after yielding once, so concurrent calls interleave as requests would.
 * The adapter itself, with its condition expressions, is tested against dynalite in `test/integration`: the shared
 * suites in `test/suites` run against both, and use {@link FakeQueue} and {@link FakeBus} in both tiers.
 */
import type { IdempotencyItem, ReportError, ReportItem } from '../../lambda/core/reports/model';
import { epochSecondsAfterDays, idempotencyKeyOf, isFinished, reportKey } from '../../lambda/core/reports/model';
import type {
  CreateResult,
  Heartbeat,
  IdempotencyClaim,
  NewReport,
  Outcome,
  ReportEventPublisher,
  ReportQueue,
  ReportStore,
} from '../../lambda/core/reports/ports';

/** A copy without `undefined` values, as the document client's `removeUndefinedValues` stores it. */
function stored<T extends object>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export class InMemoryReportStore implements ReportStore {
  readonly items = new Map<string, ReportItem | IdempotencyItem>();

  constructor(private readonly retentionDays = 30) {}

  /** Writes an item as it is, like a raw `PutItem` (e.g. a report stored by an older version). */
  put(item: ReportItem | IdempotencyItem): void {
    this.items.set(item.pk, stored(item));
  }

  async get(reportId: string): Promise<ReportItem | undefined> {
    await tick();
    return this.read(reportId);
  }

  async create(report: NewReport, now: number): Promise<CreateResult> {
    await tick();
    const existing = this.read(report.reportId);
    if (existing) return { created: false, existing };
    const iso = new Date(now).toISOString();
    const item: ReportItem = stored({
      ...report,
      pk: reportKey(report.reportId),
      status: 'QUEUED' as const,
      createdAt: iso,
      updatedAt: iso,
      attempts: 0,
      expiresAt: epochSecondsAfterDays(now, this.retentionDays),
    });
    this.items.set(item.pk, item);
    return { created: true, item: stored(item) };
  }

  async deleteUnstarted(reportId: string): Promise<boolean> {
    await tick();
    const item = this.read(reportId);
    if (item?.status !== 'QUEUED' || item.attempts !== 0) return false;
    this.items.delete(item.pk);
    return true;
  }

  async claimIdempotencyKey(
    userId: string,
    key: string,
    record: { reportId: string; requestHash: string },
    now: number,
    validHours: number,
  ): Promise<IdempotencyClaim> {
    await tick();
    const pk = idempotencyKeyOf(userId, key);
    const existing = this.items.get(pk) as IdempotencyItem | undefined;
    if (existing && existing.expiresAt > Math.floor(now / 1000)) return { created: false, existing: stored(existing) };
    const item: IdempotencyItem = {
      pk,
      ...record,
      createdAt: new Date(now).toISOString(),
      expiresAt: Math.floor(now / 1000) + validHours * 3600,
    };
    this.items.set(pk, stored(item));
    return { created: true };
  }

  async getIdempotencyKey(userId: string, key: string): Promise<IdempotencyItem | undefined> {
    await tick();
    const item = this.items.get(idempotencyKeyOf(userId, key));
    return item && stored(item as IdempotencyItem);
  }

  async releaseIdempotencyKey(userId: string, key: string, reportId: string): Promise<boolean> {
    await tick();
    const pk = idempotencyKeyOf(userId, key);
    const item = this.items.get(pk) as IdempotencyItem | undefined;
    if (!item || item.reportId !== reportId || item.replayedAt !== undefined) return false;
    this.items.delete(pk);
    return true;
  }

  async pinIdempotencyKey(userId: string, key: string, reportId: string, now: number): Promise<boolean> {
    await tick();
    const item = this.items.get(idempotencyKeyOf(userId, key)) as IdempotencyItem | undefined;
    if (!item || item.reportId !== reportId) return false;
    item.replayedAt ??= new Date(now).toISOString();
    return true;
  }

  async claim(reportId: string, now: number, leaseMs: number): Promise<ReportItem | undefined> {
    await tick();
    const item = this.live(reportId);
    if (!item || !(item.status === 'QUEUED' || (item.status === 'RUNNING' && (item.leaseUntil ?? Infinity) < now)))
      return undefined;
    Object.assign(item, {
      status: 'RUNNING',
      leaseUntil: now + leaseMs,
      attempts: item.attempts + 1,
      updatedAt: new Date(now).toISOString(),
    });
    return stored(item);
  }

  async heartbeat(reportId: string, attempt: number, now: number): Promise<Heartbeat> {
    await tick();
    const item = this.live(reportId);
    if (item?.status !== 'RUNNING' || item.attempts !== attempt) return { held: false };
    item.heartbeatAt = now;
    item.cancelRequested ??= false;
    return { held: true, cancelRequested: item.cancelRequested };
  }

  async cancelIdle(reportId: string, userId: string, now: number): Promise<ReportItem | undefined> {
    await tick();
    const item = this.live(reportId);
    if (!item || item.userId !== userId) return undefined;
    if (!(item.status === 'QUEUED' || (item.status === 'RUNNING' && (item.leaseUntil ?? Infinity) < now)))
      return undefined;
    return this.cancelItem(item, now);
  }

  async requestCancel(reportId: string, userId: string, now: number): Promise<ReportItem | undefined> {
    await tick();
    const item = this.live(reportId);
    if (!item || item.userId !== userId || item.status !== 'RUNNING' || (item.leaseUntil ?? -Infinity) < now)
      return undefined;
    item.cancelRequested = true;
    item.cancelRequestedAt ??= new Date(now).toISOString();
    return stored(item);
  }

  async finishCancelled(reportId: string, attempt: number, now: number): Promise<ReportItem | undefined> {
    await tick();
    const item = this.live(reportId);
    if (item?.status !== 'RUNNING' || item.attempts !== attempt || item.cancelRequested !== true) return undefined;
    return this.cancelItem(item, now);
  }

  async release(reportId: string, attempt: number, lastError: ReportError, now: number): Promise<boolean> {
    await tick();
    const item = this.live(reportId);
    if (item?.status !== 'RUNNING' || item.attempts !== attempt || item.cancelRequested === true) return false;
    Object.assign(item, { status: 'QUEUED', lastError: stored(lastError), updatedAt: new Date(now).toISOString() });
    delete item.leaseUntil;
    return true;
  }

  async finish(reportId: string, attempt: number, outcome: Outcome, now: number): Promise<ReportItem | undefined> {
    await tick();
    const item = this.live(reportId);
    if (item?.status !== 'RUNNING' || item.attempts !== attempt || item.cancelRequested === true) return undefined;
    return this.finishItem(item, outcome, now);
  }

  async failAbandoned(reportId: string, error: ReportError, now: number): Promise<ReportItem | undefined> {
    await tick();
    const item = this.live(reportId);
    if (!item || !(item.status === 'QUEUED' || (item.status === 'RUNNING' && (item.leaseUntil ?? Infinity) < now)))
      return undefined;
    return this.finishItem(item, { status: 'FAILED', error }, now);
  }

  async markEventPublished(reportId: string, now: number): Promise<void> {
    await tick();
    const item = this.live(reportId);
    if (item && isFinished(item.status) && item.eventPublishedAt === undefined)
      item.eventPublishedAt = new Date(now).toISOString();
  }

  private cancelItem(item: ReportItem, now: number): ReportItem {
    const iso = new Date(now).toISOString();
    Object.assign(item, {
      status: 'CANCELLED',
      cancelledAt: iso,
      finishedAt: iso,
      updatedAt: iso,
      expiresAt: epochSecondsAfterDays(now, this.retentionDays),
    });
    delete item.leaseUntil;
    return stored(item);
  }

  private finishItem(item: ReportItem, outcome: Outcome, now: number): ReportItem {
    const iso = new Date(now).toISOString();
    Object.assign(item, {
      status: outcome.status,
      finishedAt: iso,
      updatedAt: iso,
      expiresAt: epochSecondsAfterDays(now, this.retentionDays),
    });
    if (outcome.status === 'COMPLETED') {
      Object.assign(
        item,
        stored({ result: outcome.result, model: outcome.model, modelLatencyMs: outcome.modelLatencyMs }),
      );
    } else {
      item.error = stored(outcome.error);
    }
    delete item.leaseUntil;
    return stored(item);
  }

  private live(reportId: string): ReportItem | undefined {
    return this.items.get(reportKey(reportId)) as ReportItem | undefined;
  }

  private read(reportId: string): ReportItem | undefined {
    const item = this.live(reportId);
    return item && stored(item);
  }
}

/** A job queue that records what was enqueued; `failNext` makes the next enqueue fail. */
export class FakeQueue implements ReportQueue {
  sent: string[] = [];
  failNext = false;
  async enqueue(reportId: string): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('SQS unavailable');
    }
    this.sent.push(reportId);
  }
}

/** An event bus that records what was published; `failures` makes that many publishes fail first. */
export class FakeBus implements ReportEventPublisher {
  published: ReportItem[] = [];
  failures = 0;
  async publish(report: ReportItem): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('PutEvents failed');
    }
    this.published.push(report);
  }
}
