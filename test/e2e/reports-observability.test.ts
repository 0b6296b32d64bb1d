/**
 * The report worker guards its model calls with the same shared breaker as chat, and reports what the breaker does
 * through its own logger and metrics: a breaker that report traffic opens is logged and metered (the open-breaker alarm
 * reads the `BreakerState` gauge), exactly as one that chat traffic opens.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { CircuitBreaker } from '../../lambda/core/breaker';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { cloudBreaker, webhookSigningSecret } from '../helpers/local-cloud';
import { reportsApi, waitFor } from '../helpers/reports';

jest.setTimeout(60_000);

const KEY = 'olga-observed-key-000000000000';

let cloud: LocalCloud;
let db: DynamoDBClient;
let breaker: CircuitBreaker;
const workerLines: string[] = [];

beforeAll(async () => {
  cloud = await startLocalCloud({
    // Logs and metrics on, as deployed; the worker's output is collected instead of printed.
    quiet: false,
    functionOutput: (fn, line) => {
      if (fn === 'report-worker') workerLines.push(line);
    },
    apiKeys: `olga:pro:${KEY}`,
    webhookSecret: webhookSigningSecret('reports-observability-secret-01'),
    config: {
      models: { fallbacks: [] },
      breaker: { minimumCalls: 2, windowSeconds: 30, openSeconds: 20, maxOpenSeconds: 20, cacheMs: 0 },
      chat: { retryRounds: 0 },
    },
  });
  ({ breaker, db } = cloudBreaker(cloud));
});

afterAll(async () => {
  db?.destroy();
  await cloud?.stop();
});

/** The JSON lines the worker printed (Powertools logs and EMF blobs). */
const printed = () =>
  workerLines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, any>];
    } catch {
      return [];
    }
  });

const emfMetricNames = (blob: Record<string, any>): string[] =>
  (blob._aws?.CloudWatchMetrics ?? []).flatMap((d: { Metrics: { Name: string }[] }) => d.Metrics.map((m) => m.Name));

test('a breaker opened by report traffic is logged and metered by the worker', async () => {
  const primary = cloud.config.models.primary;
  cloud.simulator.configure({ mode: 'error', ttftMs: 0 });

  const api = reportsApi(cloud.url, KEY);
  for (let i = 0; i < 3; i++) expect((await api.submit({ prompt: `failing report ${i}` })).status).toBe(202);
  await waitFor(async () => ((await breaker.status(primary)).state === 'OPEN' ? true : undefined), {
    timeoutMs: 30_000,
    what: 'the primary breaker to open',
  });

  const lines = await waitFor(
    () => {
      const all = printed();
      const transition = all.find(
        (l) => l.message === 'breaker transition' && l.modelId === primary && l.to === 'OPEN',
      );
      const transitionMetric = all.find(
        (l) => emfMetricNames(l).includes('BreakerTransition') && l.model === primary && l.to === 'OPEN',
      );
      const gauge = all.find(
        (l) => emfMetricNames(l).includes('BreakerState') && l.model === primary && l.BreakerState === 2,
      );
      return transition && transitionMetric && gauge ? { transition, transitionMetric, gauge } : undefined;
    },
    { timeoutMs: 10_000, what: 'the worker to log and meter the transition' },
  );

  expect(lines.transition).toMatchObject({
    level: 'INFO',
    service: cloud.config.observability.serviceName,
    from: 'CLOSED',
  });
  expect(lines.gauge._aws.CloudWatchMetrics[0].Namespace).toBe(cloud.config.observability.metricsNamespace);
});
