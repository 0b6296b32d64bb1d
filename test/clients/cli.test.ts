/**
 * The `genai` CLI as a user runs it: `node cli/genai.cjs …` in a child process, against a local cloud started here and
 * found through a state file of this test's own (GENAI_LOCAL_STATE), with no AWS settings in its environment. Usage
 * mistakes are also checked in-process through `run()`, which is what the child process runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { breakerAdmin } from '../../cli/admin/breaker';
import type { CliContext } from '../../cli/context';
import { run } from '../../cli/main';
import { DEFAULT_PLANS } from '../../config/schema';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { localCloudState, writeLocalState } from '../../local/state-file';
import { eventually } from '../helpers/sse';

jest.setTimeout(60_000);

const CLI = join(__dirname, '..', '..', 'cli', 'genai.cjs');
const PRO_KEY = 'cli-pro-key-000000000000000000';
const dir = mkdtempSync(join(tmpdir(), 'genai-cli-'));
const [FREE_RATE, FREE_BURST] = [0.5, 2];
const stateEnv = { GENAI_LOCAL_STATE: join(dir, 'local-state.json') };

let cloud: LocalCloud;
let primary: string;
let fallback: string;

interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `genai …` with only PATH, HOME and the state file in its environment (plus `env`). */
function start(
  args: readonly string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...stateEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk: Buffer) => (out.stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (out.stderr += chunk.toString('utf8')));
  const done = new Promise<Result>((resolve) =>
    child.once('close', (status, signal) => resolve({ status, signal, ...out })),
  );
  return { child, done };
}

const genai = (...args: string[]) => start(args).done;

/** How the CLI prints a duration: `23 ms` below a second, `1.42 s` from one (a loaded machine's first call may). */
const DURATION = '(?:\\d+ ms|\\d+\\.\\d{2} s)';

/** `run()` in this process, with captured output: for the checks that need no API. */
async function inProcess(argv: string[], env: NodeJS.ProcessEnv = stateEnv): Promise<Result> {
  const out = { stdout: '', stderr: '' };
  const ctx: CliContext = {
    env,
    stdout: { write: (text: string) => (out.stdout += text) },
    stderr: { write: (text: string) => (out.stderr += text) },
    signal: new AbortController().signal,
  };
  const status = await run(argv, ctx);
  return { status, signal: null, ...out };
}

beforeAll(async () => {
  cloud = await startLocalCloud({
    port: 0,
    quiet: true,
    apiKeys: `cli-pro:pro:${PRO_KEY}`,
    config: {
      // `report --wait` polls as Retry-After says: keep it short here.
      reports: { pollAfterSeconds: 1 },
      // A bucket of two calls refilled at one every two seconds: the bench's first stream and sync calls fit, and the
      // next call, once one of them answers, does not, however slowly this machine answers. (With the default free
      // plan, 5 and then 2 a second, a loaded machine may never get past the bucket in a 2-second run.)
      plans: { ...DEFAULT_PLANS, free: { ...DEFAULT_PLANS.free!, rateLimit: FREE_RATE, burstLimit: FREE_BURST } },
    },
  });
  writeLocalState(localCloudState(cloud), stateEnv);
  [primary, fallback] = [cloud.config.models.primary, cloud.config.models.fallbacks[0]!];
});

afterEach(() => {
  cloud.simulator.configure({ mode: 'normal' });
});

afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('genai chat', () => {
  it('streams the answer to stdout and the metrics to stderr; --sync gets the same text from POST /chat', async () => {
    const [streamed, sync] = await Promise.all([
      genai('chat', 'What is a circuit breaker?'),
      genai('chat', '--sync', '--json', 'What is a circuit breaker?'),
    ]);
    expect(streamed.status).toBe(0);
    // The simulator's answer is derived from the prompt: the streamed text is the whole answer, and stdout is only it.
    expect(streamed.stdout).toBe(`${JSON.parse(sync.stdout).text}\n`);
    expect(streamed.stdout.split(' ').length).toBeGreaterThanOrEqual(20);
    expect(streamed.stderr).toMatch(
      new RegExp(
        `^TTFT ${DURATION} · latency ${DURATION} · [\\d.]+ tokens/s · model ${primary.replace(/\./g, '\\.')}\\n$`,
      ),
    );
  });

  it('--json prints one object: the answer, its usage, the metrics measured here and the API’s own', async () => {
    const { status, stdout, stderr } = await genai(
      'chat',
      '--json',
      '--system',
      'Be brief.',
      '--max-tokens',
      '12',
      'Hi',
    );
    expect(status).toBe(0);
    expect(stderr).toBe('');
    const answer = JSON.parse(stdout);
    expect(answer).toEqual({
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      model: primary,
      text: expect.any(String),
      stopReason: 'max_tokens',
      usage: { inputTokens: expect.any(Number), outputTokens: 12 },
      costUsd: expect.any(Number),
      cached: false,
      metrics: { ttftMs: expect.any(Number), latencyMs: expect.any(Number), tokensPerSecond: expect.any(Number) },
      apiMetrics: { ttftMs: expect.any(Number), latencyMs: expect.any(Number) },
    });
    expect(answer.metrics.ttftMs).toBeLessThanOrEqual(answer.metrics.latencyMs);
    expect(answer.metrics.tokensPerSecond).toBeGreaterThan(0);
  });

  it('--sync prints the same metrics line, its TTFT being its latency', async () => {
    const [human, json] = await Promise.all([
      genai('chat', '--sync', 'Hello'),
      genai('chat', '--sync', '--json', 'Hi'),
    ]);
    expect(human.status).toBe(0);
    expect(human.stdout.trim().length).toBeGreaterThan(0);
    const line = new RegExp(`^TTFT (${DURATION}) · latency (${DURATION}) · [\\d.]+ tokens/s · model (\\S+)\\n$`).exec(
      human.stderr,
    );
    expect(line).not.toBeNull();
    expect(line![1]).toBe(line![2]);
    expect(line![3]).toBe(primary);
    const { metrics } = JSON.parse(json.stdout);
    expect(metrics.ttftMs).toBe(metrics.latencyMs);
  });

  it('--model-info adds the request id, the serving model, the token counts and the cost at the API’s prices', async () => {
    const [info, json] = await Promise.all([
      genai('chat', '--model-info', 'Price this'),
      genai('chat', '--json', 'Price this'),
    ]);
    expect(info.status).toBe(0);
    const { costUsd, usage } = JSON.parse(json.stdout);
    expect(costUsd).toBeGreaterThan(0);
    expect(info.stderr).toContain(`served by:   ${primary}\n`);
    expect(info.stderr).toContain(`tokens:      ${usage.inputTokens} in, ${usage.outputTokens} out\n`);
    // The simulator's answer to the same prompt is the same, so is its cost.
    expect(info.stderr).toContain(`cost:        $${costUsd}\n`);
  });

  it('Ctrl-C cancels a slow stream: the text so far stays, exit 130 at once, and the model stops generating', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 10, tokensPerSecond: 4 });
    const cancelledBefore = cloud.simulator.stats.cancelled;
    const { child, done } = start(['chat', 'Take your time']);
    // The first words arrive while the answer is still being generated: stdout is written as deltas come.
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    const interruptedAt = performance.now();
    child.kill('SIGINT');
    const result = await done;
    expect(performance.now() - interruptedAt).toBeLessThan(1_500);
    expect(result.status).toBe(130);
    expect(result.stdout.trim().length).toBeGreaterThan(0);
    expect(result.stdout.endsWith('\n')).toBe(true);
    expect(result.stderr).toBe('interrupted\n');
    // The connection closed with the request: the local gateway tells the function, which cancels the model call.
    await eventually(() => (cloud.simulator.stats.cancelled > cancelledBefore ? true : undefined), 5_000);
  });

  it('an error after the answer started keeps the partial text, prints the error and exits 1', async () => {
    cloud.simulator.configure({ mode: 'midstream-error' });
    const { status, stdout, stderr } = await genai('chat', 'Fail half way');
    expect(status).toBe(1);
    expect(stdout.trim().length).toBeGreaterThan(0);
    expect(stderr).toMatch(/^error: MODEL_STREAM_ERROR: .+\nrequest id: [0-9a-f-]{36}\n$/);
  });

  it('API errors exit 1 with their code, and the Retry-After the API sent', async () => {
    cloud.simulator.configure({ mode: 'error', ttftMs: 5 });
    const [unavailable, badKey, tooLong] = await Promise.all([
      genai('chat', '--sync', 'Nobody home'),
      genai('chat', '--key', 'not-a-key-of-this-cloud-0000', 'Hi'),
      genai('chat', '--max-tokens', '999999', 'Hi'),
    ]);
    expect(unavailable.status).toBe(1);
    expect(unavailable.stderr).toMatch(/^error: MODEL_UNAVAILABLE: .+\nretry after \d+s\n/);
    expect(badKey.status).toBe(1);
    expect(badKey.stderr).toMatch(/^error: FORBIDDEN: Forbidden\n/);
    expect(tooLong.status).toBe(1);
    expect(tooLong.stderr).toMatch(/^error: VALIDATION_ERROR: maxTokens/);
    for (const model of [primary, fallback]) await breakerAdmin('close', { model }, stateEnv);
  });
});

