/**
 * An in-memory fake of the requests table (`RequestRecordStore` in lambda/core/feedback.ts) for unit tests: no server,
 * no network. Each write applies under the same condition as the DynamoDB adapter (lambda/aws/request-records.ts),
 * atomically, after yielding once. The adapter itself is tested against dynalite in test/integration, with the same
 * suite (test/suites/request-records.suite.ts).
 */
import type { FeedbackEntry, RequestRecord, RequestRecordStore } from '../../lambda/core/feedback';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export class InMemoryRequestRecordStore implements RequestRecordStore {
  readonly items = new Map<string, RequestRecord>();
  /** When set, every write throws it (an outage of the table). */
  failWith?: Error;

  async put(record: RequestRecord): Promise<boolean> {
    await tick();
    if (this.failWith) throw this.failWith;
    if (this.items.has(record.requestId)) return false;
    this.items.set(record.requestId, structuredClone(record));
    return true;
  }

  async rate(
    requestId: string,
    userId: string,
    feedback: FeedbackEntry,
    nowSeconds: number,
  ): Promise<RequestRecord | undefined> {
    await tick();
    if (this.failWith) throw this.failWith;
    const item = this.items.get(requestId);
    if (!item || item.userId !== userId || !(item.expiresAt > nowSeconds)) return undefined;
    const { comment: _previous, ...rest } = item;
    const updated: RequestRecord = { ...rest, ...feedback };
    this.items.set(requestId, updated);
    return structuredClone(updated);
  }

  /** The stored item, as a raw `GetItem` would return it. */
  get(requestId: string): RequestRecord | undefined {
    const item = this.items.get(requestId);
    return item && structuredClone(item);
  }
}
