import { blockedRange, checkCallbackUrl, parseIPv6, type Resolver } from '../../lambda/core/callback-url';

/** A resolver answering from a fixed table; unknown names do not resolve. */
function resolverOf(table: Record<string, string[]>): Resolver {
  return async (hostname) => {
    const answer = table[hostname];
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return answer;
  };
}

const dns = resolverOf({
  'hooks.example.com': ['93.184.216.34'],
  'dual.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
  'internal.example.com': ['10.1.2.3'],
  'mixed.example.com': ['93.184.216.34', '192.168.1.10'],
  'metadata.example.com': ['169.254.169.254'],
  'mapped.example.com': ['::ffff:127.0.0.1'],
  'v6meta.example.com': ['fd00:ec2::254'],
  'cgnat.example.com': ['100.64.1.1'],
  'empty.example.com': [],
});

describe('checkCallbackUrl', () => {
  test.each([
    ['https://hooks.example.com/reports'],
    ['https://hooks.example.com:8443/x?y=1'],
    ['https://dual.example.com/'],
    ['https://93.184.216.34/hook'],
    ['https://[2606:2800:220:1:248:1893:25c8:1946]/hook'],
  ])('accepts %s', async (url) => {
    const result = await checkCallbackUrl(url, { resolve: dns });
    expect(result.ok).toBe(true);
  });

  test.each([
    ['http://hooks.example.com/', 'https'],
    ['ftp://hooks.example.com/', 'https'],
    ['not a url', 'valid absolute URL'],
    ['https://user:pass@hooks.example.com/', 'credentials'],
    ['https://localhost/', 'loopback'],
    ['https://api.localhost/', 'loopback'],
    ['https://127.0.0.1/', 'loopback'],
    ['https://127.1.2.3/', 'loopback'],
    ['https://2130706433/', 'loopback'],
    ['https://0x7f.1/', 'loopback'],
    ['https://0.0.0.0/', 'unspecified'],
    ['https://10.0.0.1/', 'private'],
    ['https://172.16.0.1/', 'private'],
    ['https://172.31.255.255/', 'private'],
    ['https://192.168.0.1/', 'private'],
    ['https://100.64.0.1/', 'carrier-grade NAT'],
    ['https://169.254.169.254/latest/meta-data/', 'metadata'],
    ['https://169.254.170.2/v2/credentials', 'link-local'],
    ['https://224.0.0.1/', 'multicast'],
    ['https://[::1]/', 'loopback'],
    ['https://[::]/', 'unspecified'],
    ['https://[fc00::1]/', 'unique-local'],
    ['https://[fd12:3456::1]/', 'unique-local'],
    ['https://[fd00:ec2::254]/', 'metadata'],
    ['https://[fe80::1]/', 'link-local'],
    ['https://[::ffff:127.0.0.1]/', 'loopback'],
    ['https://[::ffff:7f00:1]/', 'loopback'],
    ['https://[::ffff:169.254.169.254]/', 'metadata'],
    ['https://[::ffff:10.0.0.1]/', 'private'],
    ['https://[::ffff:192.168.1.1]/', 'private'],
    ['https://[::127.0.0.1]/', 'loopback'],
    ['https://[64:ff9b::a9fe:a9fe]/', 'metadata'],
    ['https://[2002:a00:1::]/', 'private'],
    ['https://internal.example.com/', 'private'],
    ['https://mixed.example.com/', 'private'],
    ['https://metadata.example.com/', 'metadata'],
    ['https://mapped.example.com/', 'loopback'],
    ['https://v6meta.example.com/', 'metadata'],
    ['https://cgnat.example.com/', 'carrier-grade NAT'],
    ['http://127.0.0.1:3000/hook', 'https'],
  ])('rejects %s (%s)', async (url, reason) => {
    const result = await checkCallbackUrl(url, { resolve: dns });
    expect(result).toMatchObject({ ok: false, retryable: false });
    if (!result.ok) expect(result.reason).toContain(reason);
  });

  test('a name that does not resolve is rejected as retryable (the answer may change)', async () => {
    for (const url of ['https://nowhere.example.com/', 'https://empty.example.com/']) {
      const result = await checkCallbackUrl(url, { resolve: dns });
      expect(result).toMatchObject({ ok: false, retryable: true });
    }
  });

  test('the local option admits http and https on 127.0.0.1 only', async () => {
    const local = { resolve: dns, allowLoopbackHttp: true };
    expect((await checkCallbackUrl('http://127.0.0.1:4567/hook', local)).ok).toBe(true);
    expect((await checkCallbackUrl('https://127.0.0.1:4567/hook', local)).ok).toBe(true);
    expect((await checkCallbackUrl('http://localhost:4567/hook', local)).ok).toBe(false);
    expect((await checkCallbackUrl('http://127.0.0.2:4567/hook', local)).ok).toBe(false);
    expect((await checkCallbackUrl('http://[::1]:4567/hook', local)).ok).toBe(false);
    expect((await checkCallbackUrl('http://10.0.0.1/hook', local)).ok).toBe(false);
    expect((await checkCallbackUrl('http://hooks.example.com/hook', local)).ok).toBe(false);
  });

  test('returns the addresses it accepted, so delivery can connect to exactly those', async () => {
    const result = await checkCallbackUrl('https://dual.example.com/', { resolve: dns });
    expect(result).toMatchObject({
      ok: true,
      addresses: [
        { address: '93.184.216.34', family: 4 },
        { address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 },
      ],
    });
  });
});

describe('blockedRange', () => {
  test.each([
    ['8.8.8.8', undefined],
    ['172.15.255.255', undefined],
    ['172.32.0.0', undefined],
    ['100.128.0.1', undefined],
    ['2001:4860:4860::8888', undefined],
    ['::ffff:8.8.8.8', undefined],
    ['127.0.0.1', 'a loopback'],
    ['::ffff:0a00:0001', 'a private'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'a link-local or metadata'],
    ['fe80::1%eth0', 'a link-local'],
    ['garbage', 'an unparseable'],
  ])('%s → %s', (address, kind) => {
    expect(blockedRange(address)).toBe(kind);
  });
});

describe('parseIPv6', () => {
  test('expands the compressed forms', () => {
    expect(parseIPv6('::1')).toEqual([...Array(15).fill(0), 1]);
    expect(parseIPv6('::ffff:1.2.3.4')).toEqual([...Array(10).fill(0), 0xff, 0xff, 1, 2, 3, 4]);
    expect(parseIPv6('1:2:3:4:5:6:7:8')).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
    expect(parseIPv6('1::')).toEqual([0, 1, ...Array(14).fill(0)]);
  });
  test('refuses malformed text', () => {
    for (const bad of ['1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7', '']) {
      expect(parseIPv6(bad)).toBeUndefined();
    }
  });
});