describe('genai report and models', () => {
  it('report --wait shows the status changes on stderr and prints the result; without it, the id', async () => {
    const [waited, submitted] = await Promise.all([
      genai('report', 'Summarise the week', '--wait'),
      genai('report', 'Summarise the month', '--json', '--idempotency-key', 'cli-test-1'),
    ]);
    expect(waited.status).toBe(0);
    expect(waited.stdout.trim().split(' ').length).toBeGreaterThanOrEqual(20);
    // Not a terminal: status lines only, no spinner.
    expect(waited.stderr).toMatch(
      new RegExp(`^report [0-9a-f-]{36}: QUEUED \\(${DURATION}\\)\n(.*\n)*report [0-9a-f-]{36}: COMPLETED`),
    );
    expect(waited.stderr).not.toMatch(/\r/);
    expect(submitted.status).toBe(0);
    const accepted = JSON.parse(submitted.stdout);
    expect(accepted).toMatchObject({ status: 'QUEUED', replayed: false });
    expect(accepted.statusUrl).toBe(`${cloud.url}/reports/${accepted.reportId}`);
  });

  it('models lists the configured models; --json in the OpenAI list shape', async () => {
    const [plain, json] = await Promise.all([genai('models'), genai('models', '--json')]);
    expect(plain.status).toBe(0);
    expect(plain.stdout.split('\n')).toEqual(expect.arrayContaining([primary, fallback]));
    expect(JSON.parse(json.stdout)).toMatchObject({
      object: 'list',
      data: expect.arrayContaining([
        { id: primary, object: 'model', created: expect.any(Number), owned_by: expect.any(String) },
      ]),
    });
  });
});

