/**
 * Every DynamoDB table of the stack (users, guard, reports, requests) is built the same way: on demand, with
 * point-in-time recovery, encrypted, its keys and TTL attribute taken from `config/tables.ts`, the definitions
 * the local cloud creates its tables from, so the two cannot disagree.
 *
 * Encryption: the AWS managed key (`aws/dynamodb`) by default. Unlike the AWS owned default it is visible in the
 * account and every use is in CloudTrail; unlike a customer managed key it costs nothing per month and needs no key
 * policy. Pass `encryptionKey` when the key must be revocable or shared under your own policy.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { TableDefinition } from '../../config/tables';

/** What a caller may choose about one of the stack's tables; the rest is the same for all of them. */
export interface DataTableOptions {
  /**
   * What happens to the table when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Customer managed KMS key.
   * @default - the AWS managed key for DynamoDB (`aws/dynamodb`)
   */
  readonly encryptionKey?: IKey;
}

export interface DataTableProps extends DataTableOptions {
  /** Partition key (a string), sort key (a number), if any, and TTL attribute, from `config/tables.ts`. */
  readonly definition: TableDefinition;
}

/** A table of the stack: on demand, point-in-time recovery, encrypted, keys from `config/tables.ts`. */
export class DataTable extends Table {
  constructor(scope: Construct, id: string, props: DataTableProps) {
    super(scope, id, {
      partitionKey: { name: props.definition.partitionKey, type: AttributeType.STRING },
      ...(props.definition.sortKey ? { sortKey: { name: props.definition.sortKey, type: AttributeType.NUMBER } } : {}),
      timeToLiveAttribute: props.definition.ttlAttribute,
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(props.encryptionKey
        ? { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.encryptionKey }
        : { encryption: TableEncryption.AWS_MANAGED }),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }
}
