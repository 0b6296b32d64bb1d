/**
 * Every function's bundle as `cdk synth` builds it (test/helpers/bundles.ts): the file Lambda loads stays within its
 * size budget, ships without a source map, and carries neither the full zod (the request schemas use `zod/mini`, the
 * configuration arrives validated) nor the SDK's default credential chain with its nested STS and SSO clients.
 *
 * The budgets are the measured sizes with about 10% headroom: a bundle that outgrows its budget pulled in something
 * new (README "Cold starts" says how to find what with esbuild's metafile). Raise one knowingly, never to silence this.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FunctionName } from '../../config/routes';
import { FUNCTION_NAMES } from '../../config/schema';
import { type FunctionBundle, synthBundles } from '../helpers/bundles';

/** The most each bundle may weigh, in KB (1024 bytes), minified, without its source map. */
const BUDGET_KB: Readonly<Record<FunctionName, number>> = {
  models: 40,
  authorizer: 280,
  'resume-stream': 275,
  'get-report': 285,
  'cancel-stream': 285,
  feedback: 300,
  'cancel-report': 320,
  'report-dlq': 340,
  'submit-report': 350,
  'webhook-sender': 370,
  chat: 405,
  'chat-stream': 415,
  'openai-chat': 425,
  'report-worker': 490,
};

/** A name only zod's full ("classic") API defines (zod/mini's is `ZodMiniString`); minifiers keep string literals. */
const FULL_ZOD_MARKER = /["']ZodString["']/;
const ZOD_DIR = path.dirname(require.resolve('zod/package.json'));
/** Operations of the nested clients of the SDK's default credential chain (STS web identity, SSO). */
const CREDENTIAL_CHAIN_MARKERS = [/AssumeRoleWithWebIdentity/, /GetRoleCredentials/];

describe('function bundles, as cdk synth builds them', () => {
  let outdir: string;
  let bundles: FunctionBundle[];

  beforeAll(() => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundles-'));
    bundles = synthBundles({ outdir });
  }, 120_000);
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  it('exist for every function', () => {
    expect(bundles.map((b) => b.functionName).sort()).toEqual([...FUNCTION_NAMES].sort());
  });

  it('stay within their budgets, each one file Lambda loads without a source map', () => {
    expect(bundles.map((b) => [b.functionName, path.basename(b.file), b.otherFiles])).toEqual(
      bundles.map((b) => [b.functionName, 'index.js', []]),
    );
    const over = bundles
      .filter((b) => b.bytes / 1024 > BUDGET_KB[b.functionName])
      .map((b) => `${b.functionName}: ${(b.bytes / 1024).toFixed(1)} KB > ${BUDGET_KB[b.functionName]} KB`);
    expect(over).toEqual([]);
  });

  it('carry no full zod and no default credential chain', () => {
    // The marker is what the full zod defines, so its absence means something.
    expect(fs.readFileSync(path.join(ZOD_DIR, 'v4', 'classic', 'schemas.js'), 'utf8')).toMatch(FULL_ZOD_MARKER);
    const found: string[] = [];
    for (const bundle of bundles) {
      const code = fs.readFileSync(bundle.file, 'utf8');
      for (const marker of [FULL_ZOD_MARKER, ...CREDENTIAL_CHAIN_MARKERS]) {
        if (marker.test(code)) found.push(`${bundle.functionName}: ${marker}`);
      }
    }
    expect(found).toEqual([]);
  });
});
