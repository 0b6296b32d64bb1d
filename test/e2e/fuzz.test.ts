/**
 * A seeded fuzz run over every route of the local cloud: malformed JSON, wrong types, 5,000-level nesting, Unicode and
 * number edge cases, prototype keys, duplicated keys, odd content types, methods, paths, headers and API keys, and
 * requests fetch cannot send (over raw sockets). No answer may be a 5xx other than a designed 503, every 4xx carries a
 * contract error body, and afterwards every route still answers a normal request normally.
 *
 * The seed is printed; `FUZZ_SEED=<n> npx jest test/e2e/fuzz.test.ts` replays a run.
 */
import { matchPath, ROUTES } from '../../config/routes';
import { mulberry32 } from '../../local/bedrock-simulator';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { generateFuzzCases, jsonOf, rawRequest, type FuzzCase, type RawResponse } from '../helpers/fuzz';
import { ROOMY_PLAN } from '../helpers/local-cloud';
import { reportsApi, waitForReport } from '../helpers/reports';
import { postJson, sseMessages, streamChat } from '../helpers/sse';

const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const CASES = 2_000;
const CONCURRENCY = 8;
const KEY = 'fuzz-pro-key-00000000000000000';
const OTHER_KEY = 'fuzz-other-key-000000000000000';
/** The 503s the contract designs; any other 5xx is a defect. */
const DESIGNED_503_CODES = ['MODEL_UNAVAILABLE', 'SERVICE_UNAVAILABLE'];
const DESIGNED_OPENAI_503_CODES = ['model_unavailable', 'service_unavailable'];

/** The OpenAI-compatible routes answer in OpenAI's error shape. */
function isOpenAIRoute(c: FuzzCase): boolean {
  const target = c.requestLine.split(' ')[1] ?? '';
  // An absolute-form target (`POST http://host/chat/completions`) reaches the route of its path.
  const path = /^https?:\/\//i.test(target) ? target.replace(/^https?:\/\/[^/]*/i, '') : target;
  return /^\/(v1\/)?(chat\/completions|models)(\/|\?|$)/.test(path);
}

/** `{"error":{"message","type","param","code"}}`, as OpenAI's SDKs expect it. */
function isOpenAIError(json: unknown): boolean {
  const e = (json as { error?: Record<string, unknown> } | undefined)?.error;
  return (
    e !== undefined &&
    Object.keys(json as object).length === 1 &&
    typeof e.message === 'string' &&
    e.message.length > 0 &&
    typeof e.type === 'string' &&
    'param' in e &&
    'code' in e
  );
}

let cloud: LocalCloud;

beforeAll(async () => {
  cloud = await startLocalCloud({
    quiet: true,
    apiKeys: `fuzz:pro:${KEY},fuzz-other:pro:${OTHER_KEY}`,
    // Requests that stall (a chunk shorter than announced) are answered in a second rather than ten.
    gatewayTimeouts: { headersMs: 2_000, requestMs: 5_000, bodyIdleMs: 1_000 },
    config: { plans: { pro: { ...ROOMY_PLAN, tokensPerDay: 50_000_000 } } },
  });
});

afterAll(async () => {
  await cloud?.stop();
});

/** What is wrong with one answer, or undefined when it keeps the contract. */
function problemWith(c: FuzzCase, res: RawResponse): string | undefined {
  if (res.status === undefined)
    return res.hung
      ? 'no answer (connection held open)'
      : `closed without an answer${res.error ? ` (${res.error})` : ''}`;
  const json = jsonOf(res) as
    | { error?: { code?: unknown; message?: unknown; retryable?: unknown }; message?: unknown }
    | undefined;
  const text = res.body.toString('utf8').slice(0, 160);
  const openai = isOpenAIRoute(c);
  if (res.status >= 500) {
    const code = json?.error?.code;
    if (res.status === 503 && typeof code === 'string' && DESIGNED_503_CODES.includes(code)) return undefined;
    if (res.status === 503 && openai && typeof code === 'string' && DESIGNED_OPENAI_503_CODES.includes(code))
      return undefined;
    return `${res.status} ${text}`;
  }
  if (res.status >= 400 && openai && isOpenAIError(json)) return undefined;
  if (res.status >= 400) {
    if (!c.expectsBody) return undefined;
    const contractError =
      json?.error !== undefined &&
      Object.keys(json).length === 1 &&
      typeof json.error.code === 'string' &&
      typeof json.error.message === 'string' &&
      json.error.message.length > 0 &&
      typeof json.error.retryable === 'boolean';
    const gatewayError = json !== undefined && Object.keys(json).length === 1 && typeof json.message === 'string';
    return contractError || gatewayError ? undefined : `${res.status} without a contract error body: ${text}`;
  }
  if ((res.headers['content-type'] ?? '').startsWith('text/event-stream') && openai) {
    // OpenAI's stream: `data:` lines, ending with `[DONE]` or, after a failure, an error object (never both).
    const data = sseMessages(res.body.toString('utf8')).map((e) => e.data);
    const last = data.at(-1);
    if (last === '[DONE]') return undefined;
    return last !== undefined && isOpenAIError(JSON.parse(last))
      ? undefined
      : `an OpenAI stream that ended with ${last}`;
  }
  if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    const events = sseMessages(res.body.toString('utf8')).map((e) => e.event ?? 'message');
    const last = events.at(-1);
    return last === 'end' || last === 'error'
      ? undefined
      : `a stream that ended after ${last ?? 'nothing'}, not end or error`;
  }
  if ((res.headers['content-type'] ?? '').startsWith('application/json') && json === undefined)
    return `${res.status} with a body that is not JSON: ${text}`;
  return undefined;
}

