// The purchase script's boundary alone, against a real Redis: purchases built from the facts a
// gateway has after evaluating offers (two awards, one with a per-contact cap, tier periods),
// turned into the script call, run, and their answers turned into replies, `width` in flight
// (node-redis pipelines them, as it does a gateway's concurrent requests). Reports, per call,
// Redis's time in the script (FCALL, INFO commandstats usec_per_call), the Redis process's CPU (INFO cpu:
// sockets and AOF fsyncs too) and this process's CPU; the median of the rounds.
//
// With --baseline <checkout> (one that has loadtest/script-bench-call.ts), the same against that
// checkout's code, in the same process: rounds alternate between the two, so that whatever else
// the machine does falls on both alike, and the report gives this over baseline.
//
// With --sections, then the same calls through a copy of the library whose purchase script reads
// Redis's clock between its sections (script-sections.ts): where its time in Redis goes.
//
// REDIS_URL=redis://127.0.0.1:16393/15 node --import tsx loadtest/script-bench.ts [--calls n]
//   [--rounds n] [--baseline dir] [--sections]        (a database of its own: it is emptied first)

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { newId } from '../core/ids.ts';
import { readLocalTime } from '../core/local-time.ts';
import type { Award } from '../core/offer.ts';
import { connectRedis, type Stores } from '../processor/stores.ts';
import { contactKey } from '../processor/hot/keys.ts';
import { referenceSlot } from '../processor/hot/references.ts';
import type { Business, Terminal } from '../processor/network.ts';
import type { Rewards } from '../processor/offers.ts';
import { median } from './measure.ts';
import { benchPurchase } from './script-bench-call.ts';
import { formatSections, purchase_sections, readSections, sectionedPurchaseLibrary, sectionLabels } from './script-sections.ts';
import { hotCalls } from '../processor/hot/library.ts';

const { values: opts } = parseArgs({ options: { calls: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '10' }, baseline: { type: 'string' }, sections: { type: 'boolean', default: false } } });
const calls = Number(opts.calls);
const rounds = Number(opts.rounds);
const width = 32;
const contacts_n = 1_000;
const shard_count = 16;

const url = process.env.REDIS_URL;
if (url === undefined) throw new Error('REDIS_URL: a Redis database this benchmark may empty');
const redis = await connectRedis(url);
await redis.flushDb();

const config = { cim_hmac_key: 'script-bench', shard_count, reply_ttl_seconds: 48 * 3_600, reference_buckets: 4_096, journal_length_max: 10_000_000, durability: 'async' as const };
const stores: Stores = { redis, sql: undefined as never, config, clock: { now: () => Date.now() } };

type Bench = typeof benchPurchase;
const variants: { name: string; run: Bench }[] = [{ name: 'this', run: benchPurchase }];
/** Every client this run opened: each quit at the end, or its ping timer keeps the process running. */
const clients = [redis];
if (opts.baseline !== undefined) {
  const baseline = (await import(resolve(opts.baseline, 'loadtest/script-bench-call.ts'))) as { benchPurchase: Bench };
  // The baseline's scripts, not this checkout's: a client defined by the baseline's own code (the
  // scripts are the client's; through this checkout's client both variants ran this one's Lua).
  const { connectRedis: connectBaselineRedis } = (await import(resolve(opts.baseline, 'processor/stores.ts'))) as { connectRedis: typeof connectRedis };
  const baseline_stores: Stores = { ...stores, redis: await connectBaselineRedis(url) };
  clients.push(baseline_stores.redis);
  variants.push({ name: 'baseline', run: (_stores, ...rest) => baseline.benchPurchase(baseline_stores, ...rest) });
}
const business: Business = { id: newId('bus'), name: 'bench', currency: 'EUR', reward_resolution: 'all', created_at: new Date().toISOString() };
const terminal: Terminal = { id: newId('ter'), code: 'T1', business_id: business.id, venue_id: newId('ven'), merchant_id: newId('mer'), merchant_code: 'M1', fee_bp: 250, settle_on: 'award', timezone: 'Europe/Paris' };
const rewards = { compiled: { resolution: 'all' } as never, auto_schemes: new Set<string>(), tiers: [{ name: 'gold', min_period_units: 1_000, period: 'month' }, { name: 'vip', min_period_units: 10_000, period: 'year' }], tier_unit: 100, limits: new Map(), restricted_pools: [], commerce_offers: new Set<string>() } as Rewards;

const contacts = Array.from({ length: contacts_n }, (_, i) => ({ id: newId('con'), shard: i % shard_count }));
for (const c of contacts) await redis.hSet(contactKey(c.shard, c.id), { b: business.id });

function awards(amount: number): Award[] {
  const base = { scheme_id: null, pool: null, instant_redeem: false, goal: 'spend', beneficiary: 'contact', referrer_id: null, guard: null, guard_since_ms: 0, guard_before_ms: 0, rank: 0 } as const;
  return [
    { ...base, offer_id: 'off_cashback', kind: 'cashback', amount: Math.floor(amount / 20), expires_at: '2027-12-31T00:00:00.000Z', limits: { per_contact: { count: 1_000_000_000, period: 'month' } } as Award['limits'], period_key: 'm2026-11' },
    { ...base, offer_id: 'off_discount', kind: 'instant_discount', amount: 100, expires_at: null, limits: null, period_key: null },
  ];
}

