/**
 * IPv6 addresses in the tunnel and translator blocks that can carry an internal IPv4 address (here mostly the instance
 * metadata service, 169.254.169.254), with the kind the callback policy names in its refusal. Shared by the tests of
 * the check at submit and the re-check at delivery, so both ends are held to the same list.
 */
export const TUNNELLED_INTERNAL_ADDRESSES: readonly [address: string, kind: string][] = [
  // Teredo: server 10.0.0.1, client 10.0.0.1 (obfuscated).
  ['2001:0:a00:1::f5ff:fffe', 'a Teredo'],
  // IPv4-translated (RFC 2765): 169.254.169.254.
  ['::ffff:0:a9fe:a9fe', 'an IPv4-translated'],
  // Local-use NAT64 64:ff9b:1::/48 with RFC 6052 prefix lengths /48, /56 and /64.
  ['64:ff9b:1:a9fe:a9:fe00::', 'a local-use NAT64'],
  ['64:ff9b:1:a9:fe:a9fe::', 'a local-use NAT64'],
  ['64:ff9b:1:0:a9:fea9:fe00:0', 'a local-use NAT64'],
];
