/**
 * Satisfaction feedback: the requests table and the function behind `POST /feedback`.
 *
 * ```
 * chat functions, report worker ──PutItem, once per request──> requests table <──UpdateItem, if owner── Feedback
 * ```
 *
 * The requests table holds one item per answered request (partition key `requestId`, config/tables.ts `requests`): the
 * owner, the endpoint, the serving model and, once rated, the rating and comment; TTL on `expiresAt`
 * (`feedback.retentionDays`). The functions that answer requests may only create items
 * ({@link Feedback.recordRequestsOf}); the feedback function may only update them, under the owner condition. No
 * function reads or deletes them.
 *
 * Encryption: the AWS managed key (`aws/dynamodb`) by default, as every table of the stack (see table.ts for why);
 * pass `tableEncryptionKey` for a customer managed one.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ENV } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { TABLES } from '../../config/tables';
import type { RouteHandlers } from './api';
import { BaseFunction } from './base-function';
import { DataTable, type DataTableOptions } from './table';

/** Removal policy and key of the requests table; it holds users' ratings and comments, so it is retained by default. */
export type RequestsTableProps = DataTableOptions;

/** One item per answered request: owner, endpoint, serving model, rating; TTL on `expiresAt`. */
export class RequestsTable extends DataTable {
  constructor(scope: Construct, id: string, props: RequestsTableProps = {}) {
    super(scope, id, { ...props, definition: TABLES.requests });
  }
}

export interface FeedbackProps {
  /** The validated configuration (`feedback.retentionDays`; all of it reaches the function). */
  readonly config: AppConfig;
  /**
   * What happens to the requests table when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly requestsTableRemovalPolicy?: RemovalPolicy;
  /**
   * Customer managed KMS key for the requests table.
   * @default - the AWS managed key for DynamoDB (`aws/dynamodb`)
   */
  readonly tableEncryptionKey?: IKey;
}

export class Feedback extends Construct {
  /** Who each answered request belongs to, and its rating. */
  public readonly requestsTable: RequestsTable;
  /** `POST /feedback`: rates the caller's own request (UpdateItem on the requests table, nothing else). */
  public readonly feedback: BaseFunction;
  /** The route it serves, by the route table's `functionName`. */
  public readonly handlers: RouteHandlers;

  constructor(scope: Construct, id: string, props: FeedbackProps) {
    super(scope, id);
    this.requestsTable = new RequestsTable(this, 'Requests', {
      removalPolicy: props.requestsTableRemovalPolicy,
      encryptionKey: props.tableEncryptionKey,
    });
    this.feedback = new BaseFunction(this, 'Feedback', {
      functionName: 'feedback',
      config: props.config,
      timeout: Duration.seconds(10),
    }).useTable(ENV.requestsTable, this.requestsTable, 'updateItem');
    this.handlers = { feedback: this.feedback.function };
  }

  /**
   * Lets functions that answer requests record them (`REQUESTS_TABLE_NAME`, PutItem only): the chat functions and the
   * report worker. A function not given it answers as before, but its requests cannot be rated.
   */
  public recordRequestsOf(...functions: readonly BaseFunction[]): void {
    for (const fn of functions) fn.useTable(ENV.requestsTable, this.requestsTable, 'putItem');
  }
}
