/**
 * The smaller adapters of the reports pipeline against the local stand-ins: the users table (dynalite), the job queue
 * and the webhook dead-letter queue (fauxqs). The reports table adapter has its own files beside this one.
 */
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { TABLES } from '../../config/tables';
import { SqsReportQueue } from '../../lambda/aws/report-queue';
import { DynamoUsersTable, registerApiKey } from '../../lambda/aws/users-table';
import { sqsDeadLetter } from '../../lambda/aws/webhook-dead-letter';
import { hashApiKey, KeyAuthority, resolveCaller } from '../../lambda/core/identity';
import type { DeadLetter } from '../../lambda/core/webhooks';
import { startLocalSqs, type LocalSqs } from '../../local/sqs';
import { createTable, documentClient, dynamoClient, startDynalite, type DynaliteHandle } from '../helpers/dynalite';

const USERS = 'users-adapter-test';

let db: DynaliteHandle;
let sqs: LocalSqs;
let client: ReturnType<typeof dynamoClient>;
let seq = 0;

beforeAll(async () => {
  [db, sqs] = await Promise.all([startDynalite(), startLocalSqs()]);
  client = dynamoClient(db.endpoint);
  await createTable(client, USERS, TABLES.users);
});

afterAll(async () => {
  client?.destroy();
  await sqs?.stop();
  await db?.close();
});

describe('users table', () => {
  test('registers a key once, by its hash only, and the authorizer resolves the key to its user and plan', async () => {
    const doc = documentClient(client);
    const now = new Date('2026-01-01T00:00:00Z');
    const key = 'alice-key-0123456789abcdef';
    const record = await registerApiKey(
      { key, apiKeyId: 'key-a', userId: 'alice', plan: 'pro' },
      { documentClient: doc, tableName: USERS, now },
    );
    expect(record).toEqual({
      keyHash: hashApiKey(key),
      apiKeyId: 'key-a',
      userId: 'alice',
      plan: 'pro',
      createdAt: now.toISOString(),
    });
    expect(JSON.stringify(record)).not.toContain(key);
    await expect(
      registerApiKey(
        { key, apiKeyId: 'key-b', userId: 'mallory', plan: 'pro' },
        { documentClient: doc, tableName: USERS },
      ),
    ).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });

    const users = new DynamoUsersTable(doc, USERS);
    expect(await users.get(hashApiKey(key))).toEqual(record);
    expect(await users.get(hashApiKey('key-unknown-0123456789'))).toBeUndefined();
    const authority = new KeyAuthority(users, 60_000);
    expect(await authority.decide({ Authorization: `Bearer ${key}` })).toEqual({
      allow: true,
      key,
      caller: { userId: 'alice', plan: 'pro', apiKeyId: 'key-a' },
    });
    expect(await authority.decide({ 'x-api-key': 'key-unknown-0123456789' })).toEqual({
      allow: false,
      reason: 'Unknown API key',
    });
    const authorizer = { principalId: 'alice', userId: 'alice', plan: 'pro', apiKeyId: 'key-a' };
    const event = { requestContext: { authorizer } } as unknown as Parameters<typeof resolveCaller>[0];
    expect(resolveCaller(event)).toEqual({ userId: 'alice', plan: 'pro', apiKeyId: 'key-a' });
  });
});

describe('report job queue', () => {
  test('a job message is {"reportId"}, and a shortened redelivery brings it back at once', async () => {
    const { url } = await sqs.createQueue(`jobs-${++seq}`, { VisibilityTimeout: '60' });
    const queue = new SqsReportQueue(sqs.client, url);
    await queue.enqueue('r-1');
    const first = await sqs.client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1 }));
    expect(first.Messages?.map((m) => JSON.parse(m.Body!))).toEqual([{ reportId: 'r-1' }]);

    expect(await queue.delayRedelivery(first.Messages![0].ReceiptHandle!, 0)).toBe(true);
    const again = await sqs.client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1 }));
    expect(again.Messages?.map((m) => JSON.parse(m.Body!))).toEqual([{ reportId: 'r-1' }]);
  });

  test('a redelivery that cannot be shortened is reported, not thrown: the message still comes back later', async () => {
    const { url } = await sqs.createQueue(`jobs-${++seq}`);
    expect(await new SqsReportQueue(sqs.client, url).delayRedelivery('not-a-receipt-handle', 1)).toBe(false);
  });
});

test('an undeliverable webhook is dead-lettered as its JSON', async () => {
  const { url } = await sqs.createQueue(`webhook-dlq-${++seq}`);
  const letter: DeadLetter = {
    webhookId: 'msg_r-1',
    url: 'https://hooks.example.com/x',
    payload: {
      type: 'report.failed',
      reportId: 'r-1',
      status: 'FAILED',
      error: { code: 'C', message: 'm' },
      occurredAt: 't',
    },
    attempts: 6,
    reason: 'HTTP 503',
    failedAt: '2026-01-01T00:00:00.000Z',
  };
  await sqsDeadLetter(
    () => sqs.client,
    () => url,
  )(letter);
  expect((await sqs.drain(url)).map((m) => JSON.parse(m.Body!))).toEqual([letter]);
});
