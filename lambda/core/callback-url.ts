/**
 * The guard that keeps per-report callbacks from being turned against us (SSRF).
 *
 * A `callbackUrl` must be `https`, carry no credentials, and every address its host resolves to must be a public unicast
 * address: no loopback, private (10/8, 172.16/12, 192.168/16), carrier-grade NAT (100.64/10), link-local (169.254/16,
 * which holds the instance metadata service, and fe80::/10), unspecified (0.0.0.0/8, ::), unique-local (fc00::/7, which
 * holds the IPv6 metadata address fd00:ec2::254), multicast, reserved or documentation ranges. IPv6 forms that embed an
 * IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the
 * IPv4 address they carry.
 *
 * The check runs at submit time and again at every delivery attempt, and delivery connects to an address this check
 * accepted (see `webhooks.ts`), so a DNS answer that changes in between (rebinding) cannot reach an internal address.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

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

export type CallbackUrlCheck =
  | { ok: true; url: URL; addresses: { address: string; family: 4 | 6 }[] }
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

  const checked: { address: string; family: 4 | 6 }[] = [];
  for (const address of addresses) {
    const blocked = blockedRange(address);
    if (blocked) return reject(`must not point at ${blocked} address (${host} → ${address})`);
    checked.push({ address, family: isIP(address) === 6 ? 6 : 4 });
  }
  return { ok: true, url, addresses: checked };
}

function reject(reason: string): CallbackUrlCheck {
  return { ok: false, reason, retryable: false };
}

interface Range {
  bytes: number[];
  prefix: number;
  kind: string;
}

function v4(cidr: string, kind: string): Range {
  const [addr, prefix] = cidr.split('/');
  return { bytes: parseIPv4(addr)!, prefix: Number(prefix), kind };
}
function v6(cidr: string, kind: string): Range {
  const [addr, prefix] = cidr.split('/');
  return { bytes: parseIPv6(addr)!, prefix: Number(prefix), kind };
}

const IPV4_BLOCKED: Range[] = [
  v4('0.0.0.0/8', 'an unspecified'),
  v4('10.0.0.0/8', 'a private'),
  v4('100.64.0.0/10', 'a carrier-grade NAT'),
  v4('127.0.0.0/8', 'a loopback'),
  v4('169.254.0.0/16', 'a link-local or metadata'),
  v4('172.16.0.0/12', 'a private'),
  v4('192.0.0.0/24', 'a reserved'),
  v4('192.0.2.0/24', 'a documentation'),
  v4('192.88.99.0/24', 'a reserved'),
  v4('192.168.0.0/16', 'a private'),
  v4('198.18.0.0/15', 'a benchmarking'),
  v4('198.51.100.0/24', 'a documentation'),
  v4('203.0.113.0/24', 'a documentation'),
  v4('224.0.0.0/4', 'a multicast'),
  v4('240.0.0.0/4', 'a reserved'),
];

const IPV6_BLOCKED: Range[] = [
  v6('::/128', 'an unspecified'),
  v6('::1/128', 'a loopback'),
  v6('100::/64', 'a discard'),
  v6('2001:db8::/32', 'a documentation'),
  v6('fc00::/7', 'a unique-local or metadata'),
  v6('fe80::/10', 'a link-local'),
  v6('fec0::/10', 'a site-local'),
  v6('ff00::/8', 'a multicast'),
];

/** IPv6 prefixes whose addresses carry an IPv4 address, and where it sits (byte offset). */
const IPV6_EMBEDDING_IPV4: { range: Range; offset: number }[] = [
  { range: v6('::ffff:0:0/96', 'IPv4-mapped'), offset: 12 },
  { range: v6('::/96', 'IPv4-compatible'), offset: 12 },
  { range: v6('64:ff9b::/96', 'NAT64'), offset: 12 },
  { range: v6('64:ff9b:1::/48', 'NAT64'), offset: 12 },
  { range: v6('2002::/16', '6to4'), offset: 2 },
];

/** The kind of blocked range an address falls in (`"a private"`, …), or undefined for a public unicast address. */
export function blockedRange(address: string): string | undefined {
  const bytes4 = parseIPv4(address);
  if (bytes4) return IPV4_BLOCKED.find((r) => inRange(bytes4, r))?.kind;
  const bytes6 = parseIPv6(address);
  if (!bytes6) return 'an unparseable';
  for (const { range, offset } of IPV6_EMBEDDING_IPV4) {
    if (!inRange(bytes6, range)) continue;
    // `::` and `::1` sit inside ::/96 too; they are judged as IPv6 below.
    if (range.prefix === 96 && range.bytes.every((b) => b === 0) && bytes6.slice(0, 15).every((b) => b === 0)) break;
    const embedded = bytes6.slice(offset, offset + 4);
    const kind = IPV4_BLOCKED.find((r) => inRange(embedded, r))?.kind;
    if (kind) return kind;
  }
  return IPV6_BLOCKED.find((r) => inRange(bytes6, r))?.kind;
}

function inRange(bytes: number[], range: Range): boolean {
  if (bytes.length !== range.bytes.length) return false;
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i] & mask) !== (range.bytes[i] & mask)) return false;
  }
  return true;
}

/** Dotted-quad IPv4 (the only form `URL` and the resolver produce) to 4 bytes. */
export function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return bytes.every((b) => b >= 0 && b <= 255) ? bytes : undefined;
}

/** IPv6 text (with `::`, an optional trailing dotted quad, and an optional zone) to 16 bytes. */
export function parseIPv6(text: string): number[] | undefined {
  let s = text.replace(/^\[|\]$/g, '');
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    const quad = parseIPv4(s.slice(lastColon + 1));
    if (!quad) return undefined;
    tail = quad;
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const wanted = 8 - tail.length / 2;
  const missing = wanted - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const bytes: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    const n = parseInt(g, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  return [...bytes, ...tail];
}
