import ipaddr from 'ipaddr.js';

/**
 * Why an address may not be contacted, in words fit for an error message
 * ("resolves to a loopback address"). `null` means a public unicast address.
 */
export type AddressClass =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'shared (CGNAT)'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'unparsable';

const V4_CLASS: Partial<Record<string, AddressClass>> = {
  loopback: 'loopback',
  private: 'private',
  linkLocal: 'link-local',
  carrierGradeNat: 'shared (CGNAT)',
  unspecified: 'unspecified',
  multicast: 'multicast',
  broadcast: 'broadcast',
};

const V6_CLASS: Partial<Record<string, AddressClass>> = {
  loopback: 'loopback',
  uniqueLocal: 'private',
  linkLocal: 'link-local',
  unspecified: 'unspecified',
  multicast: 'multicast',
};

// Ranges ipaddr.js 2.2 reports as plain 'unicast' although nothing public lives there.
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
const SITE_LOCAL_V6 = ipaddr.IPv6.parseCIDR('fec0::/10');
const LOCAL_NAT64_V6 = ipaddr.IPv6.parseCIDR('64:ff9b:1::/48');

function classifyV4(ip: ipaddr.IPv4): AddressClass | null {
  const range = ip.range();
  if (range === 'unicast') return null;
  // Everything else ipaddr.js names (reserved, benchmarking, as112, amt, …) is no image host.
  return V4_CLASS[range] ?? 'reserved';
}

const v4FromParts = (hi: number, lo: number): ipaddr.IPv4 =>
  new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);

/** The IPv4 addresses an IPv6 address carries and routes to, or null when it embeds none. */
function embeddedV4(ip: ipaddr.IPv6): ipaddr.IPv4[] | null {
  const p = ip.parts as [number, number, number, number, number, number, number, number];
  switch (ip.range()) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
    case 'rfc6145': // ::ffff:0:a.b.c.d
    case 'rfc6052': // 64:ff9b::a.b.c.d, NAT64
      return [v4FromParts(p[6], p[7])];
    case '6to4': // 2002:aabb:ccdd::/48
      return [v4FromParts(p[1], p[2])];
    case 'teredo': // 2001:0:<server v4>:<flags>:<port>:<client v4 xor 0xffffffff>
      return [v4FromParts(p[2], p[3]), v4FromParts(p[6] ^ 0xffff, p[7] ^ 0xffff)];
    default:
      return null;
  }
}

function classifyV6(ip: ipaddr.IPv6): AddressClass | null {
  const embedded = embeddedV4(ip);
  if (embedded) {
    for (const v4 of embedded) {
      const cls = classifyV4(v4);
      if (cls) return cls;
    }
    return null;
  }
  const range = ip.range();
  if (range !== 'unicast') return V6_CLASS[range] ?? 'reserved';
  if (ip.match(SITE_LOCAL_V6) || ip.match(LOCAL_NAT64_V6)) return 'private';
  // Only 2000::/3 is allocated for global unicast; the rest (::/96 IPv4-compatible, …) is not public.
  if (!ip.match(GLOBAL_UNICAST_V6)) return 'reserved';
  return null;
}

/**
 * Classifies an IP address (any notation ipaddr.js parses, including `0x7f000001`, `127.1`,
 * zone ids). Fails closed: anything unparsable is `'unparsable'`, never public.
 */
export function classifyAddress(ip: string): AddressClass | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip);
  } catch {
    return 'unparsable';
  }
  return parsed.kind() === 'ipv4' ? classifyV4(parsed as ipaddr.IPv4) : classifyV6(parsed as ipaddr.IPv6);
}

/**
 * True unless `ip` is a public unicast address: loopback, private, link-local (incl. the
 * 169.254.169.254 metadata address), CGNAT, unspecified, multicast, broadcast, reserved, and
 * IPv6 forms embedding such an IPv4 (IPv4-mapped, NAT64, 6to4, Teredo) are all forbidden.
 */
export function isForbiddenAddress(ip: string): boolean {
  return classifyAddress(ip) !== null;
}

/** "a loopback address", "an unspecified address": for messages. */
export const describeClass = (cls: AddressClass): string => `${/^[aeiou]/.test(cls) ? 'an' : 'a'} ${cls} address`;
