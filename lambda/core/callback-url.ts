/**
 * The guard that keeps per-report callbacks from being turned against us (SSRF).
 *
 * A `callbackUrl` must be `https`, carry no credentials, and every address its host resolves to must be a public unicast
 * address. The policy is the two tables below: every entry of the IANA IPv4 and IPv6 Special-Purpose Address Registries
 * with the decision taken for it (loopback, private, carrier-grade NAT, link-local and metadata, unique-local, Teredo,
 * IPv4-translated, local-use NAT64, documentation, benchmarking, … are refused), plus multicast and any IPv6 address
 * outside the global unicast space 2000::/3. IPv6 forms that embed an IPv4 address at a fixed place (IPv4-mapped
 * `::ffff:a.b.c.d`, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4 address they carry.
 * Addresses are parsed and matched with `ipaddr.js`, whose own range classification is consulted as a second opinion,
 * so a block it knows and the tables miss is refused too.
 *
 * The check runs at submit time and again at every delivery attempt, and delivery connects to an address this check
 * accepted (see `webhooks.ts`), so a DNS answer that changes in between (rebinding) cannot reach an internal address.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Resolves a host name to every address it has (IPv4 and IPv6). */
export type Resolver = (hostname: string) => Promise<string[]>;

export interface CallbackUrlOptions {
  /**
   * Local cloud only: also accept `http://127.0.0.1:<port>` (and `https://127.0.0.1`) so tests on one machine can
   * receive webhooks. The deployed stack refuses to synthesise with it set.
   * @default false
   */
  readonly allowLoopbackHttp?: boolean;
  /**
   * How host names are resolved.
   * @default every address from the system resolver (`dns.lookup` with `all: true`)
   */
  readonly resolve?: Resolver;
}

export interface CheckedAddress {
  address: string;
  family: 4 | 6;
}

export type CallbackUrlCheck =
  /** Every address the name resolved to, checked; never empty, and the first is the one to connect to. */
  | { ok: true; url: URL; addresses: [CheckedAddress, ...CheckedAddress[]] }
  /** `retryable`: the answer may change (the name did not resolve); a rejected address or scheme never will. */
  | { ok: false; reason: string; retryable: boolean };

export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** The local cloud's one exception: a literal IPv4 loopback host. */
const LOCAL_LOOPBACK_HOST = '127.0.0.1';

export async function checkCallbackUrl(raw: string, options: CallbackUrlOptions = {}): Promise<CallbackUrlCheck> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return reject('is not a valid absolute URL');
  }
  const loopbackAllowed = options.allowLoopbackHttp === true && url.hostname === LOCAL_LOOPBACK_HOST;
  if (url.protocol !== 'https:' && !(loopbackAllowed && url.protocol === 'http:')) return reject('must use https');
  if (url.username || url.password) return reject('must not contain credentials');
  if (loopbackAllowed) return { ok: true, url, addresses: [{ address: LOCAL_LOOPBACK_HOST, family: 4 }] };

  // The WHATWG parser has already normalised IPv4 literals (`0x7f.1`, `2130706433` → `127.0.0.1`) and IPv6 ones.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (!host) return reject('must name a host');
  const lowered = host.toLowerCase().replace(/\.$/, '');
  if (lowered === 'localhost' || lowered.endsWith('.localhost')) return reject('must not point at a loopback address');

  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = await (options.resolve ?? systemResolver)(host);
    } catch {
      return { ok: false, reason: `host ${host} does not resolve`, retryable: true };
    }
    if (addresses.length === 0) return { ok: false, reason: `host ${host} does not resolve`, retryable: true };
  }

  const checked: CheckedAddress[] = [];
  for (const address of addresses) {
    const blocked = blockedRange(address);
    if (blocked) return reject(`must not point at ${blocked} address (${host} → ${address})`);
    checked.push({ address, family: isIP(address) === 6 ? 6 : 4 });
  }
  const [first, ...rest] = checked;
  if (!first) return { ok: false, reason: `host ${host} does not resolve`, retryable: true };
  return { ok: true, url, addresses: [first, ...rest] };
}

function reject(reason: string): CallbackUrlCheck {
  return { ok: false, reason, retryable: false };
}

/**
 * One entry of the address policy. `kind` refuses the block (it names the block in the reason); `embedsIPv4At` judges
 * the address by the IPv4 address it carries at that byte offset instead.
 */
interface Rule {
  readonly cidr: string;
  /** The registry's name for the block, and where it comes from. */
  readonly name: string;
  readonly kind?: string;
  readonly embedsIPv4At?: number;
}

/**
 * Every entry of the IANA IPv4 Special-Purpose Address Registry, and multicast. All are refused: none holds an
 * ordinary public host, and several (shared address space, the IETF block) are in use inside networks we must not
 * reach. The longest matching prefix decides.
 */
