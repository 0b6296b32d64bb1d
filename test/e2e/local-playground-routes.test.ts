/**
 * The local cloud's playground routes over real HTTP: the page at `/` and its assets (and when the page carries a key),
 * the webhook receiver at `/_local/webhooks` (signature verdicts, filtering, bounds) and the breakers at
 * `/_local/breakers`. All local only; none of them is deployed.
 */
import { request } from 'node:http';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Webhook } from 'standardwebhooks';
import { configuredModels, modelChain } from '../../config/schema';
import type { CircuitBreaker } from '../../lambda/core/breaker';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import { cloudBreaker, webhookSigningSecret } from '../helpers/local-cloud';

jest.setTimeout(60_000);

const SECRET = webhookSigningSecret('playground-routes-signing-secret-01');
const FREE_KEY = 'free-playground-routes-key-000000';
const PRO_KEY = 'pro-playground-routes-key-0000000';

let cloud: LocalCloud;
let breaker: CircuitBreaker;
let db: DynamoDBClient;

beforeAll(async () => {
  cloud = await startLocalCloud({
    port: 0,
    quiet: true,
    webhookSecret: SECRET,
    apiKeys: `fran:free:${FREE_KEY},paula:pro:${PRO_KEY}`,
    // Every origin may call the API; the page must still be readable by none.
    config: { api: { cors: { allowOrigins: ['*'] } } },
  });
  ({ breaker, db } = cloudBreaker(cloud));
});

