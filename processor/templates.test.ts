// The templates' bytes are a contract (replays compare replies byte for byte; the ledger writer
// reads the entries): each is checked here against the JSON the commands concatenated by hand
// before templates.ts, kept below verbatim as the reference, on any reference a terminal may send.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Hole, template } from './hot/template.ts';
import {
  awardTemplates,
  expiryTemplates,
  purchaseTemplates,
  redemptionTemplates,
  refundTemplates,
  reversalTemplates,
  rfc3339,
  spendTemplates,
} from './templates.ts';

const hole = (name: string) => `\u0001${name}\u0001`;
/** An optional field's hole (Hole.optional): its own mark. */
const optional = (name: string) => `\u0002${name}\u0002`;
const wallet_tail = `"wallet":{"open":${hole('open')},"commerce":${hole('commerce')}}}`;

const facts = fc.record({
  id: fc.constant('txn_0123456789abcdefghjkmnpq'),
  business_id: fc.constant('bus_0123456789abcdefghjkmnpq'),
  terminal_id: fc.constant('ter_0123456789abcdefghjkmnpq'),
  contact_id: fc.constant('con_0123456789abcdefghjkmnpq'),
  currency: fc.constantFrom('EUR', 'JPY', 'KWD'),
  reference: fc.string({ minLength: 1, maxLength: 64, unit: 'binary' }),
  request_hash: fc.stringMatching(/^[A-Za-z0-9_-]{10}$/),
  now_ms: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  at_ms: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  amount: fc.integer({ min: 0, max: 999_999_999_999 }),
  pay: fc.integer({ min: 0, max: 999_999_999_999 }),
});

