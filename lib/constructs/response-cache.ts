/**
 * The response cache's table (`cache.enabled`): complete answers by the hash of their normalised request.
 *
 * ```
 * chat-stream, chat, openai-chat, report-worker ──GetItem (before the call), PutItem (a complete answer)──> cache table
 * ```
 *
 * One item per cache key (config/tables.ts `cache`; format in lambda/aws/response-cache-store.ts), kept
 * `cache.ttlSeconds`, then TTL on `expiresAt` removes it. The functions that answer may only get and put items by key:
 * no query, scan, update or delete.
 *
 * Encryption: the AWS managed key (`aws/dynamodb`) by default, as every table of the stack (see table.ts for why); pass
 * `encryptionKey` for a customer managed one. The stored answers are user content: a customer managed key lets you
 * revoke them with the key.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ENV } from '../../config/runtime';
import { TABLES } from '../../config/tables';
import type { BaseFunction } from './base-function';
import { DataTable, type DataTableOptions } from './table';

/**
 * Removal policy and key of the cache table. Every item in it can be produced again by a model call and expires within
 * `cache.ttlSeconds`, so it is destroyed with the stack by default.
 */
export type ResponseCacheProps = DataTableOptions;

export class ResponseCacheTable extends Construct {
  /** The stored answers. */
  public readonly table: DataTable;

  constructor(scope: Construct, id: string, props: ResponseCacheProps = {}) {
    super(scope, id);
    this.table = new DataTable(this, 'Table', {
      ...props,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
      definition: TABLES.cache,
    });
  }

  /** Lets functions that answer requests read and store answers (`CACHE_TABLE_NAME`; GetItem and PutItem only). */
  public usedBy(...functions: readonly BaseFunction[]): void {
    for (const fn of functions) fn.useTable(ENV.cacheTable, this.table, 'getPutItem');
  }
}
