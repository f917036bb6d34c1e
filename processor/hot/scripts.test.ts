// The registry of scripts (scripts.ts): one Cluster slot per call, names that shadow no command,
// one library Redis loads (the library's own spec: library.test.ts).

import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import { transactionAccounts } from '../journal.ts';
import type { RedisClient } from '../stores.ts';
import { guessCountersOf } from './guess.ts';
import { cimBucketKey, eventClaimKey, expired_lots_kept_ms, transactionClaimKey } from './keys.ts';
import { loadLibrary } from './library.ts';
import type { ArgsParser } from './layout.ts';
import { hot_library, hot_scripts } from './scripts.ts';
import { specBusiness, specRedisForFile, specSlot, specTerminal } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(15, (r) => (redis = r));

/** The keys a script's call names (what node-redis routes a Redis Cluster command by). */
function keysOf(script: { parseCommand: (parser: ArgsParser, call: never) => void }, call: object): string[] {
  const keys: string[] = [];
  script.parseCommand({ pushKey: (k: string) => keys.push(k), push: () => {} }, call as never);
  return keys;
}

/** The hash tag Redis Cluster hashes a key by. */
function tagOf(key: string): string {
  return /\{([^}]+)\}/.exec(key)?.[1] ?? key;
}

describe('hot scripts', () => {
  it('each touch one Redis Cluster slot: every key of a call carries the same hash tag', () => {
    const business = specBusiness();
    const contact_id = newId('con');
    const slot = specSlot('ter_slots').slot;
    const accounts = transactionAccounts(business, specTerminal(business), contact_id);
    const base = { business_id: business.id, slot, contact_id, shard: 7, id: newId('txn'), now_ms: 0, journal_length_max: 1, reply: '', entry: '' };
    const counters = guessCountersOf(business.id, 'code', { terminal_id: 'ter_slots', source: '2001:db8::1' }, 0);
    const original = { original_slot: specSlot('ter_slots').slot, original_field: Buffer.alloc(12), ledger: null, accounts, fee_bp: 0, fee_on: '' };
    const calls: [keyof typeof hot_scripts, object][] = [
      ['purchaseScript', { ...base, pay: 0, pay_method: '', otp: '', amount: 1, at_ms: 0, birth_days: '', fee_bp: 0, pay_fee_bp: 0, accounts, tier_units: 0, periods: [], referral: '', awards: [], caps_kept: { d: '', w: '', m: '' } }],
      ['spendScript', { ...base, amount: 1, method: 'wallet', otp: '', fee_bp: 0, accounts }],
      ['redeemScript', { ...base, amount: null, merchant_code: '', accounts, restricted_pools: [] }],
      ['refundScript', { ...base, amount: null, ...original, award_lots: null }],
      ['reversalScript', { ...base, ...original, undo: null, award_lots: null }],
      ['awardScript', { ...base, accounts, awards: [], caps_kept: { d: '', w: '', m: '' } }],
      ['expireScript', { ...base, accounts, lots_max: 10, expired_kept_ms: expired_lots_kept_ms }],
      ['claimScript', { slot, value: '', mode: 'read' }],
      ['otpScript', { business_id: business.id, code: '123456', mode: 'for', contact_id, tries_max: 3, tries_ttl_s: 900, counters }],
      ['guessScript', { mode: 'reserve', counters }],
      ['budgetScript', { mode: 'reserve', offer_id: newId('off'), amount: 1, budget: 1, at_s: 1, final: false, now_ms: 1_000 }],
      ['leaseScript', { keys: [transactionClaimKey(business.id, 'prc_1', 'tx-1'), eventClaimKey(business.id, 'prc_1', 'ev-1')], holder: 'h', op: 'take', lease_ms: 1 }],
      ['backlogScript', { shard: 7 }],
      ['undoScript', { shard: 7, contact_id: newId('con'), reversal: newId('txn'), undo: { original: newId('txn'), caps: [], units: 0, periods: [] } }],
      ['birthDateScript', { shard: 7, contact_id: newId('con'), birth_date: '1990-06-15', purchases: '', reversals: '', times: [], times_kept_ms: 1 }],
      ['tierUnitsScript', { shard: 7, contact_id: newId('con'), purchases: '', reversals: '', pending: [], units: [] }],
      ['detailHintScript', { key: cimBucketKey(7), field: Buffer.alloc(10), contact: Buffer.alloc(12), mode: 'add' }],
    ];
    expect(calls.map(([name]) => name).sort()).toEqual(Object.keys(hot_scripts).sort());
    for (const [name, call] of calls) {
      const script = hot_scripts[name] as unknown as Parameters<typeof keysOf>[0] & { NUMBER_OF_KEYS: number };
      const keys = keysOf(script, call);
      expect(keys.length, name).toBe(script.NUMBER_OF_KEYS);
      expect(new Set(keys.map(tagOf)).size, `${name}: ${keys.join(' ')}`).toBe(1);
    }
  });

  it('take no name of a command of the client', () => {
    const plain = createClient() as unknown as Record<string, unknown>;
    for (const name of Object.keys(hot_scripts)) expect(plain[name], name).toBeUndefined();
  });

  it('are the functions of one library that Redis loads, each under the name its call sends', async () => {
    await loadLibrary(redis, hot_library);
    const [library] = (await redis.sendCommand(['FUNCTION', 'LIST', 'LIBRARYNAME', hot_library.name])) as [{ functions: { name: string }[] }];
    const functions = library.functions.map((f) => f.name);
    expect(functions.sort()).toEqual(Object.values(hot_library.functions).sort());
    expect(Object.keys(hot_library.functions).sort()).toEqual(Object.keys(hot_scripts).sort());
  });
});
