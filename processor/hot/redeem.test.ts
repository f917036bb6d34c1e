// redeem.lua against the test Redis (database 13, shard 203), called through its definition
// (redeem.ts) without the gateway.

import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import { transactionAccounts } from '../journal.ts';
import type { Terminal } from '../network.ts';
import type { RedisClient } from '../stores.ts';
import { redemptionTemplates } from '../templates.ts';
import { contactKey, lotsKey, stateKey } from './keys.ts';
import type { RedeemCall } from './redeem.ts';
import { balancesOf, expectRecorded, journalLength, journalOf, refusalCodesSince, refusalsSince, specBusiness, specContact, specRedisForFile, specSlot, specTerminal } from './script-spec.ts';

const shard = 203;
const business = specBusiness();
const own = specTerminal(business, true);
const merchant = specTerminal(business);
const soon = String(Date.now() + 86_400_000).padStart(13, '0');
const later = String(Date.now() + 2 * 86_400_000).padStart(13, '0');
const past = String(Date.now() - 1_000).padStart(13, '0');
let redis: RedisClient;

specRedisForFile(13, (r) => (redis = r));

/** The business's merchant codes that its offers' pools name: those pools redeem only at their merchant. */
const restricted = ['M1', 'M2'];

function call(terminal: Terminal, contact_id: string, amount: number | null, restricted_pools = restricted, id = newId('txn')): RedeemCall {
  const now_ms = Date.now();
  const { reference, slot } = specSlot(terminal.id, now_ms);
  const { reply, entry } = redemptionTemplates({ id, business_id: business.id, terminal_id: terminal.id, reference, request_hash: 'testhash00', contact_id, currency: 'EUR', now_ms });
  return {
    business_id: business.id, slot, contact_id, shard, id, now_ms, journal_length_max: 1_000_000, reply, entry,
    amount, merchant_code: terminal.merchant_code, restricted_pools: restricted_pools.map((pool) => ({ pool })), accounts: transactionAccounts(business, terminal, contact_id),
  };
}

