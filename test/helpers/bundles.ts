/**
 * The functions' bundles exactly as the stack builds them: the CDK app is synthesised with asset bundling on (the
 * bundling options of `lib/constructs/base-function.ts`, run by `NodejsFunction` through esbuild) into a cloud
 * assembly, and each function's asset is read from there. Used by the cold-start bench and the bundle tests, so what
 * they measure is what `cdk deploy` uploads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import type { CfnRole } from 'aws-cdk-lib/aws-iam';
import type { Asset } from 'aws-cdk-lib/aws-s3-assets';
import type { FunctionName } from '../../config/routes';
import { buildApp } from '../../lib/app';
import { BaseFunction } from '../../lib/constructs/base-function';

const cdkJson = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

/** Account and Region the bundles are synthesised for (any: bundling does not depend on them). */
export const BUNDLE_ENV = { account: '123456789012', region: 'us-east-1' } as const;

export interface FunctionBundle {
  readonly functionName: FunctionName;
  /** Absolute path of the file Lambda loads (`index.js` or `index.mjs`), without its source map. */
  readonly file: string;
  /** Its size in bytes. */
  readonly bytes: number;
  /** The asset folder's other files (a source map, when there is one). */
  readonly otherFiles: readonly string[];
  /**
   * The function's environment as the template sets it; values only known at deploy time (table names, queue URLs,
   * ARNs) are replaced by stand-ins of the same shape.
   */
  readonly environment: Readonly<Record<string, string>>;
}

export interface SynthBundlesOptions {
  /** Where the cloud assembly (and so the bundles) is written. */
  readonly outdir: string;
  /** Replaces `cdk.json`'s `genai` configuration. */
  readonly genai?: unknown;
}

/** Synthesises the app with bundling on and returns every function's bundle, in construct order. */
export function synthBundles({ outdir, genai }: SynthBundlesOptions): FunctionBundle[] {
  const context: Record<string, unknown> = { ...cdkJson.context };
  if (genai !== undefined) context.genai = genai;
  const app = new App({ context, outdir });
  const stack = buildApp(app, { nag: false, env: BUNDLE_ENV });
  const assembly = app.synth();
  const template = assembly.getStackArtifact(stack.artifactId).template as {
    Resources: Record<
      string,
      { Properties: { Handler: string; Environment?: { Variables?: Record<string, unknown> } } }
    >;
  };
  const functions = stack.node.findAll().filter((c): c is BaseFunction => c instanceof BaseFunction);
  return functions.map((fn) => {
    const code = fn.function.node.findChild('Code') as Asset;
    const dir = path.join(assembly.directory, code.assetPath);
    const logicalId = Stack.of(fn).getLogicalId(fn.function.node.defaultChild as CfnElement);
    const { Handler, Environment } = template.Resources[logicalId].Properties;
    const moduleName = Handler.slice(0, Handler.lastIndexOf('.'));
    const files = fs.readdirSync(dir);
    const fileName = ['.mjs', '.js', '.cjs'].map((ext) => moduleName + ext).find((f) => files.includes(f));
    if (!fileName) throw new Error(`${fn.functionName}: no ${moduleName}.{mjs,js,cjs} in ${dir}`);
    const file = path.join(dir, fileName);
    return {
      functionName: fn.functionName ?? nameFromRole(fn),
      file,
      bytes: fs.statSync(file).size,
      otherFiles: files.filter((f) => f !== fileName),
      environment: standInEnvironment(Environment?.Variables ?? {}),
    };
  });
}

/** Copies each bundle and its environment to `dir/<function>/` (the cold-start bench's `--keep` and its before). */
export function keepBundles(bundles: readonly FunctionBundle[], dir: string): void {
  for (const b of bundles) {
    const to = path.join(dir, b.functionName);
    fs.mkdirSync(to, { recursive: true });
    fs.copyFileSync(b.file, path.join(to, path.basename(b.file)));
    fs.writeFileSync(path.join(to, 'environment.json'), JSON.stringify(b.environment));
  }
}

/**
 * The function's name from its role's description (`Execution role of the <name> function`), for the commits before
 * `BaseFunction` exposed `functionName`, whose bundles the cold-start bench builds as its "before".
 */
function nameFromRole(fn: BaseFunction): FunctionName {
  const description = (fn.role.node.defaultChild as CfnRole).description ?? '';
  const name = /^Execution role of the (\S+) function$/.exec(description)?.[1];
  if (!name) throw new Error(`${fn.node.path}: no function name`);
  return name as FunctionName;
}

/** The template's environment variables, with values resolved only at deploy time replaced by stand-ins. */
function standInEnvironment(variables: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) {
    if (typeof value === 'string') env[name] = value;
    else if (name.endsWith('_URL'))
      env[name] = `https://sqs.${BUNDLE_ENV.region}.amazonaws.com/${BUNDLE_ENV.account}/q`;
    else if (name.endsWith('_ARN')) {
      env[name] = `arn:aws:secretsmanager:${BUNDLE_ENV.region}:${BUNDLE_ENV.account}:secret:s-AbCdEf`;
    } else env[name] = name.toLowerCase().replaceAll('_', '-');
  }
  return env;
}
