// refund.lua (with refund-shares.lua) against the test Redis (database 14, shard 206), called
// through its definition (refund.ts) without the gateway. Originals are written as the scripts
// record them (a record, lots, balances) or given as the ledger has them.

import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import { transactionAccounts } from '../journal.ts';
import type { RedisClient } from '../stores.ts';
import { refundTemplates } from '../templates.ts';
import { contactKey, expiredLotsKey, lotsKey, owedLotsKey, stateKey } from './keys.ts';
import { awardLotsArg, type AwardLots, type LedgerOriginalArg } from './original.ts';
import type { ReferenceSlot } from './references.ts';
import type { RefundCall } from './refund.ts';
import { balancesOf, expectRecorded, journalLength, journalOf, refusalCodesSince, specBusiness, specContact, specOriginal, specRedisForFile, specSlot, specTerminal } from './script-spec.ts';

const shard = 206;
const business = specBusiness();
const terminal = specTerminal(business);
const soon = String(Date.now() + 86_400_000).padStart(13, '0');
const gone = `${String(Date.now() - 3_600_000).padStart(13, '0')}|`;
let redis: RedisClient;

specRedisForFile(14, (r) => (redis = r));

const original = (record: string) => specOriginal(redis, shard, terminal.id, record);

/** The spec terminal's fee, for an original charged it (the others are records of sales without one). */
const charged = { fee_bp: terminal.fee_bp, fee_on: terminal.settle_on };

function call(contact_id: string, original_slot: ReferenceSlot, amount: number | null, ledger: LedgerOriginalArg | null = null, at?: { reference: string; slot: ReferenceSlot }, award_lots: AwardLots | null = null): RefundCall {
  const now_ms = Date.now();
  const { reference, slot } = at ?? specSlot(terminal.id, now_ms);
  const id = newId('txn');
  const { reply, entry } = refundTemplates({ id, business_id: business.id, terminal_id: terminal.id, reference, request_hash: 'testhash00', contact_id, currency: 'EUR', now_ms });
  return {
    business_id: business.id, slot, contact_id, shard, id, now_ms, journal_length_max: 1_000_000, reply, entry,
    amount, accounts: transactionAccounts(business, terminal, contact_id), fee_bp: 0, fee_on: '', original_slot, original_field: original_slot.field, ledger, award_lots,
  };
}

