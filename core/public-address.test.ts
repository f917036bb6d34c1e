import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipLiteral, isPublicAddress } from './public-address.ts';

const octet = fc.integer({ min: 0, max: 255 });
const v4 = (a: number, b: number, c: number, d: number) => `${a}.${b}.${c}.${d}`;

describe('public addresses (webhook destinations)', () => {
  it('refuses loopback, private, link-local, CGNAT, multicast and reserved IPv4, whatever the host part', () => {
    const refused = [
      fc.tuple(octet, octet, octet).map(([b, c, d]) => v4(127, b, c, d)),
      fc.tuple(octet, octet, octet).map(([b, c, d]) => v4(10, b, c, d)),
      fc.tuple(fc.integer({ min: 16, max: 31 }), octet, octet).map(([b, c, d]) => v4(172, b, c, d)),
      fc.tuple(octet, octet).map(([c, d]) => v4(192, 168, c, d)),
      fc.tuple(octet, octet).map(([c, d]) => v4(169, 254, c, d)),
      fc.tuple(fc.integer({ min: 64, max: 127 }), octet, octet).map(([b, c, d]) => v4(100, b, c, d)),
      fc.tuple(fc.integer({ min: 224, max: 255 }), octet, octet, octet).map(([a, b, c, d]) => v4(a, b, c, d)),
      fc.tuple(octet, octet, octet).map(([b, c, d]) => v4(0, b, c, d)),
    ];
    fc.assert(fc.property(fc.oneof(...refused), (ip) => !isPublicAddress(ip) && !isPublicAddress(`::ffff:${ip}`)));
  });

  it('takes ordinary public IPv4 and IPv6 unicast', () => {
    for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '172.15.255.255', '100.128.0.1', '203.0.114.1', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8']) {
      expect(isPublicAddress(ip), ip).toBe(true);
    }
  });

  it('refuses IPv6 loopback, unspecified, unique-local, link-local, multicast, documentation, 6to4 and non-global', () => {
    for (const ip of ['::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'febf::1', 'ff02::1', '2001:db8::1', '2002:7f00:1::1', '2001::1', '64:ff9b::a00:1', '100::1', '3fff::1']) {
      expect(isPublicAddress(ip), ip).toBe(false);
    }
  });

  it('refuses what is not an address at all', () => {
    fc.assert(fc.property(fc.string(), (s) => (isPublicAddress(s) ? ipLiteral(s) !== undefined : true)));
    expect(isPublicAddress('example.com')).toBe(false);
  });

  it('reads IP literals out of URL host names, brackets and all', () => {
    expect(ipLiteral(new URL('http://[::1]:8080/').hostname)).toBe('::1');
    expect(ipLiteral(new URL('http://2130706433/').hostname)).toBe('127.0.0.1');
    expect(ipLiteral(new URL('http://0x7f.1/').hostname)).toBe('127.0.0.1');
    expect(ipLiteral('example.com')).toBeUndefined();
  });
});
