/**
 * Commands the README shows, run as written: `npm start`'s entry point in a process of its own, `genai breaker`
 * finding it with no endpoint, table, region or credentials given, and the simulator examples in their order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type BreakerAction, breakerAdmin } from '../../cli/admin/breaker';
import { eventually, postJson } from '../helpers/sse';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..', '..');
const stateFile = join(mkdtempSync(join(tmpdir(), 'genai-readme-')), 'local-state.json');

let child: ChildProcess;
let url: string;
let proKey: string;
const output: string[] = [];

/** The admin command's environment: a shell with no AWS settings at all, only where this test's local cloud says it is. */
const adminEnv = () => {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GENAI_LOCAL_STATE: stateFile };
  return env;
};
/** `genai breaker <action> [--model <id>]`, as the command runs it: one status per breaker. */
const admin = async (action: BreakerAction, model?: string) =>
  (await breakerAdmin(action, model === undefined ? {} : { model }, adminEnv())).breakers;

beforeAll(async () => {
  child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', GENAI_LOCAL_STATE: stateFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = createInterface({ input: child.stdout! });
  url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`npm start exited (${code}): ${output.join('\n')}`)));
    lines.on('line', (line) => {
      output.push(line);
      const ready = /ready at (http:\/\/\S+)/.exec(line);
      if (ready) resolve(ready[1]);
    });
  });
  proKey = /^\s*pro\s.*x-api-key: (\S+)/m.exec(output.join('\n'))![1];
});

afterAll(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
  }
});

describe('genai breaker against npm start', () => {
  it('npm start says how to run the CLI', () => {
    expect(output.join('\n')).toMatch(/npx genai --help/);
    expect(existsSync(stateFile)).toBe(true);
  });

  it('forces a breaker open and closed with nothing but the model id', async () => {
    const status = await admin('status');
    expect(status.map((s) => s.state)).toEqual(status.map(() => 'CLOSED'));
    const [primary, fallback] = status.map((s) => s.modelId);

    expect(await admin('open', primary)).toMatchObject([{ modelId: primary, state: 'OPEN' }]);
    const served = await postJson(`${url}/chat`, { message: 'who answers?' }, proKey);
    expect(served.status).toBe(200);
    expect(served.json.model).toBe(fallback);

    expect(await admin('close', primary)).toMatchObject([{ modelId: primary, state: 'CLOSED' }]);
    // Functions cache breaker reads for breaker.cacheMs (1 s): the primary serves again once that has passed.
    const back = await eventually(
      async () => {
        const res = await postJson(`${url}/chat`, { message: 'and now?' }, proKey);
        return res.json.model === primary ? res : undefined;
      },
      5_000,
      250,
    );
    expect(back.status).toBe(200);
  });

  it('the README simulator examples, run in order, do what their comments say', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### The Bedrock simulator'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
    const steps = block.split('\n').filter((l) => l.startsWith('curl'));
    expect(steps.length).toBeGreaterThanOrEqual(5);
    const [primary, fallback] = (await admin('status')).map((s) => s.modelId);

    for (const step of steps) {
      const body = /-d '([^']*)'/.exec(step)?.[1];
      if (!body) continue;
      expect((await postJson(`${url}/_local/model`, body)).status).toBe(200);
      const settings = JSON.parse(body) as { mode: string; model?: string };
      if (settings.mode === 'error' && settings.model !== undefined) {
        // "only the primary model fails, so the fallback serves"
        expect(settings.model).toBe(primary);
        const res = await postJson(`${url}/chat`, { message: 'primary down' }, proKey);
        expect(res.status).toBe(200);
        expect(res.json.model).toBe(fallback);
      }
    }
    // Back to normal at the end: the primary serves again.
    const last = await postJson(`${url}/chat`, { message: 'all well' }, proKey);
    expect(last.json.model).toBe(primary);
  });

  it('removes its state file on Ctrl-C, after which the command says no local cloud runs', async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
    expect(existsSync(stateFile)).toBe(false);
    await expect(admin('status')).rejects.toThrow(/no local cloud is running \(start one with npm start\)/);
  });
});
