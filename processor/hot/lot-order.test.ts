// A contact's lots in expiry order (lib.lua: indexLots, eligibleLots, takeLots, addLots), against
// the test Redis (database 14, shard 208), through redeem.lua, reversal.lua and expire.lua. A
// contact of more than 64 lots keeps them ordered in a sorted set beside the hash; these check
// that redemptions, claw-backs and expiries take exactly the lots they took when every lot was
// read and sorted, and that the order stays whole whoever wrote the hash.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import { transactionAccounts } from '../journal.ts';
import type { Terminal } from '../network.ts';
import type { RedisClient } from '../stores.ts';
import { expiryTemplates, redemptionTemplates, reversalTemplates } from '../templates.ts';
import type { ExpireCall } from './expire.ts';
import { contactKey, expired_lots_kept_ms, expiryKey, lotOrderKey, lots_unordered_max, lotsKey } from './keys.ts';
import type { RedeemCall } from './redeem.ts';
import { awardLotsArg } from './original.ts';
import { referenceSlot, type ReferenceSlot } from './references.ts';
import type { PurchaseUndo, ReversalCall } from './reversal.ts';
import { balancesOf, journalOf, spec_config, specBusiness, specContact, specOriginal, specRedisForFile, specSlot, specTerminal } from './script-spec.ts';

const shard = 208;
const business = specBusiness();
const merchant = specTerminal(business);
const own = specTerminal(business, true);
const restricted = ['M1', 'M2'];
let redis: RedisClient;

specRedisForFile(14, (r) => (redis = r));

const field = (expiry_ms: number, pool: string) => `${String(expiry_ms).padStart(13, '0')}|${pool}`;

function redeemCall(terminal: Terminal, contact_id: string, amount: number | null, now_ms: number): RedeemCall {
  const { reference, slot } = specSlot(terminal.id, now_ms);
  const id = newId('txn');
  const { reply, entry } = redemptionTemplates({ id, business_id: business.id, terminal_id: terminal.id, reference, request_hash: 'testhash00', contact_id, currency: 'EUR', now_ms });
  return {
    business_id: business.id, slot, contact_id, shard, id, now_ms, journal_length_max: 1_000_000, reply, entry,
    amount, merchant_code: terminal.merchant_code, restricted_pools: restricted.map((pool) => ({ pool })), accounts: transactionAccounts(business, terminal, contact_id),
  };
}

/**
 * A reversal; of a purchase (`undo`), one whose own lots are all gone (claw-back.lua ownLots: its
 * lots named, none), so that its claw-back takes the earliest of the contact's.
 */
function reversalCall(contact_id: string, original_slot: ReferenceSlot, undo: PurchaseUndo | null = null): ReversalCall {
  const now_ms = Date.now();
  const { reference, slot } = specSlot(merchant.id, now_ms);
  const id = newId('txn');
  const { reply, entry } = reversalTemplates({ id, business_id: business.id, terminal_id: merchant.id, reference, request_hash: 'testhash00', contact_id, currency: 'EUR', now_ms });
  return {
    business_id: business.id, slot, contact_id, shard, id, now_ms, journal_length_max: 1_000_000, reply, entry,
    accounts: transactionAccounts(business, merchant, contact_id), fee_bp: merchant.fee_bp, fee_on: merchant.settle_on, original_slot, original_field: original_slot.field, ledger: null, undo, award_lots: undo === null ? null : awardLotsArg(undo.original, [], now_ms),
  };
}

function expireCall(contact_id: string, now_ms: number, lots_max: number, n: number): ExpireCall {
  const id = newId('txn');
  const reference = `expiry:${contact_id}:${now_ms}:${n}`;
  const { reply, entry } = expiryTemplates({ id, business_id: business.id, contact_id, currency: 'EUR', now_ms, reference });
  return {
    business_id: business.id, slot: referenceSlot(spec_config, '_rewards', reference, now_ms), contact_id, shard, id, now_ms, journal_length_max: 1_000_000, reply, entry,
    accounts: transactionAccounts(business, null, contact_id), lots_max, expired_kept_ms: expired_lots_kept_ms,
  };
}

const lotsOf = (contact_id: string) => redis.hGetAll(lotsKey(shard, contact_id));
const orderOf = (contact_id: string) => redis.zRange(lotOrderKey(shard, contact_id), 0, -1);

/**
 * The lot order, where it is kept, holds every lot and only them, by expiry then pool. `read`:
 * whether the script read the lots (a refusal before reading them builds no order: the next does).
 */
