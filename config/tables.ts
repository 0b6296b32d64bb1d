/**
 * Key schemas of the DynamoDB tables, shared by the CDK constructs and the local cloud so both create the same tables.
 */
export interface TableDefinition {
  /** Partition key attribute (string). */
  readonly partitionKey: string;
  /** Sort key attribute (a number), for tables whose items are ordered within a partition. */
  readonly sortKey?: string;
  /** TTL attribute (epoch seconds). TTL only cleans up; code compares expiry in its condition expressions. */
  readonly ttlAttribute?: string;
}

export const TABLES = {
  /** SHA-256 of an API key (hex) → user, plan and API key id. Written when a key is issued; never holds a key. */
  users: { partitionKey: 'keyHash' },
  /** Circuit-breaker state and counters, and per-user token budget counters. */
  guard: { partitionKey: 'pk', ttlAttribute: 'expiresAt' },
  /** Reports (`report#<id>`) and their Idempotency-Key records (`idem#<user>#<key hash>`). */
  reports: { partitionKey: 'pk', ttlAttribute: 'expiresAt' },
  /**
   * Who each answered request belongs to (`requestId` of a chat request, `reportId` of a report): user, endpoint and
   * serving model, and later the user's feedback on it. Written once per request; kept `feedback.retentionDays`.
   */
  requests: { partitionKey: 'requestId', ttlAttribute: 'expiresAt' },
  /**
   * The stream log: per streamed answer (`requestId`), its head (`part` 0: owner, status, cancel flag, progress) and its
   * batches of SSE events (`part` 1, 2, …). Kept `streams.retentionMinutes` plus a day (lambda/aws/stream-log-store.ts).
   */
  streams: { partitionKey: 'requestId', sortKey: 'part', ttlAttribute: 'expiresAt' },
  /**
   * The response cache (`cache.enabled`): one complete answer per cache key (`user#<userId>#<sha256>` or
   * `global#<sha256>` of the normalised request, lambda/core/response-cache.ts), with the model that produced it, its
   * stop reason and usage. Kept `cache.ttlSeconds` (lambda/aws/response-cache-store.ts).
   */
  cache: { partitionKey: 'key', ttlAttribute: 'expiresAt' },
} as const satisfies Record<string, TableDefinition>;
