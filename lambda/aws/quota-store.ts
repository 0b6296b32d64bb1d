/**
 * The per-model quota counters in the guard table (DynamoDB). One item per model (partition key `pk`), one pair of
 * numbers per 5-second slot (`lambda/core/quota.ts`):
 *
 * | `pk` | attributes |
 * | --- | --- |
 * | `quota#<modelId>` | `r<slot>` (requests), `t<slot>` (tokens) per slot number, `expiresAt` (epoch s, TTL) |
 *
 * A take is one `ADD` that returns the whole item (`ALL_NEW`), so the core sums the slots that count without a read;
 * the same write drops slots that no longer count, so the item stays at about thirteen slots. Every deployed instance
 * shares these items, so their keys and attributes are a stored format.
 */
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { QuotaSlots, QuotaStore, QuotaUsage } from '../core/quota';
import { dynamoDocumentClient } from './clients';
import { isConditionalCheckFailed } from './dynamodb-errors';

export interface DynamoQuotaStoreOptions {
  /** The guard table. */
  readonly tableName: string;
  /** @default dynamoDocumentClient() from ./clients.ts */
  readonly documentClient?: DynamoDBDocumentClient;
}

const SLOT_ATTRIBUTE = /^([rt])(\d+)$/;

export class DynamoQuotaStore implements QuotaStore {
  readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;

  constructor(options: DynamoQuotaStoreOptions) {
    this.tableName = options.tableName;
    this.client = options.documentClient ?? dynamoDocumentClient();
  }

  static key(modelId: string): string {
    return `quota#${modelId}`;
  }

  async add(
    modelId: string,
    slot: number,
    usage: QuotaUsage,
    options: { readonly expiresAt: number; readonly forget: readonly number[] },
  ): Promise<QuotaSlots> {
    const names: Record<string, string> = { '#r': `r${slot}`, '#t': `t${slot}`, '#expiresAt': 'expiresAt' };
    const forgotten: string[] = [];
    options.forget
      .filter((old) => old !== slot)
      .forEach((old, i) => {
        names[`#fr${i}`] = `r${old}`;
        names[`#ft${i}`] = `t${old}`;
        forgotten.push(`#fr${i}`, `#ft${i}`);
      });
    const out = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: DynamoQuotaStore.key(modelId) },
        UpdateExpression:
          'ADD #r :requests, #t :tokens SET #expiresAt = :expiresAt' +
          (forgotten.length ? ` REMOVE ${forgotten.join(', ')}` : ''),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ':requests': usage.requests,
          ':tokens': usage.tokens,
          ':expiresAt': options.expiresAt,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return slotsOf(out.Attributes ?? {});
  }

  /** Conditional on the slot being there, so a late correction cannot bring back a slot that was dropped. */
  async adjust(modelId: string, slot: number, usage: QuotaUsage): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: DynamoQuotaStore.key(modelId) },
          UpdateExpression: 'ADD #r :requests, #t :tokens',
          ConditionExpression: 'attribute_exists(#r)',
          ExpressionAttributeNames: { '#r': `r${slot}`, '#t': `t${slot}` },
          ExpressionAttributeValues: { ':requests': usage.requests, ':tokens': usage.tokens },
        }),
      );
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
    }
  }
}

function slotsOf(item: Record<string, unknown>): QuotaSlots {
  const slots = new Map<number, { requests: number; tokens: number }>();
  for (const [name, value] of Object.entries(item)) {
    const match = SLOT_ATTRIBUTE.exec(name);
    if (!match || typeof value !== 'number') continue;
    const slot = Number(match[2]);
    const usage = slots.get(slot) ?? { requests: 0, tokens: 0 };
    if (match[1] === 'r') usage.requests = value;
    else usage.tokens = value;
    slots.set(slot, usage);
  }
  return slots;
}
