import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  acquirerKey,
  businessFields,
  businessOf,
  keyEntryFields,
  keyEntryOf,
  merchantFields,
  merchantOf,
  terminalCodeField,
  terminalFields,
  terminalOf,
  venueFields,
  venueOf,
} from './network-layout.ts';

const id = fc.string({ minLength: 1, maxLength: 30 });
const text = fc.string({ maxLength: 40 });
const hash = fc.stringMatching(/^[0-9a-f]{64}$/);
const code = fc.string({ minLength: 1, maxLength: 15 });

describe('network layout', () => {
  it('reads back every record exactly as written', () => {
    fc.assert(
      fc.property(id, id, fc.option(id, { nil: null }), hash, code, text, (a, b, maybe, h, c, name) => {
        const admin = { business_id: a, kind: 'admin' as const, terminal_id: null };
        const terminal_key = { business_id: a, kind: 'terminal' as const, terminal_id: b };
        expect(keyEntryOf(keyEntryFields(admin))).toEqual(admin);
        expect(keyEntryOf(keyEntryFields(terminal_key))).toEqual(terminal_key);
        const business = { id: a, name, currency: 'EUR', reward_resolution: 'best' as const, created_at: '2026-01-01T00:00:00Z', admin_key_hash: h };
        expect(businessOf(a, businessFields(business))).toEqual(business);
        // Its contacts not loaded (field u, written apart: network-load.ts markBusinesses).
        expect(businessOf(a, { ...businessFields(business), u: '1' })).toEqual({ ...business, unbuilt: true });
        const merchant = { id: b, business_id: a, code: c, fee_bp: 1250, settle_on: 'spend' as const };
        expect(merchantOf(b, merchantFields(merchant))).toEqual(merchant);
        const venue = { id: b, business_id: a, merchant_id: maybe, timezone: 'Europe/Lisbon' };
        expect(venueOf(b, venueFields(venue))).toEqual(venue);
        const t = { id: b, business_id: a, venue_id: b, merchant_id: maybe, code: c.slice(0, 8), key_hash: h };
        expect(terminalOf(b, terminalFields(t))).toEqual(t);
      }),
    );
  });

  it('reads a missing hash (HGETALL answers {}) as nothing', () => {
    for (const of of [businessOf, merchantOf, venueOf, terminalOf]) expect(of('x', {})).toBeUndefined();
    expect(keyEntryOf({})).toBeUndefined();
    expect(keyEntryOf({ b: 'bus_1', k: 'terminal' })).toBeUndefined(); // a terminal key names its terminal
  });

  it('gives distinct DE42/DE41 pairs distinct index fields, whatever characters the codes hold', () => {
    fc.assert(
      fc.property(code, code, code, code, (m1, t1, m2, t2) => {
        fc.pre(m1 !== m2 || t1 !== t2);
        expect(terminalCodeField(m1, t1)).not.toBe(terminalCodeField(m2, t2));
      }),
    );
  });

  it('names an acquirer by DE32 zero-padded to 11 digits, as links store it', () => {
    expect(acquirerKey('12345')).toBe('n:a:00000012345');
    expect(acquirerKey('00000012345')).toBe(acquirerKey('12345'));
  });
});
