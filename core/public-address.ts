// Which IP addresses a webhook may be sent to (spec/EVENTS.md: loopback, private and link-local
// ranges are refused). Anything not routable on the public internet is refused: a webhook URL is
// chosen by a business, and must not let it make the gateway call into the network the gateway
// runs in (server-side request forgery). Pure: the caller resolves names.

import { BlockList, isIP } from 'node:net';

/** IANA special-purpose registries (RFC 6890 and successors): none of these is a public host. */
const ipv4_ranges: readonly [string, number][] = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata services live here)
  ['172.16.0.0', 12], // private (RFC 1918)
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // private (RFC 1918)
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
];

/**
 * IPv6 outside these is refused by the rule below (only global unicast 2000::/3 is public); these
 * are the parts of 2000::/3 that are not public either. IPv4-mapped (::ffff:0:0/96) addresses are
 * judged by the IPv4 address they carry (BlockList does that by itself).
 */
const ipv6_ranges: readonly [string, number][] = [
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, …)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: carries an IPv4 address, possibly a private one
  ['3fff::', 20], // documentation (RFC 9637)
];

const refused = new BlockList();
for (const [net, prefix] of ipv4_ranges) refused.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of ipv6_ranges) refused.addSubnet(net, prefix, 'ipv6');

const global_unicast = new BlockList();
global_unicast.addSubnet('2000::', 3, 'ipv6');

const ipv4_mapped = new BlockList();
ipv4_mapped.addSubnet('::ffff:0:0', 96, 'ipv6');

/** Whether `address` (an IP literal, v4 or v6, no brackets) is a public unicast address. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !refused.check(address, 'ipv4');
  if (family !== 6) return false;
  if (ipv4_mapped.check(address, 'ipv6')) return !refused.check(address, 'ipv6');
  return global_unicast.check(address, 'ipv6') && !refused.check(address, 'ipv6');
}

/** A URL's hostname as an IP literal (IPv6 without its brackets), or undefined for a name. */
export function ipLiteral(hostname: string): string | undefined {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return isIP(bare) === 0 ? undefined : bare;
}

/**
 * Whether a URL's hostname is `localhost` or a name under it, trailing dot or not: loopback by
 * definition (RFC 6761), though a resolver may not answer for `localhost.` (no DNS, an /etc/hosts
 * without the dot), and a name that does not resolve would be taken.
 */
export function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.+$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}
