/**
 * Accepting reports through the DynamoDB adapter against dynalite (in-process, loopback only): the Idempotency-Key
 * record and its condition expressions, metadata stored exactly as sent, a report written by an older version, and a
 * failed enqueue leaving nothing behind. The tests are the shared suite in test/suites/reports-submit.suite.ts, which
 * test/unit/reports-submit.test.ts runs against the in-memory fake. The queue is a fake.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoReportRepository } from '../../lambda/aws/reports-repository';
import { createTable, documentClient, dynamoClient, startDynalite } from '../helpers/dynalite';
import { reportSubmitSuite } from '../suites/reports-submit.suite';

const TABLE = 'reports-submit-test';

reportSubmitSuite('DynamoDB report store (dynalite)', async () => {
  const db = await startDynalite();
  const client = dynamoClient(db.endpoint);
  await createTable(client, TABLE, { partitionKey: 'pk' });
  const doc = documentClient(client);
  return {
    repo: new DynamoReportRepository({ documentClient: doc, tableName: TABLE, retentionDays: 30 }),
    async putRaw(item) {
      await doc.send(new PutCommand({ TableName: TABLE, Item: item }));
    },
    async close() {
      client.destroy();
      await db.close();
    },
  };
});