let seq = 0;
function one(run: Bench): Promise<number> {
  const c = contacts[seq % contacts_n]!;
  const now_ms = Date.now();
  const reference = `bench-${++seq}`;
  const amount = 2_000 + (seq % 100);
  return run(stores, business, terminal, rewards, {
    input: { reference, cim: { type: 'card', value: '4000000000000002' }, amount, currency: 'EUR' },
    slot: referenceSlot(config, terminal.id, reference, now_ms),
    request_hash: 'bench00000',
    contact_id: c.id,
    shard: c.shard,
    now_ms,
    at_ms: now_ms,
    local: readLocalTime(now_ms, terminal.timezone),
    rewards,
    awards: awards(amount),
    pay: 0,
    pay_method: '',
    otp: '',
  });
}

async function batch(run: Bench, n: number): Promise<void> {
  for (let done = 0; done < n; done += width) {
    const statuses = await Promise.all(Array.from({ length: Math.min(width, n - done) }, () => one(run)));
    if (statuses.some((s) => s !== 201)) throw new Error(`a purchase was not approved: ${statuses.join(',')}`);
  }
}

/** Redis's CPU so far (µs): in Redis itself and in the kernel (sockets, AOF writes and fsyncs). */
async function redisCpuUs(): Promise<number> {
  const info = await redis.info('cpu');
  return (Number(/used_cpu_sys:([\d.]+)/.exec(info)![1]) + Number(/used_cpu_user:([\d.]+)/.exec(info)![1])) * 1e6;
}

/** Redis's time in the script per call: FCALL (a library's function), or EVALSHA (a baseline from before 2026-12-02). */
async function scriptUsecPerCall(): Promise<number> {
  const info = await redis.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const m of info.matchAll(/cmdstat_(?:evalsha|fcall):calls=(\d+),usec=(\d+)/g)) {
    calls += Number(m[1]);
    usec += Number(m[2]);
  }
  return calls === 0 ? NaN : usec / calls;
}

interface Round {
  readonly redis_script_usec_per_call: number;
  readonly redis_process_cpu_usec_per_call: number;
  readonly node_cpu_usec_per_call: number;
}

async function round(run: Bench): Promise<Round> {
  await redis.configResetStat();
  const redis_cpu = await redisCpuUs();
  const cpu = process.cpuUsage();
  await batch(run, calls);
  const used = process.cpuUsage(cpu);
  return {
    redis_script_usec_per_call: await scriptUsecPerCall(),
    redis_process_cpu_usec_per_call: ((await redisCpuUs()) - redis_cpu) / calls,
    node_cpu_usec_per_call: (used.user + used.system) / calls,
  };
}

// Loads each variant's script and warms the JIT.
for (const v of variants) await batch(v.run, 2_000);
const measured = new Map<string, Round[]>(variants.map((v) => [v.name, []]));
for (let r = 0; r < rounds; r++) {
  for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
    const m = await round(v.run);
    measured.get(v.name)!.push(m);
    console.log(`round ${r + 1} ${v.name}: redis script ${m.redis_script_usec_per_call.toFixed(2)} µs/call (redis process ${m.redis_process_cpu_usec_per_call.toFixed(2)}), node ${m.node_cpu_usec_per_call.toFixed(2)} µs/call`);
  }
}
const keys = ['redis_script_usec_per_call', 'redis_process_cpu_usec_per_call', 'node_cpu_usec_per_call'] as const;
const medians = Object.fromEntries([...measured].map(([name, ms]) => [name, Object.fromEntries(keys.map((k) => [k, +median(ms.map((m) => m[k])).toFixed(2)]))]));
const ratios = opts.baseline === undefined ? undefined : Object.fromEntries(keys.map((k) => [k, +(medians.this![k]! / medians.baseline![k]!).toFixed(3)]));
console.log(JSON.stringify({ calls, rounds, width, medians, this_over_baseline: ratios }));
if (opts.sections) await sections();
for (const client of clients) await client.quit();

/** This checkout's purchases again, through the library stamped between the script's sections. */
async function sections(): Promise<void> {
  const times_key = 'script-bench:sections';
  const client = await connectRedis(url!);
  clients.push(client);
  const sectioned: Stores = { ...stores, redis: Object.assign(client, hotCalls(client, sectionedPurchaseLibrary(times_key))) };
  const run: Bench = (_stores, ...rest) => benchPurchase(sectioned, ...rest);
  await batch(run, 2_000);
  await redis.del(times_key);
  await redis.configResetStat();
  await batch(run, calls);
  const { calls: recorded, sections: times } = await readSections(redis, times_key, sectionLabels(purchase_sections));
  const fcall_us = await scriptUsecPerCall();
  console.log(`the purchase script by section (${recorded} calls; FCALL ${fcall_us.toFixed(1)} µs a call by INFO commandstats, stamps included):`);
  console.log(formatSections(times, fcall_us));
}
