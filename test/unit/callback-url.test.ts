import ipaddr from 'ipaddr.js';
import { ADDRESS_RULES, blockedRange, checkCallbackUrl, type Resolver } from '../../lambda/core/callback-url';

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
  'teredo.example.com': ['2001:0:a00:1::f5ff:fffe'],
  'translated.example.com': ['::ffff:0:a9fe:a9fe'],
  'nat64local.example.com': ['64:ff9b:1:a9fe:a9:fe00::'],
  'dual-teredo.example.com': ['93.184.216.34', '2001:0:4136:e378:8000:63bf:3fff:fdd2'],
});

/**
 * Addresses in the IPv6 blocks that can carry an internal IPv4 address and are refused whole. The RFC 6052 layouts in
 * the local-use NAT64 prefix all carry 169.254.169.254 (the instance metadata service).
 */
const REFUSED_WHOLE: [string, string][] = [
  // Teredo: server 10.0.0.1, client 10.0.0.1 (obfuscated), and the RFC 4380 example (server 65.54.227.120).
  ['2001:0:a00:1::f5ff:fffe', 'a Teredo'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'a Teredo'],
  // IPv4-translated (RFC 2765): 169.254.169.254, 127.0.0.1, 10.0.0.1, and a public one.
  ['::ffff:0:a9fe:a9fe', 'an IPv4-translated'],
  ['::ffff:0:127.0.0.1', 'an IPv4-translated'],
  ['::ffff:0:a00:1', 'an IPv4-translated'],
  ['::ffff:0:808:808', 'an IPv4-translated'],
  // Local-use NAT64 64:ff9b:1::/48 with RFC 6052 prefix lengths /48, /56, /64 and /96, and a public IPv4 inside.
  ['64:ff9b:1:a9fe:a9:fe00::', 'a local-use NAT64'],
  ['64:ff9b:1:a9:fe:a9fe::', 'a local-use NAT64'],
  ['64:ff9b:1:0:a9:fea9:fe00:0', 'a local-use NAT64'],
  ['64:ff9b:1::a9fe:a9fe', 'a local-use NAT64'],
  ['64:ff9b:1::808:808', 'a local-use NAT64'],
];

describe('checkCallbackUrl', () => {
  test.each([
    ['https://hooks.example.com/reports'],
    ['https://hooks.example.com:8443/x?y=1'],
    ['https://dual.example.com/'],
    ['https://93.184.216.34/hook'],
    ['https://[2606:2800:220:1:248:1893:25c8:1946]/hook'],
    // Embeddings at a fixed place are judged by the IPv4 address they carry: here a public one.
    ['https://[::ffff:8.8.8.8]/hook'],
    ['https://[64:ff9b::808:808]/hook'],
    ['https://[2002:808:808::1]/hook'],
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
    ['https://teredo.example.com/', 'Teredo'],
    ['https://dual-teredo.example.com/', 'Teredo'],
    ['https://translated.example.com/', 'an IPv4-translated'],
    ['https://nat64local.example.com/', 'local-use NAT64'],
    ...REFUSED_WHOLE.map(([address, kind]) => [`https://[${address}]/hook`, kind]),
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

describe('the address policy covers the special-purpose registries', () => {
  test.each(REFUSED_WHOLE)('%s is refused whole (%s)', (address, kind) => {
    expect(blockedRange(address)).toBe(kind);
  });

  const refusedRules = [...ADDRESS_RULES.ipv4, ...ADDRESS_RULES.ipv6].filter((r) => r.kind);
  test.each(refusedRules.map((r) => [r.cidr, r.name, r.kind!]))(
    '%s (%s) is refused at both ends',
    (cidr, _name, kind) => {
      const first =
        ipaddr.parseCIDR(cidr)[0].kind() === 'ipv4'
          ? ipaddr.IPv4.networkAddressFromCIDR(cidr)
          : ipaddr.IPv6.networkAddressFromCIDR(cidr);
      const last =
        ipaddr.parseCIDR(cidr)[0].kind() === 'ipv4'
          ? ipaddr.IPv4.broadcastAddressFromCIDR(cidr)
          : ipaddr.IPv6.broadcastAddressFromCIDR(cidr);
      // A more specific entry may name one end differently (Teredo at the start of 2001::/23); refused all the same.
      const kinds = [blockedRange(first.toString()), blockedRange(last.toString())];
      expect(kinds).toEqual([expect.any(String), expect.any(String)]);
      expect(kinds).toContain(kind);
    },
  );

  test.each([
    ['3fff::1', 'a documentation'],
    ['5f00::1', 'a segment-routing'],
    ['100:0:0:1::1', 'a dummy'],
    ['2001:2::1', 'a benchmarking'],
    ['2001:3::1', 'an AMT relay'],
    ['2001:4:112::1', 'an AS112'],
    ['2001:20::1', 'an ORCHID'],
    ['2001:1::1', 'an anycast service'],
    ['2001:1ff::1', 'an IETF-reserved'],
    ['2620:4f:8000::1', 'an AS112'],
    ['4000::1', 'a reserved'],
    ['::1:0:0:0', 'a reserved'],
    ['192.31.196.1', 'an AS112'],
    ['192.52.193.1', 'an AMT relay'],
    ['192.175.48.1', 'an AS112'],
    ['192.0.0.170', 'a reserved'],
    ['255.255.255.255', 'a reserved'],
  ])('%s → %s', (address, kind) => {
    expect(blockedRange(address)).toBe(kind);
  });

  test('public unicast next to the special blocks is accepted', () => {
    for (const address of [
      '2001:200::1',
      '2001:4860:4860::8888',
      '2620:4f:8001::1',
      '3fff:1000::1',
      '192.0.3.1',
      '223.255.255.254',
    ]) {
      expect(blockedRange(address)).toBeUndefined();
    }
  });
});
