/**
 * DynamoDB for the local cloud: dynalite, in memory, on a free loopback port, in a worker thread of its own.
 *
 * The worker keeps dynalite's request parsing, expression evaluation and storage off the event loop of the process
 * that starts it (the local gateway and the functions it runs), as the real service is another machine: a burst of
 * writes delays no stream's bytes. Clients reach it over HTTP exactly as before.
 */
import { Worker } from 'node:worker_threads';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TableDefinition } from '../config/tables';

export interface LocalDynamo {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  close(): Promise<void>;
}

// Runs in the worker. dynalite ships no type declarations and is plain CommonJS, so the worker needs no TypeScript.
const WORKER_SCRIPT = `
const { parentPort, workerData } = require('node:worker_threads');
const dynalite = require(workerData.dynalite);
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.once('error', (err) => parentPort.postMessage({ error: err.message }));
server.listen(workerData.port, workerData.host, () => {
  const { address, port } = server.address();
  parentPort.postMessage({ address, port });
});
parentPort.on('message', (message) => {
  if (message !== 'close') return;
  server.close(() => parentPort.postMessage({ closed: true }));
  // SDK keep-alive sockets would otherwise hold close() open.
  server.closeAllConnections();
});
`;

export async function startLocalDynamo(host = '127.0.0.1', port = 0): Promise<LocalDynamo> {
  const worker = new Worker(WORKER_SCRIPT, {
    eval: true,
    workerData: { dynalite: require.resolve('dynalite'), host, port },
    // The parent's stdin is not the database's.
    stdin: false,
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  let endpoint: string;
  try {
    endpoint = await new Promise<string>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`local DynamoDB exited (${code}) while starting`)));
      worker.once('message', (message: { address?: string; port?: number; error?: string }) => {
        if (message.error) reject(new Error(`local DynamoDB: ${message.error}`));
        else resolve(`http://${message.address}:${message.port}`);
      });
    });
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  // A failure after start is the database going away: requests to it fail, as they would against a lost endpoint.
  worker.on('error', () => undefined);
  let closing: Promise<void> | undefined;
  return {
    endpoint,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => {
          worker.on('message', (message: { closed?: boolean }) => message.closed && resolve());
          worker.once('exit', () => resolve());
        });
        worker.postMessage('close');
        await closed;
        await worker.terminate();
        await exited;
      })()),
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