describe('templates', () => {
  it('write a purchase’s reply and entry as the hand-written ones did (the awards in the reply only; what paid debt the script’s to add or leave out)', () => {
    fc.assert(
      fc.property(facts, (t) => {
        const { id, contact_id, currency, reference, now_ms, amount, pay } = t;
        const reply =
          `{"id":"${id}","status":"approved","reference":${JSON.stringify(reference)},"contact_id":"${contact_id}",` +
          `"amount":${amount},"currency":"${currency}","awards":[${hole('awards')}],"discount":${hole('discount')},` +
          `"amount_due":${hole('due')},"paid_from_wallet":${pay},"created_at":"${rfc3339(now_ms)}",` +
          wallet_tail;
        const entry =
          `{"id":"${id}","kind":"purchase","business_id":"${t.business_id}","terminal_id":"${t.terminal_id}",` +
          `"reference":${JSON.stringify(reference)},"request_hash":"${t.request_hash}","contact_id":"${contact_id}","amount":${amount},"currency":"${currency}",` +
          `"created_at":"${new Date(now_ms).toISOString()}","occurred_at":"${new Date(t.at_ms).toISOString()}","discount":${hole('discount')},` +
          `"paid_from_wallet":${pay},"postings":[${hole('postings')}]${optional('settled')}}`;
        expect(purchaseTemplates(t)).toEqual({ reply, entry });
      }),
    );
  });

  it('write a spend’s reply, and its entry as JSON.stringify did, its postings the script’s (it charges the fee)', () => {
    fc.assert(
      fc.property(facts, (t) => {
        const reply =
          `{"id":"${t.id}","status":"approved","reference":${JSON.stringify(t.reference)},"contact_id":"${t.contact_id}",` +
          `"spent":${t.amount},"currency":"${t.currency}","created_at":"${rfc3339(t.now_ms)}",` +
          wallet_tail;
        const entry = JSON.stringify({
          id: t.id, kind: 'spend', business_id: t.business_id, terminal_id: t.terminal_id, reference: t.reference, request_hash: t.request_hash, contact_id: t.contact_id,
          amount: t.amount, currency: t.currency, created_at: new Date(t.now_ms).toISOString(), postings: 'P',
        }).replace('"P"', `[${hole('postings')}]`);
        expect(spendTemplates(t)).toEqual({ reply, entry });
      }),
    );
  });

  it('write a redemption’s, a refund’s and a reversal’s as the hand-written ones did', () => {
    fc.assert(
      fc.property(facts, (t) => {
        const { id, contact_id, currency, reference, now_ms } = t;
        const head = `{"id":"${id}","status":"approved","reference":${JSON.stringify(reference)}`;
        const created = `"created_at":"${new Date(now_ms).toISOString()}"`;
        const entry_head = (kind: string) => `{"id":"${id}","kind":"${kind}","business_id":"${t.business_id}","terminal_id":"${t.terminal_id}","reference":${JSON.stringify(reference)},"request_hash":"${t.request_hash}","contact_id":"${contact_id}"`;
        expect(redemptionTemplates(t)).toEqual({
          reply: `${head},"contact_id":"${contact_id}","redeemed":${hole('redeemed')},"currency":"${currency}","created_at":"${rfc3339(now_ms)}",${wallet_tail}`,
          entry: `${entry_head('redemption')},"amount":${hole('redeemed')},"currency":"${currency}",${created},"lots":${hole('lots')},"since":${hole('since')},"postings":[${hole('postings')}]}`,
        });
        expect(refundTemplates(t)).toEqual({
          reply:
            `${head},"original_id":"${hole('original')}","contact_id":"${contact_id}","amount":${hole('amount')},"currency":"${currency}",` +
            `"clawed_back":${hole('clawed')},"award_expired":${hole('expired')},"returned_to_wallet":${hole('returned')},"created_at":"${rfc3339(now_ms)}",${wallet_tail}`,
          entry: `${entry_head('refund')},"amount":${hole('amount')},"currency":"${currency}","original_id":"${hole('original')}",${created},"lots":${hole('lots')},"owed":${hole('owed')},"instead":${hole('instead')},"postings":[${hole('postings')}]}`,
        });
        expect(reversalTemplates(t)).toEqual({
          reply: `${head},"original_id":"${hole('original')}","original_kind":"${hole('kind')}","contact_id":"${contact_id}","currency":"${currency}","clawed_back":${hole('clawed')},"award_expired":${hole('expired')},"returned_to_wallet":${hole('returned')},"created_at":"${rfc3339(now_ms)}",${wallet_tail}`,
          entry: `${entry_head('reversal')},"amount":${hole('amount')},"currency":"${currency}","original_id":"${hole('original')}",${created},"lots":${hole('lots')},"owed":${hole('owed')},"instead":${hole('instead')},"postings":[${hole('postings')}]}`,
        });
      }),
    );
  });

  it('write an award’s and an expiry’s as the hand-written ones did (an award’s awards in the reply only)', () => {
    fc.assert(
      fc.property(facts, fc.constantFrom('signup', 'referral'), (t, reason) => {
        const { id, contact_id, currency, reference, now_ms } = t;
        expect(awardTemplates({ ...t, reason })).toEqual({
          reply:
            `{"id":"${id}","kind":"award","reason":"${reason}","reference":${JSON.stringify(reference)},"contact_id":"${contact_id}",` +
            `"awards":[${hole('awards')}],"currency":"${currency}","created_at":"${rfc3339(now_ms)}",${wallet_tail}`,
          entry:
            `{"id":"${id}","kind":"award","business_id":"${t.business_id}","terminal_id":null,"reference":${JSON.stringify(reference)},` +
            `"contact_id":"${contact_id}","amount":${hole('amount')},"currency":"${currency}","created_at":"${new Date(now_ms).toISOString()}",` +
            `"postings":[${hole('postings')}]${optional('settled')}}`,
        });
        expect(expiryTemplates(t)).toEqual({
          reply: `{"id":"${id}","kind":"expiry","contact_id":"${contact_id}","expired":${hole('amount')},${wallet_tail}`,
          entry:
            `{"id":"${id}","kind":"expiry","business_id":"${t.business_id}","terminal_id":null,"reference":${JSON.stringify(reference)},` +
            `"contact_id":"${contact_id}","amount":${hole('amount')},"currency":"${currency}","created_at":"${new Date(now_ms).toISOString()}",` +
            `"postings":[${hole('postings')}]}`,
        });
      }),
    );
  });

  it('leave no hole a client could write: a reference with \\u0001 in it is escaped', () => {
    const { reply } = purchaseTemplates({ id: 'txn_x', business_id: 'bus_x', terminal_id: 'ter_x', contact_id: 'con_x', currency: 'EUR', reference: `a${hole('open')}b`, request_hash: '0123456789', now_ms: 0, at_ms: 0, amount: 1, pay: 0 });
    // awards, discount, due, open, commerce: and no more.
    expect(reply.split('\u0001').length - 1).toBe(2 * 5);
    expect(reply).toContain('"reference":"a\\u0001open\\u0001b"');
  });
});

describe('template()', () => {
  it('writes what JSON.stringify writes, holes left as holes, undefined fields left out', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^[a-z_]{1,8}$/).filter((k) => k !== '__proto__'), fc.jsonValue()), (fields) => {
        expect(template(fields)).toBe(JSON.stringify(fields));
      }),
    );
    expect(template({ a: 1, b: undefined, c: Hole.list('x'), d: Hole.str('y'), e: Hole.json('z') })).toBe(`{"a":1,"c":[${hole('x')}],"d":"${hole('y')}","e":${hole('z')}}`);
    expect(template({})).toBe('{}');
  });

  it('leaves an optional field’s comma and name to the script, never first', () => {
    expect(template({ a: 1, s: Hole.optional('s'), b: 2 })).toBe(`{"a":1${optional('s')},"b":2}`);
    expect(() => template({ s: Hole.optional('s'), a: 1 })).toThrow(/first field/);
  });

  it('refuses a hole lib.lua’s fill would not find', () => {
    expect(() => Hole.json('amount_due')).toThrow(/letters and digits/);
  });
});