const IPV4_RULES: Rule[] = [
  { cidr: '0.0.0.0/8', name: '"This network" (RFC 791), incl. 0.0.0.0/32', kind: 'an unspecified' },
  { cidr: '10.0.0.0/8', name: 'Private-Use (RFC 1918)', kind: 'a private' },
  { cidr: '100.64.0.0/10', name: 'Shared Address Space (RFC 6598)', kind: 'a carrier-grade NAT' },
  { cidr: '127.0.0.0/8', name: 'Loopback (RFC 1122)', kind: 'a loopback' },
  {
    cidr: '169.254.0.0/16',
    name: 'Link Local (RFC 3927), holds the instance metadata service',
    kind: 'a link-local or metadata',
  },
  { cidr: '172.16.0.0/12', name: 'Private-Use (RFC 1918)', kind: 'a private' },
  // DS-Lite 192.0.0.0/29, IPv4 dummy 192.0.0.8, PCP and TURN anycast 192.0.0.9-10, NAT64/DNS64 discovery 192.0.0.170-171.
  { cidr: '192.0.0.0/24', name: 'IETF Protocol Assignments (RFC 6890)', kind: 'a reserved' },
  { cidr: '192.0.2.0/24', name: 'Documentation TEST-NET-1 (RFC 5737)', kind: 'a documentation' },
  { cidr: '192.31.196.0/24', name: 'AS112-v4 (RFC 7535)', kind: 'an AS112' },
  { cidr: '192.52.193.0/24', name: 'AMT (RFC 7450)', kind: 'an AMT relay' },
  // Also 192.88.99.2/32, the 6a44 relay anycast address (RFC 6751).
  { cidr: '192.88.99.0/24', name: 'Deprecated 6to4 Relay Anycast (RFC 7526)', kind: 'a reserved' },
  { cidr: '192.168.0.0/16', name: 'Private-Use (RFC 1918)', kind: 'a private' },
  { cidr: '192.175.48.0/24', name: 'Direct Delegation AS112 Service (RFC 7534)', kind: 'an AS112' },
  { cidr: '198.18.0.0/15', name: 'Benchmarking (RFC 2544)', kind: 'a benchmarking' },
  { cidr: '198.51.100.0/24', name: 'Documentation TEST-NET-2 (RFC 5737)', kind: 'a documentation' },
  { cidr: '203.0.113.0/24', name: 'Documentation TEST-NET-3 (RFC 5737)', kind: 'a documentation' },
  { cidr: '224.0.0.0/4', name: 'Multicast (RFC 5771; not in the special-purpose registry)', kind: 'a multicast' },
  { cidr: '240.0.0.0/4', name: 'Reserved (RFC 1112), incl. Limited Broadcast 255.255.255.255/32', kind: 'a reserved' },
];

/**
 * Every entry of the IANA IPv6 Special-Purpose Address Registry, and the other non-global blocks of the IPv6 address
 * space. Refused unless it embeds an IPv4 address in a position that is the same for every network, in which case the
 * IPv4 address is judged. Tunnel and translator forms (Teredo, IPv4-translated, the local-use NAT64 prefix, where the
 * operator picks the prefix length and so where the IPv4 address sits) reach an IPv4 host through equipment inside
 * someone's network, possibly an internal one, so they are refused whole. The longest matching prefix decides.
 */
