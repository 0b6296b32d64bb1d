/**
 * The import directions the architecture relies on (docs/architecture.md): function code never pulls in the CDK app or
 * the local cloud (so bundles stay small and handlers have no "local mode"), the CDK app never pulls in the local
 * cloud, and the core's decisions never touch an AWS SDK (its adapters in `lambda/aws/` do).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(ROOT, path)).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:from\s+|import\(|require\()\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
}

/** Imports of `file` that resolve into one of `folders`, or name one of `packages`. */
function offending(file: string, folders: string[], packages: string[] = []): string[] {
  return imports(file).filter((spec) => {
    if (packages.some((p) => spec === p || spec.startsWith(`${p}/`))) return true;
    if (!spec.startsWith('.')) return false;
    const target = relative(ROOT, join(ROOT, file, '..', spec));
    return folders.some((f) => target === f || target.startsWith(`${f}/`));
  });
}

/** Imports of `file` that leave the `within` folders, or name a package not in `packages`. */
function leaving(file: string, within: string[], packages: string[]): string[] {
  return imports(file).filter((spec) => {
    if (!spec.startsWith('.')) return !packages.some((p) => spec === p || spec.startsWith(`${p}/`));
    const target = relative(ROOT, join(ROOT, file, '..', spec));
    return !within.some((f) => target === f || target.startsWith(`${f}/`));
  });
}

describe('import boundaries', () => {
  it.each(sources('lambda'))('%s imports neither the CDK app nor the local cloud', (file) => {
    expect(
      offending(
        file,
        ['lib', 'bin', 'local', 'scripts', 'test', 'openapi', 'cli'],
        ['aws-cdk-lib', 'constructs', 'cdk-nag'],
      ),
    ).toEqual([]);
  });

  it.each(sources('lambda/core'))('%s decides without the AWS SDK or its adapters', (file) => {
    expect(offending(file, ['lambda/aws', 'lambda/functions'], ['@aws-sdk', '@smithy'])).toEqual([]);
  });

  it.each([...sources('lib'), ...sources('bin')])('%s does not import the local cloud', (file) => {
    expect(offending(file, ['local', 'test', 'cli'])).toEqual([]);
  });

  it.each(sources('config'))('%s stays free of the CDK and of runtime code', (file) => {
    expect(
      offending(file, ['lib', 'bin', 'local', 'lambda', 'openapi', 'cli'], ['aws-cdk-lib', 'constructs', '@aws-sdk']),
    ).toEqual([]);
  });

  it.each(sources('openapi'))('%s describes the contract without the CDK, the AWS SDK or the local cloud', (file) => {
    expect(
      offending(
        file,
        ['lib', 'bin', 'local', 'lambda/aws', 'lambda/functions'],
        ['aws-cdk-lib', 'constructs', '@aws-sdk', '@smithy'],
      ),
    ).toEqual([]);
  });

  it.each(sources('cli'))('%s (the genai CLI) runs without the CDK and without the tests', (file) => {
    expect(offending(file, ['test', 'lib/constructs'], ['aws-cdk-lib', 'constructs', 'cdk-nag'])).toEqual([]);
  });

  // The client is published on its own: nothing of the repository, and only its two declared dependencies (its own
  // name appears in the examples of its doc comments).
  it.each(sources('clients/typescript/src'))('%s (the typed client) stands alone', (file) => {
    const packages = ['eventsource-parser', 'standardwebhooks', '@serverless-genai/client'];
    expect(leaving(file, ['clients/typescript/src'], packages)).toEqual([]);
  });

  // The playground is a static site: it reaches the API through the typed client only, and no Node.js module.
  it.each(sources('playground/src'))('%s (the playground) uses only the typed client', (file) => {
    expect(leaving(file, ['playground/src', 'clients/typescript/src'], [])).toEqual([]);
  });
});
