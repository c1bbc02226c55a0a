/**
 * Which callback URLs and which addresses eeport may send a webhook to. A user-supplied
 * URL must never reach the instance itself, the VPC, or the metadata server
 * (server-side request forgery). This module only judges; the HTTP adapter resolves the
 * name once, asks `checkAddress` about every answer and connects to the address it
 * checked.
 *
 * Addresses are parsed here rather than with node:net so that the core stays free of
 * Node's I/O modules (the layering check forbids `net` in core). Anything that does not
 * parse as an address is blocked: the policy fails closed.
 */

export type BlockRule =
  | 'unparseable'
  | 'unspecified'
  | 'this-network'
  | 'loopback'
  | 'private'
  | 'unique-local'
  | 'carrier-grade-nat'
  | 'link-local'
  | 'metadata-server'
  | 'ietf-protocol-assignments'
  | 'documentation'
  | '6to4-relay-anycast'
  | 'benchmarking'
  | 'multicast'
  | 'reserved'
  | 'broadcast'
  | 'ipv4-mapped'
  | 'ipv4-compatible'
  | 'nat64'
  | 'local-nat64'
  | '6to4'
  | 'teredo'
  | 'discard-only'
  | 'site-local'
  | 'not-global-unicast';

export interface AddressVerdict {
  blocked: boolean;
  /** Which rule, for code (`allowLoopback` lets through only `loopback`). */
  rule?: BlockRule;
  /** For people: the address, the rule and its range, and for embedded IPv4 the inner verdict. */
  reason?: string;
}

// ---------------------------------------------------------------------------------------
// Address parsing: dotted-quad IPv4 (the only form WHATWG URLs and resolvers produce) and
// RFC 4291 IPv6 text, including `::` and a trailing dotted IPv4; a `%zone` is ignored.

type Bytes = readonly number[];

function parseIPv4(text: string): Bytes | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const parts = m.slice(1).map((p) => (p.length > 1 && p.startsWith('0') ? NaN : Number(p)));
  return parts.every((n) => n >= 0 && n <= 255) ? parts : null;
}

function parseIPv6(text: string): Bytes | null {
  const zone = text.indexOf('%');
  let rest = zone >= 0 ? text.slice(0, zone) : text;
  if (rest.length === 0 || rest.length > 45) return null;

  let tail4: Bytes = [];
  const lastColon = rest.lastIndexOf(':');
  if (rest.slice(lastColon + 1).includes('.')) {
    const v4 = parseIPv4(rest.slice(lastColon + 1));
    if (!v4) return null;
    tail4 = v4;
    // Keep the colon(s): `::1.2.3.4` becomes `::` and `1:2::3:1.2.3.4` becomes `1:2::3:`.
    rest = rest.slice(0, lastColon + 1);
    if (rest.endsWith('::')) {
      // fine: the `::` stands in front of the IPv4 part
    } else if (rest.endsWith(':')) {
      rest = rest.slice(0, -1);
    }
  }

  const halves = rest.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (!head || !tail) return null;
  const have = head.length + tail.length + tail4.length / 2;
  if (halves.length === 2 ? have > 7 : have !== 8) return null;

  const words = [...head, ...new Array<number>(8 - have).fill(0), ...tail];
  const bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
  return [...bytes, ...tail4];
}

/** The address as bytes (4 for IPv4, 16 for IPv6), or null when it is not an IP address. */
export function parseIpAddress(text: string): Bytes | null {
  return parseIPv4(text) ?? (text.includes(':') ? parseIPv6(text) : null);
}

function formatIPv4(bytes: Bytes): string {
  return bytes.join('.');
}

// ---------------------------------------------------------------------------------------
// Ranges, most specific first (the first match wins).

interface Range {
  cidr: string;
  bytes: Bytes;
  bits: number;
  rule: BlockRule;
  label: string;
  /** For IPv6 ranges that carry an IPv4 address: where its four bytes are. */
  embedded?: { offset: number };
}

function range(cidr: string, rule: BlockRule, label: string, embedded?: { offset: number }): Range {
  const [addr = '', bits = ''] = cidr.split('/');
  const bytes = parseIpAddress(addr);
  if (!bytes) throw new Error(`bad range ${cidr}`);
  return { cidr, bytes, bits: Number(bits), rule, label, ...(embedded ? { embedded } : {}) };
}

