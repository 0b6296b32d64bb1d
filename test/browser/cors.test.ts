/**
 * A page on another origin calls the API from headless Chromium, through CORS: it streams `POST /chat/stream` with
 * `fetch` and a ReadableStream reader, reads the request id of the answer, and reads the gateway's own error; a page
 * on an origin the API does not allow is refused by the browser before its request is sent.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { launchChromium, type HeadlessChromium } from '../helpers/browser';
import { serveBlankPage, type StaticSite } from '../helpers/static-site';

jest.setTimeout(90_000);

const KEY = 'cors-browser-key-00000000000000';

let allowedSite: StaticSite;
let strangerSite: StaticSite;
let cloud: LocalCloud;
let chromium: HeadlessChromium;
let context: BrowserContext | undefined;

beforeAll(async () => {
  // Two sites with one empty page each, whose origins the test's scripts run on: one allowed, one not.
  [allowedSite, strangerSite] = await Promise.all([serveBlankPage(), serveBlankPage()]);
  [cloud, chromium] = await Promise.all([
    startLocalCloud({
      port: 0,
      quiet: true,
      apiKeys: `erin:pro:${KEY}`,
      config: { api: { cors: { allowOrigins: [allowedSite.origin] } } },
    }),
    launchChromium(),
  ]);
  context = await chromium.browser.newContext();
});

afterAll(async () => {
  await context?.close();
  await chromium?.close();
  await cloud?.stop();
  await Promise.all([allowedSite?.close(), strangerSite?.close()]);
});

async function pageOn(site: StaticSite): Promise<Page> {
  const page = await context!.newPage();
  await page.goto(`${site.origin}/`);
  return page;
}

interface StreamSeen {
  status: number;
  requestId: string | null;
  events: { event: string; data: unknown }[];
}

/** In the page: POST /chat/stream, read the body with a ReadableStream reader, parse the SSE events as they come. */
function streamFromPage(page: Page): Promise<StreamSeen> {
  return page.evaluate(
    async ({ api, key }) => {
      const res = await fetch(`${api}/chat/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify({ message: 'Hello from another origin', maxTokens: 64 }),
      });
      const events: { event: string; data: unknown }[] = [];
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (data.length) events.push({ event, data: JSON.parse(data.join('\n')) });
        }
      }
      return { status: res.status, requestId: res.headers.get('x-request-id'), events };
    },
    { api: cloud.url, key: KEY },
  );
}

describe('a page on an allowed origin', () => {
  it('streams an answer through CORS: start, deltas, end, and reads its request id', async () => {
    const page = await pageOn(allowedSite);
    const seen = await streamFromPage(page);
    expect(seen.status).toBe(200);
    const names = seen.events.map((e) => e.event);
    expect(names[0]).toBe('start');
    expect(names.filter((n) => n === 'delta').length).toBeGreaterThan(1);
    expect(names.at(-1)).toBe('end');
    const start = seen.events[0].data as { requestId: string };
    expect(seen.requestId).toBe(start.requestId);
    const text = seen.events
      .filter((e) => e.event === 'delta')
      .map((e) => (e.data as { text: string }).text)
      .join('');
    expect(text.length).toBeGreaterThan(0);
    await page.close();
  });

  it("reads the gateway's own error (a missing key) and its request id", async () => {
    const page = await pageOn(allowedSite);
    const seen = await page.evaluate(async (api) => {
      const res = await fetch(`${api}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'Hello' }),
      });
      return { status: res.status, body: await res.json(), requestId: res.headers.get('x-request-id') };
    }, cloud.url);
    expect(seen).toEqual({ status: 403, body: { message: 'Forbidden' }, requestId: expect.any(String) });
    await page.close();
  });
});

describe('a page on an origin the API does not allow', () => {
  it('is refused by the browser, its request never sent', async () => {
    const page = await pageOn(strangerSite);
    const callsBefore = cloud.simulator.stats.calls;
    const outcome = await page.evaluate(
      async ({ api, key }) => {
        try {
          const res = await fetch(`${api}/chat/stream`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-api-key': key },
            body: JSON.stringify({ message: 'Hello from a stranger' }),
          });
          return { status: res.status };
        } catch (err) {
          return { error: (err as Error).name };
        }
      },
      { api: cloud.url, key: KEY },
    );
    expect(outcome).toEqual({ error: 'TypeError' });
    // The preflight failed, so the POST never reached the model.
    expect(cloud.simulator.stats.calls).toBe(callsBefore);
    await page.close();
  });
});