async function expectOrderWhole(contact_id: string, read = true): Promise<void> {
  const fields = Object.keys(await lotsOf(contact_id)).sort();
  const order = await orderOf(contact_id);
  if (fields.length > lots_unordered_max && (read || order.length > 0)) expect(order).toEqual(fields);
  else expect(order.every((f) => fields.includes(f))).toBe(true);
}

/** The earliest of `lots` (sorted by field, so by expiry) up to `want`: what is taken from each. */
function takeEarliest(lots: [string, number][], want: number): [string, number][] {
  const taken: [string, number][] = [];
  let left = want;
  for (const [f, a] of [...lots].sort(([x], [y]) => (x < y ? -1 : 1))) {
    if (left === 0) break;
    taken.push([f, Math.min(a, left)]);
    left -= Math.min(a, left);
  }
  return taken;
}

/** What a redemption takes when every lot is read and sorted: the model the ordered read must equal. */
function modelRedemption(lots: Record<string, number>, debt: number, merchant_code: string, amount: number | null, now_ms: number) {
  const eligible = Object.entries(lots).filter(([f]) => Number(f.slice(0, 13)) > now_ms && (f.slice(14) === '' || f.slice(14) === merchant_code || !restricted.includes(f.slice(14))));
  const commerce = Object.values(lots).reduce((s, a) => s + a, 0) - debt;
  const redeemable = Math.min(eligible.reduce((s, [, a]) => s + a, 0), Math.max(commerce, 0));
  const want = amount ?? redeemable;
  if (want <= 0 || want > redeemable) return null;
  return takeEarliest(eligible, want);
}

/** The lots left once `taken` is taken from them, as Redis holds them. */
function lotsLeft(lots: Record<string, number>, taken: [string, number][]): Record<string, string> {
  const left = { ...lots };
  for (const [f, a] of taken) left[f]! -= a;
  return Object.fromEntries(Object.entries(left).filter(([, a]) => a > 0).map(([f, a]) => [f, String(a)]));
}

/** A contact with these lots and commerce debt (claw-backs beyond its lots: m is the lots less it). */
async function contactWith(lots: Record<string, number>, debt: number): Promise<string> {
  const contact_id = await specContact(redis, shard, business, 0, lots);
  if (debt > 0) await redis.hSet(contactKey(shard, contact_id), { m: String(Object.values(lots).reduce((s, a) => s + a, 0) - debt), md: String(debt) });
  return contact_id;
}

const drawnLot = (now_ms: number) => fc.tuple(fc.integer({ min: -3, max: 40 }), fc.constantFrom('', 'M1', 'M2', 'X', 'caf\u00e9 "M"'), fc.integer({ min: 1, max: 500 })).map(([hour, pool, a]) => [field(now_ms + hour * 3_600_000, pool), a] as const);
const drawnLots = (now_ms: number) => fc.array(drawnLot(now_ms), { minLength: 1, maxLength: 200, size: 'max' }).map((l) => Object.fromEntries(l));
/** Some contacts come with their order already kept, as the scripts keep it. */
const keepOrder = (contact_id: string, lots: Record<string, number>) => redis.zAdd(lotOrderKey(shard, contact_id), Object.keys(lots).map((f) => ({ score: Number(f.slice(0, 13)), value: f })));

