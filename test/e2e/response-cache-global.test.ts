/**
 * The response cache in `global` scope, with a degraded answer configured, against the local cloud: users share
 * entries, and with every breaker open a stored answer is served before the degraded one, which still answers requests
 * nothing was stored for.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { CircuitBreaker } from '../../lambda/core/breaker';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { cloudBreaker, ROOMY_PLAN } from '../helpers/local-cloud';
import { postJson, streamChat } from '../helpers/sse';

const ALICE = 'alice-global-key-0000000000000';
const BOB = 'bob-global-key-00000000000000';
const DEGRADED = 'The assistant is busy; please try again shortly.';

let cloud: LocalCloud;
let breaker: CircuitBreaker;
let db: DynamoDBClient;
let chain: string[];

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `alice:pro:${ALICE},bob:pro:${BOB}`,
    config: {
      cache: { enabled: true, scope: 'global' },
      models: { degradedAnswer: DEGRADED },
      breaker: { cacheMs: 0 },
      plans: { pro: ROOMY_PLAN },
    },
  });
  chain = [cloud.config.models.primary, ...cloud.config.models.fallbacks];
  ({ breaker, db } = cloudBreaker(cloud));
});

afterAll(async () => {
  for (const model of chain) await breaker?.forceClose(model);
  db?.destroy();
  await cloud?.stop();
});

const modelCalls = () => cloud.simulator.stats.calls;

describe('response cache, global scope', () => {
  it("serves one user's stored answer to another asking the same", async () => {
    const alice = await postJson(`${cloud.url}/chat`, { message: 'What is the capital of France?' }, ALICE);
    expect(alice.status).toBe(200);
    const calls = modelCalls();
    const bob = await postJson(`${cloud.url}/chat`, { message: 'What is the capital of France?' }, BOB);
    expect(bob.status).toBe(200);
    expect(bob.headers.get('x-cache')).toBe('hit');
    expect(bob.json).toMatchObject({ text: alice.json.text, cached: true });
    expect(modelCalls()).toBe(calls);
  });

  it('with every breaker open, serves the stored answer first and the degraded answer to the rest', async () => {
    const stored = await postJson(`${cloud.url}/chat`, { message: 'Which port does it use?' }, ALICE);
    for (const model of chain) await breaker.forceOpen(model);

    const res = await fetch(`${cloud.url}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': BOB, 'cache-control': 'no-cache' },
      body: JSON.stringify({ message: 'Which port does it use?' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ text: stored.json.text, model: stored.json.model, cached: true });

    const degraded = await streamChat(cloud.url, { apiKey: BOB, body: { message: 'Nothing stored for this' } });
    expect(degraded.status).toBe(200);
    const end = degraded.events.find((e) => e.event === 'end')?.data;
    expect(end).toMatchObject({ model: 'degraded', stopReason: 'degraded' });
    expect(end).not.toHaveProperty('cached');
    const text = degraded.events
      .filter((e) => e.event === 'delta')
      .map((e) => e.data.text)
      .join('');
    expect(text).toBe(DEGRADED);

    // The degraded answer is never stored: once a model is back, the same request reaches it.
    for (const model of chain) await breaker.forceClose(model);
    const calls = modelCalls();
    const fresh = await postJson(`${cloud.url}/chat`, { message: 'Nothing stored for this' }, BOB);
    expect(fresh.headers.get('x-cache')).toBe('miss');
    expect(fresh.json.model).toBe(chain[0]);
    expect(modelCalls()).toBe(calls + 1);
  });
});
