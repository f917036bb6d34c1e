// The sectioned copy of the hot library against the test Redis (database 14, shard 203): the
// stamped purchase script commits what the processor's commits, and records one duration per
// section; a section whose line the script no longer has is refused.

import { describe, expect, it } from 'vitest';
import { capPeriodsKeptFrom } from '../core/cap-periods.ts';
import { newId } from '../core/ids.ts';
import { hotCalls } from '../processor/hot/library.ts';
import type { PurchaseCall } from '../processor/hot/purchase.ts';
import { hot_library, hot_scripts } from '../processor/hot/scripts.ts';
import { balancesOf, journalOf, specBusiness, specContact, specRedisForFile, specSlot, specTerminal } from '../processor/hot/script-spec.ts';
import { transactionAccounts } from '../processor/journal.ts';
import type { RedisClient } from '../processor/stores.ts';
import { purchaseTemplates } from '../processor/templates.ts';
import { purchase_sections, readSections, sectionedLibrary, sectionedPurchaseLibrary, sectionLabels } from './script-sections.ts';

const shard = 203;
const business = specBusiness();
const terminal = specTerminal(business);
const times_key = `script-sections-test:${newId('txn')}`;
let redis: RedisClient;

specRedisForFile(14, (r) => (redis = r));

function purchase(contact_id: string, amount: number): PurchaseCall {
  const now_ms = Date.now();
  const { reference, slot } = specSlot(terminal.id, now_ms);
  const id = newId('txn');
  const { reply, entry } = purchaseTemplates({ id, business_id: business.id, terminal_id: terminal.id, reference, request_hash: 'testhash00', contact_id, currency: 'EUR', now_ms, at_ms: now_ms, amount, pay: 0 });
  const cashback = { kind: 'c', amount: 50, lot: `${Date.UTC(2030, 0, 1)}|`, guard: '', since: 0, before: 0, cap: '', limit: 0, json: '{"offer_id":"off_c","kind":"cashback","amount":50}', group: 0, place: 0 } as const;
  return {
    business_id: business.id, slot, contact_id, shard, id, now_ms, journal_length_max: 1_000_000, reply, entry, pay: 0, pay_method: '', otp: '', amount, at_ms: now_ms, birth_days: '', fee_bp: 0, pay_fee_bp: 0,
    accounts: transactionAccounts(business, terminal, contact_id), tier_units: 20, periods: [{ kind: 'm', current: '2026-11', previous: '2026-10', next: '2026-12' }], referral: '', awards: [cashback], caps_kept: capPeriodsKeptFrom(now_ms),
  };
}

describe('the sectioned purchase script', () => {
  it('commits the purchase as the processor’s script does, and records a duration for each section', async () => {
    const calls = hotCalls(redis, sectionedPurchaseLibrary(times_key));
    const contact_id = await specContact(redis, shard, business);
    const committed = await calls.purchaseScript(purchase(contact_id, 2_000));
    const plain = await redis.purchaseScript(purchase(contact_id, 2_000));
    expect(committed.outcome).toBe('ok');
    expect(plain.outcome).toBe('ok');
    if (committed.outcome !== 'ok' || plain.outcome !== 'ok') return;
    expect((await journalOf(redis, shard, committed.journal_id)).entry.postings).toEqual((await journalOf(redis, shard, plain.journal_id)).entry.postings);
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 0, commerce: 100 });

    const labels = sectionLabels(purchase_sections);
    const { calls: recorded, sections } = await readSections(redis, times_key, labels);
    expect(recorded).toBe(1);
    expect(sections.map((s) => s.label)).toEqual(labels);
    for (const s of sections) expect(s.median_us).toBeGreaterThanOrEqual(0);
    expect(await redis.exists(times_key)).toBe(0);
  });

  it('is a library of its own: the processor’s functions stay as they are', () => {
    const sectioned = sectionedPurchaseLibrary(times_key);
    expect(sectioned.name).not.toBe(hot_library.name);
    for (const [script, fn] of Object.entries(sectioned.functions)) expect(fn).not.toBe(hot_library.functions[script as keyof typeof hot_library.functions]);
    expect(hot_library.code).not.toContain("redis.call('TIME')");
  });

  it('refuses a section whose line the script does not have, or sections out of order', () => {
    expect(() => sectionedLibrary(hot_scripts, 'purchaseScript', [{ label: 'x', before: 'local nothing_of_the_kind' }], times_key)).toThrow(/no line starting with/);
    const [first, second] = purchase_sections;
    expect(() => sectionedLibrary(hot_scripts, 'purchaseScript', [second!, first!], times_key)).toThrow(/no line starting with/);
  });
});