describe('lots kept in expiry order (lib.lua)', () => {
  it('keeps them past the count rebuild writes them past (keys.ts lots_unordered_max)', () => {
    const lib = readFileSync(new URL('./lib.lua', import.meta.url), 'utf8');
    expect(/\nlocal LOTS_UNINDEXED_MAX = (\d+)\n/.exec(lib)?.[1]).toBe(String(lots_unordered_max));
  });

  it('a redemption takes the very lots that reading and sorting every lot took, small contacts and large, with debt, whoever wrote the hash', async () => {
    const now_ms = Date.now();
    await fc.assert(
      fc.asyncProperty(drawnLots(now_ms), fc.option(fc.integer({ min: 1, max: 5_000 })), fc.option(fc.integer({ min: 1, max: 60_000 })), fc.boolean(), fc.boolean(), async (lots, debt_or_none, amount, at_own, ordered_first) => {
        const debt = debt_or_none ?? 0;
        const contact_id = await contactWith(lots, debt);
        if (ordered_first) await keepOrder(contact_id, lots);
        const terminal = at_own ? own : merchant;
        const expected = modelRedemption(lots, debt, terminal.merchant_code, amount, now_ms);
        const out = await redis.redeemScript(redeemCall(terminal, contact_id, amount, now_ms));
        if (expected === null) {
          expect(out).toEqual({ outcome: 'refused', code: 'insufficient_funds' });
          expect(await lotsOf(contact_id)).toEqual(lotsLeft(lots, []));
          await expectOrderWhole(contact_id, false);
          return;
        }
        if (out.outcome !== 'ok') throw new Error(JSON.stringify(out));
        expect((await journalOf(redis, shard, out.journal_id)).entry.lots).toEqual(expected);
        expect(await lotsOf(contact_id)).toEqual(lotsLeft(lots, expected));
        await expectOrderWhole(contact_id);
      }),
      { numRuns: 60 },
    );
  });

  it('a claw-back takes the very lots that reading and sorting every lot took, expired ones too, up to the commerce balance', async () => {
    const now_ms = Date.now();
    await fc.assert(
      fc.asyncProperty(drawnLots(now_ms), fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 1, max: 30_000 }), fc.boolean(), async (lots, debt, awarded, ordered_first) => {
        const contact_id = await contactWith(lots, debt);
        if (ordered_first) await keepOrder(contact_id, lots);
        const purchase = await specOriginal(redis, shard, merchant.id, `p|2000|${awarded}`);
        const out = await redis.reversalScript(reversalCall(contact_id, purchase.slot, { original: purchase.id, caps: [], units: 0, periods: [] }));
        if (out.outcome !== 'ok') throw new Error(JSON.stringify(out));
        const commerce = Object.values(lots).reduce((s, a) => s + a, 0) - debt;
        expect(await lotsOf(contact_id)).toEqual(lotsLeft(lots, takeEarliest(Object.entries(lots), Math.min(awarded, Math.max(commerce, 0)))));
        expect((await balancesOf(redis, shard, contact_id)).commerce).toBe(commerce - awarded);
        await expectOrderWhole(contact_id);
      }),
      { numRuns: 40 },
    );
  });

  it('a redemption of a little on a contact of thousands of lots takes the earliest eligible, the order built from the hash once', async () => {
    const now_ms = Date.now();
    const lots: Record<string, number> = {};
    for (let i = 0; i < 3_000; i++) lots[field(now_ms + 60_000 + ((i * 7_919) % 3_000) * 1_000, i % 3 === 0 ? 'X' : 'M2')] = 10;
    const contact_id = await specContact(redis, shard, business, 0, lots);
    const out = await redis.redeemScript(redeemCall(merchant, contact_id, 25, now_ms));
    if (out.outcome !== 'ok') throw new Error(JSON.stringify(out));
    // At M1, pool M2 is restricted to its merchant: the earliest lots of X.
    expect((await journalOf(redis, shard, out.journal_id)).entry.lots).toEqual([[field(now_ms + 60_000, 'X'), 10], [field(now_ms + 63_000, 'X'), 10], [field(now_ms + 66_000, 'X'), 5]]);
    expect(await redis.zCard(lotOrderKey(shard, contact_id))).toBe(2_998);
    await expectOrderWhole(contact_id);
  });

  it('lots added beside the order (rebuild and earlier versions write only the hash) are ordered again before they are read', async () => {
    const now_ms = Date.now();
    const lots: Record<string, number> = {};
    for (let i = 0; i < 100; i++) lots[field(now_ms + 86_400_000 + i * 1_000, '')] = 10;
    const contact_id = await specContact(redis, shard, business, 0, lots);
    expect((await redis.redeemScript(redeemCall(own, contact_id, 5, now_ms))).outcome).toBe('ok');
    expect(await redis.zCard(lotOrderKey(shard, contact_id))).toBe(100);
    const earliest = field(now_ms + 1_000, '');
    await redis.hSet(lotsKey(shard, contact_id), earliest, '7');
    await redis.hIncrBy(contactKey(shard, contact_id), 'm', 7);
    const out = await redis.redeemScript(redeemCall(own, contact_id, 9, now_ms));
    if (out.outcome !== 'ok') throw new Error(JSON.stringify(out));
    expect((await journalOf(redis, shard, out.journal_id)).entry.lots).toEqual([[earliest, 7], [field(now_ms + 86_400_000, ''), 2]]);
    await expectOrderWhole(contact_id);
    // Down to 60 lots, the order kept whole by the redemption that took them; the next, reading
    // every lot again, drops it (memory: a key a contact).
    expect((await redis.redeemScript(redeemCall(own, contact_id, 3 + 39 * 10, now_ms))).outcome).toBe('ok');
    expect(await redis.zCard(lotOrderKey(shard, contact_id))).toBe(60);
    await expectOrderWhole(contact_id);
    expect((await redis.redeemScript(redeemCall(own, contact_id, 1, now_ms))).outcome).toBe('ok');
    expect(await redis.exists(lotOrderKey(shard, contact_id))).toBe(0);
  });

  it('a reversal gives thousands of redeemed lots back into the hash and the order; a claw-back takes the earliest, expired ones too', async () => {
    const now_ms = Date.now();
    const lots: Record<string, number> = {};
    for (let i = 0; i < 2_500; i++) lots[field(now_ms + 3_600_000 + i * 1_000, i % 2 === 0 ? '' : 'M1')] = 4;
    const contact_id = await specContact(redis, shard, business, 0, lots);
    const redeem = redeemCall(merchant, contact_id, null, now_ms);
    const out = await redis.redeemScript(redeem);
    if (out.outcome !== 'ok') throw new Error(JSON.stringify(out));
    expect(await lotsOf(contact_id)).toEqual({});
    expect(await redis.exists(lotOrderKey(shard, contact_id))).toBe(0);
    const back = await redis.reversalScript(reversalCall(contact_id, redeem.slot));
    if (back.outcome !== 'ok') throw new Error(JSON.stringify(back));
    expect(await lotsOf(contact_id)).toEqual(Object.fromEntries(Object.entries(lots).map(([f, a]) => [f, String(a)])));
    await expectOrderWhole(contact_id);

    // Two lots already past (the sweeper not there yet) come first for a claw-back.
    const expired = [field(now_ms - 2_000, 'M1'), field(now_ms - 1_000, '')];
    await redis.hSet(lotsKey(shard, contact_id), { [expired[0]!]: '3', [expired[1]!]: '3' });
    await redis.hIncrBy(contactKey(shard, contact_id), 'm', 6);
    const purchase = await specOriginal(redis, shard, merchant.id, 'p|2000|13');
    const v = await redis.reversalScript(reversalCall(contact_id, purchase.slot, { original: purchase.id, caps: [], units: 0, periods: [] }));
    if (v.outcome !== 'ok') throw new Error(JSON.stringify(v));
    const left = await lotsOf(contact_id);
    expect(left[expired[0]!]).toBeUndefined();
    expect(left[expired[1]!]).toBeUndefined();
    expect(left[field(now_ms + 3_600_000, '')]).toBeUndefined();
    expect(left[field(now_ms + 3_601_000, 'M1')]).toBe('1');
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 0, commerce: 10_000 - 7 });
    await expectOrderWhole(contact_id);
  });

  it('an expiry takes at most lots_max lots of a large contact, the contact kept due until the last; a small one at once', async () => {
    const now_ms = Date.now();
    const lots: Record<string, number> = {};
    for (let i = 0; i < 250; i++) lots[field(now_ms - 1_000_000 + i * 1_000, i % 2 === 0 ? '' : 'X')] = 2;
    for (let i = 0; i < 50; i++) lots[field(now_ms + 86_400_000 + i, '')] = 1;
    const contact_id = await specContact(redis, shard, business, 0, lots);
    await redis.zAdd(expiryKey(shard), { score: now_ms - 1_000_000, value: contact_id });
    const amounts: number[] = [];
    for (let n = 0; n < 3; n++) {
      const out = await redis.expireScript(expireCall(contact_id, now_ms, 100, n));
      if (out.outcome !== 'ok') throw new Error(JSON.stringify(out));
      amounts.push((await journalOf(redis, shard, out.journal_id)).entry.amount);
      const due = await redis.zScore(expiryKey(shard), contact_id);
      expect(due).toBe(n < 2 ? now_ms - 1_000_000 + (n + 1) * 100_000 : now_ms + 86_400_000);
    }
    expect(amounts).toEqual([200, 200, 100]);
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 0, commerce: 50 });
    expect(Object.keys(await lotsOf(contact_id))).toHaveLength(50);
    expect(await redis.expireScript(expireCall(contact_id, now_ms, 100, 3))).toEqual({ outcome: 'empty' });
    // 50 lots: no order kept any more, everything due expired in one call whatever lots_max.
    const later = now_ms + 86_400_000 + 100;
    const out = await redis.expireScript(expireCall(contact_id, later, 10, 4));
    if (out.outcome !== 'ok') throw new Error(JSON.stringify(out));
    expect((await journalOf(redis, shard, out.journal_id)).entry.amount).toBe(50);
    expect(await redis.exists(lotOrderKey(shard, contact_id))).toBe(0);
    expect(await redis.zScore(expiryKey(shard), contact_id)).toBeNull();
  });
});
