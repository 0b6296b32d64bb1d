/**
 * Cold start: every function's bundle as the stack builds it (the CDK app synthesised with bundling on, see
 * test/helpers/bundles.ts), loaded in fresh Node processes with the environment the template gives the function
 * (its `NODE_OPTIONS` included), round after round, each load next to an empty module's load in the same format.
 *
 * - bundle KB: the file Lambda loads, minified, without a source map (target ≤ 250 KB).
 * - init ms: loading and evaluating the module (what Lambda's init phase runs before the first invocation), p50.
 * - × empty: init ÷ the empty module's init, measured alternately in the same run.
 * - init ÷ before: init ÷ the init recorded in `bench/results/cold-start-before.json` (target ≤ 35%). Timings move with
 *   the machine's load: record the before (`--record` on that commit) right before measuring, on the same machine.
 *
 *   npx tsx bench/cold-start.bench.ts             # the report (markdown on stdout)
 *   npx tsx bench/cold-start.bench.ts --record    # also records this commit's figures as the "before"
 *
 * Timings follow the machine's load, so a recorded "before" figure is only comparable on a quiet machine. The bench
 * therefore measures the before itself, paired: it builds the bundles of the recorded commit (a temporary git worktree
 * of it, synthesised with the same helper) and each round loads the empty module, the new bundle and the old one in
 * turn. `--before-bundles <dir>` uses bundles kept earlier by `--keep <dir>` instead; outside a git checkout (or
 * with `--recorded-before`) the recorded figures are used.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type FunctionBundle, keepBundles, synthBundles } from '../test/helpers/bundles';
import { percentile, summaryLine, table } from './stats';

const ROUNDS = Number(process.env.COLD_START_ROUNDS ?? 9);
const TARGET = { bundleKB: 250, initShare: 0.35 };
const ROOT = path.join(__dirname, '..');
const BEFORE_FILE = path.join(__dirname, 'results', 'cold-start-before.json');
/** The Node.js the npm scripts run (the Lambda runtime's major version), else this process's. */
const NODE = [path.join(ROOT, 'node_modules', '.bin', 'node')].find((p) => fs.existsSync(p)) ?? process.execPath;

interface FunctionFigures {
  readonly bundleKB: number;
  readonly initP50Ms: number;
  readonly emptyP50Ms: number;
}

interface Recorded {
  readonly commit: string;
  readonly measuredAt: string;
  readonly node: string;
  readonly rounds: number;
  readonly functions: Record<string, FunctionFigures>;
}

/**
 * Loads one module the way Lambda's Node.js runtime does (`import()` for `.mjs`, `require` for `.js`/`.cjs`) and
 * prints how long that took, in ms. The runtime's \`awslambda\` global (response streaming) is there before, as in Lambda.
 */
const LOADER = `
const { performance } = require('node:perf_hooks');
const { pathToFileURL } = require('node:url');
globalThis.awslambda = {
  streamifyResponse: (handler) => handler,
  HttpResponseStream: { from: (stream) => stream },
};
const file = process.argv[2];
const start = performance.now();
const done = () => process.stdout.write(String(performance.now() - start));
if (file.endsWith('.mjs')) import(pathToFileURL(file).href).then(done);
else { require(file); done(); }
`;

function lambdaEnvironment(bundle: FunctionBundle): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_LAMBDA_FUNCTION_NAME: bundle.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${bundle.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: '2026/01/01/[$LATEST]0123456789abcdef',
    AWS_ACCESS_KEY_ID: 'ASIAEXAMPLEEXAMPLE00',
    AWS_SECRET_ACCESS_KEY: 'example-secret-access-key-for-the-bench00',
    AWS_SESSION_TOKEN: 'example-session-token',
    LAMBDA_TASK_ROOT: path.dirname(bundle.file),
    _HANDLER: 'index.handler',
    ...bundle.environment,
  };
}

function loadMs(loader: string, file: string, env: NodeJS.ProcessEnv, cwd: string): number {
  const out = execFileSync(NODE, [loader, file], { env, cwd, encoding: 'utf8' });
  return Number(out);
}

