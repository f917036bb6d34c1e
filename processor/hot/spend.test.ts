// spend.lua against the test Redis (database 13, shard 202), called through its definition
// (spend.ts) without the gateway.

import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import { transactionAccounts } from '../journal.ts';
import type { RedisClient } from '../stores.ts';
import { spendTemplates } from '../templates.ts';
import { contactKey, feeCarriesKey, otpKey } from './keys.ts';
import { balancesOf, expectRecorded, journalLength, journalOf, refusalCodesSince, specBusiness, specContact, specRedisForFile, specSlot, specTerminal } from './script-spec.ts';
import type { ReferenceSlot } from './references.ts';
import type { SpendCall } from './spend.ts';

const shard = 202;
const business = specBusiness();
const terminal = specTerminal(business);
let redis: RedisClient;

specRedisForFile(13, (r) => (redis = r));

function call(contact_id: string, amount: number, otp = '', at?: { reference: string; slot: ReferenceSlot }): SpendCall {
  const now_ms = Date.now();
  const { reference, slot } = at ?? specSlot(terminal.id, now_ms);
  const id = newId('txn');
  const { reply, entry } = spendTemplates({ id, business_id: business.id, terminal_id: terminal.id, reference, request_hash: 'testhash00', contact_id, currency: 'EUR', now_ms, amount });
  return {
    business_id: business.id, slot, contact_id, shard, id, now_ms, journal_length_max: 1_000_000, reply, entry, amount, method: otp === '' ? 'wallet' : 'otp', otp,
    fee_bp: 250, accounts: transactionAccounts(business, terminal, contact_id),
  };
}

describe('spend.lua', () => {
  it('debits the open balance; the entry with its postings and fee, the reply with the wallet after, the record', async () => {
    await redis.del(feeCarriesKey(shard));
    const contact_id = await specContact(redis, shard, business, 1_000);
    const c = call(contact_id, 300);
    const out = await redis.spendScript(c);
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    const { entry, reply } = await journalOf(redis, shard, out.journal_id);
    const a = c.accounts;
    // 2.5% of 300 is 7.5: 7 charged, the half carried (lib.lua chargeFee).
    expect(entry).toMatchObject({ id: c.id, kind: 'spend', amount: 300, contact_id, terminal_id: terminal.id });
    expect(entry.postings).toEqual([[a.open, a.spends, 300], [a.fees, a.fee_income, 7]]);
    expect(reply).toMatchObject({ id: c.id, spent: 300, wallet: { open: 700, commerce: 0 } });
    await expectRecorded(redis, shard, c.slot, c.id, out.journal_id, 's|300');
    expect(await redis.hGet(feeCarriesKey(shard), a.fees)).toBe('5000');
    // The next spend's half makes a unit: 8 charged, nothing carried.
    const next = await redis.spendScript(call(contact_id, 300));
    if (next.outcome !== 'ok') throw new Error(next.outcome);
    expect((await journalOf(redis, shard, next.journal_id)).entry.postings).toEqual([[a.open, a.spends, 300], [a.fees, a.fee_income, 8]]);
    expect(await redis.hGet(feeCarriesKey(shard), a.fees)).toBeNull();
    const at = { reference: 'x', slot: c.slot };
    expect(await redis.spendScript(call(contact_id, 300, '', at))).toEqual({ outcome: 'replay', reply: out.reply, journal_id: out.journal_id });
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 400, commerce: 0 });
  });

  it('by OTP: at most its amount, before it expires, once', async () => {
    const contact_id = await specContact(redis, shard, business, 1_000);
    await redis.hSet(otpKey(shard, contact_id), { '111111': `200|${Date.now() + 60_000}`, '222222': `200|${Date.now() - 1}` });
    expect(await redis.spendScript(call(contact_id, 201, '111111'))).toEqual({ outcome: 'refused', code: 'otp_invalid' });
    expect(await redis.spendScript(call(contact_id, 100, '222222'))).toEqual({ outcome: 'refused', code: 'otp_expired' });
    expect(await redis.spendScript(call(contact_id, 150, '111111'))).toMatchObject({ outcome: 'ok' });
    expect(await redis.spendScript(call(contact_id, 10, '111111'))).toEqual({ outcome: 'refused', code: 'otp_invalid' });
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 850, commerce: 0 });
  });

  it('refuses more than the open balance, and any spend when blocked, moving nothing', async () => {
    const contact_id = await specContact(redis, shard, business, 100);
    const length = await journalLength(redis, shard);
    expect(await redis.spendScript(call(contact_id, 101))).toEqual({ outcome: 'refused', code: 'insufficient_funds' });
    await redis.hSet(contactKey(shard, contact_id), 'x', '1');
    expect(await redis.spendScript(call(contact_id, 1))).toEqual({ outcome: 'refused', code: 'spend_blocked' });
    expect(await refusalCodesSince(redis, shard, length)).toEqual(['insufficient_funds', 'spend_blocked']);
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 100, commerce: 0 });
  });

  it('remembers a refusal under its reference: a repeat is refused the same, as a replay, whatever the wallet holds since', async () => {
    const contact_id = await specContact(redis, shard, business, 100);
    const at = specSlot(terminal.id);
    expect(await redis.spendScript(call(contact_id, 101, '', at))).toEqual({ outcome: 'refused', code: 'insufficient_funds' });
    expect(await redis.sendCommand(['HGET', at.slot.record_keys(shard)[0]!, at.slot.field])).toBe('-insufficient_funds');
    await redis.hSet(contactKey(shard, contact_id), 'o', '1000');
    const length = await journalLength(redis, shard);
    expect(await redis.spendScript(call(contact_id, 101, '', at))).toEqual({ outcome: 'refused', code: 'insufficient_funds', replayed: true });
    expect(await journalLength(redis, shard)).toBe(length);
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 1000, commerce: 0 });
  });
});
