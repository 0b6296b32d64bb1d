/**
 * Builds the web playground: `index.html`, one JavaScript bundle and one stylesheet, with content-hashed asset names
 * and no external URL, so the output can be hosted as static files (S3 + CloudFront) next to a deployed API. The local
 * cloud builds the same bundle in memory (local/playground-route.ts).
 *
 *   npm run build:playground                          # → playground/dist/
 *   npm run build:playground -- --out /tmp/site --api-url https://abc123.execute-api.eu-west-1.amazonaws.com/v1
 *
 * `--api-url` sets the API URL the page starts with (default: the page's own origin); the key is always typed in.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { PAGE_CONFIG_ELEMENT_ID, type PageConfig, serializePageConfig } from './src/page-config';

const PLAYGROUND_DIR = __dirname;
const ASSETS_DIR = 'assets';

export interface PlaygroundAsset {
  readonly contentType: string;
  readonly contents: Uint8Array;
}

export interface PlaygroundBundle {
  /** Renders `index.html` with what the page is told (see `src/page-config.ts`). */
  renderIndex(config: PageConfig): string;
  /** The bundle and the stylesheet by path relative to `index.html` (`assets/app-<hash>.js`, `assets/styles-<hash>.css`). */
  readonly assets: ReadonlyMap<string, PlaygroundAsset>;
}

export interface PlaygroundBuildOptions {
  /** @default true */
  readonly minify?: boolean;
}

/** Bundles `src/main.ts` and `styles.css` with esbuild, in memory, and binds `index.html` to their hashed names. */
export async function buildPlayground(options: PlaygroundBuildOptions = {}): Promise<PlaygroundBundle> {
  const result = await build({
    absWorkingDir: PLAYGROUND_DIR,
    entryPoints: { app: 'src/main.ts', styles: 'styles.css' },
    outdir: 'out',
    entryNames: '[name]-[hash]',
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    sourcemap: false,
    // Licences of the bundled packages stay in the bundle, at its end.
    legalComments: 'eof',
    tsconfig: join(PLAYGROUND_DIR, 'tsconfig.json'),
    logLevel: 'silent',
  });
  const assets = new Map<string, PlaygroundAsset>();
  let script: string | undefined;
  let stylesheet: string | undefined;
  for (const file of result.outputFiles) {
    const name = basename(file.path);
    const path = `${ASSETS_DIR}/${name}`;
    if (name.endsWith('.js')) {
      script = path;
      assets.set(path, { contentType: 'text/javascript; charset=utf-8', contents: file.contents });
    } else if (name.endsWith('.css')) {
      stylesheet = path;
      assets.set(path, { contentType: 'text/css; charset=utf-8', contents: file.contents });
    }
  }
  if (!script || !stylesheet) throw new Error('playground build: esbuild produced no script or no stylesheet');

  const template = bindAssets(readFileSync(join(PLAYGROUND_DIR, 'index.html'), 'utf8'), script, stylesheet);
  return {
    assets,
    renderIndex: (config) => replaceOnce(template, CONFIG_PLACEHOLDER, configElement(config)),
  };
}

const CONFIG_PLACEHOLDER = `<script type="application/json" id="${PAGE_CONFIG_ELEMENT_ID}"></script>`;

function configElement(config: PageConfig): string {
  return `<script type="application/json" id="${PAGE_CONFIG_ELEMENT_ID}">${serializePageConfig(config)}</script>`;
}

/** Points the template's `styles.css` and `app.js` references at the hashed assets. */
function bindAssets(template: string, script: string, stylesheet: string): string {
  const withStyles = replaceOnce(template, 'href="styles.css"', `href="${stylesheet}"`);
  return replaceOnce(withStyles, 'src="app.js"', `src="${script}"`);
}

function replaceOnce(text: string, search: string, replacement: string): string {
  const at = text.indexOf(search);
  if (at < 0 || text.indexOf(search, at + 1) >= 0)
    throw new Error(`playground/index.html: expected exactly one ${search}`);
  return text.slice(0, at) + replacement + text.slice(at + search.length);
}

export interface WrittenPlayground {
  readonly outDir: string;
  /** Relative path → bytes (and gzipped bytes), for the build's summary. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly bytes: number; readonly gzipBytes: number }>;
}

/**
 * Writes the static site to `outDir` (emptied first): `index.html` and `assets/`. `apiUrl` is the API URL the page
 * starts with; unset, the page's own origin.
 */
export async function writePlayground(
  outDir: string,
  options: PlaygroundBuildOptions & { readonly apiUrl?: string } = {},
): Promise<WrittenPlayground> {
  if (options.apiUrl !== undefined) assertApiUrl(options.apiUrl);
  const bundle = await buildPlayground(options);
  const out = resolve(outDir);
  await rm(out, { recursive: true, force: true });
  const entries: [string, Uint8Array][] = [
    ['index.html', Buffer.from(bundle.renderIndex(options.apiUrl ? { apiUrl: options.apiUrl } : {}), 'utf8')],
    ...[...bundle.assets].map(([path, asset]): [string, Uint8Array] => [path, asset.contents]),
  ];
  for (const [path, contents] of entries) {
    await mkdir(dirname(join(out, path)), { recursive: true });
    await writeFile(join(out, path), contents);
  }
  return {
    outDir: out,
    files: entries.map(([path, contents]) => ({
      path,
      bytes: contents.byteLength,
      gzipBytes: gzipSync(contents).byteLength,
    })),
  };
}

/** Absolute http(s) URL without credentials, query or fragment: the stage URL. */
function assertApiUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`--api-url: not an absolute URL: ${value}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('--api-url: must be http(s)');
  if (url.username || url.password || url.search || url.hash)
    throw new Error('--api-url: must carry no credentials, query or fragment');
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { out: { type: 'string' }, 'api-url': { type: 'string' } },
  });
  const written = await writePlayground(values.out ?? join(PLAYGROUND_DIR, 'dist'), { apiUrl: values['api-url'] });
  for (const f of written.files)
    console.log(`${f.path.padEnd(36)} ${String(f.bytes).padStart(8)} B  ${String(f.gzipBytes).padStart(7)} B gzip`);
  console.log(`playground written to ${written.outDir}`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
