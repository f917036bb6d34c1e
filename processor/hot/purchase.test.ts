// purchase.lua against the test Redis (database 13, shard 201), called through its definition
// (purchase.ts) without the gateway: what it commits, replays and refuses, and what it writes.

import { readFileSync } from 'node:fs';
import { capPeriodsKeptFrom, type CapPeriodsKept } from '../../core/cap-periods.ts';
import { wallet_balance_max } from '../../core/money.ts';
import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import { transactionAccounts } from '../journal.ts';
import type { RedisClient } from '../stores.ts';
import { purchaseTemplates } from '../templates.ts';
import type { AwardItem } from './award-items.ts';
import { capsKey, contactKey, expiryKey, feeCarriesKey, lotsKey, otpKey, purchase_times_kept_ms, purchaseTimesKey, referralsKey, transactionKey } from './keys.ts';
import type { PurchaseCall } from './purchase.ts';
import { balancesOf, expectRecorded, journalLength, journalOf, refusalCodesSince, specBusiness, specContact, specRedisForFile, specSlot, specTerminal } from './script-spec.ts';
import type { ReferenceSlot } from './references.ts';

const shard = 201;
const business = specBusiness();
const terminal = specTerminal(business);
const at_ms = Date.UTC(2026, 10, 15, 12);
const lot = '1798675200000|';
let redis: RedisClient;

specRedisForFile(13, (r) => (redis = r));

function award(kind: AwardItem['kind'], amount: number, more: Partial<AwardItem> = {}): AwardItem {
  const json = JSON.stringify({ offer_id: `off_${kind}`, kind: kind === 'd' ? 'instant_discount' : 'cashback', amount });
  return { kind, amount, lot: kind === 'c' ? lot : '9999999999999|', guard: '', since: 0, before: 0, cap: '', limit: 0, json, group: 0, place: 0, ...more };
}

interface Purchase {
  readonly contact_id: string;
  readonly amount?: number;
  readonly pay?: number;
  readonly otp?: string;
  readonly awards?: readonly AwardItem[];
  readonly fee_bp?: number;
  readonly pay_fee_bp?: number;
  readonly at?: { reference: string; slot: ReferenceSlot };
  readonly journal_length_max?: number;
  readonly referral?: string;
  readonly birth_days?: string;
  readonly at_ms?: number;
  readonly caps_kept?: CapPeriodsKept;
}

function call(p: Purchase): PurchaseCall {
  const now_ms = Date.now();
  const { reference, slot } = p.at ?? specSlot(terminal.id, now_ms);
  const id = newId('txn');
  const amount = p.amount ?? 2_000;
  const pay = p.pay ?? 0;
  const { reply, entry } = purchaseTemplates({ id, business_id: business.id, terminal_id: terminal.id, reference, request_hash: 'testhash00', contact_id: p.contact_id, currency: 'EUR', now_ms, at_ms: now_ms, amount, pay });
  return {
    business_id: business.id, slot, contact_id: p.contact_id, shard, id, now_ms, journal_length_max: p.journal_length_max ?? 1_000_000, reply, entry,
    pay, pay_method: pay > 0 ? (p.otp === undefined ? 'wallet' : 'otp') : '', otp: p.otp ?? '', amount, at_ms: p.at_ms ?? at_ms, birth_days: p.birth_days ?? '', fee_bp: p.fee_bp ?? 0, pay_fee_bp: p.pay_fee_bp ?? 0,
    accounts: transactionAccounts(business, terminal, p.contact_id), tier_units: 20, periods: [{ kind: 'm', current: '2026-11', previous: '2026-10', next: '2026-12' }], referral: p.referral ?? '', awards: p.awards ?? [], caps_kept: p.caps_kept ?? capPeriodsKeptFrom(now_ms),
  };
}

