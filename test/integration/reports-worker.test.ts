/**
 * The report lifecycle through the DynamoDB adapter against dynalite (in-process, loopback only): its condition
 * expressions decide the transitions, leases, retries, the owed-event flag and the dead-letter backstop. The tests are
 * the shared suite in test/suites/reports-worker.suite.ts, which test/unit/reports-worker.test.ts runs against the
 * in-memory fake. The model and the bus are fakes.
 */
import { DynamoReportRepository } from '../../lambda/aws/reports-repository';
import { createTable, documentClient, dynamoClient, startDynalite } from '../helpers/dynalite';
import { reportWorkerSuite } from '../suites/reports-worker.suite';

reportWorkerSuite('DynamoDB report store (dynalite)', async () => {
  const db = await startDynalite();
  const client = dynamoClient(db.endpoint);
  await createTable(client, 'reports-test', { partitionKey: 'pk' });
  return {
    repo: new DynamoReportRepository({
      documentClient: documentClient(client),
      tableName: 'reports-test',
      retentionDays: 30,
    }),
    async close() {
      client.destroy();
      await db.close();
    },
  };
});
