#!/usr/bin/env node
/**
 * Builds the package into dist/ (or the directory given as the first argument): removes the previous build, runs
 * `tsc -p tsconfig.json` (ES modules and declarations), then gives each relative import of the output the `.js`
 * extension that Node.js and browsers resolve ES modules by.
 *
 * The sources import each other without an extension, because the repository's own CommonJS code (ts-jest, tsx, the
 * root type check) imports them directly and cannot resolve `./errors.js` to `./errors.ts`. The rewrite fails the build
 * when an import names no emitted file, so a broken import never ships.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(packageRoot, 'dist'));

// The output directory is emptied first: refuse anything that holds the package's sources.
if (packageRoot.startsWith(outDir) || outDir.startsWith(join(packageRoot, 'src'))) {
  console.error(`build: refusing to empty ${outDir}, which holds the package's sources`);
  process.exit(2);
}
rmSync(outDir, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', join(packageRoot, 'tsconfig.json'), '--outDir', outDir], {
  stdio: 'inherit',
});
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

/** `from './x'`, `export * from './x'`, `import './x'`, `import('./x')` (inline types of declarations). */
const RELATIVE_SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.\.?\/[^'"\n]*)\2/g;

const exists = (path) => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

function withExtension(file, specifier) {
  if (/\.(m?js|json)$/.test(specifier)) return specifier;
  const isDeclaration = file.endsWith('.d.ts');
  const target = resolve(dirname(file), specifier);
  for (const [suffix, emitted] of [
    ['.js', isDeclaration ? '.d.ts' : '.js'],
    ['/index.js', isDeclaration ? '/index.d.ts' : '/index.js'],
  ]) {
    if (exists(target + emitted)) return specifier + suffix;
  }
  throw new Error(`build: ${relative(outDir, file)} imports ${specifier}, which names no emitted file`);
}

function* outputFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* outputFiles(path);
    else if (entry.name.endsWith('.js') || entry.name.endsWith('.d.ts')) yield path;
  }
}

let rewritten = 0;
for (const file of outputFiles(outDir)) {
  const source = readFileSync(file, 'utf8');
  const output = source.replace(RELATIVE_SPECIFIER, (_match, lead, quote, specifier) => {
    const fixed = withExtension(file, specifier);
    if (fixed !== specifier) rewritten += 1;
    return `${lead}${quote}${fixed}${quote}`;
  });
  if (output !== source) writeFileSync(file, output);
}
console.log(`build: ${relative(process.cwd(), outDir) || '.'} written (${rewritten} relative imports given .js)`);
