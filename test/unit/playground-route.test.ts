/**
 * The decisions behind the playground page: which requests may get a local API key, which key, and how the page's
 * config travels inside the HTML without being able to break out of it.
 */
import type { IncomingMessage } from 'node:http';
import { isFromThisMachine, mayCarryKey, playgroundKey } from '../../local/playground-route';
import { parsePageConfig, serializePageConfig } from '../../playground/src/page-config';

const request = (remoteAddress: string | undefined, host: string | undefined) =>
  ({ socket: { remoteAddress }, headers: host === undefined ? {} : { host } }) as unknown as IncomingMessage;

describe('isFromThisMachine', () => {
  test.each([
    ['127.0.0.1', '127.0.0.1:3000'],
    ['127.0.0.1', 'localhost:3000'],
    ['::1', '[::1]:3000'],
    ['::ffff:127.0.0.1', '127.0.0.1:3000'],
    ['127.0.0.2', '127.0.0.1'],
  ])('a loopback peer %s naming %s gets the key', (peer, host) => {
    expect(isFromThisMachine(request(peer, host))).toBe(true);
  });

  test.each([
    ['a peer on the network', '192.168.1.7', '127.0.0.1:3000'],
    ['a mapped non-loopback peer', '::ffff:10.0.0.5', 'localhost:3000'],
    ['a rebinding page (its own name)', '127.0.0.1', 'attacker.example:3000'],
    ['a name that only starts like loopback', '127.0.0.1', '127.0.0.1.attacker.example'],
    ['a LAN address as host', '127.0.0.1', '192.168.1.7:3000'],
    ['no Host header', '127.0.0.1', undefined],
    ['an unparsable Host', '127.0.0.1', 'bad host:x'],
    ['no peer address', undefined, '127.0.0.1:3000'],
  ])('%s does not', (_what, peer, host) => {
    expect(isFromThisMachine(request(peer, host))).toBe(false);
  });
});

describe('mayCarryKey', () => {
  const page = (headers: Record<string, string>) =>
    ({
      socket: { remoteAddress: '127.0.0.1' },
      headers: { host: '127.0.0.1:3000', ...headers },
    }) as unknown as IncomingMessage;

  test('a navigation or a client without fetch metadata (curl) gets the key', () => {
    expect(mayCarryKey(page({ 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }))).toBe(true);
    expect(mayCarryKey(page({}))).toBe(true);
    expect(mayCarryKey(page({ origin: 'http://127.0.0.1:3000' }))).toBe(true);
  });

  test("another page's script reading it does not, whatever CORS would allow", () => {
    expect(mayCarryKey(page({ 'sec-fetch-mode': 'cors', origin: 'https://attacker.example' }))).toBe(false);
    expect(mayCarryKey(page({ 'sec-fetch-mode': 'no-cors' }))).toBe(false);
    expect(mayCarryKey(page({ origin: 'https://attacker.example' }))).toBe(false);
    expect(mayCarryKey(page({ origin: 'null' }))).toBe(false);
  });
});

describe('playgroundKey', () => {
  const key = (userId: string, plan: string) => ({
    userId,
    plan,
    key: `${userId}-key-00000000000000`,
    apiKeyId: userId,
  });
  const plans = { free: { rateLimit: 2 }, pro: { rateLimit: 50 } };

  test('picks the key on the plan with the highest rate, the first of equals', () => {
    expect(playgroundKey([key('a', 'free'), key('b', 'pro'), key('c', 'pro')], plans)?.userId).toBe('b');
    expect(playgroundKey([key('a', 'free'), key('d', 'free')], plans)?.userId).toBe('a');
    expect(playgroundKey([], plans)).toBeUndefined();
  });
});

describe('page config', () => {
  test('round-trips, and a value cannot close the element it travels in', () => {
    const config = { apiUrl: 'https://api.example/v1', apiKey: '</script><script>alert(1)</script>' };
    const text = serializePageConfig(config);
    expect(text).not.toContain('<');
    expect(parsePageConfig(text)).toEqual(config);
  });

  test('anything malformed reads as empty; unknown and empty fields are dropped', () => {
    expect(parsePageConfig('')).toEqual({});
    expect(parsePageConfig(null)).toEqual({});
    expect(parsePageConfig('{nope')).toEqual({});
    expect(parsePageConfig('"text"')).toEqual({});
    expect(parsePageConfig('{"apiUrl":"","apiKey":42,"other":"x"}')).toEqual({});
  });
});
