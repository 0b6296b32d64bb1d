/**
 * The playground's cancel and resume, in headless Chromium against a local cloud that behaves as Lambda does
 * (`signalDisconnect: false`: a closed connection never reaches the function, so only the cancel route stops a model
 * call): Stop cancels the stream on the server, "Simulate a dropped connection" cuts the stream and it resumes to the
 * same text the API logged, and Cancel report cancels a report.
 */
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { type ChatStreamEvent, GenAIClient } from '../../clients/typescript/src';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { launchChromium, type HeadlessChromium } from '../helpers/browser';
import { ROOMY_PLAN } from '../helpers/local-cloud';
import { eventually } from '../helpers/sse';

jest.setTimeout(90_000);

const KEY = 'carol-playground-cancel-key-000';

let cloud: LocalCloud;
let chromium: HeadlessChromium;
let context: BrowserContext | undefined;

beforeAll(async () => {
  [cloud, chromium] = await Promise.all([
    startLocalCloud({
      port: 0,
      quiet: true,
      signalDisconnect: false,
      apiKeys: `carol:roomy:${KEY}`,
      config: { plans: { roomy: ROOMY_PLAN }, streams: { flushIntervalMs: 100 }, reports: { pollAfterSeconds: 1 } },
    }),
    launchChromium(),
  ]);
});

afterAll(async () => {
  await chromium?.close();
  await cloud?.reports.bus.idle(5_000);
  await cloud?.stop();
});

beforeEach(() => cloud.simulator.reset());

afterEach(async () => {
  await context?.close();
  context = undefined;
});

/** The playground, connected, with the ids of the streams it starts (from their `x-request-id`). */
async function openPlayground(): Promise<{ page: Page; streamIds: string[] }> {
  context = await chromium.browser.newContext();
  const page = await context.newPage();
  const errors: Error[] = [];
  page.on('pageerror', (err) => errors.push(err));
  const streamIds: string[] = [];
  page.on('response', (response) => {
    const request = response.request();
    if (request.method() === 'POST' && new URL(response.url()).pathname === '/chat/stream') {
      const id = response.headers()['x-request-id'];
      if (id) streamIds.push(id);
    }
  });
  await page.goto(cloud.url);
  await page
    .getByRole('status')
    .filter({ hasText: /^Connected/ })
    .first()
    .waitFor({ timeout: 20_000 });
  expect(errors).toEqual([]);
  return { page, streamIds };
}

const streaming = (page: Page): Locator => page.getByRole('article', { name: /^Streaming/ });
const answerOf = (page: Page) => streaming(page).getByRole('log', { name: 'Streamed answer' });

async function send(page: Page, prompt: string, maxTokens: number): Promise<void> {
  await page.getByLabel('Prompt', { exact: true }).fill(prompt);
  await page.getByLabel('Max tokens').fill(String(maxTokens));
  await page.getByRole('button', { name: 'Send to both' }).click();
}

const api = () => new GenAIClient({ baseUrl: cloud.url, apiKey: KEY });

async function logged(requestId: string): Promise<ChatStreamEvent[]> {
  const events: ChatStreamEvent[] = [];
  for await (const event of api().resumeStream(requestId)) events.push(event);
  return events;
}

describe('the chat tab', () => {
  test('Stop cancels the stream on the server: the model stops, and the log ends CANCELLED', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 10, tokensPerSecond: 10 });
    const { page, streamIds } = await openPlayground();
    await send(page, 'A long answer, slowly', 400);
    await answerOf(page).filter({ hasText: /\S/ }).waitFor({ timeout: 20_000 });
    const cancelledBefore = cloud.simulator.stats.cancelled;
    await page.getByRole('button', { name: 'Stop' }).click();
    await page
      .locator('#chat-connection')
      .filter({ hasText: /^Cancelled on the server/ })
      .waitFor({ timeout: 5_000 });
    await streaming(page)
      .getByRole('status')
      .filter({ hasText: /^Streaming: Stopped after/ })
      .waitFor();
    // Only the cancel route can have stopped it: this cloud never tells the function that the page hung up.
    await eventually(() => (cloud.simulator.stats.cancelled > cancelledBefore ? true : undefined), 3_000);
    const events = await logged(streamIds[0]!);
    expect(events.at(-1)).toMatchObject({ type: 'error', error: { code: 'CANCELLED' } });
  });

  test('a simulated drop resumes after the last event: the answer ends the same as the API sent it', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 10, tokensPerSecond: 30 });
    const { page, streamIds } = await openPlayground();
    await send(page, 'Explain resumable streams', 60);
    await answerOf(page)
      .filter({ hasText: /\S+ \S+ \S+/ })
      .waitFor({ timeout: 20_000 });
    await page.getByRole('button', { name: 'Simulate a dropped connection' }).click();
    const note = page.locator('#chat-connection').filter({ hasText: /resumed after event \d+/ });
    await note.waitFor({ timeout: 10_000 });
    await streaming(page)
      .getByRole('status')
      .filter({ hasText: /^Streaming: Done in/ })
      .waitFor({ timeout: 20_000 });
    const shown = (await answerOf(page).textContent()) ?? '';
    const events = await logged(streamIds[0]!);
    expect(events.at(-1)!.type).toBe('end');
    expect(shown).toBe(events.map((e) => (e.type === 'delta' ? e.text : '')).join(''));
    expect(await page.getByRole('button', { name: 'Simulate a dropped connection' }).isDisabled()).toBe(true);
    expect(streamIds).toHaveLength(1);
  });
});

describe('the reports tab', () => {
  test('Cancel report cancels a report being watched: the timeline ends CANCELLED', async () => {
    cloud.simulator.configure({ mode: 'normal', ttftMs: 3_000, tokensPerSecond: 10 });
    const { page } = await openPlayground();
    await page.getByRole('tab', { name: 'Reports' }).click();
    await page.getByRole('button', { name: 'Submit report' }).click();
    const cancel = page.getByRole('button', { name: 'Cancel report' });
    await page
      .locator('#report-id')
      .filter({ hasText: /^Report / })
      .waitFor();
    await cancel.click();
    await page
      .locator('#report-error')
      .filter({ hasText: /^The report was cancelled/ })
      .waitFor({ timeout: 15_000 });
    const timeline = await page.getByRole('list', { name: 'Status changes' }).textContent();
    expect(timeline).toMatch(/CANCELLED/);
    expect(await cancel.isDisabled()).toBe(true);
    expect(await page.locator('#report-result').isHidden()).toBe(true);
  });
});
