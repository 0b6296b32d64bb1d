/**
 * The static build of the playground (`npm run build:playground`, the same `writePlayground` function), hosted as a
 * deployed team would host it: by a plain static file server on another origin than the API. It must be
 * self-contained (no URL outside the site and the API is ever requested) and work with the API URL and key typed in,
 * through the API's CORS (`api.cors.allowOrigins`).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { modelChain } from '../../config/schema';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { writePlayground, type WrittenPlayground } from '../../playground/build';
import { launchChromium, type HeadlessChromium } from '../helpers/browser';
import { serveDirectory, type StaticSite } from '../helpers/static-site';

jest.setTimeout(90_000);

const KEY = 'static-playground-key-000000000';

let dir: string;
let site: WrittenPlayground;
let server: StaticSite;
let siteOrigin: string;
let cloud: LocalCloud;
let chromium: HeadlessChromium;
let context: BrowserContext | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'playground-static-'));
  site = await writePlayground(join(dir, 'site'));
  // Served as S3 or any web server would serve the build.
  server = await serveDirectory(site.outDir);
  siteOrigin = server.origin;
  [cloud, chromium] = await Promise.all([
    startLocalCloud({
      port: 0,
      quiet: true,
      apiKeys: `carol:pro:${KEY}`,
      config: { api: { cors: { allowOrigins: [siteOrigin] } } },
    }),
    launchChromium(),
  ]);
});

afterAll(async () => {
  await context?.close();
  await chromium?.close();
  await cloud?.stop();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('npm run build:playground', () => {
  test('writes index.html, one script and one stylesheet, none of which names a resource outside the site', async () => {
    const paths = site.files.map((f) => f.path).sort();
    expect(paths).toEqual([
      expect.stringMatching(/^assets\/app-[A-Z0-9]+\.js$/),
      expect.stringMatching(/^assets\/styles-[A-Z0-9]+\.css$/),
      'index.html',
    ]);
    const html = await readFile(join(site.outDir, 'index.html'), 'utf8');
    const css = await readFile(join(site.outDir, paths[1]!), 'utf8');
    const references = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(references.sort()).toEqual(['#main', 'data:,', paths[0], paths[1]].sort());
    // Only the JSON config element besides the bundle: the page's CSP allows no inline script.
    expect([...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual([
      `<script defer src="${paths[0]}">`,
      '<script type="application/json" id="playground-config">',
    ]);
    expect(css).not.toMatch(/@import|url\(\s*['"]?(?!data:)/);
    // Small: the whole page in a few tens of kilobytes compressed.
    const gzipTotal = site.files.reduce((n, f) => n + f.gzipBytes, 0);
    expect(gzipTotal).toBeLessThan(40_000);
  });

  test('--api-url sets the API URL the page starts with; a URL it could not use is refused', async () => {
    const other = await writePlayground(join(dir, 'with-url'), {
      apiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com/v1',
    });
    const html = await readFile(join(other.outDir, 'index.html'), 'utf8');
    expect(html).toContain(
      '<script type="application/json" id="playground-config">{"apiUrl":"https://abc123.execute-api.eu-west-1.amazonaws.com/v1"}</script>',
    );
    await expect(writePlayground(join(dir, 'bad'), { apiUrl: 'ftp://example.com' })).rejects.toThrow(/--api-url/);
    await expect(writePlayground(join(dir, 'bad'), { apiUrl: 'https://user:pw@example.com' })).rejects.toThrow(
      /credentials/,
    );
  });
});

describe('the static site on another origin than the API', () => {
  test('streams and answers with the API URL and key typed in, requesting nothing but the site and the API', async () => {
    context = await chromium.browser.newContext();
    const page = await context.newPage();
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    const errors: Error[] = [];
    page.on('pageerror', (err) => errors.push(err));
    await page.goto(`${siteOrigin}/`);

    // A static host serves no key; the page starts with its own origin, where no API answers.
    expect(await page.getByLabel('API URL').inputValue()).toBe(siteOrigin);
    expect(await page.getByLabel('API key', { exact: true }).inputValue()).toBe('');
    await page.getByLabel('API URL').fill(cloud.url);
    await page.getByLabel('API URL').dispatchEvent('change');
    await page.getByLabel('API key', { exact: true }).fill(KEY);
    await page.getByLabel('API key', { exact: true }).dispatchEvent('change');
    await page.getByRole('button', { name: 'Check connection' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^Connected/ })
      .waitFor({ timeout: 20_000 });

    await page.getByRole('button', { name: 'Send to both' }).click();
    const [primary] = modelChain(cloud.config);
    for (const name of ['Streaming', 'Synchronous']) {
      const pane = page.getByRole('article', { name: new RegExp(`^${name}`) });
      await pane
        .getByRole('status')
        .filter({ hasText: /Done in/ })
        .waitFor({ timeout: 20_000 });
      expect(await pane.locator('[data-metric="model"]').textContent()).toBe(primary);
      expect(await pane.locator('[data-metric="ttft"]').textContent()).toMatch(/^\d+(\.\d+)? m?s$/);
    }
    expect(errors).toEqual([]);
    const origins = new Set(requested.map((u) => new URL(u).origin));
    expect([...origins].sort()).toEqual([siteOrigin, new URL(cloud.url).origin].sort());

    // The typed values survive a reload of this tab (sessionStorage), and the key never reaches the address.
    await page.reload();
    expect(await page.getByLabel('API URL').inputValue()).toBe(cloud.url);
    expect(await page.getByLabel('API key', { exact: true }).inputValue()).toBe(KEY);
    expect(page.url()).toBe(`${siteOrigin}/`);
    expect(requested.some((u) => u.includes(KEY))).toBe(false);
  });
});