const IPV6_RULES: Rule[] = [
  { cidr: '::/128', name: 'Unspecified Address (RFC 4291)', kind: 'an unspecified' },
  { cidr: '::1/128', name: 'Loopback Address (RFC 4291)', kind: 'a loopback' },
  { cidr: '::ffff:0:0/96', name: 'IPv4-mapped Address (RFC 4291)', embedsIPv4At: 12 },
  { cidr: '::/96', name: 'IPv4-compatible Address (RFC 4291, deprecated; not in the registry)', embedsIPv4At: 12 },
  {
    cidr: '::ffff:0:0:0/96',
    name: 'IPv4-translated Address (RFC 2765, RFC 6145; not in the registry)',
    kind: 'an IPv4-translated',
  },
  { cidr: '64:ff9b::/96', name: 'IPv4-IPv6 Translation, well-known prefix (RFC 6052)', embedsIPv4At: 12 },
  { cidr: '64:ff9b:1::/48', name: 'IPv4-IPv6 Translation, local-use prefix (RFC 8215)', kind: 'a local-use NAT64' },
  { cidr: '100::/64', name: 'Discard-Only Address Block (RFC 6666)', kind: 'a discard' },
  { cidr: '100:0:0:1::/64', name: 'Dummy IPv6 Prefix (RFC 9780)', kind: 'a dummy' },
  { cidr: '2001::/23', name: 'IETF Protocol Assignments (RFC 2928)', kind: 'an IETF-reserved' },
  { cidr: '2001::/32', name: 'TEREDO (RFC 4380, RFC 8190)', kind: 'a Teredo' },
  { cidr: '2001:1::1/128', name: 'Port Control Protocol Anycast (RFC 7723)', kind: 'an anycast service' },
  { cidr: '2001:1::2/128', name: 'TURN Anycast (RFC 8155)', kind: 'an anycast service' },
  {
    cidr: '2001:1::3/128',
    name: 'DNS-SD Service Registration Protocol Anycast (RFC 9665)',
    kind: 'an anycast service',
  },
  { cidr: '2001:2::/48', name: 'Benchmarking (RFC 5180)', kind: 'a benchmarking' },
  { cidr: '2001:3::/32', name: 'AMT (RFC 7450)', kind: 'an AMT relay' },
  { cidr: '2001:4:112::/48', name: 'AS112-v6 (RFC 7535)', kind: 'an AS112' },
  { cidr: '2001:10::/28', name: 'Deprecated ORCHID (RFC 4843)', kind: 'an ORCHID' },
  { cidr: '2001:20::/28', name: 'ORCHIDv2 (RFC 7343)', kind: 'an ORCHID' },
  { cidr: '2001:30::/28', name: 'Drone Remote ID Protocol Entity Tags (RFC 9374)', kind: 'an ORCHID' },
  { cidr: '2001:db8::/32', name: 'Documentation (RFC 3849)', kind: 'a documentation' },
  { cidr: '2002::/16', name: '6to4 (RFC 3056)', embedsIPv4At: 2 },
  { cidr: '2620:4f:8000::/48', name: 'Direct Delegation AS112 Service (RFC 7534)', kind: 'an AS112' },
  { cidr: '3fff::/20', name: 'Documentation (RFC 9637)', kind: 'a documentation' },
  { cidr: '5f00::/16', name: 'Segment Routing SIDs (RFC 9602)', kind: 'a segment-routing' },
  {
    cidr: 'fc00::/7',
    name: 'Unique-Local (RFC 4193), holds the metadata address fd00:ec2::254',
    kind: 'a unique-local or metadata',
  },
  { cidr: 'fe80::/10', name: 'Link-Local Unicast (RFC 4291)', kind: 'a link-local' },
  { cidr: 'fec0::/10', name: 'Site-Local (RFC 3879, deprecated; not in the registry)', kind: 'a site-local' },
  { cidr: 'ff00::/8', name: 'Multicast (RFC 4291; not in the registry)', kind: 'a multicast' },
];

/** IANA allocates global unicast from 2000::/3 only; the rest of the space (outside the rules above) is reserved. */
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');

interface CompiledRule<T> extends Rule {
  readonly range: [T, number];
}

function compile<T extends ipaddr.IPv4 | ipaddr.IPv6>(
  rules: Rule[],
  parse: (cidr: string) => [T, number],
): CompiledRule<T>[] {
  return rules.map((r) => ({ ...r, range: parse(r.cidr) })).sort((a, b) => b.range[1] - a.range[1]);
}
const IPV4_COMPILED = compile(IPV4_RULES, (c) => ipaddr.IPv4.parseCIDR(c));
const IPV6_COMPILED = compile(IPV6_RULES, (c) => ipaddr.IPv6.parseCIDR(c));

/** The policy's rules, for tests and review. */
export const ADDRESS_RULES = { ipv4: IPV4_RULES, ipv6: IPV6_RULES } as const;

/** The kind of blocked range an address falls in (`"a private"`, …), or undefined for a public unicast address. */
export function blockedRange(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) return blockedIPv4(ipaddr.IPv4.parse(address));
  if (family !== 6) return 'an unparseable';
  let parsed: ipaddr.IPv6;
  try {
    parsed = ipaddr.IPv6.parse(address);
  } catch {
    return 'an unparseable';
  }
  const rule = IPV6_COMPILED.find((r) => parsed.match(r.range));
  if (rule?.embedsIPv4At !== undefined) {
    const at = rule.embedsIPv4At;
    return blockedIPv4(new ipaddr.IPv4(parsed.toByteArray().slice(at, at + 4)));
  }
  if (rule) return rule.kind;
  if (!parsed.match(GLOBAL_UNICAST)) return 'a reserved';
  // A block the library knows and this table does not yet (a newer registry entry) is refused too.
  const libraryRange = parsed.range();
  return libraryRange === 'unicast' ? undefined : `a special-purpose (${libraryRange})`;
}

function blockedIPv4(parsed: ipaddr.IPv4): string | undefined {
  const rule = IPV4_COMPILED.find((r) => parsed.match(r.range));
  if (rule) return rule.kind;
  const libraryRange = parsed.range();
  return libraryRange === 'unicast' ? undefined : `a special-purpose (${libraryRange})`;
}
