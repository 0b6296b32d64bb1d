/**
 * The CDK app reads shared names from `config/`, never from the functions' runtime code: a constant imported from
 * `lambda/` would drag that module's imports (the AWS SDK among them) into every synth. Follows the relative imports of
 * `bin/` and `lib/` transitively.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;

function sourcesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourcesUnder(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function resolveRelative(from: string, specifier: string): string | undefined {
  const base = path.resolve(path.dirname(from), specifier);
  return [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => fs.existsSync(candidate));
}

/** Every module reachable from `entries` through relative imports, and the package imports each makes. */
function reachable(entries: string[]): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    const packages: string[] = [];
    seen.set(file, packages);
    for (const match of fs.readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2];
      if (!specifier.startsWith('.')) {
        packages.push(specifier);
        continue;
      }
      const target = resolveRelative(file, specifier);
      if (target) queue.push(target);
    }
  }
  return seen;
}

describe('imports of the CDK app', () => {
  const modules = reachable([...sourcesUnder(path.join(ROOT, 'bin')), ...sourcesUnder(path.join(ROOT, 'lib'))]);
  const relative = (file: string) => path.relative(ROOT, file);

  it('follows the app into config/', () => {
    expect([...modules.keys()].map(relative)).toEqual(
      expect.arrayContaining(['config/metrics.ts', 'config/schema.ts']),
    );
  });

  it('reach no module of lambda/', () => {
    expect([...modules.keys()].map(relative).filter((file) => file.startsWith('lambda/'))).toEqual([]);
  });

  it('pull in no AWS SDK client', () => {
    const sdk = [...modules].flatMap(([file, packages]) =>
      packages
        .filter((p) => p.startsWith('@aws-sdk/') || p.startsWith('@aws-lambda-powertools/'))
        .map((p) => `${relative(file)}: ${p}`),
    );
    expect(sdk).toEqual([]);
  });
});
