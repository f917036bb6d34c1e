// The purchase script's boundary alone, against a real Redis: N purchases built from the facts a
// gateway has after evaluating offers (two awards, one with a per-contact cap, tier periods),
// turned into the script call, run, and their answers turned into replies, `width` in flight
// (node-redis pipelines them, as it does a gateway's concurrent requests). Reports, per call,
// Redis's time in EVALSHA (INFO commandstats usec_per_call), the Redis process's CPU (INFO cpu:
// sockets and AOF fsyncs too) and this process's CPU; the median of `rounds`.
//
// REDIS_URL=redis://127.0.0.1:16393/15 node --import tsx loadtest/script-bench.ts [calls] [rounds]
// (a database of its own: it is emptied first).

import { newId } from '../core/ids.ts';
import type { Award } from '../core/offer.ts';
import { connectRedis, type Stores } from '../processor/stores.ts';
import { contactKey } from '../processor/hot/keys.ts';
import { referenceSlot } from '../processor/hot/references.ts';
import type { Business, Terminal } from '../processor/network.ts';
import type { Rewards } from '../processor/offers.ts';
import { median } from './measure.ts';
import { benchPurchase } from './script-bench-call.ts';

const calls = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 5);
const width = 32;
const contacts_n = 1_000;
const shard_count = 16;

const url = process.env.REDIS_URL;
if (url === undefined) throw new Error('REDIS_URL: a Redis database this benchmark may empty');
const redis = await connectRedis(url);
await redis.flushDb();

const config = { cim_hmac_key: 'script-bench', shard_count, reply_ttl_seconds: 48 * 3_600, reference_buckets: 4_096, journal_length_max: 10_000_000, durability: 'async' as const };
const stores: Stores = { redis, sql: undefined as never, config, clock: { now: () => Date.now() } };
const business: Business = { id: newId('bus'), name: 'bench', currency: 'EUR', reward_resolution: 'best' as Business['reward_resolution'], created_at: new Date().toISOString() };
const terminal: Terminal = { id: newId('ter'), code: 'T1', business_id: business.id, venue_id: newId('ven'), merchant_id: newId('mer'), merchant_code: 'M1', fee_bp: 250, settle_on: 'award', timezone: 'Europe/Paris' };
const rewards = { compiled: undefined as never, auto_schemes: new Set<string>(), tiers: [{ name: 'gold', min_period_units: 1_000, period: 'month' }, { name: 'vip', min_period_units: 10_000, period: 'year' }] } as Rewards;

const contacts = Array.from({ length: contacts_n }, (_, i) => ({ id: newId('con'), shard: i % shard_count }));
for (const c of contacts) await redis.hSet(contactKey(c.shard, c.id), { b: business.id });

function awards(amount: number): Award[] {
  const base = { scheme_id: null, pool: null, instant_redeem: false, goal: 'spend', beneficiary: 'contact', referrer_id: null, guard: null, guard_since_ms: 0, rank: 0 } as const;
  return [
    { ...base, offer_id: 'off_cashback', kind: 'cashback', amount: Math.floor(amount / 20), expires_at: '2027-12-31T00:00:00.000Z', limits: { per_contact: { count: 1_000_000_000, period: 'month' } } as Award['limits'], period_key: 'm2026-11' },
    { ...base, offer_id: 'off_discount', kind: 'instant_discount', amount: 100, expires_at: null, limits: null, period_key: null },
  ];
}

let seq = 0;
function one(): Promise<number> {
  const c = contacts[seq % contacts_n]!;
  const now_ms = Date.now();
  const reference = `bench-${++seq}`;
  const amount = 2_000 + (seq % 100);
  return benchPurchase(stores, business, terminal, rewards, {
    input: { reference, cim: { type: 'card', value: '4000000000000002' }, amount, currency: 'EUR' } as never,
    slot: referenceSlot(config, terminal.id, reference, now_ms),
    contact_id: c.id,
    shard: c.shard,
    now_ms,
    at_ms: now_ms,
    rewards,
    awards: awards(amount),
    pay: 0,
    pay_method: '',
    otp: '',
  });
}

async function batch(n: number): Promise<void> {
  for (let done = 0; done < n; done += width) {
    const statuses = await Promise.all(Array.from({ length: Math.min(width, n - done) }, one));
    if (statuses.some((s) => s !== 201)) throw new Error(`a purchase was not approved: ${statuses.join(',')}`);
  }
}

/** Redis's CPU so far (µs): in Redis itself and in the kernel (sockets, AOF writes and fsyncs). */
async function redisCpuUs(): Promise<number> {
  const info = await redis.info('cpu');
  return (Number(/used_cpu_sys:([\d.]+)/.exec(info)![1]) + Number(/used_cpu_user:([\d.]+)/.exec(info)![1])) * 1e6;
}

async function evalshaUsecPerCall(): Promise<number> {
  const line = (await redis.info('commandstats')).split('\r\n').find((l) => l.startsWith('cmdstat_evalsha:'));
  return Number(/usec_per_call=([\d.]+)/.exec(line ?? '')?.[1] ?? NaN);
}

await batch(2_000); // loads the script, warms the JIT
const redis_us: number[] = [];
const redis_cpu_us: number[] = [];
const node_us: number[] = [];
for (let r = 0; r < rounds; r++) {
  await redis.configResetStat();
  const redis_cpu = await redisCpuUs();
  const cpu = process.cpuUsage();
  await batch(calls);
  const used = process.cpuUsage(cpu);
  redis_cpu_us.push(((await redisCpuUs()) - redis_cpu) / calls);
  redis_us.push(await evalshaUsecPerCall());
  node_us.push((used.user + used.system) / calls);
  console.log(`round ${r + 1}: redis evalsha ${redis_us.at(-1)!.toFixed(2)} µs/call (redis process ${redis_cpu_us.at(-1)!.toFixed(2)}), node ${node_us.at(-1)!.toFixed(2)} µs/call`);
}
const result = { calls, rounds, width, redis_evalsha_usec_per_call: median(redis_us), redis_process_cpu_usec_per_call: median(redis_cpu_us), node_cpu_usec_per_call: median(node_us) };
console.log(JSON.stringify(result));
await redis.quit();
