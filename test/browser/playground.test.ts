/**
 * The web playground served by the local cloud at `/`, driven in headless Chromium as a person would use it: the same
 * prompt through `/chat/stream` and `/chat` with live time to first token, the thumbs recording feedback, Stop, a
 * report with its signed webhook from the local receiver, and the simulator controls showing a fallback and the
 * breaker tripping. What the UI claims is checked against the API and the tables.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { ENDPOINTS } from '../../config/metrics';
import { ENV } from '../../config/runtime';
import { modelChain } from '../../config/schema';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { launchChromium, type HeadlessChromium } from '../helpers/browser';
import { documentClient, dynamoClient } from '../helpers/dynalite';
import { reportsApi, waitFor } from '../helpers/reports';

jest.setTimeout(90_000);

const ALICE = 'alice-playground-key-0000000000';
const BOB = 'bob-playground-key-000000000000';

let cloud: LocalCloud;
let chromium: HeadlessChromium;
let context: BrowserContext;
let primary: string;
let fallback: string;

beforeAll(async () => {
  [cloud, chromium] = await Promise.all([
    startLocalCloud({
      port: 0,
      quiet: true,
      // Alice's plan is the more generous one, so the page starts with her key.
      apiKeys: `bob:free:${BOB},alice:pro:${ALICE}`,
      config: {
        // A report is polled every second, and two failed calls trip a breaker, so each story fits in a test.
        reports: { pollAfterSeconds: 1 },
        breaker: { minimumCalls: 2 },
      },
    }),
    launchChromium(),
  ]);
  [primary, fallback] = modelChain(cloud.config) as [string, string];
});

afterAll(async () => {
  await chromium?.close();
  await cloud?.reports.bus.idle(5_000);
  await cloud?.stop();
});

beforeEach(() => cloud.simulator.reset());

afterEach(async () => {
  await context?.close();
});

/** A fresh browser profile (empty sessionStorage) on the playground, connected with the key it was given. */
async function openPlayground(): Promise<Page> {
  context = await chromium.browser.newContext();
  const page = await context.newPage();
  const errors: Error[] = [];
  page.on('pageerror', (err) => errors.push(err));
  await page.goto(cloud.url);
  await expectText(page.getByRole('status').filter({ hasText: /Connected|Not connected/ }), /^Connected/);
  expect(errors).toEqual([]);
  return page;
}

const pane = (page: Page, name: 'Streaming' | 'Synchronous'): Locator =>
  page.getByRole('article', { name: new RegExp(`^${name}`) });
const metric = (p: Locator, name: 'ttft' | 'latency' | 'rate' | 'model') => p.locator(`[data-metric="${name}"]`);

