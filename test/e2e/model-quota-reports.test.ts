/**
 * The report worker paces itself against a model quota (`models.quotas`) through the local cloud: a report submitted
 * while the quota is spent waits in its queue, without using up its deliveries (`reports.maxReceiveCount` is 1 here,
 * so a single counted retry would fail it), and completes once the quota has room, with the model never throttled.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ENV } from '../../config/runtime';
import { DynamoQuotaStore } from '../../lambda/aws/quota-store';
import { QUOTA_SLOT_MS, quotaSlot } from '../../lambda/core/quota';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { documentClient, dynamoClient } from '../helpers/dynalite';
import { ROOMY_PLAN } from '../helpers/local-cloud';
import { reportsApi, waitForReport } from '../helpers/reports';

const KEY = 'quota-reports-key-0000000000000';
const MODEL = 'quota.reports-v1:0';

let cloud: LocalCloud;
let db: DynamoDBClient;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `rita:roomy:${KEY}`,
    config: {
      plans: { roomy: ROOMY_PLAN },
      models: { primary: MODEL, fallbacks: [], quotas: { [MODEL]: { requestsPerMinute: 1 } }, quotaWaitMs: 0 },
      reports: { maxReceiveCount: 1 },
    },
  });
  cloud.simulator.configure({ mode: 'normal', requestsPerMinute: 1 });
  db = dynamoClient(cloud.dynamoEndpoint);
});

afterAll(async () => {
  db?.destroy();
  await cloud?.stop();
});

it('holds a report submitted while the quota is spent and completes it once there is room, never FAILED', async () => {
  // Another caller spent the quota almost a minute ago: it has room again within a few seconds.
  const spentAt = Date.now() - 59_000;
  const store = new DynamoQuotaStore({ tableName: cloud.env[ENV.guardTable], documentClient: documentClient(db) });
  await store.add(MODEL, quotaSlot(spentAt), { requests: 1, tokens: 0 }, { expiresAt: 0, forget: [] });
  const roomAt = (quotaSlot(spentAt) + 13) * QUOTA_SLOT_MS;

  const api = reportsApi(cloud.url, KEY);
  const submitted = await api.submit({ prompt: 'Summarise the quarter.' });
  expect(submitted.status).toBe(202);
  const { report, seen } = await waitForReport(api, submitted.body.reportId, { timeoutMs: 40_000, intervalMs: 100 });

  expect(report.status).toBe('COMPLETED');
  expect(report.result?.text).toBeTruthy();
  expect(seen).not.toContain('FAILED');
  // It finished only after the quota had room: it was held, not answered early.
  expect(Date.parse(report.updatedAt)).toBeGreaterThanOrEqual(roomAt);
  const { stats } = (await (await fetch(`${cloud.url}/_local/model`)).json()) as {
    stats: { calls: number; throttled: number };
  };
  expect(stats).toMatchObject({ calls: 1, throttled: 0 });
}, 60_000);
