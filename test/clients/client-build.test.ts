/**
 * The client as others get it: bundled for a browser (no Node.js built-ins, no Node globals), type-checked without
 * Node's types (so a Node-only API fails the check), and built into dist/ as ES modules that Node.js imports by the
 * package's name, with declarations a `nodenext` TypeScript project resolves.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';

const ROOT = resolve(__dirname, '../..');
const PACKAGE = join(ROOT, 'clients/typescript');
const TSC = require.resolve('typescript/bin/tsc');

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'genai-client-build-'));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const tsc = (project: string) =>
  spawnSync(process.execPath, [TSC, '--noEmit', '-p', project], { encoding: 'utf8', cwd: ROOT });

describe('browser bundle', () => {
  it('bundles both entries for the browser from the client, eventsource-parser and standardwebhooks alone', async () => {
    const result = await build({
      entryPoints: [join(PACKAGE, 'src/index.ts'), join(PACKAGE, 'src/webhooks.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      minify: true,
      write: false,
      outdir: join(work, 'browser'),
      metafile: true,
      logLevel: 'silent',
    });
    const packages = Object.keys(result.metafile.inputs).map((input) =>
      input.startsWith('node_modules/')
        ? input
            .split('/')
            .slice(1, input.startsWith('node_modules/@') ? 3 : 2)
            .join('/')
        : 'client',
    );
    expect([...new Set(packages)].sort()).toEqual(
      ['@stablelib/base64', 'client', 'eventsource-parser', 'fast-sha256', 'standardwebhooks'].sort(),
    );
    for (const file of result.outputFiles) {
      // Minified, so comments are gone: any of these would be a Node global the browser does not have.
      expect(file.text).not.toMatch(/\bprocess\.\w|\brequire\(|\bBuffer\.\w|\bglobal\.\w/);
    }
  });

  it('the same build fails on a Node.js built-in, so a node: import cannot slip into the browser path', async () => {
    const attempt = build({
      stdin: {
        contents: "export * from './clients/typescript/src';\nexport { randomUUID } from 'node:crypto';",
        resolveDir: ROOT,
        loader: 'ts',
      },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    await expect(attempt).rejects.toMatchObject({
      errors: [expect.objectContaining({ text: 'Could not resolve "node:crypto"' })],
    });
  });

  it('the package’s type check knows no Node.js API (types: [], DOM and ES2022 only)', () => {
    const dir = join(work, 'node-api');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'uses-node.ts'),
      "import { readFileSync } from 'node:fs';\nexport const a = process.env.HOME ?? readFileSync('x');\n",
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(PACKAGE, 'tsconfig.json'),
        // The package's rootDir is its src/; this check emits nothing.
        compilerOptions: { rootDir: '/' },
        include: [join(PACKAGE, 'src'), join(dir, 'uses-node.ts')],
      }),
    );
    const check = tsc(join(dir, 'tsconfig.json'));
    expect(check.status).not.toBe(0);
    expect(check.stdout).toContain("Cannot find module 'node:fs'");
    expect(check.stdout).toContain("Cannot find name 'process'");
    expect(check.stdout).not.toContain('clients/typescript/src/');
  });
});

describe('sources', () => {
  it('name every relative import by its emitted .js file, of a source that exists, as Node.js ES modules need', () => {
    const src = join(PACKAGE, 'src');
    const wrong: string[] = [];
    for (const file of readdirSync(src).filter((name) => name.endsWith('.ts'))) {
      const text = readFileSync(join(src, file), 'utf8');
      for (const [, specifier] of text.matchAll(
        /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]*)['"]/g,
      )) {
        const source = resolve(dirname(join(src, file)), specifier!.replace(/\.js$/, '.ts'));
        if (!specifier!.endsWith('.js') || !existsSync(source)) wrong.push(`${file}: ${specifier}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('dist/ as a package', () => {
  it('builds ES modules and declarations that Node.js imports by name and a nodenext project type-checks', () => {
    // A project beside an installed copy of the package: node_modules/@serverless-genai/client, and its dependencies.
    const project = join(work, 'consumer');
    const installed = join(project, 'node_modules/@serverless-genai/client');
    mkdirSync(installed, { recursive: true });
    cpSync(join(PACKAGE, 'package.json'), join(installed, 'package.json'));
    // `npm run build:client`, into the installed copy.
    const built = spawnSync(
      process.execPath,
      [TSC, '-p', join(PACKAGE, 'tsconfig.json'), '--outDir', join(installed, 'dist')],
      { encoding: 'utf8', cwd: ROOT },
    );
    expect(built.stdout + built.stderr).toBe('');
    expect(built.status).toBe(0);
    for (const dependency of ['eventsource-parser', 'standardwebhooks', '@stablelib/base64', 'fast-sha256']) {
      mkdirSync(join(project, 'node_modules', dependency, '..'), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', dependency), join(project, 'node_modules', dependency), 'dir');
    }
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));

    // Node.js: both entries load, and a stream is read end to end from a server that speaks the contract.
    writeFileSync(
      join(project, 'main.mjs'),
      `
import { createServer } from 'node:http';
import { GenAIClient, GenAIError, measureClientMetrics } from '@serverless-genai/client';
import { webhooks, GenAIWebhookError } from '@serverless-genai/client/webhooks';
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end('id: 1\\nevent: start\\ndata: {"requestId":"r1","model":"m"}\\n\\nid: 2\\nevent: delta\\ndata: {"text":"hi"}\\n\\n' +
    'id: 3\\nevent: end\\ndata: {"model":"m","stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1},"metrics":{"ttftMs":1,"latencyMs":2}}\\n\\n');
}).listen(0, '127.0.0.1', async () => {
  const client = new GenAIClient({ baseUrl: 'http://127.0.0.1:' + server.address().port, apiKey: 'key-0000000000000000000' });
  const types = [];
  for await (const event of client.chatStream({ message: 'hi' })) types.push(event.type);
  server.close();
  const metrics = measureClientMetrics({ sentAt: 0, firstTokenAt: 100, doneAt: 600, outputTokens: 50 });
  console.log(JSON.stringify({ types, metrics, GenAIError: typeof GenAIError, verify: typeof webhooks.verify, GenAIWebhookError: typeof GenAIWebhookError }));
});
`,
    );
    const ran = JSON.parse(execFileSync(process.execPath, [join(project, 'main.mjs')], { encoding: 'utf8' }));
    expect(ran).toEqual({
      types: ['start', 'delta', 'end'],
      metrics: { ttftMs: 100, latencyMs: 600, tokensPerSecond: 100 },
      GenAIError: 'function',
      verify: 'function',
      GenAIWebhookError: 'function',
    });

    // TypeScript under nodenext resolves the declarations: a wrong use is an error (or @ts-expect-error would be).
    writeFileSync(
      join(project, 'check.ts'),
      `
import { GenAIClient, GenAIError, measureClientMetrics, type ChatStreamEvent, type ClientMetrics, type Report } from '@serverless-genai/client';
import { verifyWebhook, type ReportWebhookEvent } from '@serverless-genai/client/webhooks';
export async function use(client: GenAIClient): Promise<number> {
  let n = 0;
  for await (const event of client.chatStream({ message: 'hi' })) {
    const e: ChatStreamEvent = event;
    if (e.type === 'end') n += e.usage.outputTokens;
    // @ts-expect-error a delta has no usage
    if (e.type === 'delta') n += e.usage.outputTokens;
  }
  const report: Report = await client.reports.waitFor('id', { timeoutMs: 1000 });
  // @ts-expect-error status is a string union, not a number
  const status: number = report.status;
  const hook: ReportWebhookEvent = verifyWebhook('whsec_x', '{}', {});
  // @ts-expect-error code is a string
  const code: number = new GenAIError('x', { status: 0, code: 'TIMEOUT', retryable: true }).code;
  const metrics: ClientMetrics = measureClientMetrics({ sentAt: 0, doneAt: 1, outputTokens: n });
  // @ts-expect-error tokensPerSecond is null without output tokens
  const rate: number = metrics.tokensPerSecond;
  return n + status + code + rate + hook.reportId.length;
}
`,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          target: 'ES2022',
          lib: ['ES2022', 'DOM', 'DOM.AsyncIterable'],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        files: ['check.ts'],
      }),
    );
    const check = tsc(join(project, 'tsconfig.json'));
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });
});
