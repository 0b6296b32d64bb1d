/**
 * The stream log: its table and the function behind `POST /chat/stream/{requestId}/cancel`.
 *
 * ```
 * chat-stream, openai-chat ──PutItem (head, batches), UpdateItem (progress: returns the cancel flag)──> streams table
 * POST /chat/stream/{requestId}/cancel ─> CancelStream ──UpdateItem if owner, streaming, retained; GetItem──> streams table
 * GET /chat/stream/{requestId} ─> resume function ──GetItem, Query──> streams table (read only)
 * ```
 *
 * The table (config/tables.ts `streams`, key `requestId` + `part`; format in lambda/aws/stream-log-store.ts) holds each
 * streamed answer's head and its batches of SSE events for `streams.retentionMinutes`, then TTL on `expiresAt` removes
 * them. The writers may only create and update items; the cancel function may only update heads, under its condition
 * (and read one to explain a refusal); readers only read. No function deletes or scans.
 *
 * Encryption: the AWS managed key (`aws/dynamodb`) by default, as every table of the stack (see table.ts for why); pass
 * `tableEncryptionKey` for a customer managed one.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ENV } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { TABLES } from '../../config/tables';
import type { RouteHandlers } from './api';
import { BaseFunction } from './base-function';
import { DataTable, type DataTableOptions } from './table';

/**
 * Removal policy and key of the streams table. Its items live `streams.retentionMinutes` (plus a day for the heads), so
 * nothing in it outlives a replacement of the stack: it is destroyed with the stack by default.
 */
export type StreamsTableProps = DataTableOptions;

/** Each streamed answer's head (owner, status, cancel flag, progress) and batches of events; TTL on `expiresAt`. */
export class StreamsTable extends DataTable {
  constructor(scope: Construct, id: string, props: StreamsTableProps = {}) {
    super(scope, id, {
      ...props,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
      definition: TABLES.streams,
    });
  }
}

export interface StreamLogProps {
  /** The validated configuration (`streams`; all of it reaches the function). */
  readonly config: AppConfig;
  /**
   * What happens to the streams table when it leaves the stack.
   * @default RemovalPolicy.DESTROY
   */
  readonly tableRemovalPolicy?: RemovalPolicy;
  /**
   * Customer managed KMS key for the streams table.
   * @default - the AWS managed key for DynamoDB (`aws/dynamodb`)
   */
  readonly tableEncryptionKey?: IKey;
}

export class StreamLog extends Construct {
  /** Heads and batches of the streamed answers. */
  public readonly table: StreamsTable;
  /** `POST /chat/stream/{requestId}/cancel`: sets the cancel flag (UpdateItem; GetItem to explain a refusal). */
  public readonly cancelStream: BaseFunction;
  /**
   * `GET /chat/stream/{requestId}`: replays a stream and follows it live from the table alone (read only), for as long
   * as a stream may run (config.chat.streamTimeoutSeconds).
   */
  public readonly resumeStream: BaseFunction;
  /** The routes it serves, by the route table's `functionName`. */
  public readonly handlers: RouteHandlers;

  constructor(scope: Construct, id: string, props: StreamLogProps) {
    super(scope, id);
    this.table = new StreamsTable(this, 'Streams', {
      removalPolicy: props.tableRemovalPolicy,
      encryptionKey: props.tableEncryptionKey,
    });
    this.cancelStream = new BaseFunction(this, 'CancelStream', {
      functionName: 'cancel-stream',
      config: props.config,
      timeout: Duration.seconds(10),
    }).useTable(ENV.streamsTable, this.table, 'updateItem');
    // A refused cancel is explained from the head the failed condition returns; when none is returned, one GetItem.
    this.table.grant(this.cancelStream.role, 'dynamodb:GetItem');
    this.resumeStream = new BaseFunction(this, 'ResumeStream', {
      functionName: 'resume-stream',
      config: props.config,
      timeout: Duration.seconds(props.config.chat.streamTimeoutSeconds),
    }).useTable(ENV.streamsTable, this.table, 'read');
    this.handlers = { 'cancel-stream': this.cancelStream.function, 'resume-stream': this.resumeStream.function };
  }

  /**
   * Lets the streaming functions write their log (`STREAMS_TABLE_NAME`): PutItem for the head and the batches,
   * UpdateItem for the progress, the cancel flag it returns and the final status. Nothing else: no reads, no deletes.
   */
  public writtenBy(...functions: readonly BaseFunction[]): void {
    for (const fn of functions)
      fn.useTable(ENV.streamsTable, this.table, 'putItem').useTable(ENV.streamsTable, this.table, 'updateItem');
  }
}
