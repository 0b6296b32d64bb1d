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
 * Encryption: the AWS managed key (`aws/dynamodb`) by default. Unlike the AWS owned default it is visible in the
 * account and every use is in CloudTrail; unlike a customer managed key it costs nothing per month and needs no key
 * policy. Pass `encryptionKey` when the key must be revocable or shared under your own policy.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { TABLES } from '../../config/tables';

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
  public readonly usersTable: Table;
  /** Circuit-breaker state and token budget counters, TTL on `expiresAt`. */
  public readonly guardTable: Table;

  constructor(scope: Construct, id: string, props: GuardTablesProps = {}) {
    super(scope, id);
    const encryption = props.encryptionKey
      ? { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.encryptionKey }
      : { encryption: TableEncryption.AWS_MANAGED };
    const common = {
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...encryption,
    };

    this.usersTable = new Table(this, 'Users', {
      ...common,
      partitionKey: { name: TABLES.users.partitionKey, type: AttributeType.STRING },
      removalPolicy: props.usersTableRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.guardTable = new Table(this, 'Guard', {
      ...common,
      partitionKey: { name: TABLES.guard.partitionKey, type: AttributeType.STRING },
      timeToLiveAttribute: TABLES.guard.ttlAttribute,
      removalPolicy: props.guardTableRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
  }
}
