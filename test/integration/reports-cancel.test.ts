/**
 * Cancelling a report through the DynamoDB adapter against dynalite (in-process, loopback only): its condition
 * expressions settle the cancel in each state and its races with the claim, the result and redeliveries, and the lease
 * heartbeat returns the cancel flag from its own write. The tests are the shared suite in
 * test/suites/reports-cancel.suite.ts, which test/unit/reports-cancel.test.ts runs against the in-memory fake.
 */
import { DynamoReportRepository } from '../../lambda/aws/reports-repository';
import { createTable, documentClient, dynamoClient, startDynalite } from '../helpers/dynalite';
import { reportCancelSuite } from '../suites/reports-cancel.suite';

reportCancelSuite('DynamoDB report store (dynalite)', async () => {
  const db = await startDynalite();
  const client = dynamoClient(db.endpoint);
  await createTable(client, 'reports-cancel-test', { partitionKey: 'pk' });
  return {
    repo: new DynamoReportRepository({
      documentClient: documentClient(client),
      tableName: 'reports-cancel-test',
      retentionDays: 30,
    }),
    async close() {
      client.destroy();
      await db.close();
    },
  };
});