function inRange(bytes: Bytes, r: Range): boolean {
  if (bytes.length !== r.bytes.length) return false;
  for (let bit = 0; bit < r.bits; bit += 8) {
    const take = Math.min(8, r.bits - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    const i = bit / 8;
    if (((bytes[i] ?? 0) & mask) !== ((r.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

const IPV4_RANGES: readonly Range[] = [
  range('255.255.255.255/32', 'broadcast', 'limited broadcast'),
  range('169.254.169.254/32', 'metadata-server', 'the cloud metadata server (link-local)'),
  range('0.0.0.0/8', 'this-network', '"this network"'),
  range('10.0.0.0/8', 'private', 'private'),
  range('100.64.0.0/10', 'carrier-grade-nat', 'carrier-grade NAT shared space'),
  range('127.0.0.0/8', 'loopback', 'loopback'),
  range('169.254.0.0/16', 'link-local', 'link-local'),
  range('172.16.0.0/12', 'private', 'private'),
  range('192.0.0.0/24', 'ietf-protocol-assignments', 'IETF protocol assignments'),
  range('192.0.2.0/24', 'documentation', 'documentation (TEST-NET-1)'),
  range('192.88.99.0/24', '6to4-relay-anycast', '6to4 relay anycast'),
  range('192.168.0.0/16', 'private', 'private'),
  range('198.18.0.0/15', 'benchmarking', 'benchmarking'),
  range('198.51.100.0/24', 'documentation', 'documentation (TEST-NET-2)'),
  range('203.0.113.0/24', 'documentation', 'documentation (TEST-NET-3)'),
  range('224.0.0.0/4', 'multicast', 'multicast'),
  range('240.0.0.0/4', 'reserved', 'reserved'),
];

const IPV6_RANGES: readonly Range[] = [
  range('::/128', 'unspecified', 'the unspecified address'),
  range('::1/128', 'loopback', 'loopback'),
  // Judged by the IPv4 address they carry: each reaches that IPv4 host in the end.
  range('::ffff:0:0/96', 'ipv4-mapped', 'IPv4-mapped IPv6', { offset: 12 }),
  range('64:ff9b::/96', 'nat64', 'NAT64 well-known prefix', { offset: 12 }),
  range('2002::/16', '6to4', '6to4', { offset: 2 }),
  // Blocked outright: no webhook receiver needs them.
  range('::/96', 'ipv4-compatible', 'deprecated IPv4-compatible IPv6'),
  range('64:ff9b:1::/48', 'local-nat64', 'local-use NAT64'),
  range('100::/64', 'discard-only', 'discard-only'),
  range('2001::/32', 'teredo', 'Teredo tunnelling'),
  range('2001:2::/48', 'benchmarking', 'benchmarking'),
  range('2001:db8::/32', 'documentation', 'documentation'),
  range('3fff::/20', 'documentation', 'documentation'),
  range('2001::/23', 'ietf-protocol-assignments', 'IETF protocol assignments'),
  range('fc00::/7', 'unique-local', 'unique local (private)'),
  range('fe80::/10', 'link-local', 'link-local'),
  range('fec0::/10', 'site-local', 'deprecated site-local'),
  range('ff00::/8', 'multicast', 'multicast'),
];

/** Global unicast space; any IPv6 address outside it that no rule above named is refused too. */
const IPV6_GLOBAL_UNICAST = range('2000::/3', 'not-global-unicast', 'global unicast');

function classifyIPv4(bytes: Bytes): AddressVerdict {
  const text = formatIPv4(bytes);
  const hit = IPV4_RANGES.find((r) => inRange(bytes, r));
  return hit ? { blocked: true, rule: hit.rule, reason: `${text} is ${hit.label} (${hit.cidr})` } : { blocked: false };
}

function classifyIPv6(text: string, bytes: Bytes): AddressVerdict {
  const hit = IPV6_RANGES.find((r) => inRange(bytes, r));
  if (hit?.embedded) {
    const inner = bytes.slice(hit.embedded.offset, hit.embedded.offset + 4);
    const verdict = classifyIPv4(inner);
    if (!verdict.blocked) return { blocked: false };
    return {
      blocked: true,
      rule: hit.rule,
      reason: `${text} is ${hit.label} (${hit.cidr}) carrying ${verdict.reason}`,
    };
  }
  if (hit) return { blocked: true, rule: hit.rule, reason: `${text} is ${hit.label} (${hit.cidr})` };
  if (!inRange(bytes, IPV6_GLOBAL_UNICAST)) {
    return { blocked: true, rule: 'not-global-unicast', reason: `${text} is outside global unicast (2000::/3)` };
  }
  return { blocked: false };
}

/** Whether an address may never receive a webhook, and which rule says so. */
export function classifyAddress(ip: string): AddressVerdict {
  const bytes = parseIpAddress(ip);
  if (!bytes) return { blocked: true, rule: 'unparseable', reason: `${JSON.stringify(ip)} is not an IP address` };
  return bytes.length === 4 ? classifyIPv4(bytes) : classifyIPv6(ip, bytes);
}

export interface CallbackUrlPolicy {
  /** Permit `http:`. Local and test setups only. */
  allowHttp: boolean;
  /**
   * Permit loopback — 127.0.0.0/8 and ::1 themselves, not IPv4-mapped or NAT64 forms —
   * and the `localhost` names. Local and test setups only; never a default.
   */
  allowLoopback: boolean;
  /**
   * When set, the host must be one of these (`hooks.example.com`), or a subdomain of a
   * `*.example.com` entry. It narrows, never widens: addresses are still checked. An
   * empty list allows no host at all.
   */
  allowedHosts?: readonly string[];
  /**
   * Ports a callback may use on a public host (WEBHOOK_ALLOWED_PORTS); absent: 80 and
   * 443. Loopback, where the policy allows it, may use any port.
   */
  allowedPorts?: readonly number[];
}

export const DEFAULT_CALLBACK_PORTS: readonly number[] = [80, 443];

/** The port a URL connects to: its own, or its scheme's. */
export const effectivePort = (url: URL): number => (url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port));

/**
 * Why a callback may not use its port, or null. A public host is limited to the allowed
 * ports (an internal service on an odd port is what server-side request forgery hunts
 * for); an address the policy lets through as loopback may use any. `address` is the one
 * the name resolved to; without it (before DNS) a name counts as public unless the
 * policy allows loopback, where the resolved address decides later.
 */
export function portRefusal(url: URL, policy: CallbackUrlPolicy, address?: string): string | null {
  const port = effectivePort(url);
  const allowed = policy.allowedPorts ?? DEFAULT_CALLBACK_PORTS;
  if (allowed.includes(port)) return null;
  const bracketed = url.hostname.startsWith('[');
  const host = bracketed ? url.hostname.slice(1, -1) : url.hostname.toLowerCase().replace(/\.+$/, '');
  const literal = address ?? (bracketed || parseIPv4(host) ? host : undefined);
  if (policy.allowLoopback) {
    // A name may turn out to be loopback: the address it resolves to decides, when it is known.
    if (literal === undefined) return null;
    if (classifyAddress(literal).rule === 'loopback' && !checkAddress(literal, policy).blocked) return null;
  }
  return `port ${port} is not allowed for a public host (allowed: ${allowed.join(', ')}; WEBHOOK_ALLOWED_PORTS)`;
}

/** The same verdict, with the policy's loopback exception applied. */
export function checkAddress(ip: string, policy: Pick<CallbackUrlPolicy, 'allowLoopback'>): AddressVerdict {
  const verdict = classifyAddress(ip);
  if (verdict.blocked && policy.allowLoopback && verdict.rule === 'loopback') return { blocked: false };
  return verdict;
}

export type CallbackUrlCheck =
  | {
      ok: true;
      url: URL;
      /** The host to resolve and to present for TLS: lower case, without brackets or trailing dot. */
      hostname: string;
      /** Set when the host is an IP address literal (already checked; nothing to resolve). */
      ipLiteral?: string;
    }
  | { ok: false; reasons: string[] };

function hostAllowed(hostname: string, allowed: readonly string[]): boolean {
  return allowed.some((entry) => {
    const e = entry.toLowerCase().replace(/\.+$/, '');
    return e.startsWith('*.') ? hostname.endsWith(e.slice(1)) && hostname.length > e.length - 1 : hostname === e;
  });
}

function nameRefusal(hostname: string, policy: CallbackUrlPolicy): string | null {
  if (hostname === 'metadata.google.internal' || hostname === 'metadata') {
    return `host ${hostname} is the cloud metadata server`;
  }
  if (hostname === 'internal' || hostname.endsWith('.internal')) {
    return `host ${hostname} is in the .internal domain (cloud-internal names)`;
  }
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    return policy.allowLoopback ? null : `host ${hostname} is a loopback name`;
  }
  if (hostname.endsWith('.local')) return `host ${hostname} is a multicast-DNS (.local) name`;
  if (!hostname.includes('.')) {
    return `host ${hostname} is a single-label name (resolved through internal search domains)`;
  }
  return null;
}

/**
 * Whether a callback URL may be used at all, before any DNS: scheme, credentials, names
 * that are internal by definition, and — when the host is an IP literal, after the
 * WHATWG parser has normalised `2130706433`, `0177.0.0.1` or `0x7f.1` to dotted form —
 * the address itself. Every problem found is listed.
 */
export function checkCallbackUrl(raw: string, policy: CallbackUrlPolicy): CallbackUrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reasons: ['not a valid absolute URL'] };
  }
  const reasons: string[] = [];
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    reasons.push(`scheme ${url.protocol.replace(/:$/, '')} is not allowed (https only${policy.allowHttp ? ' or http' : ''})`);
  }
  if (url.username !== '' || url.password !== '') reasons.push('credentials in the URL are not allowed');
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reasons };

  const bracketed = url.hostname.startsWith('[') && url.hostname.endsWith(']');
  const hostname = bracketed ? url.hostname.slice(1, -1) : url.hostname.toLowerCase().replace(/\.+$/, '');
  const ipLiteral = bracketed || parseIPv4(hostname) ? hostname : undefined;

  if (ipLiteral !== undefined) {
    const verdict = checkAddress(ipLiteral, policy);
    if (verdict.blocked) reasons.push(`address ${verdict.reason} [${verdict.rule}]`);
  } else {
    const refusal = nameRefusal(hostname, policy);
    if (refusal) reasons.push(refusal);
  }
  if (policy.allowedHosts && !hostAllowed(hostname, policy.allowedHosts)) {
    reasons.push(`host ${hostname} is not in the allowed hosts`);
  }
  const port = portRefusal(url, policy);
  if (port) reasons.push(port);
  if (reasons.length > 0) return { ok: false, reasons };
  return ipLiteral !== undefined ? { ok: true, url, hostname, ipLiteral } : { ok: true, url, hostname };
}
