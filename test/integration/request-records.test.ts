/**
 * The requests table through the DynamoDB adapter against dynalite (in-process, loopback only): its condition
 * expressions decide that a request is recorded once and that only its owner rates it while it has not expired. The
 * behaviour is the shared suite in test/suites/request-records.suite.ts, which test/unit/feedback.test.ts runs against
 * the in-memory fake; the requests this adapter sends, and an outage, are checked here.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '../../config/tables';
import { expiresAtAfterDays, RequestRecorder } from '../../lambda/core/feedback';
import { DynamoRequestRecordStore } from '../../lambda/aws/request-records';
import {
  countRequests,
  createTable,
  documentClient,
  dynamoClient,
  startDynalite,
  unreachableDocumentClient,
  type DynaliteHandle,
} from '../helpers/dynalite';
import { requestRecordSuite } from '../suites/request-records.suite';

const TABLE = 'requests-test';

requestRecordSuite('DynamoDB requests table (dynalite)', async () => {
  const db = await startDynalite();
  const client = dynamoClient(db.endpoint);
  await createTable(client, TABLE, TABLES.requests);
  const doc = documentClient(client);
  return {
    store: new DynamoRequestRecordStore({ documentClient: doc, tableName: TABLE }),
    read: async (requestId) =>
      (await doc.send(new GetCommand({ TableName: TABLE, Key: { requestId }, ConsistentRead: true }))).Item,
    async close() {
      client.destroy();
      await db.close();
    },
  };
});

describe('DynamoRequestRecordStore', () => {
  let db: DynaliteHandle;
  let client: ReturnType<typeof dynamoClient>;

  beforeAll(async () => {
    db = await startDynalite();
    client = dynamoClient(db.endpoint);
    await createTable(client, TABLE, TABLES.requests);
  });

  afterAll(async () => {
    client.destroy();
    await db.close();
  });

  const record = (requestId: string) => ({
    requestId,
    userId: 'alice',
    endpoint: 'chat',
    model: 'model-a',
    createdAt: new Date().toISOString(),
    expiresAt: expiresAtAfterDays(Date.now(), 30),
  });

  test('records with one PutItem and rates with one UpdateItem, reading nothing first', async () => {
    const requests = countRequests(client);
    const store = new DynamoRequestRecordStore({ documentClient: documentClient(client), tableName: TABLE });
    await store.put(record('counted-1'));
    await store.rate('counted-1', 'alice', { rating: 'up', ratedAt: 'now' }, Math.floor(Date.now() / 1000));
    await store.rate('counted-1', 'mallory', { rating: 'down', ratedAt: 'now' }, Math.floor(Date.now() / 1000));
    expect(requests.byOperation).toEqual({ PutItem: 1, UpdateItem: 2 });
  });

  test('reads the table name when it first writes, so a missing variable fails a write and not the function', async () => {
    const store = new DynamoRequestRecordStore({
      documentClient: documentClient(client),
      tableName: () => {
        throw new Error('Environment variable REQUESTS_TABLE_NAME is required');
      },
    });
    await expect(store.put(record('no-table'))).rejects.toThrow('REQUESTS_TABLE_NAME');
  });

  test('an unreachable table: the recorder logs and counts the failure, and resolves', async () => {
    const unreachable = unreachableDocumentClient();
    const warnings: string[] = [];
    const single: string[] = [];
    try {
      const recorder = new RequestRecorder({
        store: new DynamoRequestRecordStore({ documentClient: unreachable.doc, tableName: TABLE }),
        retentionDays: 30,
        logger: { warn: (message: string) => void warnings.push(message) } as never,
        metrics: { singleMetric: () => ({ addMetric: (name: string) => void single.push(name) }) } as never,
      });
      await expect(
        recorder.record({ requestId: 'lost-1', userId: 'alice', endpoint: 'chat', model: 'model-a' }),
      ).resolves.toBe(false);
    } finally {
      unreachable.close();
    }
    expect(warnings).toEqual(['request record not written; the request cannot be rated']);
    expect(single).toEqual(['RequestRecordErrors']);
  });
});