/** Milliseconds shown as `312 ms` or `1.24 s`. */
function shownMs(text: string): number {
  const m = /^([\d.]+) (ms|s)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

async function expectText(locator: Locator, pattern: RegExp, timeout = 20_000): Promise<string> {
  await locator.filter({ hasText: pattern }).first().waitFor({ timeout });
  return (await locator.first().textContent()) ?? '';
}

async function send(page: Page, prompt: string): Promise<void> {
  await page.getByLabel('Prompt', { exact: true }).fill(prompt);
  await page.getByRole('button', { name: 'Send to both' }).click();
}

const requestsTable = () => ({
  db: documentClient(dynamoClient(cloud.dynamoEndpoint)),
  name: cloud.env[ENV.requestsTable]!,
});

describe('the page the local cloud serves at /', () => {
  test('starts with its own origin as the API URL and the key of the most generous plan, and lists the models', async () => {
    const page = await openPlayground();
    expect(await page.getByLabel('API URL').inputValue()).toBe(cloud.url);
    expect(await page.getByLabel('API key', { exact: true }).inputValue()).toBe(ALICE);
    expect(await page.getByLabel('API key', { exact: true }).getAttribute('type')).toBe('password');
    // The key never appears in the address.
    expect(page.url()).not.toContain(ALICE);
    await expectText(
      page.getByRole('status').filter({ hasText: 'Connected' }),
      new RegExp(primary.replace(/\./g, '\\.')),
    );
  });

  test('each chat pane names its first metric and its answer', async () => {
    const page = await openPlayground();
    for (const [name, first, answer] of [
      ['Streaming', 'Time to first token', 'Streamed answer'],
      ['Synchronous', 'Time to answer', 'Synchronous answer'],
    ] as const) {
      const p = pane(page, name);
      expect(await p.locator('dt').allTextContents()).toEqual([first, 'Total latency', 'Tokens/s', 'Model']);
      expect(await p.getByRole('log', { name: answer }).count()).toBe(1);
      expect(await p.getByRole('status').textContent()).toBe('Idle');
    }
  });

  test('an empty key or an unusable API URL is named and focused, and no tab sends a request', async () => {
    const page = await openPlayground();
    const sent: string[] = [];
    page.on('request', (r) => {
      if (/\/(chat|reports)/.test(new URL(r.url()).pathname)) sent.push(r.url());
    });
    const focused = () => page.evaluate<string | undefined>('document.activeElement?.id');

    await page.getByLabel('API key', { exact: true }).fill('');
    await send(page, 'Hello');
    await expectText(page.locator('#chat-form-error'), /^Enter an API key\.$/);
    expect(await focused()).toBe('api-key');
    expect(await pane(page, 'Streaming').getByRole('status').textContent()).toBe('Idle');

    await page.getByLabel('API key', { exact: true }).fill(ALICE);
    await page.getByLabel('API URL').fill('ftp://127.0.0.1/');
    await page.getByRole('button', { name: 'Check connection' }).click();
    await expectText(page.locator('#connection-status'), /must start with https:\/\//);
    expect(await focused()).toBe('api-url');

    await page.getByRole('tab', { name: 'Reports' }).click();
    await page.getByRole('button', { name: 'Submit report' }).click();
    await expectText(page.locator('#report-form-error'), /must start with https:\/\//);
    expect(await focused()).toBe('api-url');
    expect(sent).toEqual([]);
  });

  test('tabs follow the keyboard: arrows, Home and End move the selection and show its panel', async () => {
    const page = await openPlayground();
    const tab = (name: string) => page.getByRole('tab', { name });
    await tab('Simulator').waitFor(); // shown once the local tools are found
    await tab('Chat').focus();
    await page.keyboard.press('ArrowRight');
    expect(await tab('Reports').getAttribute('aria-selected')).toBe('true');
    expect(await page.evaluate<string>('document.activeElement.id')).toBe('tab-reports');
    expect(await page.getByRole('tabpanel', { name: 'Reports' }).isVisible()).toBe(true);
    expect(await page.getByRole('tabpanel', { name: 'Chat' }).isVisible()).toBe(false);
    await page.keyboard.press('End');
    expect(await tab('Simulator').getAttribute('aria-selected')).toBe('true');
    await page.keyboard.press('ArrowRight');
    expect(await tab('Chat').getAttribute('aria-selected')).toBe('true');
    await page.keyboard.press('End');
    await page.keyboard.press('Home');
    expect(await tab('Chat').getAttribute('aria-selected')).toBe('true');
    // One tab in the tab order.
    expect(await page.locator('[role="tab"][tabindex="0"]').count()).toBe(1);
  });
});

describe('chat tab', () => {
  test('streams the answer and shows its first token while the synchronous answer is still on its way; both get TTFT, latency and tokens/s', async () => {
    // A first token after 300 ms, then 25 tokens a second: the synchronous answer takes a second or more longer.
    cloud.simulator.configure({ mode: 'slow', ttftMs: 300, tokensPerSecond: 25 });
    const page = await openPlayground();
    const stream = pane(page, 'Streaming');
    const sync = pane(page, 'Synchronous');
    await send(page, 'Explain circuit breakers in two sentences.');

    await expectText(stream.getByRole('status'), /First token after/);
    // The stream already shows text and its measured TTFT; the synchronous pane is still waiting, with nothing.
    const streamTtft = shownMs((await metric(stream, 'ttft').textContent()) ?? '');
    expect(streamTtft).toBeGreaterThanOrEqual(300);
    expect(((await stream.getByLabel('Streamed answer').textContent()) ?? '').length).toBeGreaterThan(0);
    expect(await sync.getByLabel('Synchronous answer').textContent()).toBe('');
    expect(await sync.getByRole('status').textContent()).toMatch(/Waiting/);

    await expectText(stream.getByRole('status'), /Done in/);
    await expectText(sync.getByRole('status'), /Done in/);
    const syncTtft = shownMs((await metric(sync, 'ttft').textContent()) ?? '');
    expect(syncTtft).toBeGreaterThan(streamTtft + 500);
    for (const p of [stream, sync]) {
      expect(shownMs((await metric(p, 'latency').textContent()) ?? '')).toBeGreaterThan(300);
      expect(Number(await metric(p, 'rate').textContent())).toBeGreaterThan(0);
      expect(await metric(p, 'model').textContent()).toBe(primary);
    }
    // The same deterministic answer both ways.
    const streamed = await stream.getByLabel('Streamed answer').textContent();
    expect(streamed?.length).toBeGreaterThan(20);
    expect(await sync.getByLabel('Synchronous answer').textContent()).toBe(streamed);
  });

  test('tokens/s is the output tokens over the generation time, as genai chat measures it: live while the stream arrives, and at the end', async () => {
    // A slow first token (1.5 s), then 20 tokens a second: the stream generates at about 20 tokens/s, while over the
    // total latency (as the synchronous answer is measured, having no first token of its own) it is about half that.
    cloud.simulator.configure({ mode: 'slow', ttftMs: 1_500, tokensPerSecond: 20 });
    const page = await openPlayground();
    await page.getByLabel('Max tokens').fill('30');
    await send(page, 'Count the tokens');
    const stream = pane(page, 'Streaming');
    const sync = pane(page, 'Synchronous');

    await expectText(stream.getByRole('status'), /First token after/);
    await page.waitForTimeout(500);
    // Mid-stream, the running figure counts the deltas since the first token: near 20, where the deltas over the time
    // since sending would be under 6.
    expect(await stream.getByRole('status').textContent()).toMatch(/Receiving/);
    expect(Number(await metric(stream, 'rate').textContent())).toBeGreaterThan(14);

    const shown = async (p: Locator) => {
      const done = await expectText(p.getByRole('status'), /Done in .*: \d+ output tokens, \$[\d.]+\.$/);
      return {
        tokens: Number(/(\d+) output tokens/.exec(done)?.[1]),
        cost: Number(/\$(\d+(?:\.\d+)?)/.exec(done)?.[1]),
        ttft: shownMs((await metric(p, 'ttft').textContent()) ?? ''),
        latency: shownMs((await metric(p, 'latency').textContent()) ?? ''),
        rate: Number(await metric(p, 'rate').textContent()),
      };
    };
    const [s, y] = [await shown(stream), await shown(sync)];
    // The same answer both ways, at most the 30 tokens asked for, at the same cost.
    expect(s.tokens).toBe(y.tokens);
    expect(s.cost).toBeGreaterThan(0);
    expect(s.cost).toBe(y.cost);
    expect(s.tokens).toBeGreaterThan(10);
    expect(s.tokens).toBeLessThanOrEqual(30);
    // The shown rates are the output tokens over first token → end (stream) and over the whole request (sync), within
    // the rounding of the shown times.
    expect(Math.abs(s.rate - (s.tokens * 1000) / (s.latency - s.ttft)) / s.rate).toBeLessThan(0.03);
    expect(Math.abs(y.rate - (y.tokens * 1000) / y.latency) / y.rate).toBeLessThan(0.03);
    expect(y.ttft).toBe(y.latency);
    expect(s.rate).toBeGreaterThan(1.5 * y.rate);
  });

  test('the thumbs record the rating on the answer’s request, for the key that asked', async () => {
    const page = await openPlayground();
    await send(page, 'Rate me');
    const stream = pane(page, 'Streaming');
    const sync = pane(page, 'Synchronous');
    await expectText(stream.getByRole('status'), /Done in/);
    await expectText(sync.getByRole('status'), /Done in/);

    await stream.getByRole('button', { name: /thumbs up/ }).click();
    const streamThanks = await expectText(stream.getByText(/^Thanks/), /rated up/);
    await sync.getByRole('button', { name: /thumbs down/ }).click();
    const syncThanks = await expectText(sync.getByText(/^Thanks/), /rated down/);
    expect(await stream.getByRole('button', { name: /thumbs up/ }).getAttribute('aria-pressed')).toBe('true');

    const { db, name } = requestsTable();
    for (const [text, rating, endpoint] of [
      [streamThanks, 'up', ENDPOINTS.chatStream],
      [syncThanks, 'down', ENDPOINTS.chat],
    ] as const) {
      const requestId = /\(request ([^)]+)\)/.exec(text)?.[1];
      expect(requestId).toBeDefined();
      const { Item } = await db.send(new GetCommand({ TableName: name, Key: { requestId } }));
      expect(Item).toMatchObject({ requestId, userId: 'alice', endpoint, model: primary, rating });
    }
  });

  test('Stop ends the stream at once, keeps the partial answer, and the model call is cancelled', async () => {
    // Slow enough that the answer is far from done when Stop is pressed.
    cloud.simulator.configure({ mode: 'slow', ttftMs: 50, tokensPerSecond: 4 });
    const page = await openPlayground();
    await page.getByLabel('Max tokens').fill('40');
    await send(page, 'A long answer, please');
    const stream = pane(page, 'Streaming');
    await expectText(stream.getByRole('status'), /First token after/);
    const stop = page.getByRole('button', { name: 'Stop' });
    expect(await stop.isEnabled()).toBe(true);
    await stop.click();

    await expectText(stream.getByRole('status'), /Stopped after/, 2_000);
    await expectText(pane(page, 'Synchronous').getByRole('status'), /Stopped after/, 2_000);
    const partial = (await stream.getByLabel('Streamed answer').textContent()) ?? '';
    expect(partial.length).toBeGreaterThan(0);
    expect(await stream.getByRole('button', { name: /thumbs up/ }).isVisible()).toBe(false);
    expect(await stop.isEnabled()).toBe(false);
    expect(await page.getByRole('button', { name: 'Send to both' }).isEnabled()).toBe(true);
    // The local gateway tells the function the client went away, which aborts the Bedrock stream.
    await waitFor(() => (cloud.simulator.stats.cancelled >= 1 ? true : undefined), { what: 'a cancelled model call' });
    // Nothing more arrives after Stop.
    await page.waitForTimeout(600);
    expect(await stream.getByLabel('Streamed answer').textContent()).toBe(partial);
  });
});

describe('reports tab', () => {
  test('a report completes with its status changes and result, and the signed webhook arrives at the local receiver, verified', async () => {
    const page = await openPlayground();
    await page.getByRole('tab', { name: 'Reports' }).click();
    await page.getByLabel('Use the local webhook receiver').check();
    const callback = page.getByLabel('Callback URL');
    const receiverUrl = `http://127.0.0.1:${new URL(cloud.url).port}/_local/webhooks`;
    expect(await callback.inputValue()).toBe(receiverUrl);
    await page.getByLabel('Report prompt').fill('Summarise the quarter');
    await page.getByRole('button', { name: 'Submit report' }).click();

    const timeline = page.getByRole('list', { name: 'Status changes' });
    await expectText(timeline, /COMPLETED/);
    const statuses = await timeline.getByRole('listitem').locator('strong').allTextContents();
    expect(statuses[0]).toBe('QUEUED');
    expect(statuses.at(-1)).toBe('COMPLETED');
    const reportId = /Report (\S+)/.exec((await page.locator('#report-id').textContent()) ?? '')?.[1];
    expect(reportId).toBeDefined();
    const result = (await page.getByLabel('Report result').textContent()) ?? '';
    expect(result.length).toBeGreaterThan(20);

    const deliveries = page.getByRole('region', { name: /Webhooks received/ }).getByRole('listitem');
    await expectText(deliveries, /Signature verified/);
    expect(await deliveries.first().textContent()).toContain(`report.completed: report ${reportId} COMPLETED`);
    expect(await deliveries.first().textContent()).toContain(`webhook-id msg_${reportId}`);

    // What the page showed is what the API and the receiver hold.
    const report = await reportsApi(cloud.url, ALICE).get(reportId!);
    expect(report.body).toMatchObject({ status: 'COMPLETED', result: { text: result } });
    const received = (await (await fetch(`${cloud.url}/_local/webhooks?reportId=${reportId}`)).json()) as {
      deliveries: { verified: boolean; payload: { type: string } }[];
    };
    expect(received.deliveries).toEqual([
      expect.objectContaining({ verified: true, payload: expect.objectContaining({ type: 'report.completed' }) }),
    ]);
  });

  test('a callback URL the API refuses is shown with its code, and no report is watched', async () => {
    const page = await openPlayground();
    await page.getByRole('tab', { name: 'Reports' }).click();
    await page.getByLabel('Callback URL').fill('http://10.0.0.1/hook');
    await page.getByRole('button', { name: 'Submit report' }).click();
    await expectText(page.locator('#report-error'), /VALIDATION_ERROR \(400\)/);
    expect(await page.getByRole('list', { name: 'Status changes' }).getByRole('listitem').count()).toBe(0);
  });
});

describe('simulator tab', () => {
  test('a fault on the primary model shows the fallback serving both panes, and its breaker opening', async () => {
    const page = await openPlayground();
    await page.getByRole('tab', { name: 'Simulator' }).click();
    await page.getByLabel('Mode', { exact: true }).selectOption('error');
    await page.getByLabel('Model', { exact: true }).selectOption(primary);
    await page.getByRole('button', { name: 'Apply' }).click();
    await expectText(page.locator('#simulator-status'), /Applied: error for/);
    expect(cloud.simulator.state().models[primary]?.mode).toBe('error');
    const settings = page.getByRole('table', { name: 'Current settings' });
    await expectText(settings.getByRole('row', { name: new RegExp(primary.replace(/\./g, '\\.')) }), /error/);

    await page.getByRole('tab', { name: 'Chat' }).click();
    const runBoth = async () => {
      await send(page, 'Who serves this?');
      for (const name of ['Streaming', 'Synchronous'] as const) {
        const p = pane(page, name);
        await expectText(p.getByRole('status'), /Done in/);
        expect(await metric(p, 'model').textContent()).toBe(`${fallback}fallback`);
      }
    };
    await runBoth();

    // Each run fails twice on the primary. Once the failures reach the threshold share of the window's calls (the
    // earlier tests' successes count too), its breaker opens, and the page shows it.
    const primaryState = async () => {
      const body = (await (await fetch(`${cloud.url}/_local/breakers`)).json()) as {
        breakers: { modelId: string; state: string }[];
      };
      return body.breakers.find((b) => b.modelId === primary)?.state;
    };
    for (let run = 0; run < 30 && (await primaryState()) === 'CLOSED'; run++) await runBoth();
    expect(await primaryState()).toMatch(/OPEN/);
    await page.getByRole('tab', { name: 'Simulator' }).click();
    const breakers = page.getByRole('table', { name: 'Circuit breakers' });
    await expectText(breakers.getByRole('row', { name: new RegExp(primary.replace(/\./g, '\\.')) }), /OPEN/, 5_000);
  });

  test('settings the simulator refuses are explained and change nothing', async () => {
    const page = await openPlayground();
    await page.getByRole('tab', { name: 'Simulator' }).click();
    await page.getByLabel('Fail rate (0–1)').fill('2');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expectText(page.locator('#simulator-status'), /Fail rate must be from 0 to 1/);
    expect(cloud.simulator.state().default.mode).toBe('normal');
  });
});