describe('genai keys and breaker on the local cloud', () => {
  let freeKey: string;

  it('keys create issues a key the running local cloud accepts at once, and prints only the key on stdout', async () => {
    const created = await genai('keys', 'create', '--user', 'carol', '--plan', 'free');
    expect(created.status).toBe(0);
    expect(created.stdout).toMatch(/^local-free-[0-9a-f]{32}\n$/);
    expect(created.stderr).toMatch(/Created API key \w+ for user carol on plan free \(the local cloud at /);
    freeKey = created.stdout.trim();
    const used = await genai('chat', '--key', freeKey, '--bearer', '--json', 'Hello from carol');
    expect(used.status).toBe(0);
    expect(JSON.parse(used.stdout).text.length).toBeGreaterThan(0);
  });

  it('bench with the new free key: stream and sync side by side, its rate limit showing as a share of 429s', async () => {
    // The previous test's call took a token: wait until the bucket is full again.
    await new Promise((resolve) => setTimeout(resolve, (FREE_BURST / FREE_RATE) * 1000));
    const { status, stdout } = await genai(
      'bench',
      '--key',
      freeKey,
      '--duration',
      '2',
      '--concurrency',
      '2',
      '--json',
    );
    expect(status).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.settings).toEqual({
      concurrency: 2,
      durationSeconds: 2,
      maxRequests: 200,
      timeoutSeconds: 30,
      maxTokens: 64,
    });
    const percentiles = { p50: expect.any(Number), p99: expect.any(Number) };
    for (const mode of ['stream', 'sync']) {
      expect(result[mode]).toMatchObject({
        requests: expect.any(Number),
        ttftMs: percentiles,
        latencyMs: percentiles,
        tokensPerSecond: percentiles,
        serverErrors: 0,
      });
      expect(result[mode].ok).toBeGreaterThan(0);
    }
    // The free plan's bucket here holds two calls: the third is throttled.
    expect(result.total.requests).toBe(result.stream.requests + result.sync.requests);
    expect(result.total.rateLimited).toBeGreaterThan(0);
    expect(result.total.rateLimitedShare).toBeCloseTo(result.total.rateLimited / result.total.requests, 3);
    expect(result.total.errors.THROTTLED).toBe(result.total.rateLimited);
    expect(result.elapsedMs).toBeLessThan(2_000 + 30_000);
  });

  it('bench stops at --requests and prints a table of stream against sync', async () => {
    const { status, stdout } = await genai('bench', '--requests', '6', '--concurrency', '3', '--duration', '30');
    expect(status).toBe(0);
    expect(stdout).toMatch(/^\| {2}\| stream \| sync \|\n/);
    expect(stdout).toMatch(/\| requests \| 3 \| 3 \|/);
    expect(stdout).toMatch(new RegExp(`\\| TTFT p50 \\| ${DURATION} \\| ${DURATION} \\|`));
    expect(stdout).toMatch(/\| 429 \| 0 \(0\.0%\) \| 0 \(0\.0%\) \|/);
    expect(stdout).toMatch(/6 calls in .* at concurrency 3/);
  });

  it('breaker open sends calls to the fallback until breaker close', async () => {
    const opened = await genai('breaker', 'open', '--model', primary, '--json');
    expect(opened.status).toBe(0);
    expect(JSON.parse(opened.stdout)).toMatchObject([{ modelId: primary, state: 'OPEN', forced: true }]);
    expect(opened.stderr).toBe(`breakers of the local cloud at ${cloud.url}\n`);
    // The bench above left each instance a fresh read of the breaker: running instances learn the change within
    // `breaker.cacheMs`, as the README says.
    await new Promise((resolve) => setTimeout(resolve, cloud.config.breaker.cacheMs));
    const [status, served] = await Promise.all([genai('breaker', 'status'), genai('chat', 'Who answers?')]);
    expect(status.stdout).toMatch(
      new RegExp(`\\| ${primary.replace(/\./g, '\\.')} \\| OPEN \\| 0 \\| yes \\| until close \\|`),
    );
    expect(served.stderr).toMatch(new RegExp(`model ${fallback.replace(/\./g, '\\.')}\\n`));
    const closed = await genai('breaker', 'close', '--model', primary, '--json');
    expect(JSON.parse(closed.stdout)).toMatchObject([{ modelId: primary, state: 'CLOSED' }]);
  });
});

