/**
 * The report lifecycle's decisions with the in-memory fake of the store (no server, no network). The tests are the
 * shared suite in test/suites/reports-worker.suite.ts; test/integration/reports-worker.test.ts runs the same suite
 * against the DynamoDB adapter and its condition expressions.
 */
import { InMemoryReportStore } from '../helpers/reports-fakes';
import { reportWorkerSuite } from '../suites/reports-worker.suite';

reportWorkerSuite('in-memory report store', async () => ({ repo: new InMemoryReportStore() }));
