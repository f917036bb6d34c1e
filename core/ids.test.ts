import { describe, expect, it } from 'vitest';
import { luhnValid } from './luhn.ts';
import fc from 'fast-check';
import { base32Time, base32TimeMs, contactIdBytes, contactIdFromBytes, newApiKey, newContactCode, newId, newWalletCode, shardOf } from './ids.ts';

describe('ids', () => {
  it('ids carry their kind and are unique', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newId('con')));
    expect(ids.size).toBe(10_000);
    for (const id of ids) expect(id).toMatch(/^con_[0-9a-z]{20}$/);
  });

  it('transaction ids start with their millisecond: they sort by when they were made', () => {
    const made = Array.from({ length: 2_000 }, (_, i) => newId('txn', 1_767_225_600_000 + 997 * i));
    expect(new Set(made).size).toBe(made.length);
    for (const id of made) expect(id).toMatch(/^txn_[0-9a-z]{26}$/);
    // Sorted as text (code units, as PostgreSQL's "C" collation does), they keep their order.
    expect([...made].sort()).toEqual(made);
    expect(newId('txn', 0).slice(0, 14)).toBe('txn_0000000000');
    expect(newId('txn', 2 ** 48 - 1).slice(0, 14)).toBe('txn_7zzzzzzzzz');
    // Within one millisecond, 80 random bits tell them apart (and give the approval code).
    const same_ms = Array.from({ length: 10_000 }, () => newId('txn', 1_767_225_600_000));
    expect(new Set(same_ms).size).toBe(same_ms.length);
    expect(new Set(same_ms.map((id) => id.slice(-6))).size).toBeGreaterThan(9_900);
    // The other kinds stay 96 random bits.
    expect(newId('off')).toMatch(/^off_[0-9a-z]{20}$/);
  });

  it('wallet codes are 16 digits, Luhn-valid, never starting with 0', () => {
    for (let i = 0; i < 2_000; i++) {
      const code = newWalletCode();
      expect(code).toMatch(/^[1-9][0-9]{15}$/);
      expect(luhnValid(code)).toBe(true);
    }
  });

  it('keys and codes have their shapes', () => {
    expect(newApiKey('admin')).toMatch(/^sk_[0-9a-z]{39}$/);
    expect(newApiKey('terminal')).toMatch(/^tk_[0-9a-z]{39}$/);
    expect(newContactCode()).toMatch(/^[0-9A-Z]{10}$/);
  });

  it('shards spread contacts evenly enough and are stable', () => {
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[shardOf(newId('con'), 16)]++;
    for (const n of counts) {
      expect(n).toBeGreaterThan(700);
      expect(n).toBeLessThan(1300);
    }
    expect(shardOf('con_abc', 16)).toBe(shardOf('con_abc', 16));
  });

  it('a contact id packs into 12 bytes and back', () => {
    for (let i = 0; i < 10_000; i++) {
      const id = newId('con');
      const bytes = contactIdBytes(id);
      expect(bytes.length).toBe(12);
      expect(contactIdFromBytes(bytes)).toBe(id);
    }
    expect(contactIdFromBytes(contactIdBytes('con_zzzzzzzzzzzzzzzzzzzg'))).toBe('con_zzzzzzzzzzzzzzzzzzzg');
    expect(contactIdFromBytes(Buffer.alloc(12))).toBe('con_00000000000000000000');
  });

  it('packing refuses what is not a contact id rather than storing something else', () => {
    // Wrong kind, wrong length, a letter outside the alphabet, and padding bits set (the last
    // character carries 1 bit: 'h' would decode to the same bytes as 'g').
    for (const id of ['txn_00000000000000000000', 'con_0000000000000000000', 'con_000000000000000000000', 'con_0000000000000000000i', 'con_0000000000000000000h', 'con_doesnotexist00000000']) {
      expect(() => contactIdBytes(id), id).toThrow(/not a contact id/);
    }
    expect(() => contactIdFromBytes(Buffer.alloc(11))).toThrow();
  });
});

describe('an id\'s time characters', () => {
  it('read back as the milliseconds they were made of, and sort as those do', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 50 - 1 }), fc.integer({ min: 0, max: 2 ** 50 - 1 }), (a, b) => {
        expect(base32TimeMs(base32Time(a))).toBe(a);
        expect(base32Time(a) < base32Time(b)).toBe(a < b);
        expect(base32TimeMs(newId('txn', a).slice(4, 14))).toBe(a);
      }),
    );
  });
});
