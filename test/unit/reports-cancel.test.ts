/**
 * Cancelling a report with the in-memory fake of the store (no server, no network): the shared suite in
 * test/suites/reports-cancel.suite.ts (test/integration/reports-cancel.test.ts runs it against the DynamoDB adapter),
 * and what only a fake can force: a lease heartbeat that fails.
 */
import { parseConfig } from '../../config/schema';
import { runReportJob } from '../../lambda/core/reports/worker';
import { FakeBus, InMemoryReportStore } from '../helpers/reports-fakes';
import { reportCancelSuite } from '../suites/reports-cancel.suite';

reportCancelSuite('in-memory report store', async () => ({ repo: new InMemoryReportStore() }));

describe('lease heartbeat outage', () => {
  test('a heartbeat that fails is reported and the job goes on to complete; later heartbeats still run', async () => {
    const repo = new InMemoryReportStore();
    const reportId = '00000000-0000-4000-9000-00000000abcd';
    await repo.create({ reportId, userId: 'alice', plan: 'free', prompt: 'Write a report' }, Date.now());
    const heartbeat = jest.spyOn(repo, 'heartbeat').mockRejectedValueOnce(new Error('DynamoDB unavailable'));
    const onHeartbeatError = jest.fn();
    const outcome = await runReportJob(
      reportId,
      { receiveCount: 1, deadlineAt: Date.now() + 60_000 },
      {
        repo,
        publisher: new FakeBus(),
        config: parseConfig({ reports: { cancelCheckIntervalMs: 100 } }),
        onHeartbeatError,
        generate: async () => {
          await new Promise((resolve) => setTimeout(resolve, 350));
          return {
            text: 'the answer',
            model: 'model-a',
            usage: { inputTokens: 3, outputTokens: 5 },
            metrics: { ttftMs: 10, latencyMs: 40 },
          };
        },
      },
    );
    expect(outcome.kind).toBe('completed');
    expect(onHeartbeatError).toHaveBeenCalledWith(expect.any(Error), reportId);
    expect(heartbeat.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(await repo.get(reportId)).toMatchObject({ status: 'COMPLETED' });
  });
});
