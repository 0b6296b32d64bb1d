/**
 * An in-memory {@link QuotaStore}: the per-model counters in a map, with the adapter's semantics (an add returns every
 * slot after it and drops the slots named to forget; an adjust never creates a slot). For unit tests of the quota and
 * of the chat core's use of it.
 */
import type { QuotaSlots, QuotaStore, QuotaUsage } from '../../lambda/core/quota';

export class MemoryQuotaStore implements QuotaStore {
  /** Writes received (adds and adjusts), as DynamoDB would bill them. */
  writes = 0;
  private readonly counters = new Map<string, Map<number, QuotaUsage>>();

  async add(
    modelId: string,
    slot: number,
    usage: QuotaUsage,
    options: { readonly forget: readonly number[] },
  ): Promise<QuotaSlots> {
    this.writes++;
    const slots = this.counters.get(modelId) ?? new Map<number, QuotaUsage>();
    for (const old of options.forget) if (old !== slot) slots.delete(old);
    const current = slots.get(slot) ?? { requests: 0, tokens: 0 };
    slots.set(slot, { requests: current.requests + usage.requests, tokens: current.tokens + usage.tokens });
    this.counters.set(modelId, slots);
    return new Map(slots);
  }

  async adjust(modelId: string, slot: number, usage: QuotaUsage): Promise<void> {
    this.writes++;
    const current = this.counters.get(modelId)?.get(slot);
    if (!current) return;
    this.counters
      .get(modelId)
      ?.set(slot, { requests: current.requests + usage.requests, tokens: current.tokens + usage.tokens });
  }

  /** The slots the model's counter holds. */
  slotsHeld(modelId: string): number[] {
    return [...(this.counters.get(modelId)?.keys() ?? [])];
  }

  /** Requests in the model's counter across every slot it holds. */
  requests(modelId: string): number {
    let total = 0;
    for (const usage of this.counters.get(modelId)?.values() ?? []) total += usage.requests;
    return total;
  }
}
