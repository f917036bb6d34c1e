// award.lua against the test Redis (database 13, shard 204), called through its definition
// (award.ts) without the gateway.

import { capPeriodsKeptFrom } from '../../core/cap-periods.ts';
import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import { wallet_balance_max } from '../../core/money.ts';
import { transactionAccounts } from '../journal.ts';
import type { RedisClient } from '../stores.ts';
import { awardTemplates } from '../templates.ts';
import type { AwardCall } from './award.ts';
import type { AwardItem } from './award-items.ts';
import { capsKey, expiryKey } from './keys.ts';
import { referenceSlot } from './references.ts';
import { balancesOf, expectRecorded, journalLength, journalOf, spec_config, specBusiness, specContact, specRedisForFile } from './script-spec.ts';

const shard = 204;
const business = specBusiness();
const expiry = Date.now() + 86_400_000;
let redis: RedisClient;

specRedisForFile(13, (r) => (redis = r));

const signup = (amount: number): AwardItem => ({
  kind: 'c', amount, lot: `${expiry}|`, guard: 'once', since: 0, before: 0, cap: 'off_signup|once', limit: 1, json: JSON.stringify({ offer_id: 'off_signup', amount }), group: 0, place: 0,
});

function call(contact_id: string, reference: string, awards: AwardItem[]): AwardCall {
  const now_ms = Date.now();
  const id = newId('txn');
  const { reply, entry } = awardTemplates({ id, business_id: business.id, contact_id, currency: 'EUR', now_ms, reason: 'signup', reference });
  return {
    business_id: business.id, slot: referenceSlot(spec_config, '_rewards', reference, now_ms), contact_id, shard, id, now_ms, journal_length_max: 1_000_000, reply, entry,
    accounts: transactionAccounts(business, null, contact_id), awards, caps_kept: capPeriodsKeptFrom(now_ms),
  };
}

describe('award.lua', () => {
  it('awards into a lot and the open balance, with the accepted indexes; the sweeper’s index told of the lot', async () => {
    const contact_id = await specContact(redis, shard, business);
    const open: AwardItem = { ...signup(25), kind: 'o', cap: '', guard: '' };
    const c = call(contact_id, `signup:created:${contact_id}`, [signup(100), open]);
    const out = await redis.awardScript(c);
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    expect(out.accepted).toEqual([0, 1]);
    const { entry, reply } = await journalOf(redis, shard, out.journal_id);
    expect(reply).toMatchObject({ kind: 'award', reason: 'signup', awards: [{ amount: 100 }, { amount: 25 }], wallet: { open: 25, commerce: 100 } });
    expect(entry).toMatchObject({ kind: 'award', terminal_id: null, amount: 125 });
    // The awards travel once, in the reply: readers take them from there (journal.ts entryAwards).
    expect(entry).not.toHaveProperty('awards');
    expect(entry.postings).toEqual([[c.accounts.rewards, c.accounts.commerce, 100], [c.accounts.rewards, c.accounts.open, 25]]);
    // What went into open (25) kept, as a purchase's record keeps it: a referral undone takes it back from there.
    await expectRecorded(redis, shard, c.slot, c.id, out.journal_id, 'a|125|125||||25');
    expect(await redis.zScore(expiryKey(shard), contact_id)).toBe(expiry);
  });

  it('cuts an award to what the wallet may still hold (wallet_balance_max), with what each was made for; is empty when none fits', async () => {
    const contact_id = await specContact(redis, shard, business, wallet_balance_max - 100);
    const open: AwardItem = { ...signup(25), kind: 'o', cap: 'off_open|l', guard: '', limit: 5 };
    const c = call(contact_id, `signup:cut:${contact_id}`, [{ ...signup(80), guard: '' }, open]);
    const out = await redis.awardScript(c);
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    expect(out).toMatchObject({ accepted: [0, 1], made: [80, 20] });
    const { entry, reply } = await journalOf(redis, shard, out.journal_id);
    expect(reply).toMatchObject({ awards: [{ amount: 80 }, { amount: 20 }], wallet: { open: wallet_balance_max - 80, commerce: 80 } });
    expect(entry).toMatchObject({ amount: 100 });
    expect(entry.postings).toEqual([[c.accounts.rewards, c.accounts.commerce, 80], [c.accounts.rewards, c.accounts.open, 20]]);
    await expectRecorded(redis, shard, c.slot, c.id, out.journal_id, 'a|100|100||||20');
    // Full: nothing made, nothing written, no cap counted.
    const length = await journalLength(redis, shard);
    expect(await redis.awardScript(call(contact_id, `signup:full:${contact_id}`, [open]))).toEqual({ outcome: 'empty' });
    expect(await journalLength(redis, shard)).toBe(length);
    expect(await redis.hGet(capsKey(shard, contact_id), 'off_open|l')).toBe('1');
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: wallet_balance_max - 80, commerce: 80 });
  });

  it('is empty when every award is refused, writing nothing; replays a repeated reference', async () => {
    const contact_id = await specContact(redis, shard, business);
    const first = await redis.awardScript(call(contact_id, `signup:a:${contact_id}`, [signup(100)]));
    if (first.outcome !== 'ok') throw new Error(first.outcome);
    const length = await journalLength(redis, shard);
    // The 'once' cap is used: a sign-up under another reference awards nothing.
    expect(await redis.awardScript(call(contact_id, `signup:b:${contact_id}`, [signup(100)]))).toEqual({ outcome: 'empty' });
    expect(await redis.awardScript(call(contact_id, `signup:a:${contact_id}`, [signup(100)]))).toEqual({ outcome: 'replay', reply: first.reply, journal_id: first.journal_id });
    expect(await journalLength(redis, shard)).toBe(length);
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 0, commerce: 100 });
  });
});
