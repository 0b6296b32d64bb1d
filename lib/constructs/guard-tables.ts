/**
 * The two tables every guarded call reads: who a key belongs to, and the shared guard state. Key schemas come from
 * `config/tables.ts`, which the local cloud reads too.
 *
 * - Users: partition key `keyHash` (SHA-256 of the API key, hex; the key itself is never stored); item
 *   `{keyHash, apiKeyId, userId, plan, createdAt}`. Written once per key by `genai keys create`
 *   (cli/admin/aws-keys.ts); read by the API's authorizer.
 * - Guard: partition key `pk`; circuit-breaker state per model and per-user daily token counters. Every item carries
 *   `expiresAt` (epoch seconds), which DynamoDB TTL uses for cleanup only: expiry itself is compared inside the
 *   conditional writes, since TTL deletion can lag by days.
 *
 * Both are {@link DataTable}s (table.ts): on demand, point-in-time recovery, the AWS managed key unless
 * `encryptionKey` is given.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { TABLES } from '../../config/tables';
import { DataTable } from './table';

export interface GuardTablesProps {
  /**
   * What happens to the users table when it leaves the stack. The table maps keys to users; losing it orphans every
   * issued key, so it is kept unless you say otherwise.
   * @default RemovalPolicy.RETAIN
   */
  readonly usersTableRemovalPolicy?: RemovalPolicy;
  /**
   * What happens to the guard table when it leaves the stack. Its content is short-lived state that rebuilds itself.
   * @default RemovalPolicy.DESTROY
   */
  readonly guardTableRemovalPolicy?: RemovalPolicy;
  /**
   * Customer managed KMS key for both tables.
   * @default - the AWS managed key for DynamoDB (`aws/dynamodb`)
   */
  readonly encryptionKey?: IKey;
}

export class GuardTables extends Construct {
  /** API key id → `{userId, plan, createdAt}`. */
  public readonly usersTable: DataTable;
  /** Circuit-breaker state and token budget counters, TTL on `expiresAt`. */
  public readonly guardTable: DataTable;

  constructor(scope: Construct, id: string, props: GuardTablesProps = {}) {
    super(scope, id);
    const { encryptionKey } = props;
    this.usersTable = new DataTable(this, 'Users', {
      definition: TABLES.users,
      removalPolicy: props.usersTableRemovalPolicy,
      encryptionKey,
    });
    this.guardTable = new DataTable(this, 'Guard', {
      definition: TABLES.guard,
      removalPolicy: props.guardTableRemovalPolicy ?? RemovalPolicy.DESTROY,
      encryptionKey,
    });
  }
}