describe('purchase.lua', () => {
  it('commits awards into a lot, the open balance and off the price, with the fee on them; the reply, entry, record and history', async () => {
    await redis.del(feeCarriesKey(shard));
    const contact_id = await specContact(redis, shard, business, 1_000);
    const c = call({ contact_id, fee_bp: 250, awards: [award('c', 100, { cap: 'off_c|m2026-11', limit: 5 }), award('o', 50), award('d', 300)] });
    const out = await redis.purchaseScript(c);
    if (out.outcome !== 'ok') throw new Error(`not committed: ${JSON.stringify(out)}`);
    expect(out).toMatchObject({ first_purchase: true, accepted: [0, 1, 2] });

    const { entry, reply } = await journalOf(redis, shard, out.journal_id);
    expect(out.reply).toBe(JSON.stringify(reply));
    expect(reply).toMatchObject({ id: c.id, amount: 2_000, discount: 300, amount_due: 1_700, paid_from_wallet: 0, wallet: { open: 1_050, commerce: 100 } });
    expect(reply.awards).toEqual(c.awards.map((a) => JSON.parse(a.json)));
    const a = c.accounts;
    // Discount first, the awards in order, the fee on awards and discount (2.5% of 450) last.
    expect(entry.postings).toEqual([[a.rewards, a.discounts, 300], [a.rewards, a.commerce, 100], [a.rewards, a.open, 50], [a.fees, a.fee_income, 11]]);
    expect(entry).toMatchObject({ id: c.id, kind: 'purchase', discount: 300, paid_from_wallet: 0 });
    expect(entry).not.toHaveProperty('awards'); // the reply's alone (templates.ts)

    // 11.25 charged 11, the quarter carried for the merchant on the shard (lib.lua chargeFee).
    // What went into open (50) last, after the empty field older records held a fee in (lib.lua recordOf).
    await expectRecorded(redis, shard, c.slot, c.id, out.journal_id, 'p|2000|150||300||50');
    expect(await redis.hGet(feeCarriesKey(shard), a.fees)).toBe('2500');
    // One purchase counted; no latest purchase time ('lp', of earlier versions): nothing reads it.
    expect(await redis.hmGet(contactKey(shard, contact_id), ['fp', 'lp', 'um'])).toEqual(['1', null, '2026-11|20|0']);
    expect(await redis.hGetAll(lotsKey(shard, contact_id))).toEqual({ [lot]: '100' });
    expect(await redis.hGet(capsKey(shard, contact_id), 'off_c|m2026-11')).toBe('1');
    expect(await redis.zScore(expiryKey(shard), contact_id)).toBe(1798675200000);

    const plain = call({ contact_id });
    const second = await redis.purchaseScript(plain);
    if (second.outcome !== 'ok') throw new Error(`not committed: ${JSON.stringify(second)}`);
    expect(second).toMatchObject({ first_purchase: false, accepted: [] });
    expect(await redis.hGet(contactKey(shard, contact_id), 'um')).toBe('2026-11|40|0');
    // Nothing awarded, paid or charged: the record ends at the amount (no trailing empty amounts).
    await expectRecorded(redis, shard, plain.slot, plain.id, second.journal_id, 'p|2000');
  });

  it('never takes more off than the price', async () => {
    const contact_id = await specContact(redis, shard, business);
    const out = await redis.purchaseScript(call({ contact_id, amount: 2_000, awards: [award('d', 1_500), award('d', 1_500)] }));
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    expect(JSON.parse(out.reply)).toMatchObject({ discount: 2_000, amount_due: 0 });
  });

  it('cuts a credit to what the wallet may still hold (wallet_balance_max), as a discount to the price; one that finds no room is not made', async () => {
    // Open 1,000 short of the bound, commerce debt of 200 (m -200: an award settles it first, so it
    // is room too), and lots of 300: room 900.
    await redis.del(feeCarriesKey(shard));
    const contact_id = await specContact(redis, shard, business, wallet_balance_max - 1_000, { [lot]: 300 });
    await redis.hSet(contactKey(shard, contact_id), { m: '100', md: '200' });
    const capped = { cap: 'off_o|l', limit: 1 };
    const c = call({ contact_id, fee_bp: 9_999, awards: [award('c', 600), award('o', 500, capped), award('c', 400), award('d', 700)] });
    const out = await redis.purchaseScript(c);
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    // The first whole, the second cut to the 300 left, the third finds none: not made, no cap
    // counted for it (the second's counted: it was made). The discount is the price's, not the wallet's.
    expect(out).toMatchObject({ accepted: [0, 1, 3], made: [600, 300, 700] });
    const { entry, reply } = await journalOf(redis, shard, out.journal_id);
    expect(reply.awards).toEqual([{ offer_id: 'off_c', kind: 'cashback', amount: 600 }, { offer_id: 'off_o', kind: 'cashback', amount: 300 }, { offer_id: 'off_d', kind: 'instant_discount', amount: 700 }]);
    expect(reply.wallet).toEqual({ open: wallet_balance_max - 700, commerce: 700 });
    const a = c.accounts;
    // The first paid the debt; the fee (99.99%) on what was made, 1,600.
    expect(entry.postings).toEqual([[a.rewards, a.discounts, 700], [a.rewards, a.commerce, 600], [a.rewards, a.open, 300], [a.fees, a.fee_income, 1_599]]);
    await expectRecorded(redis, shard, c.slot, c.id, out.journal_id, 'p|2000|900||700||300');
    expect(await redis.hmGet(contactKey(shard, contact_id), ['o', 'm', 'md'])).toEqual([String(wallet_balance_max - 700), '700', null]);
    expect(await redis.hGet(capsKey(shard, contact_id), 'off_o|l')).toBe('1');

    // At the bound: no credit is made; a group's credit gives way to its next best, a discount.
    const capped_c = { cap: 'off_c|l', limit: 9 };
    const full = await redis.purchaseScript(call({ contact_id, awards: [award('c', 50, { ...capped_c, group: 1, place: 1 }), award('d', 40, { group: 1, place: 2 }), award('o', 1)] }));
    if (full.outcome !== 'ok') throw new Error(full.outcome);
    expect(full).toMatchObject({ accepted: [1], made: [40] });
    expect(await redis.hGet(capsKey(shard, contact_id), 'off_c|l')).toBeNull();
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: wallet_balance_max - 700, commerce: 700 });
  });

  it('keeps the bound in lib.lua and core/money.ts alike', () => {
    expect(readFileSync(new URL('./lib.lua', import.meta.url), 'utf8')).toContain(`local WALLET_BALANCE_MAX = ${wallet_balance_max}\n`);
  });

  it('checks guards and caps against the shard: the accepted indexes say which awards stood', async () => {
    const contact_id = await specContact(redis, shard, business);
    await redis.hSet(contactKey(shard, contact_id), 'd', '1990-06-15');
    const capped = { cap: 'off_cap|l', limit: 1 };
    // Dated now: a birthday purchase is kept 37 days from the script's clock.
    const now = Date.now();
    const first = await redis.purchaseScript(call({ contact_id, at_ms: now, birth_days: '06-15', awards: [award('c', 10, capped), award('c', 20, { guard: 'first_purchase' })] }));
    expect(first).toMatchObject({ outcome: 'ok', accepted: [0, 1] });
    const later = await redis.purchaseScript(call({ contact_id, at_ms: now, birth_days: '06-15', awards: [award('c', 10, capped), award('c', 20, { guard: 'first_purchase' }), award('o', 5, { guard: 'first_of_day', since: now - 1_000, before: now + 86_400_000 })] }));
    // The cap is reached, the first purchase was the one before, and this day saw a purchase already.
    expect(later).toMatchObject({ outcome: 'ok', accepted: [] });
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 0, commerce: 30 });
  });

  it('keeps a purchase by its time only on the contact\'s birthday (for first_of_day), for 37 days', async () => {
    const contact_id = await specContact(redis, shard, business);
    await redis.hSet(contactKey(shard, contact_id), 'd', '1992-02-29');
    const now = Date.now();
    const other_day = call({ contact_id, at_ms: now, birth_days: '03-01' });
    const leap_birthday = call({ contact_id, at_ms: now, birth_days: '02-28|02-29' });
    expect(await redis.purchaseScript(other_day)).toMatchObject({ outcome: 'ok' });
    expect(await redis.purchaseScript(leap_birthday)).toMatchObject({ outcome: 'ok' });
    const times = purchaseTimesKey(shard, contact_id);
    expect(await redis.zRangeWithScores(times, 0, -1)).toEqual([{ value: leap_birthday.id, score: now }]);
    const ttl_ms = await redis.pTTL(times);
    expect(ttl_ms).toBeGreaterThan(purchase_times_kept_ms - 60_000);
    expect(ttl_ms).toBeLessThanOrEqual(purchase_times_kept_ms);
    // A contact without a birth date: nothing kept.
    const unknown = await specContact(redis, shard, business);
    expect(await redis.purchaseScript(call({ contact_id: unknown, birth_days: '02-28|02-29' }))).toMatchObject({ outcome: 'ok' });
    expect(await redis.exists(purchaseTimesKey(shard, unknown))).toBe(0);
  });

  it('makes of each resolution group the best-placed award its cap and guard admit, in the order given; group 0 stands alone', async () => {
    const contact_id = await specContact(redis, shard, business);
    const best = { cap: 'off_best|l', limit: 1, group: 1, place: 1 };
    const json = (offer: string, amount: number) => JSON.stringify({ offer_id: offer, amount });
    const next = { group: 1, place: 2, json: json('off_next', 20) };
    const third = { group: 1, place: 3, json: json('off_third', 10) };
    const other = { group: 2, place: 1, json: json('off_other', 7) };
    const awards = [award('c', 10, third), award('c', 20, next), award('c', 50, { ...best, json: json('off_best', 50) }), award('o', 7, other), award('c', 1)];
    // The winner admitted: only it of group 1 (not the others given before it), group 2's, group 0's.
    const first = await redis.purchaseScript(call({ contact_id, awards }));
    expect(first).toMatchObject({ outcome: 'ok', accepted: [2, 3, 4] });
    // Its cap reached: the next best of its group stands in, the order given kept in the reply.
    const later = await redis.purchaseScript(call({ contact_id, awards }));
    if (later.outcome !== 'ok') throw new Error(later.outcome);
    expect(later.accepted).toEqual([1, 3, 4]);
    expect(JSON.parse(later.reply).awards.map((a: { offer_id: string }) => a.offer_id)).toEqual(['off_next', 'off_other', 'off_c']);
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 14, commerce: 72 });
  });

  it('pays from the wallet by OTP once, with its fee; the OTP used up', async () => {
    await redis.del(feeCarriesKey(shard));
    const contact_id = await specContact(redis, shard, business, 1_000);
    await redis.hSet(otpKey(shard, contact_id), '123456', `500|${Date.now() + 60_000}`);
    const c = call({ contact_id, amount: 800, pay: 500, otp: '123456', pay_fee_bp: 250 });
    const out = await redis.purchaseScript(c);
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    const { entry, reply } = await journalOf(redis, shard, out.journal_id);
    expect(reply).toMatchObject({ amount_due: 300, paid_from_wallet: 500, wallet: { open: 500, commerce: 0 } });
    expect(entry.postings).toEqual([[c.accounts.open, c.accounts.spends, 500], [c.accounts.fees, c.accounts.fee_income, 12]]);
    await expectRecorded(redis, shard, c.slot, c.id, out.journal_id, 'p|800||500');
    expect(await redis.hGet(otpKey(shard, contact_id), '123456')).toBeNull();
    expect(await redis.purchaseScript(call({ contact_id, pay: 100, otp: '123456' }))).toEqual({ outcome: 'refused', code: 'otp_invalid' });
  });

  it('carries what each fee\'s floor leaves, per merchant on the shard: ten awards of 9 at 10% charge 9, not ten times 0', async () => {
    await redis.del(feeCarriesKey(shard));
    const other = transactionAccounts(business, specTerminal(business), 'x').fees;
    await redis.hSet(feeCarriesKey(shard), other, '9999'); // another merchant's carry is its own
    const contact_id = await specContact(redis, shard, business, 0);
    const fees: number[] = [];
    for (let i = 0; i < 10; i++) {
      const out = await redis.purchaseScript(call({ contact_id, amount: 90, fee_bp: 1_000, awards: [award('o', 9)] }));
      if (out.outcome !== 'ok') throw new Error(out.outcome);
      const { entry } = await journalOf(redis, shard, out.journal_id);
      fees.push(entry.postings.filter((p) => p[0].includes(':fees:')).reduce((sum, p) => sum + p[2], 0));
    }
    expect(fees).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(await redis.hGetAll(feeCarriesKey(shard))).toEqual({ [other]: '9999' });
  });

  it('replays a repeated reference with the very bytes it answered, from the journal and then the ledger', async () => {
    const contact_id = await specContact(redis, shard, business, 1_000);
    const at = specSlot(terminal.id);
    const first = await redis.purchaseScript(call({ contact_id, at, awards: [award('c', 100)] }));
    if (first.outcome !== 'ok') throw new Error(first.outcome);
    const length = await journalLength(redis, shard);
    const again = call({ contact_id, at, awards: [award('c', 100)] });
    expect(await redis.purchaseScript(again)).toEqual({ outcome: 'replay', reply: first.reply, journal_id: first.journal_id });
    // Once the ledger has it (the writer deleted the pending pointer), the ledger has its reply.
    const id = (JSON.parse(first.reply) as { id: string }).id;
    await redis.del(transactionKey(shard, id));
    expect(await redis.purchaseScript(again)).toEqual({ outcome: 'recorded', id });
    expect(await journalLength(redis, shard)).toBe(length);
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 1_000, commerce: 100 });
  });

  it('keeps the referral intent in the shard’s outbox with the first purchase only: not a later one, a replay or a refusal', async () => {
    const contact_id = await specContact(redis, shard, business, 100);
    const intent = (n: number) => `{"r":"con_referrer${n}","c":"${contact_id}","n":${n}}`;
    expect(await redis.purchaseScript(call({ contact_id, pay: 200, referral: intent(0) }))).toEqual({ outcome: 'refused', code: 'insufficient_funds' });
    const at = specSlot(terminal.id);
    const first = call({ contact_id, at, referral: intent(1) });
    expect(await redis.purchaseScript(first)).toMatchObject({ outcome: 'ok', first_purchase: true });
    expect(await redis.purchaseScript(call({ contact_id, at, referral: intent(2) }))).toMatchObject({ outcome: 'replay' });
    expect(await redis.purchaseScript(call({ contact_id, referral: intent(3) }))).toMatchObject({ outcome: 'ok', first_purchase: false });
    // Scored by the purchase's time: the sweeper makes what a crash left older than a few seconds.
    expect(await redis.zRangeWithScores(referralsKey(shard), 0, -1)).toEqual([{ value: intent(1), score: first.now_ms }]);
    // Which purchase referred whom (a reversal leaving the contact no purchase undoes it: reversal.lua).
    expect(await redis.hGet(contactKey(shard, contact_id), 'rd')).toBe(`${first.id}|con_referrer1`);
    await redis.del(referralsKey(shard));
  });

  it('refuses before it moves anything; journals each refusal on its merits for the ledger, in the same call', async () => {
    const contact_id = await specContact(redis, shard, business, 100);
    const length = await journalLength(redis, shard);
    const refusals: [Purchase | (() => Promise<PurchaseCall>), unknown][] = [
      [{ contact_id, pay: 200 }, { outcome: 'refused', code: 'insufficient_funds' }],
      [{ contact_id, pay: 50, otp: '000000' }, { outcome: 'refused', code: 'otp_invalid' }],
      [{ contact_id, journal_length_max: 0 }, { outcome: 'unavailable' }],
      [{ contact_id: await specContact(redis, shard, specBusiness()) }, { outcome: 'contact_not_found' }],
      [async () => ({ ...call({ contact_id }), reply: '' as PurchaseCall['reply'] }), { outcome: 'no_template' }],
      [
        async () => {
          // Reversed before it arrived (reversal.lua's mark).
          const c = call({ contact_id });
          await redis.hSet(c.slot.record_keys(shard)[0]!, c.slot.field, '!');
          return c;
        },
        { outcome: 'refused', code: 'already_reversed' },
      ],
    ];
    for (const [p, expected] of refusals) expect(await redis.purchaseScript(typeof p === 'function' ? await p() : call(p))).toEqual(expected);
    await redis.hSet(contactKey(shard, contact_id), 'x', '1');
    expect(await redis.purchaseScript(call({ contact_id, pay: 50 }))).toEqual({ outcome: 'refused', code: 'spend_blocked' });
    expect(await refusalCodesSince(redis, shard, length)).toEqual(['insufficient_funds', 'otp_invalid', 'already_reversed', 'spend_blocked']);
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 100, commerce: 0 });
    expect(await redis.hGet(contactKey(shard, contact_id), 'fp')).toBeNull();
  });

  it('drops the cap counters of periods no purchase can count in any more, when it makes a new one past 16 counters', async () => {
    const kept = { d: 'd2026-10-25', w: 'w2026-43', m: 'm2026-10' };
    const gone = ['off_a|d2026-10-24', 'off_a|d2025-12-31', 'off_b|w2026-42', 'off_c|m2026-09', 'off_c|m2019-12'];
    const stay = ['off_a|d2026-10-25', 'off_a|d2026-12-01', 'off_b|w2026-43', 'off_c|m2026-10', 'off_d|l', 'off_e|once'];
    const fill = Array.from({ length: 6 }, (_, i) => `off_f|d2026-11-${String(10 + i)}`);
    const counters = () => redis.hGetAll(capsKey(shard, contact_id));
    const contact_id = await specContact(redis, shard, business);
    await redis.hSet(capsKey(shard, contact_id), Object.fromEntries([...gone, ...stay, ...fill].map((f) => [f, '1'])));
    const capped = (cap: string) => [award('o', 1, { cap, limit: 5 })];
    // A counter already there: nothing dropped (17 counters).
    expect((await redis.purchaseScript(call({ contact_id, awards: capped('off_a|d2026-12-01'), caps_kept: kept }))).outcome).toBe('ok');
    expect(Object.keys(await counters())).toHaveLength(17);
    // A new one (18 counters): the 5 of periods before the ones kept go.
    expect((await redis.purchaseScript(call({ contact_id, awards: capped('off_a|d2026-12-02'), caps_kept: kept }))).outcome).toBe('ok');
    expect(Object.keys(await counters()).sort()).toEqual([...stay, ...fill, 'off_a|d2026-12-02'].sort());
    expect((await counters())['off_a|d2026-12-01']).toBe('2');
  });

  it('keeps every cap counter of a contact of 16 counters or fewer, whatever its period', async () => {
    const contact_id = await specContact(redis, shard, business);
    await redis.hSet(capsKey(shard, contact_id), { 'off_a|d2020-01-01': '1', 'off_b|m2020-01': '1' });
    expect((await redis.purchaseScript(call({ contact_id, awards: [award('o', 1, { cap: 'off_a|d2026-12-02', limit: 5 })], caps_kept: { d: 'd2026-10-25', w: 'w2026-43', m: 'm2026-10' } }))).outcome).toBe('ok');
    expect(Object.keys(await redis.hGetAll(capsKey(shard, contact_id))).sort()).toEqual(['off_a|d2020-01-01', 'off_a|d2026-12-02', 'off_b|m2020-01']);
  });
});
