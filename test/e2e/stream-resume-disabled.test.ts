/**
 * With `streams.enabled: false` nothing is logged, so nothing can be resumed: `GET /chat/stream/{requestId}` answers the
 * same `404` as for an unknown id (a malformed Last-Event-ID is still a `400`), and the live stream is unaffected.
 * A local cloud of its own, as the setting is read once per function.
 */
import { ENV } from '../../config/runtime';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { documentClient, dynamoClient } from '../helpers/dynalite';
import { ROOMY_PLAN } from '../helpers/local-cloud';
import { streamChat } from '../helpers/sse';

const KEY = 'dora-nolog-key-00000000000000000';
let cloud: LocalCloud;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `dora:roomy:${KEY}`,
    config: { plans: { roomy: ROOMY_PLAN }, streams: { enabled: false } },
  });
});

afterAll(async () => {
  await cloud?.stop();
});

test('a stream answered with the log off cannot be resumed: 404, and nothing is in the streams table', async () => {
  const live = await streamChat(cloud.url, { apiKey: KEY, body: { message: 'Not logged' } });
  expect([live.events[0]?.event, live.events.at(-1)?.event]).toEqual(['start', 'end']);
  const requestId = live.events[0]?.data.requestId as string;

  const res = await fetch(`${cloud.url}/chat/stream/${requestId}`, { headers: { 'x-api-key': KEY } });
  expect(res.status).toBe(404);
  expect(await res.json()).toEqual({
    error: { code: 'NOT_FOUND', message: 'No stream with this requestId', retryable: false },
  });
  const bad = await fetch(`${cloud.url}/chat/stream/${requestId}`, {
    headers: { 'x-api-key': KEY, 'Last-Event-ID': 'nope' },
  });
  expect(bad.status).toBe(400);

  const client = dynamoClient(cloud.dynamoEndpoint);
  try {
    const { Items } = await documentClient(client).send(new ScanCommand({ TableName: cloud.env[ENV.streamsTable] }));
    expect(Items).toEqual([]);
  } finally {
    client.destroy();
  }
});
