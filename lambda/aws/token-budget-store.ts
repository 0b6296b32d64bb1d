/**
 * The token budget's and the concurrency limit's store in the guard table (DynamoDB). One item per user (partition key
 * `pk`), so that a reservation and a slot are one conditional write:
 *
 * | `pk` | attributes |
 * | --- | --- |
 * | `limits#<userId>` | `userId`; `used#<yyyy-mm-dd>` (tokens of that UTC day); `usd#<yyyy-mm-dd>` and `usd#<yyyy-mm>` (micro-dollars spent that UTC day and month, with a dollar budget); `inFlight` (leases held); `lease#<requestId>#<nonce>` (one per call in flight: its expiry, epoch ms); `expiresAt` (epoch s, TTL) |
 *
 * `inFlight` always equals the number of `lease#…` attributes: every write that adds or removes a lease moves the
 * count with it. A lease that outlived its expiry (its function crashed) still counts until a call refused for want of
 * a slot evicts it: that call's retried write removes the expired leases it saw, on condition that they are still
 * there unchanged, so that two evictions never free one slot twice.
 *
 * Day counters live beside the leases, so the UTC day rolling over changes which counter a reservation adds to but
 * not the leases (see lambda/core/token-budget.ts). Every deployed instance shares these items, so their keys and
 * attributes are a stored format.
 */
import { randomBytes } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type {
  BudgetCounter,
  ReserveOutcome,
  ReserveRequest,
  SpendAdjustment,
  TokenBudgetStore,
} from '../core/token-budget';
import { dynamoDocumentClient } from './clients';
import { isConditionalCheckFailed } from './dynamodb-errors';

export interface DynamoTokenBudgetStoreOptions {
  /** The guard table. */
  readonly tableName: string;
  /** @default dynamoDocumentClient() from ./clients.ts */
  readonly documentClient?: DynamoDBDocumentClient;
}

const LEASE_PREFIX = 'lease#';
const IN_FLIGHT = 'inFlight';

/**
 * Writes one reservation may take: the first, one to evict expired leases, and a few more when other callers keep
 * changing the leases between them. Past that the call is refused as over the limit, which it nearly is.
 */
const MAX_ATTEMPTS = 4;

/** The item's numbers a refusal is judged by, from the item as it was. */
interface LimitsItem {
  used: number;
  /** Micro-dollars of the request's day and month (0 without a dollar budget). */
  usdDay: number;
  usdMonth: number;
  inFlight: number;
  /** Lease attribute name → expiry (epoch ms). */
  leases: Map<string, number>;
}

export class DynamoTokenBudgetStore implements TokenBudgetStore {
  readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;

  constructor(options: DynamoTokenBudgetStoreOptions) {
    this.tableName = options.tableName;
    this.client = options.documentClient ?? dynamoDocumentClient();
  }

  /** The user's item. */
  static key(userId: string): string {
    return `limits#${userId}`;
  }

  /** The attribute counting the user's tokens of one window. */
  static usedAttribute(window: string): string {
    return `used#${window}`;
  }

  /** The attribute counting the user's micro-dollars of one UTC day (`yyyy-mm-dd`) or month (`yyyy-mm`). */
  static spentAttribute(window: string): string {
    return `usd#${window}`;
  }

