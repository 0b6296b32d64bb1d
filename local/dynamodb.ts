/** DynamoDB for the local cloud: dynalite, in-process, in memory, on a free loopback port. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TableDefinition } from '../config/tables';

// dynalite ships no type declarations; this is the part of its surface used here.
const dynalite = require('dynalite') as (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;

export interface LocalDynamo {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  close(): Promise<void>;
}

export async function startLocalDynamo(host = '127.0.0.1', port = 0): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    endpoint: `http://${address.address}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err?: Error) => (err ? reject(err) : resolve()));
        // SDK keep-alive sockets would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

/**
 * Creates a table from its shared definition. TTL is not set: dynalite has no UpdateTimeToLive, and nothing relies on
 * TTL for correctness (expiry is compared in condition expressions).
 */
export async function createTable(client: DynamoDBClient, name: string, table: TableDefinition): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [
        { AttributeName: table.partitionKey, AttributeType: 'S' },
        ...(table.sortKey ? [{ AttributeName: table.sortKey, AttributeType: 'N' as const }] : []),
      ],
      KeySchema: [
        { AttributeName: table.partitionKey, KeyType: 'HASH' },
        ...(table.sortKey ? [{ AttributeName: table.sortKey, KeyType: 'RANGE' as const }] : []),
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}