describe('refund.lua', () => {
  it('claws back the award and gives back payment, discount funding and fee in proportion, each refund from what the ones before left', async () => {
    const contact_id = await specContact(redis, shard, business, 200, { [`${soon}|`]: 100 });
    // 2000 paid 500 from the wallet, 100 awarded, 300 off, a fee of 10.
    const o = await original('p|2000|100|500|300|10');
    const own = awardLotsArg(o.id, [[`${soon}|`, 100]], Date.now());
    const c = { ...call(contact_id, o.slot, 1_000, null, undefined, own), ...charged };
    const out = await redis.refundScript(c);
    if (out.outcome !== 'ok') throw new Error(JSON.stringify(out));
    const { entry, reply } = await journalOf(redis, shard, out.journal_id);
    expect(reply).toMatchObject({ original_id: o.id, amount: 1_000, clawed_back: 50, returned_to_wallet: 250, wallet: { open: 450, commerce: 50 } });
    const a = c.accounts;
    expect(entry).toMatchObject({ kind: 'refund', original_id: o.id, amount: 1_000 });
    expect(entry.postings).toEqual([[a.spends, a.open, 250], [a.discounts, a.rewards, 150], [a.fee_income, a.fees, 5], [a.commerce, a.rewards, 50]]);
    expect(await redis.hGetAll(stateKey(shard, o.id))).toEqual({ rf: '1000', cw: '50', cp: '250', dr: '150' });
    await expectRecorded(redis, shard, c.slot, c.id, out.journal_id, 'f|1000');

    // The rest (no amount: what is left), then nothing is left.
    const rest = await redis.refundScript({ ...call(contact_id, o.slot, null, null, undefined, own), ...charged });
    if (rest.outcome !== 'ok') throw new Error(rest.outcome);
    expect(JSON.parse(rest.reply)).toMatchObject({ amount: 1_000, clawed_back: 50, returned_to_wallet: 250, wallet: { open: 700, commerce: 0 } });
    expect(await redis.refundScript({ ...call(contact_id, o.slot, 1, null, undefined, own), ...charged })).toEqual({ outcome: 'refused', code: 'amount_exceeds_original' });
  });

  it('takes the purchase\'s own lots first, asking for them when the contact holds others; its entry names what it took', async () => {
    // Another sale's 100 expires first; this purchase's 100 in a later lot, 30 of it redeemed.
    const other = `${String(Date.now() + 3_600_000).padStart(13, '0')}|`;
    const contact_id = await specContact(redis, shard, business, 0, { [other]: 100, [`${soon}|`]: 70 });
    const o = await original('p|1000|100||||');
    const length = await journalLength(redis, shard);
    expect(await redis.refundScript(call(contact_id, o.slot, 500))).toEqual({ outcome: 'stale' });
    expect(await journalLength(redis, shard)).toBe(length);

    const lots = awardLotsArg(o.id, [[`${soon}|`, 100]], Date.now());
    const half = await redis.refundScript(call(contact_id, o.slot, 500, null, undefined, lots));
    if (half.outcome !== 'ok') throw new Error(JSON.stringify(half));
    expect(JSON.parse(half.reply)).toMatchObject({ clawed_back: 50, award_expired: 0, wallet: { open: 0, commerce: 120 } });
    expect((await journalOf(redis, shard, half.journal_id)).entry.lots).toEqual([[`${soon}|`, 50]]);
    // The rest: what is left of its own lot (20), then the earliest other (30).
    const rest = await redis.refundScript(call(contact_id, o.slot, null, null, undefined, lots));
    if (rest.outcome !== 'ok') throw new Error(JSON.stringify(rest));
    expect((await journalOf(redis, shard, rest.journal_id)).entry.lots).toEqual([[`${soon}|`, 20], [other, 30]]);
    expect(await redis.hGetAll(lotsKey(shard, contact_id))).toEqual({ [other]: '70' });
    // Nothing taken from a lot (its own redeemed, none other): null; what its lot lacked is owed (claw-back.lua noteOwed).
    const spent = await specContact(redis, shard, business, 100);
    const p = await original('p|1000|100||||');
    const c = call(spent, p.slot, null, null, undefined, awardLotsArg(p.id, [[`${soon}|`, 100]], Date.now()));
    const out = await redis.refundScript(c);
    if (out.outcome !== 'ok') throw new Error(JSON.stringify(out));
    // Taken from open (100, the redeemed money): owed, noted under the refund's id.
    expect((await journalOf(redis, shard, out.journal_id)).entry).toMatchObject({ lots: null, owed: 100 });
    expect(await redis.hGetAll(owedLotsKey(shard, spent))).toEqual({ [`${c.id.slice(4)}${soon}|`]: '100' });
  });

  it('takes of each own lot its share, in proportion to what the purchase put in it; what a lot lacks, from its others beyond their share, then the contact’s earliest', async () => {
    // This purchase: 100 into a lot of an hour, 100 into one that never expires (30 of it redeemed); another's 100 expires first.
    const early = `${String(Date.now() + 60_000).padStart(13, '0')}|`;
    const hour = `${String(Date.now() + 3_600_000).padStart(13, '0')}|`;
    const never = '9999999999999|M1';
    const contact_id = await specContact(redis, shard, business, 30, { [early]: 100, [hour]: 100, [never]: 70 });
    const o = await original('p|1000|200||||');
    const lots = awardLotsArg(o.id, [[hour, 100], [never, 100]], Date.now());
    const half = await redis.refundScript(call(contact_id, o.slot, 500, null, undefined, lots));
    if (half.outcome !== 'ok') throw new Error(JSON.stringify(half));
    expect((await journalOf(redis, shard, half.journal_id)).entry.lots).toEqual([[hour, 50], [never, 50]]);
    // The rest: 50 of each share; the never-expiring lot holds 20, so 30 more of the other.
    const rest = await redis.refundScript(call(contact_id, o.slot, null, null, undefined, lots));
    if (rest.outcome !== 'ok') throw new Error(JSON.stringify(rest));
    expect((await journalOf(redis, shard, rest.journal_id)).entry.lots).toEqual([[hour, 50], [never, 20], [early, 30]]);
    expect(await redis.hGetAll(lotsKey(shard, contact_id))).toEqual({ [early]: '70' });
  });

  it('claws back from the open balance when commerce is spent, and the rest as commerce debt', async () => {
    const contact_id = await specContact(redis, shard, business, 30);
    const o = await original('p|1000|100||||');
    const c = call(contact_id, o.slot, null, null, undefined, awardLotsArg(o.id, [[`${soon}|`, 100]], Date.now()));
    const out = await redis.refundScript(c);
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    expect((await journalOf(redis, shard, out.journal_id)).entry.postings).toEqual([[c.accounts.commerce, c.accounts.rewards, 70], [c.accounts.open, c.accounts.rewards, 30]]);
    expect(await redis.hmGet(contactKey(shard, contact_id), ['o', 'm', 'md'])).toEqual(['0', '-70', '70']);
    // What it took from open, kept for a reversal (reversal.lua: the instant awards left there).
    expect(await redis.hGet(stateKey(shard, o.id), 'co')).toBe('30');
  });

  it('does not claw back again what of the award expired: asks for the purchase\'s lots, then writes the expired part off', async () => {
    // An award of 100 into a lot that expired an hour ago, swept: the wallet is empty again.
    const contact_id = await specContact(redis, shard, business, 0);
    await redis.hSet(expiredLotsKey(shard, contact_id), gone, '100');
    const o = await original('p|1000|100||||');
    const length = await journalLength(redis, shard);
    // Without the purchase's lots the script cannot tell: stale, and nothing changed.
    expect(await redis.refundScript(call(contact_id, o.slot, 500))).toEqual({ outcome: 'stale' });
    expect(await redis.refundScript(call(contact_id, o.slot, 500, null, undefined, awardLotsArg('txn_another', [[gone, 100]], Date.now())))).toEqual({ outcome: 'stale' });
    expect(await journalLength(redis, shard)).toBe(length);

    const lots = awardLotsArg(o.id, [[gone, 100]], Date.now());
    const half = await redis.refundScript(call(contact_id, o.slot, 500, null, undefined, lots));
    if (half.outcome !== 'ok') throw new Error(JSON.stringify(half));
    expect(JSON.parse(half.reply)).toMatchObject({ amount: 500, clawed_back: 0, award_expired: 50, wallet: { open: 0, commerce: 0 } });
    expect((await journalOf(redis, shard, half.journal_id)).entry.postings).toEqual([]);
    expect(await redis.hGetAll(expiredLotsKey(shard, contact_id))).toEqual({ [gone]: '50' });
    expect(await redis.hGetAll(stateKey(shard, o.id))).toMatchObject({ rf: '500', cw: '50' });

    const rest = await redis.refundScript(call(contact_id, o.slot, null, null, undefined, lots));
    if (rest.outcome !== 'ok') throw new Error(rest.outcome);
    expect(JSON.parse(rest.reply)).toMatchObject({ amount: 500, clawed_back: 0, award_expired: 50, wallet: { open: 0, commerce: 0 } });
    expect(await redis.exists(expiredLotsKey(shard, contact_id))).toBe(0);
    expect(await redis.hmGet(contactKey(shard, contact_id), ['o', 'm', 'md'])).toEqual(['0', '0', null]);
  });

  it('claws back what was redeemed before the rest expired, and no more of a lot than the purchase put in it', async () => {
    // 100 awarded: 30 redeemed into the open balance, then 70 expired; another purchase's 50 expired in the same lot.
    const contact_id = await specContact(redis, shard, business, 30);
    await redis.hSet(expiredLotsKey(shard, contact_id), gone, '120');
    const o = await original('p|1000|100||||');
    const c = call(contact_id, o.slot, null, null, undefined, awardLotsArg(o.id, [[gone, 70]], Date.now()));
    const out = await redis.refundScript(c);
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    expect(JSON.parse(out.reply)).toMatchObject({ clawed_back: 30, award_expired: 70, wallet: { open: 0, commerce: 0 } });
    expect((await journalOf(redis, shard, out.journal_id)).entry.postings).toEqual([[c.accounts.open, c.accounts.rewards, 30]]);
    expect(await redis.hGetAll(expiredLotsKey(shard, contact_id))).toEqual({ [gone]: '50' });
  });

  it('writes off in proportion, as it claws back: a half refund of an award half expired, half not, writes off half of what expired', async () => {
    // 100 awarded: 50 into a lot that expired, 50 into one that never does.
    const contact_id = await specContact(redis, shard, business, 0, { '9999999999999|': 50 });
    await redis.hSet(expiredLotsKey(shard, contact_id), gone, '50');
    const o = await original('p|1000|100||||');
    const lots = awardLotsArg(o.id, [[gone, 50], ['9999999999999|', 50]], Date.now());
    const half = await redis.refundScript(call(contact_id, o.slot, 500, null, undefined, lots));
    if (half.outcome !== 'ok') throw new Error(half.outcome);
    // As a sale of 500 would have left: 25 expired, 25 in the wallet.
    expect(JSON.parse(half.reply)).toMatchObject({ clawed_back: 25, award_expired: 25, wallet: { open: 0, commerce: 25 } });
    const rest = await redis.refundScript(call(contact_id, o.slot, null, null, undefined, lots));
    if (rest.outcome !== 'ok') throw new Error(rest.outcome);
    expect(JSON.parse(rest.reply)).toMatchObject({ clawed_back: 25, award_expired: 25, wallet: { open: 0, commerce: 0 } });
    expect(await redis.exists(expiredLotsKey(shard, contact_id))).toBe(0);
  });

  it('writes off of each lot its share that the lot lacks because it expired: a refund before the expiry and one after it', async () => {
    // 100 into a lot that expired an hour ago and 100 into one of a day; a refund of 200 of the
    // 1000 before the expiry took 20 of each; the expiry took the first lot's other 80.
    const contact_id = await specContact(redis, shard, business, 0, { [`${soon}|`]: 80 });
    await redis.hSet(expiredLotsKey(shard, contact_id), gone, '80');
    const o = await original('p|1000|200||||');
    await redis.hSet(stateKey(shard, o.id), { rf: '200', cw: '40' });
    const lots = awardLotsArg(o.id, [[gone, 100], [`${soon}|`, 100]], Date.now());
    // Half of the sale: 50 of each lot, the first's written off.
    const half = await redis.refundScript(call(contact_id, o.slot, 500, null, undefined, lots));
    if (half.outcome !== 'ok') throw new Error(JSON.stringify(half));
    expect(JSON.parse(half.reply)).toMatchObject({ clawed_back: 50, award_expired: 50, wallet: { open: 0, commerce: 30 } });
    expect((await journalOf(redis, shard, half.journal_id)).entry.lots).toEqual([[`${soon}|`, 50]]);
    expect(await redis.hGetAll(expiredLotsKey(shard, contact_id))).toEqual({ [gone]: '30' });
    const rest = await redis.refundScript(call(contact_id, o.slot, null, null, undefined, lots));
    if (rest.outcome !== 'ok') throw new Error(JSON.stringify(rest));
    expect(JSON.parse(rest.reply)).toMatchObject({ clawed_back: 30, award_expired: 30, wallet: { open: 0, commerce: 0 } });
    expect(await redis.exists(expiredLotsKey(shard, contact_id))).toBe(0);
    expect(await redis.hGetAll(stateKey(shard, o.id))).toMatchObject({ rf: '1000', cw: '200' });
  });

  it('looks up only lots expired since remembered_from_ms; older ones count in what the purchase may write off in all', async () => {
    const forgotten = `${String(Date.now() - 100 * 86_400_000).padStart(13, '0')}|`;
    const contact_id = await specContact(redis, shard, business, 0);
    await redis.hSet(expiredLotsKey(shard, contact_id), { [forgotten]: '40', [gone]: '60' });
    const o = await original('p|1000|100||||');
    const out = await redis.refundScript(call(contact_id, o.slot, null, null, undefined, awardLotsArg(o.id, [[forgotten, 40], [gone, 60]], Date.now())));
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    expect(JSON.parse(out.reply)).toMatchObject({ clawed_back: 40, award_expired: 60, wallet: { open: 0, commerce: -40 } });
    expect(await redis.hGetAll(expiredLotsKey(shard, contact_id))).toEqual({ [forgotten]: '40' });
  });

  it('refunds an original past the hot window as the ledger has it, from what its refunds left', async () => {
    const contact_id = await specContact(redis, shard, business, 0, { [`${soon}|`]: 60 });
    const id = newId('txn');
    const { slot } = specSlot(terminal.id);
    const ledger: LedgerOriginalArg = {
      original: { id, kind: 'purchase', amount: 1_000, awarded: 100, paid: 0, discount: 0, to_open: 0 },
      state: { refunded: 400, clawed: 40, returned: 0, discount_returned: 0, clawed_open: 0, reversed: false },
      lots: [],
      since: null,
    };
    const out = await redis.refundScript(call(contact_id, slot, null, ledger, undefined, awardLotsArg(id, [[`${soon}|`, 100]], Date.now())));
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    expect(JSON.parse(out.reply)).toMatchObject({ original_id: id, amount: 600, clawed_back: 60 });
    expect(await redis.hmGet(stateKey(shard, id), ['rf', 'cw', 'rv'])).toEqual(['1000', '100', '']);
    // Reversed, as the ledger says: refused.
    const reversed = { ...ledger, original: { ...ledger.original, id: newId('txn') }, state: { ...ledger.state, reversed: true } };
    expect(await redis.refundScript(call(contact_id, slot, null, reversed))).toEqual({ outcome: 'refused', code: 'already_reversed' });
    // The state it made from the ledger goes with the hot window, refused or not (it was kept for
    // ever: a review, 2026-12-04).
    expect(await redis.pTTL(stateKey(shard, reversed.original.id))).toBeGreaterThan(0); // -1: none
  });

  it('refuses an original that is not a purchase, or not there; replays a repeated reference', async () => {
    const contact_id = await specContact(redis, shard, business, 1_000);
    const length = await journalLength(redis, shard);
    expect(await redis.refundScript(call(contact_id, (await original('s|300||||')).slot, null))).toEqual({ outcome: 'refused', code: 'original_not_found' });
    expect(await redis.refundScript(call(contact_id, specSlot(terminal.id).slot, null))).toEqual({ outcome: 'refused', code: 'original_not_found' });
    expect(await refusalCodesSince(redis, shard, length)).toEqual(['original_not_found', 'original_not_found']);

    const o = await original('p|1000|||||');
    const at = specSlot(terminal.id);
    const first = await redis.refundScript(call(contact_id, o.slot, 100, null, at));
    if (first.outcome !== 'ok') throw new Error(first.outcome);
    expect(await redis.refundScript(call(contact_id, o.slot, 100, null, at))).toEqual({ outcome: 'replay', reply: first.reply, journal_id: first.journal_id });
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 1_000, commerce: 0 });
  });
});