async function runAll(cases: readonly FuzzCase[]): Promise<{ c: FuzzCase; res: RawResponse }[]> {
  const results: { c: FuzzCase; res: RawResponse }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++];
      results.push({ c, res: await rawRequest(cloud.url, c.request, { waitMs: 20_000 }) });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return results;
}

it(`keeps the contract for ${CASES} malformed and edge-case requests over every route, then serves every route normally`, async () => {
  console.log(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  const api = reportsApi(cloud.url, KEY);
  const other = reportsApi(cloud.url, OTHER_KEY);
  const own = await Promise.all([1, 2, 3].map((i) => api.submit({ prompt: `fuzz seed report ${i}` })));
  const foreign = await Promise.all([1, 2].map((i) => other.submit({ prompt: `someone else's report ${i}` })));
  // Answers to rate (POST /feedback): a chat request of the fuzzing user, and its reports once they finish.
  const rated = await postJson(`${cloud.url}/chat`, { message: 'An answer to rate' }, KEY);
  // A finished stream of the fuzzing user, to cancel (409).
  const streamedOnce = await streamChat(cloud.url, { apiKey: KEY, body: { message: 'A stream', maxTokens: 20 } });
  const cases = generateFuzzCases(
    SEED,
    CASES,
    {
      key: KEY,
      otherKey: OTHER_KEY,
      reportIds: own.map((r) => r.body.reportId),
      foreignReportIds: foreign.map((r) => r.body.reportId),
      ratedIds: [rated.json.requestId, ...own.map((r) => r.body.reportId)],
      streamIds: [streamedOnce.events[0]?.data.requestId],
    },
    mulberry32,
  );

  const results = await runAll(cases);

  // Grouped by what was fuzzed and what came back, so one defect reads as one line.
  const problems = new Map<string, { count: number; example: string }>();
  for (const { c, res } of results) {
    const problem = problemWith(c, res);
    if (!problem) continue;
    const key = `${c.label} → ${problem.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>').slice(0, 120)}`;
    const seen = problems.get(key);
    if (seen) seen.count++;
    else
      problems.set(key, {
        count: 1,
        example: `${c.requestLine} | ${c.request.subarray(c.request.indexOf('\r\n\r\n') + 4, c.request.indexOf('\r\n\r\n') + 204).toString('utf8')}`,
      });
  }
  const statuses = new Map<number | string, number>();
  for (const { res } of results) statuses.set(res.status ?? 'none', (statuses.get(res.status ?? 'none') ?? 0) + 1);
  console.log(
    `fuzz seed ${SEED}: ${results.length} requests; statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
  const report = [...problems].map(([key, { count, example }]) => `${count}× ${key}\n    e.g. ${example}`);
  expect({ seed: SEED, problems: report }).toEqual({ seed: SEED, problems: [] });

  // Afterwards every route answers a normal request normally.
  const streamed = await streamChat(cloud.url, {
    apiKey: KEY,
    body: { message: 'Still there after the fuzz?', maxTokens: 50 },
  });
  expect(streamed.status).toBe(200);
  expect(streamed.events[0]?.event).toBe('start');
  expect(streamed.events.at(-1)?.event).toBe('end');

  const chat = await postJson(`${cloud.url}/chat`, { message: 'And the synchronous route?' }, KEY);
  expect(chat.status).toBe(200);
  expect(typeof chat.json.text).toBe('string');

  const submitted = await api.submit({ prompt: 'A report after the fuzz', metadata: { after: 'fuzz' } });
  expect(submitted.status).toBe(202);
  const { report: finished } = await waitForReport(api, submitted.body.reportId, {
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  expect(finished.status).toBe('COMPLETED');
  expect((await api.get(submitted.body.reportId)).status).toBe(200);
  expect((await other.get(submitted.body.reportId)).status).toBe(404);

  const rating = { requestId: submitted.body.reportId, rating: 'up', comment: 'Still fine after the fuzz' };
  expect((await postJson(`${cloud.url}/feedback`, rating, KEY)).status).toBe(204);
  expect((await postJson(`${cloud.url}/feedback`, rating, OTHER_KEY)).status).toBe(404);

  // Every route of the table was exercised (its method, and a path its path parameters match).
  for (const route of ROUTES) {
    const exercised = results.some(({ c }) => {
      const [method, target = ''] = c.requestLine.split(' ');
      return method === route.method && matchPath(route.path, target.split('?')[0] ?? '') !== undefined;
    });
    expect({ route: route.id, exercised }).toEqual({ route: route.id, exercised: true });
  }
}, 180_000);
