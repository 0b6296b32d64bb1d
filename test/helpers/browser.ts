/**
 * Headless Chromium for the browser tests: Debian's `chromium` package (installed by `.ci/run`), driven by
 * `playwright-core`, which never downloads a browser of its own. `CHROMIUM_PATH` points elsewhere.
 *
 * The flags keep Chromium off the network it would otherwise reach for at start (updates, sync, background
 * services): on a machine with no internet those connections fail, many at a time, and slow every test. Playwright
 * gives each launch a fresh profile of its own and removes it on close.
 */
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface HeadlessChromium {
  readonly browser: Browser;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<HeadlessChromium> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    close: () => browser.close(),
  };
}
