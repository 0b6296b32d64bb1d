/**
 * `genai` cancelling and resuming against a local cloud that behaves as Lambda does (`signalDisconnect: false`: a
 * closed connection is never reported to the function, so only the cancel route can stop a model call): Ctrl-C during
 * `chat` cancels on the server, a dropped connection resumes by itself, `report cancel <id>` cancels a report, and
 * Ctrl-C during `report --wait` stops only the waiting.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { GenAIClient } from '../../clients/typescript/src';
import type { CliContext } from '../../cli/context';
import { run } from '../../cli/main';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { ROOMY_PLAN } from '../helpers/local-cloud';
import { eventually } from '../helpers/sse';
import { droppingFetch } from './dropping-fetch';

jest.setTimeout(60_000);

const CLI = join(__dirname, '..', '..', 'cli', 'genai.cjs');
const KEY = 'cli-cancel-key-000000000000000';

let cloud: LocalCloud;
let env: Record<string, string>;

beforeAll(async () => {
  cloud = await startLocalCloud({
    port: 0,
    quiet: true,
    signalDisconnect: false,
    apiKeys: `cli-cancel:roomy:${KEY}`,
    config: {
      plans: { roomy: ROOMY_PLAN },
      streams: { flushIntervalMs: 100 },
      reports: { pollAfterSeconds: 1 },
    },
  });
  env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GENAI_API_URL: cloud.url, GENAI_API_KEY: KEY };
});

afterEach(() => {
  cloud.simulator.configure({ mode: 'normal', ttftMs: 50, tokensPerSecond: 200 });
});

afterAll(async () => {
  await cloud?.stop();
});

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function start(args: readonly string[]): { child: ChildProcess; done: Promise<Result>; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk: Buffer) => (out.stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (out.stderr += chunk.toString('utf8')));
  const done = new Promise<Result>((resolve) => child.once('close', (status) => resolve({ status, ...out })));
  return { child, done, stderr: () => out.stderr };
}

/** `run()` in this process with the given `fetch`, output captured. */
async function inProcess(argv: string[], fetch?: typeof globalThis.fetch): Promise<Result> {
  const out = { stdout: '', stderr: '' };
  const ctx: CliContext = {
    env,
    stdout: { write: (text: string) => (out.stdout += text) },
    stderr: { write: (text: string) => (out.stderr += text) },
    signal: new AbortController().signal,
    ...(fetch ? { fetch } : {}),
  };
  const status = await run(argv, ctx);
  return { status, ...out };
}

const api = () => new GenAIClient({ baseUrl: cloud.url, apiKey: KEY });

describe('genai chat', () => {
  it('Ctrl-C cancels the answer on the server: the model stops though the function never hears of the closed connection', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 10, tokensPerSecond: 10 });
    const cancelledBefore = cloud.simulator.stats.cancelled;
    const { child, done } = start(['chat', 'Take your time', '--max-tokens', '500']);
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill('SIGINT');
    const interruptedAt = performance.now();
    const result = await done;
    expect(result.status).toBe(130);
    expect(result.stderr).toBe('interrupted\n');
    expect(result.stdout.trim().length).toBeGreaterThan(0);
    // The model call is cancelled within the writer's flush interval, and no more tokens go out after it.
    await eventually(() => (cloud.simulator.stats.cancelled > cancelledBefore ? true : undefined), 3_000);
    expect(performance.now() - interruptedAt).toBeLessThan(3_000);
    const tokens = cloud.simulator.stats.tokensSent;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(cloud.simulator.stats.tokensSent).toBe(tokens);
  });

  it('a dropped connection resumes by itself: the whole answer once, and stderr says after which event', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 10, tokensPerSecond: 80 });
    const { fetch: dropping, dropped } = droppingFetch(3);
    const result = await inProcess(['chat', '--json', 'Explain resumable streams', '--max-tokens', '60'], dropping);
    expect(dropped()).toBe(true);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/^resumed after event \d+\n$/);
    const answer = JSON.parse(result.stdout);
    // The stream log holds what the API sent: the text the CLI printed is that, once.
    let stored = '';
    for await (const event of api().resumeStream(answer.requestId)) if (event.type === 'delta') stored += event.text;
    expect(answer.text).toBe(stored);
    expect(answer.usage.outputTokens).toBeGreaterThan(0);
  });
});

describe('genai report', () => {
  it('report cancel <id> cancels a report; again, it exits 1 with ALREADY_FINISHED and the state', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 2_000, tokensPerSecond: 10 });
    const { reportId } = await api().reports.create({ prompt: 'A report nobody needs' });
    const cancelled = await inProcess(['report', 'cancel', reportId]);
    expect(cancelled.status).toBe(0);
    expect(cancelled.stdout).toMatch(new RegExp(`^${reportId} (CANCELLED|cancelling)\\n$`));
    const done = await api().reports.waitFor(reportId, { timeoutMs: 10_000, minIntervalMs: 100, maxIntervalMs: 250 });
    expect(done.status).toBe('CANCELLED');

    const again = await inProcess(['report', 'cancel', reportId, '--json']);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^error: ALREADY_FINISHED: .+\nstatus: CANCELLED\n/);
    expect(again.stdout).toBe('');

    const usage = await inProcess(['report', 'cancel', reportId, '--wait']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/--wait does not apply to report cancel/);
  });

  it('Ctrl-C during report --wait stops waiting and cancels nothing: the report still completes', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 1_500, tokensPerSecond: 200 });
    const { child, done, stderr } = start(['report', 'A report that goes on', '--wait']);
    await eventually(() => (/QUEUED|RUNNING/.test(stderr()) ? true : undefined), 10_000);
    child.kill('SIGINT');
    const result = await done;
    expect(result.status).toBe(130);
    const reportId = /report ([0-9a-f-]{36})/.exec(result.stderr)![1]!;
    expect(result.stderr).toContain(`report ${reportId} goes on; "genai report cancel ${reportId}" cancels it\n`);
    expect(result.stderr.endsWith('interrupted\n')).toBe(true);
    const finished = await api().reports.waitFor(reportId, {
      timeoutMs: 20_000,
      minIntervalMs: 100,
      maxIntervalMs: 500,
    });
    expect(finished.status).toBe('COMPLETED');
  });
});