describe('redeem.lua', () => {
  it('redeems everything eligible, earliest expiry first, pools only at their merchant; the lots it took kept for its reversal', async () => {
    const lots = { [`${later}|`]: 100, [`${soon}|`]: 50, [`${soon}|M1`]: 30, [`${soon}|M2`]: 20, [`${past}|`]: 5 };
    const contact_id = await specContact(redis, shard, business, 0, lots);
    const c = call(own, contact_id, null);
    const out = await redis.redeemScript(c);
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    const { entry, reply } = await journalOf(redis, shard, out.journal_id);
    expect(reply).toMatchObject({ redeemed: 150, wallet: { open: 150, commerce: 55 } });
    const taken = [[`${soon}|`, 50], [`${later}|`, 100]];
    // `since` null: its reversal settles notes from its id's time, no note being held (reversal.test.ts raises it).
    expect(entry).toMatchObject({ kind: 'redemption', amount: 150, lots: taken, since: null, postings: [[c.accounts.commerce, c.accounts.open, 150]] });
    expect(await redis.hmGet(stateKey(shard, c.id), ['lots', 'since'])).toEqual([JSON.stringify(taken), null]);
    await expectRecorded(redis, shard, c.slot, c.id, out.journal_id, 'r|150');

    // At merchant M1: its pool only (the expired lot is not usable).
    const at_merchant = await redis.redeemScript(call(merchant, contact_id, 30));
    expect(at_merchant).toMatchObject({ outcome: 'ok' });
    expect(await redis.hGetAll(lotsKey(shard, contact_id))).toEqual({ [`${soon}|M2`]: '20', [`${past}|`]: '5' });
  });

  it('keeps the latest redemption\'s time on the contact (lr), whatever order the redemptions came in', async () => {
    const contact_id = await specContact(redis, shard, business, 0, { [`${soon}|`]: 100 });
    const late = newId('txn');
    expect(await redis.redeemScript(call(own, contact_id, 10, restricted, late))).toMatchObject({ outcome: 'ok' });
    // Stamped 3 s before the one made already (a gateway's clock behind), made after it.
    expect(await redis.redeemScript(call(own, contact_id, 10, restricted, newId('txn', Date.now() - 3_000)))).toMatchObject({ outcome: 'ok' });
    expect(await redis.hGet(contactKey(shard, contact_id), 'lr')).toBe(late.slice(4, 14));
  });

  it('refuses more than is eligible, nothing eligible, and anything while commerce debt is owed', async () => {
    const contact_id = await specContact(redis, shard, business, 0, { [`${soon}|`]: 100 });
    const length = await journalLength(redis, shard);
    const first = call(own, contact_id, 101);
    expect(await redis.redeemScript(first)).toEqual({ outcome: 'refused', code: 'insufficient_funds' });
    // Journaled in the same call, with what rebuild needs to remember it (processor/refusals.ts).
    const [refusal] = await refusalsSince(redis, shard, length);
    expect(refusal).toMatchObject({
      id: `rfs_${first.id.slice(4)}`, code: 'insufficient_funds', business_id: business.id, terminal_id: own.id, reference: first.slot.reference,
      request_hash: 'testhash00', contact_id, created_at: new Date(first.now_ms).toISOString(),
    });
    // Its repeat is answered from the record, journaled no more.
    expect(await redis.redeemScript(first)).toEqual({ outcome: 'refused', code: 'insufficient_funds', replayed: true });
    expect(await redis.redeemScript(call(merchant, await specContact(redis, shard, business, 0, { [`${soon}|M2`]: 10 }), null))).toEqual({ outcome: 'refused', code: 'insufficient_funds' });
    await redis.hSet(contactKey(shard, contact_id), { m: '0', md: '100' });
    expect(await redis.redeemScript(call(own, contact_id, null))).toEqual({ outcome: 'refused', code: 'insufficient_funds' });
    expect(await refusalCodesSince(redis, shard, length)).toEqual(['insufficient_funds', 'insufficient_funds', 'insufficient_funds']);
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 0, commerce: 0 });
  });

  it('a pool named after none of the business\'s merchant codes redeems anywhere; one named after a merchant code only at its merchant', async () => {
    const elsewhere: Terminal = { ...specTerminal(business), merchant_code: 'M3' };
    const lots = { [`${soon}|coffee-club`]: 40, [`${soon}|M1`]: 30, [`${soon}|M2`]: 20, [`${later}|`]: 10, [`${past}|coffee-club`]: 5 };
    const at = async (terminal: Terminal) => {
      const contact_id = await specContact(redis, shard, business, 0, lots);
      const out = await redis.redeemScript(call(terminal, contact_id, null));
      if (out.outcome !== 'ok') throw new Error(out.outcome);
      return { redeemed: (await journalOf(redis, shard, out.journal_id)).reply.redeemed, left: await redis.hGetAll(lotsKey(shard, contact_id)) };
    };
    // At the business's own venues and at a merchant whose code names no pool: the free pool and
    // the lots in no pool; the restricted pools stay (the expired lot too).
    for (const terminal of [own, elsewhere]) {
      expect(await at(terminal)).toEqual({ redeemed: 50, left: { [`${soon}|M1`]: '30', [`${soon}|M2`]: '20', [`${past}|coffee-club`]: '5' } });
    }
    // At M1: its own pool too, never M2's.
    expect(await at(merchant)).toEqual({ redeemed: 80, left: { [`${soon}|M2`]: '20', [`${past}|coffee-club`]: '5' } });

    // A restricted pool alone: refused elsewhere, nothing taken; redeemed at its merchant.
    const contact_id = await specContact(redis, shard, business, 0, { [`${soon}|M1`]: 30 });
    for (const terminal of [own, elsewhere]) expect(await redis.redeemScript(call(terminal, contact_id, null))).toEqual({ outcome: 'refused', code: 'insufficient_funds' });
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 0, commerce: 30 });
    expect(await redis.redeemScript(call(merchant, contact_id, 30))).toMatchObject({ outcome: 'ok' });

    // Restricted or not is the business's list: with none, M1's pool is free at M3 as well.
    const free = await specContact(redis, shard, business, 0, { [`${soon}|M1`]: 30 });
    expect(await redis.redeemScript(call(elsewhere, free, null, []))).toMatchObject({ outcome: 'ok' });
    expect(await balancesOf(redis, shard, free)).toEqual({ open: 30, commerce: 0 });
  });
});