afterAll(async () => {
  db?.destroy();
  await cloud?.stop();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request, so that `Host` can be anything (fetch sets it from the URL). */
function call(
  method: string,
  path: string,
  options: { host?: string; body?: string; headers?: Record<string, string> } = {},
) {
  const url = new URL(cloud.url);
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { host: options.host ?? url.host, ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The JSON the page was served with in its config element. */
function pageConfig(html: string): unknown {
  const m = /<script type="application\/json" id="playground-config">([^<]*)<\/script>/.exec(html);
  if (!m) throw new Error('no config element');
  return JSON.parse(m[1]!);
}

describe('GET / (the playground)', () => {
  test('is a self-contained page, never cached and never framed, with a key for a page opened on this machine', async () => {
    const page = await call('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['content-security-policy']).toBe("frame-ancestors 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.body).toContain('<meta http-equiv="Content-Security-Policy"');
    // The key of the plan with the highest rate, so the page's parallel requests stay within it.
    expect(pageConfig(page.body)).toEqual({ apiKey: PRO_KEY });
    expect((await call('GET', '/', { host: `localhost:${new URL(cloud.url).port}` })).body).toContain(PRO_KEY);
    expect((await call('GET', '/index.html')).status).toBe(200);
  });

  test('carries no key when the request names another host (a rebinding page reaching 127.0.0.1)', async () => {
    for (const host of [
      'attacker.example',
      `attacker.example:${new URL(cloud.url).port}`,
      '192.168.1.20',
      '127.0.0.1.nip.example',
    ]) {
      const page = await call('GET', '/', { host });
      expect(page.status).toBe(200);
      expect(pageConfig(page.body)).toEqual({});
      expect(page.body).not.toContain(PRO_KEY);
      expect(page.body).not.toContain(FREE_KEY);
    }
  });

  test("carries no key and no CORS header when another page's script reads it, even with every origin allowed", async () => {
    const read = await call('GET', '/', { headers: { origin: 'https://attacker.example', 'sec-fetch-mode': 'cors' } });
    expect(read.status).toBe(200);
    expect(pageConfig(read.body)).toEqual({});
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
  });

  test('serves the hashed script and stylesheet it names, immutable; an unknown asset is a 404', async () => {
    const html = (await call('GET', '/')).body;
    const script = /<script defer src="(assets\/app-[A-Z0-9]+\.js)"><\/script>/.exec(html)?.[1];
    const styles = /<link rel="stylesheet" href="(assets\/styles-[A-Z0-9]+\.css)">/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(styles).toBeDefined();
    const js = await call('GET', `/${script}`);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.body.length).toBeGreaterThan(1000);
    const css = await call('GET', `/${styles}`);
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const head = await call('HEAD', `/${script}`);
    expect(head.status).toBe(200);
    expect(head.body).toBe('');

    const missing = await call('GET', '/assets/app-NOPE.js');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({
      error: { code: 'NOT_FOUND', message: expect.any(String), retryable: false },
    });
  });

  test('leaves other methods on / to the gateway, which answers as API Gateway does for an unknown route', async () => {
    const posted = await call('POST', '/', { body: '{}' });
    expect(posted.status).toBe(403);
    expect(JSON.parse(posted.body)).toEqual({ message: 'Missing Authentication Token' });
  });
});

describe('/_local/webhooks (the local receiver)', () => {
  const signer = new Webhook(SECRET);
  const deliver = (payload: object, options: { id?: string; at?: Date; secret?: Webhook } = {}) => {
    const body = JSON.stringify(payload);
    const id = options.id ?? `msg_${(payload as { reportId?: string }).reportId ?? 'x'}`;
    const at = options.at ?? new Date();
    const signature = (options.secret ?? signer).sign(id, at, body);
    return call('POST', '/_local/webhooks', {
      body,
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signature,
      },
    });
  };
  const list = async (query = '') =>
    JSON.parse((await call('GET', `/_local/webhooks${query}`)).body) as {
      deliveries: {
        sequence: number;
        verified: boolean;
        verificationError?: string;
        payload?: unknown;
        headers: Record<string, string>;
      }[];
    };

  beforeEach(async () => {
    expect((await call('DELETE', '/_local/webhooks')).status).toBe(204);
  });

  test('answers 204 to a delivery signed with the local secret and records it as verified, with its headers', async () => {
    const answer = await deliver({ type: 'report.completed', reportId: 'r-1', status: 'COMPLETED' });
    expect(answer.status).toBe(204);
    const { deliveries } = await list();
    expect(deliveries).toEqual([
      expect.objectContaining({
        verified: true,
        payload: { type: 'report.completed', reportId: 'r-1', status: 'COMPLETED' },
        headers: expect.objectContaining({ 'webhook-id': 'msg_r-1', 'content-type': 'application/json' }),
      }),
    ]);
    expect(deliveries[0]!.headers['webhook-signature']).toMatch(/^v1,/);
  });

  test('answers 401 to a forged or stale delivery, and records why it did not verify', async () => {
    const forged = await deliver(
      { reportId: 'r-forged' },
      { secret: new Webhook(`whsec_${Buffer.from('another-secret-entirely-0000').toString('base64')}`) },
    );
    expect(forged.status).toBe(401);
    expect(JSON.parse(forged.body).error.code).toBe('INVALID_SIGNATURE');
    const stale = await deliver({ reportId: 'r-stale' }, { at: new Date(Date.now() - 10 * 60_000) });
    expect(stale.status).toBe(401);
    const unsigned = await call('POST', '/_local/webhooks', { body: 'not json' });
    expect(unsigned.status).toBe(401);

    const { deliveries } = await list();
    expect(deliveries.map((d) => d.verified)).toEqual([false, false, false]);
    expect(deliveries.every((d) => (d.verificationError ?? '').length > 0)).toBe(true);
    expect(deliveries[2]).toMatchObject({ body: 'not json' });
  });

  test('filters by report, keeps only the newest deliveries, and refuses bodies it would not keep', async () => {
    for (let i = 0; i < 103; i++) await deliver({ reportId: `r-${i % 2}`, n: i });
    const all = await list();
    expect(all.deliveries).toHaveLength(100);
    expect(all.deliveries[0]!.payload).toMatchObject({ n: 3 });
    const odd = await list('?reportId=r-1');
    expect(odd.deliveries.every((d) => (d.payload as { reportId: string }).reportId === 'r-1')).toBe(true);
    expect(odd.deliveries).toHaveLength(50); // n = 3, 5, …, 101

    const huge = await deliver({ reportId: 'r-huge', pad: 'x'.repeat(300_000) });
    expect(huge.status).toBe(413);
    expect((await list('?reportId=r-huge')).deliveries).toEqual([]);
    const put = await call('PUT', '/_local/webhooks', { body: '{}' });
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe('GET, POST, DELETE');
  });
});

describe('GET /_local/breakers', () => {
  test('reports every configured model, read from the guard table: a breaker forced open shows OPEN', async () => {
    const initial = JSON.parse((await call('GET', '/_local/breakers')).body) as {
      breakers: { modelId: string; state: string; forced: boolean }[];
    };
    expect(initial.breakers.map((b) => b.modelId)).toEqual(configuredModels(cloud.config));
    expect(initial.breakers.every((b) => b.state === 'CLOSED')).toBe(true);

    const [primary] = modelChain(cloud.config);
    await breaker.forceOpen(primary!);
    const after = JSON.parse((await call('GET', '/_local/breakers')).body) as typeof initial;
    expect(after.breakers.find((b) => b.modelId === primary)).toMatchObject({ state: 'OPEN', forced: true });
    await breaker.forceClose(primary!);

    const posted = await call('POST', '/_local/breakers', { body: '{}' });
    expect(posted.status).toBe(405);
    expect(JSON.parse(posted.body).error.code).toBe('METHOD_NOT_ALLOWED');
  });
});