describe('exit statuses a script can rely on', () => {
  it.each([
    [['chat'], /^error: missing <message>\nrun "genai chat --help" for usage\n$/],
    [['chat', 'hi', '--max-tokens', 'lots'], /^error: --max-tokens must be a whole number from 1 to/],
    [['chat', 'hi', '--colour'], /^error: unknown option --colour\n/],
    [['chat', 'hi', '--system'], /^error: --system needs a value\n/],
    [['chat', 'hi', '--json=yes'], /^error: --json takes no value\n/],
    [['chat', 'hi', 'there'], /^error: unexpected argument "there"/],
    [['bench', '--concurrency', '1000'], /^error: --concurrency must be a whole number from 1 to 64/],
    [['bench', '--duration', '0'], /^error: --duration must be a whole number from 1 to 600/],
    [['report', 'x', '--timeout', '5'], /^error: --timeout applies to --wait only\n/],
    [['report', 'x', '--metadata', '[1]'], /^error: --metadata must be a JSON object\n/],
    [['breaker', 'reset'], /^error: unknown breaker command "reset"/],
    [['breaker', 'open'], /^error: breaker open needs --model\n/],
    [['breaker', 'status', '--seconds', '5'], /^error: --seconds applies to open only\n/],
    [['keys', 'create', '--user', 'dave'], /^error: --plan is required\n/],
    [
      ['chat', 'hi', '--url', 'ftp://example.com'],
      /^error: --url "ftp:\/\/example.com" must be an http or https URL\n/,
    ],
    [['launch'], /^error: unknown command "launch"/],
    [[], /^error: missing command/],
  ])('usage error %j exits 2 and names what is wrong', async (argv, message) => {
    const { status, stdout, stderr } = await inProcess(argv);
    expect(stderr).toMatch(message);
    expect(status).toBe(2);
    expect(stdout).toBe('');
  });

  it('the real process: a usage error exits 2, --help and --version exit 0', async () => {
    const [usage, help, chatHelp, version] = await Promise.all([
      genai('chat', 'hi', '--max-tokens', '-3'),
      genai('--help'),
      genai('chat', '--help'),
      genai('--version'),
    ]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^error: --max-tokens needs a value\n/);
    expect(help.status).toBe(0);
    for (const command of ['chat', 'report', 'models', 'bench', 'keys', 'breaker']) {
      expect(help.stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'));
    }
    expect(help.stdout).toMatch(/^ {2}130 +interrupted/m);
    expect(chatHelp.stdout).toMatch(/^Usage: genai chat <message> \[options\]/);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('cannot reach the API, or no local cloud and no --url: exit 3', async () => {
    // A port that was free a moment ago: nothing listens on it.
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const [refused, noCloud, noCloudKeys] = await Promise.all([
      genai('models', '--url', `http://127.0.0.1:${port}`, '--key', PRO_KEY),
      start(['chat', 'hi'], { GENAI_LOCAL_STATE: join(dir, 'absent.json') }).done,
      start(['keys', 'create', '--user', 'erin', '--plan', 'free'], { GENAI_LOCAL_STATE: join(dir, 'absent.json') })
        .done,
    ]);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toMatch(/^error: UNREACHABLE: GET \/models failed: .*ECONNREFUSED/);
    expect(noCloud.status).toBe(3);
    expect(noCloud.stderr).toBe(
      'error: UNREACHABLE: no API to call: pass --url or set GENAI_API_URL, or start the local cloud with npm start\n',
    );
    expect(noCloudKeys.status).toBe(3);
    expect(noCloudKeys.stderr).toMatch(/^error: UNREACHABLE: no local cloud is running/);
  });
});

describe('POST /_local/keys', () => {
  type ErrorBody = { error: { code: string; message: string } };

  const post = (body: unknown, authorization?: string) =>
    fetch(`${cloud.url}/_local/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
    });

  it('issues nothing without the admin token', async () => {
    const [none, wrong] = await Promise.all([
      post({ userId: 'mallory', plan: 'pro' }),
      post({ userId: 'mallory', plan: 'pro' }, `Bearer ${'x'.repeat(cloud.adminToken.length)}`),
    ]);
    for (const res of [none, wrong]) {
      expect(res.status).toBe(401);
      expect(((await res.json()) as ErrorBody).error.code).toBe('UNAUTHORIZED');
    }
  });

  it.each([
    [{ userId: 'a b', plan: 'pro' }, /^userId: /],
    [{ userId: 'dave', plan: 'gold' }, /^plan: must be one of free, pro$/],
    [{ userId: 'dave', plan: 'pro', key: 'mine-mine-mine-mine-mine' }, /^key: unknown field/],
    ['not an object', /^body: must be a JSON object$/],
  ])('answers 400 naming the field for %j', async (body, message) => {
    const res = await post(body, `Bearer ${cloud.adminToken}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error).toMatchObject({
      code: 'VALIDATION_ERROR',
      message: expect.stringMatching(message),
    });
  });

  it('takes POST only', async () => {
    const res = await fetch(`${cloud.url}/_local/keys`, { headers: { authorization: `Bearer ${cloud.adminToken}` } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });
});