  /**
   * One conditional write: `ADD` the tokens under the budget condition and, with a lease, `SET` it and count it under
   * the slot condition. A refusal reads the item as it was (`ReturnValuesOnConditionCheckFailure`, or a consistent
   * read where the store does not return it) to tell which condition failed, and retries once with the expired leases
   * evicted when that would free a slot.
   */
  async reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    const leaseId = request.lease && `${LEASE_PREFIX}${request.lease.holder}#${randomBytes(6).toString('hex')}`;
    let evict = new Map<string, number>();
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await this.client.send(this.reserveCommand(request, leaseId, evict));
        const item = out.Attributes ?? {};
        const used = numberOf(item[DynamoTokenBudgetStore.usedAttribute(request.counter.window)]) ?? request.tokens;
        const { spend } = request;
        const spent = spend && {
          day: numberOf(item[DynamoTokenBudgetStore.spentAttribute(spend.day.window)]) ?? spend.microUsd,
          month: numberOf(item[DynamoTokenBudgetStore.spentAttribute(spend.month.window)]) ?? spend.microUsd,
        };
        if (!request.lease || !leaseId) return { ok: true, used, ...(spent ? { spent } : {}) };
        const expiries = [...leasesOf(item).values()];
        return {
          ok: true,
          used,
          ...(spent ? { spent } : {}),
          lease: {
            id: leaseId,
            inFlight: numberOf(item[IN_FLIGHT]) ?? 1,
            latestExpiry: Math.max(request.lease.expiresAt, ...expiries),
          },
        };
      } catch (err) {
        if (!isConditionalCheckFailed(err)) throw err;
        // Without a lease or dollars only the budget condition can fail.
        if (!request.lease && !request.spend) return { ok: false, refused: 'budget' };
        const old = await this.itemAsItWas(err, request);
        if (old.used + request.tokens > request.limit) return { ok: false, refused: 'budget', used: old.used };
        const { spend } = request;
        if (spend?.day.limit !== undefined && old.usdDay + spend.microUsd > spend.day.limit)
          return { ok: false, refused: 'usdPerDay' };
        if (spend?.month.limit !== undefined && old.usdMonth + spend.microUsd > spend.month.limit)
          return { ok: false, refused: 'usdPerMonth' };
        if (!request.lease) {
          // Every condition held on the item as it was: another write changed it in between. Try again.
          if (attempt >= MAX_ATTEMPTS) return { ok: false, refused: 'budget', used: old.used };
          continue;
        }
        const { max, now } = request.lease;
        const expired = new Map([...old.leases].filter(([, expiry]) => expiry <= now));
        const earliestExpiry = old.leases.size ? Math.min(...old.leases.values()) : undefined;
        // Another caller took the last slot first (or evicted what this call meant to): over the limit unless expired
        // leases can make room.
        if (old.inFlight - expired.size >= max || attempt >= MAX_ATTEMPTS) {
          return { ok: false, refused: 'concurrency', inFlight: old.inFlight, earliestExpiry };
        }
        evict = expired;
      }
    }
  }

  private reserveCommand(request: ReserveRequest, leaseId: string | undefined, evict: ReadonlyMap<string, number>) {
    const { counter, tokens, limit, lease } = request;
    const names: Record<string, string> = {
      '#used': DynamoTokenBudgetStore.usedAttribute(counter.window),
      '#expiresAt': 'expiresAt',
      '#userId': 'userId',
    };
    const values: Record<string, unknown> = {
      ':tokens': tokens,
      ':room': limit - tokens,
      ':expiresAt': request.expiresAt,
      ':userId': counter.userId,
    };
    const add = ['#used :tokens'];
    const set = ['#expiresAt = :expiresAt', '#userId = :userId'];
    const remove: string[] = [];
    const conditions = ['(attribute_not_exists(#used) OR #used <= :room)'];
    request.staleWindows.forEach((window, i) => {
      names[`#stale${i}`] = DynamoTokenBudgetStore.usedAttribute(window);
      remove.push(`#stale${i}`);
    });
    const { spend } = request;
    if (spend) {
      // Both counters move with every call; each is a condition only where the plan sets its budget.
      values[':usd'] = spend.microUsd;
      for (const [alias, counter] of [
        ['#usdDay', spend.day],
        ['#usdMonth', spend.month],
      ] as const) {
        names[alias] = DynamoTokenBudgetStore.spentAttribute(counter.window);
        add.push(`${alias} :usd`);
        if (counter.limit !== undefined) {
          values[`:${alias.slice(1)}Room`] = counter.limit - spend.microUsd;
          conditions.push(`(attribute_not_exists(${alias}) OR ${alias} <= :${alias.slice(1)}Room)`);
        }
      }
      spend.staleWindows.forEach((window, i) => {
        names[`#staleUsd${i}`] = DynamoTokenBudgetStore.spentAttribute(window);
        remove.push(`#staleUsd${i}`);
      });
    }
    if (lease && leaseId) {
      names['#inFlight'] = IN_FLIGHT;
      names['#lease'] = leaseId;
      values[':leaseExpiry'] = lease.expiresAt;
      // Each evicted lease frees a slot: the count moves by one for the new lease less the evicted ones.
      values[':inFlightDelta'] = 1 - evict.size;
      values[':slots'] = lease.max + evict.size;
      add.push('#inFlight :inFlightDelta');
      set.push('#lease = :leaseExpiry');
      conditions.push('(attribute_not_exists(#inFlight) OR #inFlight < :slots)');
      [...evict].forEach(([name, expiry], i) => {
        names[`#evict${i}`] = name;
        values[`:evict${i}`] = expiry;
        remove.push(`#evict${i}`);
        conditions.push(`#evict${i} = :evict${i}`);
      });
    }
    return new UpdateCommand({
      TableName: this.tableName,
      Key: { pk: DynamoTokenBudgetStore.key(counter.userId) },
      UpdateExpression: `ADD ${add.join(', ')} SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
      ConditionExpression: conditions.join(' AND '),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ReturnValues: lease || spend ? 'ALL_NEW' : 'UPDATED_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  }

  /** The item a refused write saw: DynamoDB returns it with the refusal; otherwise (dynalite) a consistent read. */
  private async itemAsItWas(err: unknown, request: ReserveRequest): Promise<LimitsItem> {
    const { counter, spend } = request;
    const raw = (err as { Item?: Record<string, AttributeValue> }).Item;
    const usedName = DynamoTokenBudgetStore.usedAttribute(counter.window);
    const dayName = spend && DynamoTokenBudgetStore.spentAttribute(spend.day.window);
    const monthName = spend && DynamoTokenBudgetStore.spentAttribute(spend.month.window);
    if (raw) {
      const leases = new Map<string, number>();
      for (const [name, value] of Object.entries(raw)) {
        if (name.startsWith(LEASE_PREFIX) && value.N !== undefined) leases.set(name, Number(value.N));
      }
      const n = (name: string | undefined) => (name === undefined ? 0 : Number(raw[name]?.N ?? 0));
      return {
        used: n(usedName),
        usdDay: n(dayName),
        usdMonth: n(monthName),
        inFlight: n(IN_FLIGHT),
        leases,
      };
    }
    const { Item = {} } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: DynamoTokenBudgetStore.key(counter.userId) },
        ConsistentRead: true,
      }),
    );
    const n = (name: string | undefined) => (name === undefined ? 0 : (numberOf(Item[name]) ?? 0));
    return {
      used: n(usedName),
      usdDay: n(dayName),
      usdMonth: n(monthName),
      inFlight: n(IN_FLIGHT),
      leases: leasesOf(Item),
    };
  }

  /**
   * Settles the counter and frees the lease in one write, on condition that the lease is still there. When it is not
   * (it expired and another call evicted it, which already freed the slot), only the tokens are added.
   */
  async adjust(counter: BudgetCounter, delta: number, leaseId?: string, spend?: SpendAdjustment): Promise<void> {
    const Key = { pk: DynamoTokenBudgetStore.key(counter.userId) };
    // The counters' changes: the tokens and the dollars of the reservation's own day and month.
    const add: string[] = [];
    const names: Record<string, string> = {};
    const values: Record<string, number> = {};
    if (delta !== 0) {
      add.push('#used :delta');
      names['#used'] = DynamoTokenBudgetStore.usedAttribute(counter.window);
      values[':delta'] = delta;
    }
    if (spend && spend.microUsd !== 0) {
      add.push('#usdDay :usd', '#usdMonth :usd');
      names['#usdDay'] = DynamoTokenBudgetStore.spentAttribute(spend.day);
      names['#usdMonth'] = DynamoTokenBudgetStore.spentAttribute(spend.month);
      values[':usd'] = spend.microUsd;
    }
    if (leaseId !== undefined) {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key,
            UpdateExpression: `ADD ${[...add, '#inFlight :minusOne'].join(', ')} REMOVE #lease`,
            ConditionExpression: 'attribute_exists(#lease)',
            ExpressionAttributeNames: { ...names, '#inFlight': IN_FLIGHT, '#lease': leaseId },
            ExpressionAttributeValues: { ...values, ':minusOne': -1 },
          }),
        );
        return;
      } catch (err) {
        if (!isConditionalCheckFailed(err)) throw err;
      }
    }
    if (add.length === 0) return;
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key,
        UpdateExpression: `ADD ${add.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  /** The user's micro-dollars of one UTC day (`yyyy-mm-dd`) or month (`yyyy-mm`), strongly consistent; 0 when missing. */
  async spent(userId: string, window: string): Promise<number> {
    const name = DynamoTokenBudgetStore.spentAttribute(window);
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: DynamoTokenBudgetStore.key(userId) },
        ProjectionExpression: '#usd',
        ExpressionAttributeNames: { '#usd': name },
        ConsistentRead: true,
      }),
    );
    return numberOf(out.Item?.[name]) ?? 0;
  }

  async used(counter: BudgetCounter): Promise<number> {
    const usedName = DynamoTokenBudgetStore.usedAttribute(counter.window);
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: DynamoTokenBudgetStore.key(counter.userId) },
        ProjectionExpression: '#used',
        ExpressionAttributeNames: { '#used': usedName },
        ConsistentRead: true,
      }),
    );
    return numberOf(out.Item?.[usedName]) ?? 0;
  }
}

function numberOf(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

/** The leases of an item (as the document client returns it): attribute name → expiry (epoch ms). */
function leasesOf(item: Record<string, unknown>): Map<string, number> {
  const leases = new Map<string, number>();
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith(LEASE_PREFIX) && typeof value === 'number') leases.set(name, value);
  }
  return leases;
}