/** The value after a command-line flag, if given. */
function flagValue(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

/** Bundles kept by `--keep`, by function name. */
function keptBundles(dir: string): Map<string, FunctionBundle> {
  const kept = new Map<string, FunctionBundle>();
  for (const name of fs.readdirSync(dir)) {
    const files = fs.readdirSync(path.join(dir, name));
    const fileName = files.find((f) => /^index\.(mjs|js|cjs)$/.test(f));
    if (!fileName) continue;
    const file = path.join(dir, name, fileName);
    kept.set(name, {
      functionName: name as FunctionBundle['functionName'],
      file,
      bytes: fs.statSync(file).size,
      otherFiles: [],
      environment: JSON.parse(fs.readFileSync(path.join(dir, name, 'environment.json'), 'utf8')),
    });
  }
  return kept;
}

/**
 * Builds the bundles of `commit` into `dir` (as `--keep` would): a temporary detached worktree of it, sharing this
 * checkout's node_modules, synthesised by this checkout's bundle helper. Undefined when that is not possible here.
 */
function buildBundlesOf(commit: string, dir: string, work: string): string | undefined {
  const tree = path.join(work, 'before-tree');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    git('worktree', 'add', '--detach', tree, commit);
  } catch (err) {
    process.stderr.write(
      `cannot check out ${commit} (${(err as Error).message.split('\n')[0]}): recorded figures used\n`,
    );
    return undefined;
  }
  try {
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'), 'dir');
    fs.mkdirSync(path.join(tree, 'test', 'helpers'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'test', 'helpers', 'bundles.ts'), path.join(tree, 'test', 'helpers', 'bundles.ts'));
    const script = path.join(tree, 'keep-bundles.ts');
    fs.writeFileSync(
      script,
      [
        "import { keepBundles, synthBundles } from './test/helpers/bundles';",
        'const [outdir, dir] = process.argv.slice(2);',
        'keepBundles(synthBundles({ outdir }), dir);',
      ].join('\n'),
    );
    process.stderr.write(`synthesising the bundles of ${commit.slice(0, 12)} (the before)…\n`);
    execFileSync(path.join(ROOT, 'node_modules', '.bin', 'tsx'), [script, path.join(work, 'before.out'), dir], {
      cwd: tree,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return dir;
  } finally {
    git('worktree', 'remove', '--force', tree);
  }
}

function gitCommit(): string {
  return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
}

const kb = (bytes: number) => bytes / 1024;
const pct = (share: number) => `${(share * 100).toFixed(0)}%`;

function main(): void {
  const record = process.argv.includes('--record');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cold-start-'));
  try {
    process.stderr.write('synthesising the app with bundling on…\n');
    const bundles = synthBundles({ outdir: path.join(work, 'cdk.out') });
    const keepDir = flagValue('--keep');
    if (keepDir) keepBundles(bundles, keepDir);
    const recordedBefore: Recorded | undefined = fs.existsSync(BEFORE_FILE)
      ? (JSON.parse(fs.readFileSync(BEFORE_FILE, 'utf8')) as Recorded)
      : undefined;
    const recordedCommit = recordedBefore?.commit;
    const beforeDir =
      flagValue('--before-bundles') ??
      (recordedCommit && !record && !process.argv.includes('--recorded-before')
        ? buildBundlesOf(recordedCommit, path.join(work, 'before'), work)
        : undefined);
    const beforeBundles = beforeDir ? keptBundles(beforeDir) : new Map<string, FunctionBundle>();
    const beforeInit = new Map<string, number[]>([...beforeBundles.keys()].map((name) => [name, []]));
    const empty = { '.mjs': path.join(work, 'empty.mjs'), '.js': path.join(work, 'empty.js') };
    fs.writeFileSync(empty['.mjs'], 'export {};\n');
    fs.writeFileSync(empty['.js'], '"use strict";\n');
    const loader = path.join(work, 'load.cjs');
    fs.writeFileSync(loader, LOADER);

    const init = new Map<string, number[]>(bundles.map((b) => [b.functionName, []]));
    const emptyInit = new Map<string, number[]>(bundles.map((b) => [b.functionName, []]));
    for (let round = 0; round < ROUNDS; round++) {
      process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
      for (const bundle of bundles) {
        const env = lambdaEnvironment(bundle);
        const emptyFile = bundle.file.endsWith('.mjs') ? empty['.mjs'] : empty['.js'];
        emptyInit.get(bundle.functionName)?.push(loadMs(loader, emptyFile, env, work));
        init.get(bundle.functionName)?.push(loadMs(loader, bundle.file, env, path.dirname(bundle.file)));
        const old = beforeBundles.get(bundle.functionName);
        if (old) {
          const oldEnv = lambdaEnvironment(old);
          beforeInit.get(old.functionName)?.push(loadMs(loader, old.file, oldEnv, path.dirname(old.file)));
        }
      }
    }

    const figures: Record<string, FunctionFigures> = {};
    for (const b of bundles) {
      figures[b.functionName] = {
        bundleKB: Number(kb(b.bytes).toFixed(1)),
        initP50Ms: Number(percentile(init.get(b.functionName) ?? [], 50).toFixed(2)),
        emptyP50Ms: Number(percentile(emptyInit.get(b.functionName) ?? [], 50).toFixed(2)),
      };
    }
    // Paired: the before's init from this very run (its empty-module ratio from the same rounds' empty loads).
    const before: Recorded | undefined =
      beforeBundles.size > 0
        ? {
            commit: `${beforeDir} (measured in this run)`,
            measuredAt: new Date().toISOString(),
            node: '',
            rounds: ROUNDS,
            functions: Object.fromEntries(
              [...beforeBundles.values()].map((b) => [
                b.functionName,
                {
                  bundleKB: Number(kb(b.bytes).toFixed(1)),
                  initP50Ms: Number(percentile(beforeInit.get(b.functionName) ?? [], 50).toFixed(2)),
                  emptyP50Ms: figures[b.functionName]?.emptyP50Ms ?? Number.NaN,
                },
              ]),
            ),
          }
        : recordedBefore;

    const rows: string[][] = [];
    let largest = { name: '', kb: 0 };
    let worst: { name: string; share: number } | undefined;
    for (const b of bundles) {
      const now = figures[b.functionName];
      const then = before?.functions[b.functionName];
      const share = then ? now.initP50Ms / then.initP50Ms : undefined;
      if (now.bundleKB > largest.kb) largest = { name: b.functionName, kb: now.bundleKB };
      if (share !== undefined && (!worst || share > worst.share)) worst = { name: b.functionName, share };
      rows.push([
        b.functionName,
        now.bundleKB.toFixed(1),
        then ? then.bundleKB.toFixed(1) : '–',
        now.initP50Ms.toFixed(1),
        then ? then.initP50Ms.toFixed(1) : '–',
        share === undefined ? '–' : pct(share),
        `${(now.initP50Ms / now.emptyP50Ms).toFixed(1)}×`,
        then ? `${(then.initP50Ms / then.emptyP50Ms).toFixed(1)}×` : '–',
        b.file.endsWith('.mjs') ? 'ESM' : 'CJS',
        b.environment.NODE_OPTIONS ?? '',
      ]);
    }
    const emptyAll = [...emptyInit.values()].flat();

    const out: string[] = [];
    out.push('## Cold start: bundle size and module init per function');
    out.push(
      `Each bundle as \`cdk synth\` builds it, loaded in a fresh Node ${execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim()} ` +
        `process with its template environment, ${ROUNDS} rounds, each load beside an empty module's ` +
        `(empty module p50 ${percentile(emptyAll, 50).toFixed(2)} ms). ` +
        (beforeBundles.size > 0
          ? flagValue('--before-bundles')
            ? `"Before": the bundles kept in \`${beforeDir}\`, loaded in the same rounds.`
            : `"Before": the bundles of commit ${recordedCommit?.slice(0, 12)} (\`bench/results/cold-start-before.json\`), built and loaded in the same rounds.`
          : before
            ? `"Before": \`bench/results/cold-start-before.json\`, commit ${before.commit.slice(0, 12)} (${before.measuredAt}).`
            : 'No recorded "before" (run with `--record` on the commit to compare against).'),
    );
    out.push(
      table(
        [
          'function',
          'bundle KB',
          'before KB',
          'init p50 ms',
          'before ms',
          'init ÷ before',
          '× empty',
          'before × empty',
          'format',
          'NODE_OPTIONS',
        ],
        rows,
      ),
    );
    out.push(
      summaryLine({
        metric: `Largest function bundle (${largest.name})`,
        target: `≤ ${TARGET.bundleKB} KB`,
        value: `${largest.kb.toFixed(1)} KB`,
        met: largest.kb <= TARGET.bundleKB,
      }),
    );
    if (worst) {
      out.push(
        summaryLine({
          metric: `Worst module init, share of before (${worst.name})`,
          target: `≤ ${pct(TARGET.initShare)}`,
          value: pct(worst.share),
          met: worst.share <= TARGET.initShare,
        }),
      );
    }
    console.log(out.join('\n\n'));

    if (record) {
      const recorded: Recorded = {
        commit: gitCommit(),
        measuredAt: new Date().toISOString(),
        node: execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim(),
        rounds: ROUNDS,
        functions: figures,
      };
      fs.mkdirSync(path.dirname(BEFORE_FILE), { recursive: true });
      fs.writeFileSync(BEFORE_FILE, `${JSON.stringify(recorded, null, 2)}\n`);
      process.stderr.write(`recorded ${BEFORE_FILE}\n`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
