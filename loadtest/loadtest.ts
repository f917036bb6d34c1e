// `npm run loadtest -- [options]`: the performance case. Scenarios with per-request bodies
// (unique references, contacts drawn from a seeded population, baskets with items), next to two
// baselines started the same way on the same machine: an empty Hono route (the physical ceiling)
// and the gateway with DURABILITY=sync (reply after the PostgreSQL commit). Runs alternate
// A B A B; the report gives medians and ratios, per-second throughput and latency, CPU per request
// (server, Redis, PostgreSQL), the floor of a POS transaction's shape measured beside them
// (floor-server.ts: the body parsed, the reference claimed and one script on a second slot, the
// journal drained into PostgreSQL), how far behind the ledger is during the runs and its catch-up
// after a long max-rate run, Redis memory per contact and per transaction, the time to seed
// contacts, and a final table of the performance targets, each met or not (loadtest/targets.ts).
// The usage text below (`--help`) lists the options.

import autocannon from 'autocannon';
import cliProgress from 'cli-progress';
import { randomBytes } from 'node:crypto';
import { cpus, totalmem, loadavg } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { journalBacklog } from '../processor/ledger/writer.ts';
import { journalKey } from '../processor/hot/keys.ts';
import { connectRedis, type RedisClient } from '../processor/stores.ts';
import { repo_root, startChild, type Child } from './processes.ts';
import { cpuMs, median, postgresCpuMs, postmasterPid, redisCpuMs } from './measure.ts';
import { LagSampler, type LagSeries } from './ledger-lag.ts';
import { formatTargets, judgeTargets, limits, tally, type Figures, type TargetRow } from './targets.ts';
import { api, basketOfAtLeast, card, floor_body, importContacts, offerDefinitions, basket } from './population.ts';
import { runIsoLoad } from './iso-load.ts';
import { memoryCensus, perTransaction, type Census } from './memory-census.ts';
import { renderHtml } from './report-html.ts';
import { briefTailCauses, formatTailCauses, withTailWatch, type TailCauses } from './tail-watch.ts';

// ---------------------------------------------------------------------------------------------
// Options

export const usage = `npm run loadtest -- [options]

  --contacts 100000         contacts seeded through the streaming import (Redis bytes per contact)
  --offers 20               offers of the seeded business
  --connections 32          HTTP connections of the load generator
  --duration 10             seconds per run
  --rounds 2                rounds of A B A B (empty route, the floor of the shape, purchase,
                            purchase sync, the scenarios)
  --rate <req/s>            fixed arrival rate of the '@rate' runs (default: half the empty route's maximum)
  --catchup-duration 60     seconds of max-rate purchases while the ledger's lag is sampled every
                            250 ms, then the time until the ledger has caught up (0: skip)
  --scenarios purchase,spend,redemption,mixed,iso
  --iso-connections 8       ISO 8583 TCP connections (4 messages in flight each)
  --memory-purchases 1000000  purchases at maximum rate between two readings of Redis used_memory,
                            the ledger caught up before each: bytes per transaction kept (0: skip)
  --help

Reports: loadtest/reports/<timestamp>.json and .html; the console ends with the targets table.`;

const { values: opt } = parseArgs({
  options: {
    contacts: { type: 'string', default: '100000' },
    offers: { type: 'string', default: '20' },
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    rate: { type: 'string' },
    'catchup-duration': { type: 'string', default: '60' },
    scenarios: { type: 'string', default: 'purchase,spend,redemption,mixed,iso' },
    'iso-connections': { type: 'string', default: '8' },
    'memory-purchases': { type: 'string', default: '1000000' },
    help: { type: 'boolean', default: false },
  },
  allowPositionals: false,
});

if (opt.help) {
  process.stdout.write(usage + '\n');
  process.exit(0);
}

function num(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, not ${v}`);
  return n;
}
const contacts_n = Math.floor(num('contacts', opt.contacts, 10));
const offers_n = Math.floor(num('offers', opt.offers, 2));
const connections = Math.floor(num('connections', opt.connections, 1));
const duration = num('duration', opt.duration, 1);
const rounds = Math.floor(num('rounds', opt.rounds, 1));
const fixed_rate_opt = opt.rate === undefined ? undefined : Math.floor(num('rate', opt.rate, 1));
const catchup_duration = num('catchup-duration', opt['catchup-duration'], 0);
const iso_connections = Math.floor(num('iso-connections', opt['iso-connections'], 1));
const memory_purchases = Math.floor(num('memory-purchases', opt['memory-purchases'], 0));
const all_scenarios = ['purchase', 'spend', 'redemption', 'mixed', 'iso'] as const;
type Scenario = (typeof all_scenarios)[number];
const scenarios = opt.scenarios!.split(',').map((s) => s.trim()).filter((s) => s !== '') as Scenario[];
for (const s of scenarios) if (!all_scenarios.includes(s)) throw new Error(`unknown scenario ${s}: one of ${all_scenarios.join(', ')}`);

const redis_url = process.env.REDIS_URL;
const database_url = process.env.DATABASE_URL;
if (redis_url === undefined || database_url === undefined) throw new Error('run through `npm run loadtest`, which starts Redis and PostgreSQL');

const platform_key = `pk_lt_${randomBytes(8).toString('hex')}`;
const ports = { gateway: 18_190, sync: 18_191, empty: 18_192, iso: 18_193, iso_sync: 18_194, floor: 18_195 };
const run_id = randomBytes(3).toString('hex');
/** The gateways' shard count (they inherit this environment). */
const shard_count = Number(process.env.SHARDS ?? 16);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Output: one progress bar, reused per phase; plain lines when stdout is not a terminal.

const tty = process.stdout.isTTY === true;
const bar = new cliProgress.SingleBar(
  { format: '{phase} |{bar}| {percentage}% {value}/{total} {unit} {info}', hideCursor: true, clearOnComplete: true, noTTYOutput: false, barsize: 30 },
  cliProgress.Presets.shades_classic,
);
function phase(name: string, total: number, unit: string): { update(v: number, info?: string): void; done(): void } {
  if (tty) bar.start(total, 0, { phase: name.padEnd(22), unit, info: '' });
  else process.stdout.write(`${name}…\n`);
  return {
    update: (v, info = '') => tty && bar.update(Math.min(v, total), { info }),
    done: () => tty && bar.stop(),
  };
}
const say = (line: string) => process.stdout.write(line + '\n');

// ---------------------------------------------------------------------------------------------
// Runs

export interface Second {
  /** Seconds since the run started. */
  readonly t: number;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
}

export interface Run {
  readonly target: string;
  readonly round: number;
  readonly rate: number | null;
  readonly seconds: number;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly statuses: Record<string, number>;
  readonly per_second: Second[];
  /**
   * CPU µs per completed request: of the process serving it, of Redis and of PostgreSQL (null
   * when not on this machine), from the start of the run until the ledger had recorded all of it.
   */
  cpu_us_per_request?: { server: number; redis: number; postgres: number | null };
  /** The ledger's lag sampled during the run (gateway runs). */
  ledger_behind?: LagSeries;
  /** What its slowest requests may have waited for (fixed-rate gateway runs: tail-watch.ts). */
  tail?: TailCauses;
}

const quantile = (sorted: number[] | Float64Array, q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!);
const r2 = (x: number) => Math.round(x * 100) / 100;

/** Latencies bucketed by second since `start` (performance.now() ms). */
class Sampler {
  private readonly buckets: number[][] = [];
  constructor(private readonly start: number) {}
  add(at: number, latency_ms: number): void {
    const s = Math.floor((at - this.start) / 1000);
    (this.buckets[s] ??= []).push(latency_ms);
  }
  seconds(): Second[] {
    const out: Second[] = [];
    for (let s = 0; s < this.buckets.length; s++) {
      const b = Float64Array.from(this.buckets[s] ?? []).sort();
      out.push({ t: s + 1, rps: b.length, p50_ms: r2(quantile(b, 0.5)), p90_ms: r2(quantile(b, 0.9)), p99_ms: r2(quantile(b, 0.99)) });
    }
    // The last bucket is a partial second (the run stops mid-second): drop it if it is.
    return out;
  }
}

interface HttpRunSpec {
  readonly target: string;
  readonly round: number;
  readonly url: string;
  readonly seconds: number;
  readonly rate?: number;
  readonly headers?: Record<string, string>;
  /** The next request's body; `context` is per connection (one request in flight on each). */
  readonly body?: (context: Record<string, any>) => string;
  /** The next request's path, when it is not the URL's (set after `body`, with the same context). */
  readonly path?: (context: Record<string, any>) => string;
  /** Called with each reply's status and the context of the connection it came back on. */
  readonly onReply?: (status: number, body: string, context: Record<string, any>) => void;
}

function httpRun(spec: HttpRunSpec): Promise<Run> {
  const label = `${spec.target}${spec.round > 0 ? ` #${spec.round}` : ''}`;
  const p = phase(label, Math.round(spec.seconds), 's');
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const sampler = new Sampler(start);
    let last_second = 0;
    const instance = autocannon(
      {
        url: spec.url,
        method: 'POST',
        connections,
        duration: spec.seconds,
        headers: { 'content-type': 'application/json', ...spec.headers },
        ...(spec.rate === undefined ? {} : { overallRate: spec.rate }),
        requests: [
          {
            setupRequest: (req: any, context: any) => {
              req.body = spec.body === undefined ? '{}' : spec.body(context);
              if (spec.path !== undefined) req.path = spec.path(context);
              return req;
            },
            ...(spec.onReply === undefined ? {} : { onResponse: (status: number, body: string, context: any) => spec.onReply!(status, body, context) }),
          },
        ],
      } as autocannon.Options,
      (err: Error | null, result: autocannon.Result) => {
        p.done();
        if (err) return reject(err);
        const statuses: Record<string, number> = {};
        for (const [code, v] of Object.entries((result as any).statusCodeStats ?? {})) statuses[code] = (v as { count: number }).count;
        const run: Run = {
          target: spec.target,
          round: spec.round,
          rate: spec.rate ?? null,
          seconds: spec.seconds,
          rps: Math.round(result.requests.average),
          p50_ms: result.latency.p50,
          p90_ms: result.latency.p90,
          p99_ms: result.latency.p99,
          max_ms: result.latency.max,
          ok: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          statuses,
          per_second: sampler.seconds().slice(0, Math.floor(spec.seconds)),
        };
        if (!tty) say(line(run));
        resolve(run);
      },
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, response_ms: number) => {
      const now = performance.now();
      sampler.add(now, response_ms);
      const s = Math.floor((now - start) / 1000);
      if (s !== last_second) {
        last_second = s;
        p.update(s);
      }
    });
  });
}

function line(r: Run): string {
  return `${`${r.target}${r.round > 0 ? ` #${r.round}` : ''}`.padEnd(22)} ${String(r.rps).padStart(6)} req/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  2xx ${r.ok}  non-2xx ${r.non2xx}${r.errors + r.timeouts > 0 ? `  errors ${r.errors} timeouts ${r.timeouts}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Redis memory

async function usedMemory(redis: RedisClient): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

async function memoryOfKeys(redis: RedisClient, pattern: string, sample: number) {
  const sizes: number[] = [];
  let cursor = '0';
  do {
    const r = await redis.scan(cursor, { MATCH: pattern, COUNT: 1000 });
    cursor = String(r.cursor);
    for (const k of r.keys) {
      if (sizes.length >= sample) break;
      sizes.push(Number(await redis.sendCommand(['MEMORY', 'USAGE', k, 'SAMPLES', '0'])));
    }
  } while (cursor !== '0' && sizes.length < sample);
  return { keys: sizes.length, mean_bytes: sizes.length === 0 ? 0 : Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length) };
}

export interface PerTransaction {
  /** used_memory after − before, over the purchases approved. */
  readonly bytes: number;
  readonly purchases: number;
  readonly non2xx: number;
  readonly delta_bytes: number;
  readonly before_bytes: number;
  readonly after_bytes: number;
  readonly rps: number;
  readonly elapsed_s: number;
  /** From the end of the purchases until the ledger held them all. */
  readonly catchup_s: number;
  /** Transactions the ledger gained meanwhile (≥ purchases: every one recorded). */
  readonly recorded: number;
  readonly connections: number;
  /** The bytes above by family of key (MEMORY USAGE of every key, before and after). */
  readonly by_family: { family: string; keys: number; bytes: number }[];
  readonly pipelining: number;
  /** What one purchase by each contact left before the first reading (undefined: none made). */
  readonly warmup: Warmup | undefined;
}

/** Waits for the ledger and the writer's stream trimming, then reads used_memory. */
async function quietUsedMemory(redis: RedisClient, settle: (limit_ms?: number) => Promise<number>): Promise<{ bytes: number; settled_ms: number }> {
  const settled_ms = await settle(1_800_000);
  // The writer trims each stream below what it acknowledged about once a second.
  const t0 = performance.now();
  for (;;) {
    const lens = await Promise.all(Array.from({ length: shard_count }, (_, s) => redis.sendCommand(['XLEN', journalKey(s)])));
    if (lens.reduce((a: number, b) => a + Number(b), 0) === 0 || performance.now() - t0 > 5_000) break;
    await sleep(100);
  }
  // Client buffers of the load shrink once idle.
  await sleep(1_000);
  return { bytes: await usedMemory(redis), settled_ms };
}

/** used_memory and every key's MEMORY USAGE by family, once the ledger and the trimming are done. */
interface MemoryReading {
  readonly bytes: number;
  readonly settled_ms: number;
  readonly census: Census;
}

async function quietReading(redis: RedisClient, settle: (limit_ms?: number) => Promise<number>): Promise<MemoryReading> {
  const quiet = await quietUsedMemory(redis, settle);
  return { ...quiet, census: await memoryCensus(redis) };
}

/** What `purchasesAtMaxRate` measured: its answers, and from the first request to the last reply. */
interface MaxRateLoad {
  readonly result: autocannon.Result;
  readonly elapsed_s: number;
}

/**
 * `n` purchases as fast as the gateway takes them, one request in flight on each of the load
 * test's connections (with 64 or 128 connections, or HTTP pipelining, no faster here within the
 * noise, measured alternately on 2026-11-30; with pipelining autocannon's 2xx count missed replies
 * still in flight at the end), nothing measured per request.
 */
async function purchasesAtMaxRate(o: { label: string; url: string; headers: Record<string, string>; n: number; body: (ctx: Record<string, any>) => string }): Promise<MaxRateLoad> {
  const p = phase(o.label, o.n, 'req');
  const start = performance.now();
  let done = 0;
  let last_line = start;
  // autocannon reports `amount` done on its next 1 s tick: the last reply is when the load ended.
  let last_reply = start;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: o.url,
        method: 'POST',
        connections,
        pipelining: 1,
        amount: o.n,
        timeout: 60,
        headers: { 'content-type': 'application/json', ...o.headers },
        requests: [{ setupRequest: (req: any, ctx: any) => ((req.body = o.body(ctx)), req) }],
      } as autocannon.Options,
      (err: Error | null, r: autocannon.Result) => (err ? reject(err) : resolve(r)),
    );
    instance.on('response', () => {
      last_reply = performance.now();
      if (++done % 1000 !== 0) return;
      p.update(done, `${Math.round(done / ((performance.now() - start) / 1000))}/s`);
      if (!tty && performance.now() - last_line >= 30_000) {
        last_line = performance.now();
        say(`  ${o.label}: ${done}, ${Math.round(done / ((last_line - start) / 1000))}/s`);
      }
    });
  });
  p.done();
  return { result, elapsed_s: (last_reply - start) / 1000 };
}

/** What one purchase by each contact left in Redis, before the memory purchases (see memoryPerTransaction). */
export interface Warmup {
  readonly purchases: number;
  readonly contacts: number;
  readonly non2xx: number;
  readonly bytes_per_contact: number;
  readonly by_family: { family: string; keys: number; bytes: number }[];
}

/**
 * `n` purchases between two readings of Redis used_memory taken once the ledger had recorded
 * everything: what a transaction leaves in Redis (its reference claim, its record, …). First,
 * unless `warmup` is undefined, one purchase by each contact, each with a basket above every
 * offer's minimum: what a contact's first purchases make once (its caps counters' hash, its lots'
 * hash) is the contact's memory, not each transaction's, and without it the figure depended on
 * how many contacts the runs before had reached, so on the machine's speed (caps 6 bytes per
 * transaction on a fast morning, 10.6 at a third of that speed). What the warm-up left is
 * measured and reported beside it.
 */
async function memoryPerTransaction(o: {
  redis: RedisClient;
  settle: (limit_ms?: number) => Promise<number>;
  url: string;
  headers: Record<string, string>;
  n: number;
  body: (ctx: Record<string, any>) => string;
  warmup: { contacts: number; body: (ctx: Record<string, any>) => string } | undefined;
  recorded: () => Promise<number>;
}): Promise<PerTransaction> {
  let before = await quietReading(o.redis, o.settle);
  let warmup: Warmup | undefined;
  // The warm-up's last reading is the step's first.
  if (o.warmup !== undefined) ({ warmup, after: before } = await warmUp(o, o.warmup, before));
  const recorded_before = await o.recorded();
  const { result, elapsed_s } = await purchasesAtMaxRate({ label: 'memory purchases', url: o.url, headers: o.headers, n: o.n, body: o.body });
  const after = await quietReading(o.redis, o.settle);
  const purchases = result['2xx'];
  const by_family = perTransaction(before.census, after.census, purchases);
  const delta = after.bytes - before.bytes;
  return {
    bytes: Math.round(delta / Math.max(1, purchases)),
    purchases,
    non2xx: result.non2xx + result.errors + result.timeouts,
    delta_bytes: delta,
    before_bytes: before.bytes,
    after_bytes: after.bytes,
    rps: Math.round(purchases / elapsed_s),
    elapsed_s: Math.round(elapsed_s * 10) / 10,
    catchup_s: Math.round(after.settled_ms / 100) / 10,
    recorded: (await o.recorded()) - recorded_before,
    connections,
    pipelining: 1,
    by_family,
    warmup,
  };
}

/** One purchase by each of `contacts`, from the reading `before` to the one it returns. */
async function warmUp(o: { redis: RedisClient; settle: (limit_ms?: number) => Promise<number>; url: string; headers: Record<string, string> }, w: { contacts: number; body: (ctx: Record<string, any>) => string }, before: MemoryReading): Promise<{ warmup: Warmup; after: MemoryReading }> {
  const { result } = await purchasesAtMaxRate({ label: 'memory warm-up (a purchase per contact)', url: o.url, headers: o.headers, n: w.contacts, body: w.body });
  const after = await quietReading(o.redis, o.settle);
  const warmup = {
    purchases: result['2xx'],
    contacts: w.contacts,
    non2xx: result.non2xx + result.errors + result.timeouts,
    bytes_per_contact: Math.round((after.bytes - before.bytes) / w.contacts),
    by_family: perTransaction(before.census, after.census, w.contacts),
  };
  return { warmup, after };
}

// ---------------------------------------------------------------------------------------------
// Request bodies

const rand = (n: number) => (Math.random() * n) | 0;
const urls: Record<string, string> = { purchase: '/v1/purchases', spend: '/v1/spends', redemption: '/v1/redemptions', redeem: '/v1/redemptions', refund: '/v1/refunds' };

/** What the bodies draw from, fed by the replies (arrow properties: passed as callbacks). */
class Traffic {
  private seq = 0;
  /** Contacts with money in their open balance (a purchase approved: the 2% instant award). */
  private readonly funded: number[] = [];
  /** Approved purchases not yet refunded or redeemed against: [reference, contact, amount]. */
  private readonly recent: [string, number, number][] = [];
  readonly approved_refs: string[] = [];
  /** Refusals by request kind and body (a mixed run's redeem finding nothing to redeem, …). */
  readonly refusals: Record<string, number> = {};

  /** `wallet_code`: by contact index. */
  constructor(private readonly wallet_code: readonly string[]) {}

  readonly purchaseBody = (ctx: Record<string, any>, prefix: string) => {
    const c = rand(contacts_n);
    const b = basket();
    const ref = `${run_id}-${prefix}${++this.seq}`;
    ctx.kind = 'purchase';
    ctx.ref = ref;
    ctx.contact = c;
    ctx.amount = b.amount;
    return `{"reference":"${ref}","cim":{"type":"card","value":"${card(c)}"},"amount":${b.amount},"currency":"EUR","items":${b.items}}`;
  };
  readonly spendBody = (ctx: Record<string, any>) => {
    const c = this.funded.length > 0 ? this.funded[rand(this.funded.length)]! : rand(contacts_n);
    const ref = `${run_id}-s${++this.seq}`;
    ctx.kind = 'spend';
    ctx.ref = ref;
    return `{"reference":"${ref}","amount":1,"currency":"EUR","wallet_code":"${this.wallet_code[c]}"}`;
  };
  /** 0.01 of the commerce balance a funded contact's purchase earned (the 5% cashback), into the open balance. */
  readonly redemptionBody = (ctx: Record<string, any>) => {
    const c = this.funded.length > 0 ? this.funded[rand(this.funded.length)]! : rand(contacts_n);
    const ref = `${run_id}-e${++this.seq}`;
    ctx.kind = 'redemption';
    ctx.ref = ref;
    return `{"reference":"${ref}","cim":{"type":"card","value":"${card(c)}"},"amount":1}`;
  };
  readonly mixedBody = (ctx: Record<string, any>) => {
    const r = Math.random();
    if (r < 0.7 || this.recent.length < 100) return this.purchaseBody(ctx, 'm');
    if (r < 0.85) {
      // Redeem the commerce balance of a contact whose purchase just earned cashback.
      const [, c] = this.recent.splice(rand(this.recent.length), 1)[0]!;
      const ref = `${run_id}-d${++this.seq}`;
      ctx.kind = 'redeem';
      ctx.ref = ref;
      return `{"reference":"${ref}","cim":{"type":"card","value":"${card(c)}"}}`;
    }
    if (r < 0.95) return this.spendBody(ctx);
    const [original, , amount] = this.recent.splice(rand(this.recent.length), 1)[0]!;
    const ref = `${run_id}-f${++this.seq}`;
    ctx.kind = 'refund';
    ctx.ref = ref;
    return `{"reference":"${ref}","original_reference":"${original}","amount":${Math.max(1, amount >> 1)}}`;
  };
  readonly onReply = (status: number, body: string, ctx: Record<string, any>) => {
    if (status < 200 || status >= 300) {
      const code = /"code":"([^"]*)"/.exec(body)?.[1] ?? '';
      const k = `${ctx.kind} ${status} ${code}`;
      this.refusals[k] = (this.refusals[k] ?? 0) + 1;
      return;
    }
    this.approved_refs.push(ctx.ref as string);
    if (ctx.kind === 'purchase') {
      if (this.funded.length < 200_000) this.funded.push(ctx.contact as number);
      if (this.recent.length < 50_000) this.recent.push([ctx.ref as string, ctx.contact as number, ctx.amount as number]);
    }
  };
  // The mixed run's bodies choose their path (the body is built first, with the same context).
  readonly mixedPath = (ctx: Record<string, any>) => urls[ctx.kind as string]!;
}

// ---------------------------------------------------------------------------------------------
// Phases, in the order main() runs them

interface Servers {
  readonly gateway: Child;
  readonly sync: Child;
  readonly empty: Child;
  /** floor-server.ts with its ledger drain (floorRun); idle, its drain blocks in XREADGROUP. */
  readonly floor: Child;
}

/** Each pushed onto `children` as soon as it runs, so that main() stops it whatever fails next. */
async function startServers(children: Child[]): Promise<Servers> {
  const env = { REDIS_URL: redis_url!, DATABASE_URL: database_url!, PLATFORM_API_KEY: platform_key, CIM_HMAC_KEY: 'loadtest-hmac-key', LOG_LEVEL: 'warn' };
  const gateway = await startChild('gateway/main.ts', ports.gateway, { ...env, ISO8583_PORT: String(ports.iso), DURABILITY: 'async' });
  children.push(gateway);
  // The sync baseline: its journal entries are drained by the async gateway's writer, which
  // finds them already recorded.
  const sync = await startChild('gateway/main.ts', ports.sync, { ...env, ISO8583_PORT: String(ports.iso_sync), DURABILITY: 'sync', LEDGER_WRITER: 'off' });
  children.push(sync);
  const empty = await startChild('loadtest/empty-server.ts', ports.empty, {}, { ready_path: '/empty' });
  children.push(empty);
  const floor = await startChild('loadtest/floor-server.ts', ports.floor, { REDIS_URL: floorRedisUrl(), DATABASE_URL: database_url!, FLOOR_LEDGER: '1' }, { ready_path: '/empty' });
  children.push(floor);
  return { gateway, sync, empty, floor };
}

interface Business {
  readonly business_id: string;
  readonly admin: string;
  /** The HTTP runs' terminal. */
  readonly terminal_id: string;
  readonly terminal_headers: Record<string, string>;
  /** One per ISO connection. */
  readonly iso_terminals: string[];
  readonly acquirer_id: string;
}

async function createBusiness(gateway: Child): Promise<Business> {
  const business = await api(gateway.url, platform_key, 'POST', '/v1/businesses', { name: `Load test ${run_id}`, currency: 'EUR' });
  const business_id = business.id as string;
  const admin = business.admin_key as string;
  const venue = await api(gateway.url, admin, 'POST', '/v1/venues', { name: 'Load test venue' });
  const terminal = await api(gateway.url, admin, 'POST', '/v1/terminals', { venue_id: venue.id, code: 'LOAD0001' });
  const terminal_headers = { authorization: `Bearer ${terminal.api_key as string}` };
  for (const o of offerDefinitions(offers_n)) await api(gateway.url, admin, 'POST', '/v1/offers', o);
  const iso_terminals: string[] = [];
  for (let i = 1; i <= iso_connections; i++) {
    const code = `ISO${String(i).padStart(5, '0')}`;
    await api(gateway.url, admin, 'POST', '/v1/terminals', { venue_id: venue.id, code });
    iso_terminals.push(code);
  }
  const acquirer_id = String(100_000 + Math.floor(Math.random() * 899_999));
  await api(gateway.url, admin, 'POST', '/v1/iso8583/links', { acquirer_id });
  return { business_id, admin, terminal_id: terminal.id as string, terminal_headers, iso_terminals, acquirer_id };
}

type KeysMemory = Awaited<ReturnType<typeof memoryOfKeys>>;

interface Seeded {
  readonly seed_ms: number;
  readonly memory_before: number;
  readonly memory_after: number;
  readonly memory_per_contact: number;
  readonly memory_after_seed: { contact_hash: KeysMemory; cim_index: KeysMemory };
  /** By contact index. */
  readonly wallet_code: string[];
}

/** Seeding, with Redis memory measured around it. */
async function seedContacts(redis: RedisClient, sql: postgres.Sql, gateway: Child, business: Business): Promise<Seeded> {
  await new Promise((r) => setTimeout(r, 500));
  const memory_before = await usedMemory(redis);
  const seeding = phase('seeding contacts', contacts_n, 'contacts');
  const seed_start = performance.now();
  await importContacts(gateway.url, business.admin, contacts_n, (n) => seeding.update(n));
  const seed_ms = Math.round(performance.now() - seed_start);
  seeding.done();
  const memory_after = await usedMemory(redis);
  const memory_per_contact = Math.round((memory_after - memory_before) / contacts_n);
  // What a freshly seeded contact is made of (sampled now, before any purchase adds to it).
  const memory_after_seed = {
    contact_hash: await memoryOfKeys(redis, 'c:{s*', 200),
    cim_index: await memoryOfKeys(redis, 'i:*', 200),
  };
  say(`seeded ${contacts_n} contacts through the streaming import in ${(seed_ms / 1000).toFixed(1)} s (goal ≤ 20 s for 100,000); Redis +${((memory_after - memory_before) / 2 ** 20).toFixed(1)} MiB = ${memory_per_contact} bytes per contact (goal ≤ 300)`);

  // Wallet codes by contact index (the profile's phone carries the index).
  const wallet_code = new Array<string>(contacts_n);
  for (const r of await sql<{ phone: string; wallet_code: string }[]>`select phone, wallet_code from contacts where business_id = ${business.business_id}`) {
    wallet_code[Number(r.phone.slice(5))] = r.wallet_code;
  }
  return { seed_ms, memory_before, memory_after, memory_per_contact, memory_after_seed, wallet_code };
}

/**
 * Funding: a first purchase for some contacts, so spends and redemptions have money to move
 * (the 2% instant award into the open balance, the 5% cashback into the commerce balance).
 */
async function fundContacts(gateway: Child, business: Business, traffic: Traffic): Promise<void> {
  const fund_n = Math.min(contacts_n, 5_000);
  const funding = phase('funding purchases', fund_n, 'req');
  let funded_done = 0;
  await new Promise<void>((resolve, reject) =>
    autocannon(
      {
        url: `${gateway.url}/v1/purchases`,
        method: 'POST',
        connections,
        amount: fund_n,
        headers: { 'content-type': 'application/json', ...business.terminal_headers },
        requests: [
          {
            setupRequest: (req: any, ctx: any) => ((req.body = traffic.purchaseBody(ctx, 'F')), req),
            onResponse: (status: number, body: string, ctx: any) => {
              traffic.onReply(status, body, ctx);
              if (++funded_done % 250 === 0) funding.update(funded_done);
            },
          },
        ],
      } as autocannon.Options,
      (err: Error | null) => (err ? reject(err) : resolve()),
    ),
  );
  funding.done();
}

/** What the runs share, from the first round to the memory purchases. */
interface LoadTest {
  readonly redis: RedisClient;
  readonly sql: postgres.Sql;
  /** PostgreSQL's CPU is read from /proc: undefined when the server runs on another machine. */
  readonly postmaster: number | undefined;
  readonly servers: Servers;
  readonly pids: Record<string, number | undefined>;
  readonly business: Business;
  readonly traffic: Traffic;
  /** The ISO runs' cards, by contact index. */
  readonly cards: string[];
  readonly runs: Run[];
  /** Over every ISO run. */
  iso_approved: number;
}

/** Until the ledger holds every journal entry (at most `limit_ms`); the ms waited. */
async function settle(lt: LoadTest, limit_ms = 60_000): Promise<number> {
  const t0 = performance.now();
  while ((await journalBacklog(lt.redis, shard_count)) > 0 && performance.now() - t0 < limit_ms) await sleep(20);
  return performance.now() - t0;
}

/** Run `f` (a run on the async gateway) with the ledger's lag sampled every 250 ms (ledger-lag.ts). */
async function lagged(lt: LoadTest, f: () => Promise<Run>): Promise<Run> {
  const sampler = new LagSampler(lt.redis, shard_count, 250);
  let run: Run | undefined;
  try {
    run = await f();
  } finally {
    const lag = await sampler.stop();
    if (run !== undefined) run.ledger_behind = lag;
  }
  return run;
}

/** Run `f` (a fixed-rate run on the async gateway) with Redis's stalls and the gateway's pauses read around it. */
async function tailWatched(lt: LoadTest, f: () => Promise<Run>): Promise<Run> {
  const { result: run, tail } = await withTailWatch(lt.redis, lt.servers.gateway.url, f);
  run.tail = tail;
  say(`  ${formatTailCauses(tail)}`);
  return run;
}

/** CPU so far, ms: of a server, Redis, PostgreSQL (undefined when not on this machine). */
async function cpuNow(lt: LoadTest, pid: number | undefined) {
  const r = await redisCpuMs(lt.redis);
  return { server: cpuMs(pid), redis: r.sys + r.user, postgres: postgresCpuMs(lt.postmaster) };
}
type Cpu = Awaited<ReturnType<typeof cpuNow>>;

function cpuPerRequest(c0: Cpu, c1: Cpu, n: number) {
  return {
    server: Math.round(((c1.server - c0.server) * 1000) / n),
    redis: Math.round(((c1.redis - c0.redis) * 1000) / n),
    postgres: c0.postgres === undefined || c1.postgres === undefined ? null : Math.round(((c1.postgres - c0.postgres) * 1000) / n),
  };
}

/**
 * Run `f` from a caught-up ledger and note the CPU its server, Redis and PostgreSQL used per
 * request, until the ledger had recorded all of the run (the writer's work is the run's).
 */
async function measured(lt: LoadTest, server: 'empty' | 'sync' | 'gateway', f: () => Promise<Run>): Promise<Run> {
  await settle(lt);
  const pid = lt.pids[server]!;
  const c0 = await cpuNow(lt, pid);
  // A sync gateway's entries are in PostgreSQL before its reply: its journal is no lag.
  const run = server === 'gateway' ? await lagged(lt, f) : await f();
  await settle(lt);
  run.cpu_us_per_request = cpuPerRequest(c0, await cpuNow(lt, pid), Math.max(1, run.ok + run.non2xx));
  return run;
}

function record(lt: LoadTest, r: Run): Run {
  lt.runs.push(r);
  return r;
}

function gatewayRun(lt: LoadTest, target: string, round: number, base: string, scenario: Scenario | 'purchase', seconds = duration, rate?: number): Promise<Run> {
  const { traffic } = lt;
  const headers = lt.business.terminal_headers;
  if (scenario === 'mixed') {
    return httpRun({ target, round, url: `${base}/v1/purchases`, seconds, rate, headers, onReply: traffic.onReply, body: traffic.mixedBody, path: traffic.mixedPath });
  }
  const body = scenario === 'spend' ? traffic.spendBody : scenario === 'redemption' ? traffic.redemptionBody : (ctx: Record<string, any>) => traffic.purchaseBody(ctx, 'p');
  return httpRun({ target, round, url: `${base}${urls[scenario]}`, seconds, rate, headers, onReply: traffic.onReply, body });
}

async function isoRun(lt: LoadTest, round: number): Promise<Run> {
  const p = phase(`iso ${round > 0 ? `#${round}` : ''}`, Math.round(duration), 's');
  const start = performance.now();
  const sampler = new Sampler(start);
  let last = 0;
  const { acquirer_id, iso_terminals } = lt.business;
  const r = await runIsoLoad({
    port: ports.iso, connections: iso_connections, in_flight: 4, seconds: duration, acquirer_id, merchant_code: '', terminal_codes: iso_terminals, cards: lt.cards,
    onReply: (at, latency) => {
      sampler.add(at, latency);
      const s = Math.floor((at - start) / 1000);
      if (s !== last) p.update((last = s));
    },
  });
  p.done();
  lt.iso_approved += r.approved;
  const run: Run = {
    target: 'iso', round, rate: null, seconds: duration, rps: r.rps, p50_ms: r.p50_ms, p90_ms: r.p90_ms, p99_ms: r.p99_ms, max_ms: NaN,
    ok: r.approved, non2xx: r.declined, errors: r.errors, timeouts: 0, statuses: { approved: r.approved, declined: r.declined }, per_second: sampler.seconds().slice(0, Math.floor(duration)),
  };
  if (!tty) say(line(run));
  return run;
}

/** floor-server.ts's Redis: a database of its own, so that its journal streams are its own. */
function floorRedisUrl(): string {
  const u = new URL(redis_url!);
  u.pathname = '/3';
  return u.toString();
}

async function floorRows(sql: postgres.Sql): Promise<number> {
  const [t] = await sql<{ exists: boolean }[]>`select to_regclass('floor_entries') is not null as exists`;
  if (t?.exists !== true) return 0;
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from floor_entries`;
  return row!.n;
}

/**
 * The floor of a POS transaction's shape (floor-server.ts `/two`, its journal drained into
 * PostgreSQL), with its CPU per request until its drain has written every approved request.
 */
async function floorRun(lt: LoadTest, target: string, round: number, rate?: number): Promise<Run> {
  const { floor } = lt.servers;
  const rows0 = await floorRows(lt.sql);
  const c0 = await cpuNow(lt, floor.process.pid);
  const run = await httpRun({ target, round, url: `${floor.url}/two`, seconds: duration, rate, body: () => floor_body });
  const deadline = Date.now() + 30_000;
  while ((await floorRows(lt.sql)) < rows0 + run.ok) {
    if (Date.now() > deadline) throw new Error(`the floor's drain wrote ${(await floorRows(lt.sql)) - rows0} of ${run.ok} rows within 30 s`);
    await sleep(50);
  }
  run.cpu_us_per_request = cpuPerRequest(c0, await cpuNow(lt, floor.process.pid), Math.max(1, run.ok + run.non2xx));
  return run;
}

/** A B A B: every target once per round, in the same order. */
async function maxRateRounds(lt: LoadTest): Promise<void> {
  const { gateway, sync, empty } = lt.servers;
  for (let round = 1; round <= rounds; round++) {
    record(lt, await measured(lt, 'empty', () => httpRun({ target: 'empty', round, url: `${empty.url}/empty`, seconds: duration })));
    record(lt, await floorRun(lt, 'floor', round));
    if (scenarios.includes('purchase')) {
      record(lt, await measured(lt, 'gateway', () => gatewayRun(lt, 'purchase', round, gateway.url, 'purchase')));
      record(lt, await measured(lt, 'sync', () => gatewayRun(lt, 'purchase sync', round, sync.url, 'purchase')));
    }
    if (scenarios.includes('spend')) record(lt, await measured(lt, 'gateway', () => gatewayRun(lt, 'spend', round, gateway.url, 'spend')));
    if (scenarios.includes('redemption')) record(lt, await measured(lt, 'gateway', () => gatewayRun(lt, 'redemption', round, gateway.url, 'redemption')));
    if (scenarios.includes('mixed')) record(lt, await measured(lt, 'gateway', () => gatewayRun(lt, 'mixed', round, gateway.url, 'mixed')));
    if (scenarios.includes('iso')) record(lt, await measured(lt, 'gateway', () => isoRun(lt, round)));
  }
}

/** The median over the rounds at maximum rate. */
function medianOf(runs: readonly Run[], target: string, f: (r: Run) => number): number {
  return median(runs.filter((r) => r.target === target && r.round > 0).map(f));
}

interface FixedRuns {
  readonly fixed_rate: number;
  readonly fixed_empty: Run;
  readonly fixed_purchase: Run | undefined;
  readonly fixed_sync: Run | undefined;
  readonly own_half: number;
  readonly fixed_own: Run | undefined;
  readonly fixed_own_empty: Run | undefined;
  readonly floor_own: Run | undefined;
  readonly floor_at_purchase: Run | undefined;
}

/** Latency at a fixed arrival rate, each run from a caught-up ledger. */
async function fixedRateRuns(lt: LoadTest, empty_rps: number): Promise<FixedRuns> {
  const { gateway, sync, empty } = lt.servers;
  const with_purchase = scenarios.includes('purchase');
  const fixed_rate = fixed_rate_opt ?? Math.max(1, Math.floor(empty_rps / 2));
  const fixed = async (f: () => Promise<Run>) => (await settle(lt), record(lt, await f()));
  const fixed_empty = await fixed(() => httpRun({ target: 'empty @rate', round: 0, url: `${empty.url}/empty`, seconds: duration, rate: fixed_rate }));
  const fixed_purchase = with_purchase ? await fixed(() => lagged(lt, () => tailWatched(lt, () => gatewayRun(lt, 'purchase @rate', 0, gateway.url, 'purchase', duration, fixed_rate)))) : undefined;
  const fixed_sync = with_purchase ? await fixed(() => gatewayRun(lt, 'purchase sync @rate', 0, sync.url, 'purchase', duration, fixed_rate)) : undefined;
  // Half the empty route's maximum is past what a purchase sustains here: latency at half the
  // purchase's own maximum says what a terminal sees under a load the gateway can carry.
  const purchase_max = Math.max(1, Math.floor(medianOf(lt.runs, 'purchase', (r) => r.rps)));
  const own_half = Math.max(1, Math.floor(purchase_max / 2));
  // Its CPU per request too: beside the floor's at the same rate, both paced (paced requests share
  // fewer wakeups than a saturated run's, so neither compares with the CPU target's max-rate figure).
  const fixed_own = with_purchase ? await fixed(() => measured(lt, 'gateway', () => tailWatched(lt, () => gatewayRun(lt, 'purchase @half own max', 0, gateway.url, 'purchase', duration, own_half)))) : undefined;
  // The same rate on the empty route: on this kind of machine a lightly loaded process answers
  // late now and then by itself (idle cores wake slowly), and this is that floor.
  const fixed_own_empty = with_purchase ? await fixed(() => httpRun({ target: 'empty @half own max', round: 0, url: `${empty.url}/empty`, seconds: duration, rate: own_half })) : undefined;
  // The floor of the shape at the purchase's rates: its CPU per request where a purchase's is
  // measured, and its p99 where the p99 target is.
  const floor_own = with_purchase ? await fixed(() => floorRun(lt, 'floor @half own max', 0, own_half)) : undefined;
  const floor_at_purchase = with_purchase ? await fixed(() => floorRun(lt, 'floor @purchase max', 0, purchase_max)) : undefined;
  return { fixed_rate, fixed_empty, fixed_purchase, fixed_sync, own_half, fixed_own, fixed_own_empty, floor_own, floor_at_purchase };
}

interface Catchup {
  /** The long max-rate run (none with --catchup-duration 0). */
  readonly catchup: Run | undefined;
  readonly catchup_ms: number;
  readonly backlog_at_stop: number;
}

/**
 * The ledger: a long max-rate run with its lag sampled every 250 ms, then the time until
 * PostgreSQL holds everything (no journal entry pending or undelivered in any shard).
 */
async function ledgerCatchup(lt: LoadTest): Promise<Catchup> {
  const { redis, pids } = lt;
  let catchup: Run | undefined;
  let long_cpu0: Cpu | undefined;
  let load_end: number | undefined;
  if (catchup_duration > 0) {
    await settle(lt);
    long_cpu0 = await cpuNow(lt, pids.gateway);
    catchup = record(lt, await lagged(lt, () => gatewayRun(lt, 'purchase long', 0, lt.servers.gateway.url, 'purchase', catchup_duration).finally(() => (load_end = performance.now()))));
  }
  const load_stopped = load_end ?? performance.now();
  const backlog_at_stop = await journalBacklog(redis, shard_count);
  let backlog = backlog_at_stop;
  const catching = phase('ledger catch-up', Math.max(1, backlog_at_stop), 'entries');
  while (backlog > 0 && performance.now() - load_stopped < 120_000) {
    await sleep(20);
    backlog = await journalBacklog(redis, shard_count);
    catching.update(backlog_at_stop - backlog);
  }
  const catchup_ms = Math.round(performance.now() - load_stopped);
  catching.done();
  if (catchup !== undefined && long_cpu0 !== undefined) catchup.cpu_us_per_request = cpuPerRequest(long_cpu0, await cpuNow(lt, pids.gateway), Math.max(1, catchup.ok + catchup.non2xx));
  if (catchup !== undefined) say(`ledger: at most ${catchup.ledger_behind?.max_behind_s.toFixed(2)} s behind during the ${catchup_duration} s max-rate run (${catchup.ledger_behind?.samples} samples); caught up ${(catchup_ms / 1000).toFixed(2)} s after it (${backlog_at_stop} entries behind at stop)`);
  return { catchup, catchup_ms, backlog_at_stop };
}

/** What the ledger holds of the replies the load generator saw. */
async function checkLedger(lt: LoadTest, c: Catchup) {
  const { sql } = lt;
  const { business_id, terminal_id } = lt.business;
  const { approved_refs, refusals } = lt.traffic;
  // Every 2xx by terminal + reference exactly once; nothing recorded that was not answered 2xx.
  const rows = await sql<{ reference: string; n: number }[]>`
    select reference, count(*)::int as n from ledger_transactions where business_id = ${business_id} and terminal_id = ${terminal_id} group by reference`;
  const recorded = new Map(rows.map((r) => [r.reference, r.n]));
  let lost = 0;
  let doubled = 0;
  for (const ref of approved_refs) {
    const n = recorded.get(ref) ?? 0;
    if (n === 0) lost++;
    else if (n > 1) doubled++;
  }
  const answered = new Set(approved_refs);
  // Requests in flight when a run stops: autocannon closes their connections, the gateway still
  // commits them, the load generator never sees the reply (at most `connections` per run).
  const unanswered_recorded = rows.filter((r) => !answered.has(r.reference)).length;
  const [iso_row] = await sql<{ n: number; d: number }[]>`
    select count(*)::int as n, (count(*) - count(distinct (terminal_id, reference)))::int as d from ledger_transactions t
    where business_id = ${business_id} and terminal_id <> ${terminal_id}`;
  return {
    backlog_at_stop: c.backlog_at_stop,
    catchup_ms: c.catchup_ms,
    http_2xx: approved_refs.length,
    http_recorded: rows.reduce((s, r) => s + r.n, 0),
    lost,
    doubled,
    recorded_without_2xx: unanswered_recorded,
    recorded_without_2xx_note: 'requests in flight when a run stopped: committed by the gateway, reply never read (at most connections × gateway runs)',
    refusals,
    iso_approved: lt.iso_approved,
    iso_recorded: iso_row!.n,
    iso_doubled: iso_row!.d,
  };
}
type Ledger = Awaited<ReturnType<typeof checkLedger>>;

/** What the Redis memory per contact is made of. */
async function memoryMakeup(redis: RedisClient, seeded: Seeded) {
  const sample = 200;
  return {
    before_bytes: seeded.memory_before,
    after_bytes: seeded.memory_after,
    per_contact_bytes: seeded.memory_per_contact,
    keys_per_contact: 'a contact hash c:{s<n>}:<id> (business, profile: birthday, tags; balances once it buys) and four CIM index entries (card, phone, wallet code, contact code) in the buckets i:<n>, small hashes of token bits → contact id bytes',
    sample_after_seed: seeded.memory_after_seed,
    sample_after_runs: {
      contact_hash: await memoryOfKeys(redis, 'c:{s*', sample),
      cim_index: await memoryOfKeys(redis, 'i:*', sample),
      lots_hash: await memoryOfKeys(redis, 'l:{s*', sample),
      caps_hash: await memoryOfKeys(redis, 'k:{s*', sample),
      transaction_record: await memoryOfKeys(redis, 't:{s*', sample),
      reference_claim: await memoryOfKeys(redis, 'r:*', sample),
    },
    redis_info: Object.fromEntries(
      (await redis.info('memory')).split('\r\n').filter((l) => /^(used_memory|used_memory_dataset|used_memory_overhead|mem_allocator|allocator_frag_ratio):/.test(l)).map((l) => l.split(':') as [string, string]),
    ),
  };
}
type Memory = Awaited<ReturnType<typeof memoryMakeup>>;

/**
 * Redis memory per transaction: purchases at maximum rate between two readings of
 * used_memory, each once the ledger holds everything and the writer has trimmed the streams.
 */
async function memoryPurchases(lt: LoadTest): Promise<PerTransaction> {
  const { sql } = lt;
  const { business_id } = lt.business;
  const per_transaction = await memoryPerTransaction({
    redis: lt.redis,
    settle: (limit_ms) => settle(lt, limit_ms),
    url: `${lt.servers.gateway.url}/v1/purchases`,
    headers: lt.business.terminal_headers,
    n: memory_purchases,
    body: (ctx: Record<string, any>) => lt.traffic.purchaseBody(ctx, 'M'),
    warmup: { contacts: contacts_n, body: warmupBody() },
    recorded: async () => (await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where business_id = ${business_id}`)[0]!.n,
  });
  say(
    `memory: ${per_transaction.purchases} purchases in ${per_transaction.elapsed_s.toFixed(1)} s (${per_transaction.rps} purchases/s; ledger caught up ${per_transaction.catchup_s.toFixed(1)} s after), ` +
      `${per_transaction.recorded} recorded; Redis used_memory +${(per_transaction.delta_bytes / 2 ** 20).toFixed(1)} MiB = ${per_transaction.bytes} bytes per transaction (goal ≤ ${limits.redis_bytes_per_transaction})`,
  );
  say(`  by family (MEMORY USAGE, bytes per transaction): ${byFamily(per_transaction.by_family)}`);
  const w = per_transaction.warmup;
  if (w !== undefined) {
    say(`  before it, the warm-up: ${w.purchases} purchases (${w.non2xx} not 2xx), one by each of ${w.contacts} contacts, left ${w.bytes_per_contact} bytes per contact; by family (bytes per contact): ${byFamily(w.by_family)}`);
  }
  return per_transaction;
}

function byFamily(rows: readonly { family: string; keys: number; bytes: number }[]): string {
  return rows.map((f) => `${f.family} ${f.bytes} (${f.keys >= 0 ? '+' : ''}${f.keys} keys)`).join(', ');
}

/**
 * The warm-up's purchases: contact 0, 1, 2, … in turn, each with a basket of at least 100.00,
 * above every seeded offer's minimum (population.ts: the big baskets' 50.00 to 90.00), so that
 * each makes what a contact's purchases make once (its capped awards' counters, its lots).
 */
function warmupBody(): (ctx: Record<string, any>) => string {
  let next = 0;
  return () => {
    const c = next++ % contacts_n;
    const b = basketOfAtLeast(10_000);
    return `{"reference":"${run_id}-W${c}","cim":{"type":"card","value":"${card(c)}"},"amount":${b.amount},"currency":"EUR","items":${b.items}}`;
  };
}

/** What the phases measured, for the summary, the targets and the report. */
interface Outcome {
  readonly seeded: Seeded;
  readonly empty_rps: number;
  readonly fixed: FixedRuns;
  readonly catchup: Catchup;
  readonly ledger: Ledger;
  readonly memory: Memory;
  readonly per_transaction: PerTransaction | undefined;
}

/** The median CPU per request of a target's measured runs. */
function cpuOf(runs: readonly Run[], target: string) {
  const rs = runs.filter((r) => r.target === target && r.cpu_us_per_request !== undefined);
  if (rs.length === 0) return undefined;
  const pg = rs.map((r) => r.cpu_us_per_request!.postgres);
  return { server: median(rs.map((r) => r.cpu_us_per_request!.server)), redis: median(rs.map((r) => r.cpu_us_per_request!.redis)), postgres: pg.includes(null) ? null : median(pg as number[]), runs: rs.length };
}

function summarise(runs: readonly Run[], o: Outcome) {
  const { empty_rps } = o;
  const { fixed_rate, fixed_purchase, fixed_sync, fixed_empty, own_half, fixed_own, fixed_own_empty } = o.fixed;
  const purchase_rps = medianOf(runs, 'purchase', (r) => r.rps);
  const sync_rps = medianOf(runs, 'purchase sync', (r) => r.rps);
  return {
    empty_rps,
    purchase_rps,
    purchase_ratio: r2(purchase_rps / empty_rps),
    purchase_p99_ms: medianOf(runs, 'purchase', (r) => r.p99_ms),
    sync_rps,
    sync_p99_ms: medianOf(runs, 'purchase sync', (r) => r.p99_ms),
    async_over_sync: sync_rps > 0 ? r2(purchase_rps / sync_rps) : null,
    spend_rps: medianOf(runs, 'spend', (r) => r.rps),
    spend_ratio: r2(medianOf(runs, 'spend', (r) => r.rps) / empty_rps),
    redemption_rps: medianOf(runs, 'redemption', (r) => r.rps),
    redemption_ratio: r2(medianOf(runs, 'redemption', (r) => r.rps) / empty_rps),
    mixed_rps: medianOf(runs, 'mixed', (r) => r.rps),
    iso_rps: medianOf(runs, 'iso', (r) => r.rps),
    iso_ratio: r2(medianOf(runs, 'iso', (r) => r.rps) / empty_rps),
    fixed_rate,
    fixed_purchase_p99_ms: fixed_purchase?.p99_ms ?? null,
    fixed_sync_p99_ms: fixed_sync?.p99_ms ?? null,
    fixed_empty_p99_ms: fixed_empty.p99_ms,
    half_own_max_rate: own_half,
    half_own_max_p99_ms: fixed_own?.p99_ms ?? null,
    half_own_max_achieved_rps: fixed_own?.rps ?? null,
    half_own_max_empty_p99_ms: fixed_own_empty?.p99_ms ?? null,
    floor_rps: medianOf(runs, 'floor', (r) => r.rps),
    floor_ratio: r2(medianOf(runs, 'floor', (r) => r.rps) / empty_rps),
    half_own_max_floor_p99_ms: o.fixed.floor_own?.p99_ms ?? null,
    ledger_max_behind_s: o.catchup.catchup?.ledger_behind?.max_behind_s ?? null,
    ledger_catchup_s: o.catchup.catchup_ms / 1000,
    cpu_us_per_request: Object.fromEntries([...new Set(runs.filter((r) => r.cpu_us_per_request !== undefined).map((r) => r.target))].map((t) => [t, cpuOf(runs, t)])),
    memory_per_contact_bytes: o.seeded.memory_per_contact,
    memory_per_transaction_bytes: o.per_transaction?.bytes ?? null,
  };
}
type Summary = ReturnType<typeof summarise>;

/** The figures the targets judge: only those of the targets this run measured. */
function figuresOf(runs: readonly Run[], o: Outcome, summary: Summary): Figures {
  const { empty_rps, ledger, per_transaction } = o;
  const { catchup, catchup_ms, backlog_at_stop } = o.catchup;
  const { own_half, fixed_own, fixed_own_empty } = o.fixed;
  const { purchase_rps, sync_rps } = summary;
  const has = (target: string) => runs.some((r) => r.target === target && r.round > 0);
  const purchase_cpu = cpuOf(runs, 'purchase');
  const floor_cpu = o.fixed.floor_at_purchase?.cpu_us_per_request;
  return {
    empty_rps,
    ...(has('floor')
      ? {
          floor: {
            rps: medianOf(runs, 'floor', (r) => r.rps),
            cpu_us: floor_cpu === undefined || floor_cpu.postgres === null ? null : floor_cpu.server + floor_cpu.redis + floor_cpu.postgres,
            p99_ms_at_half_own_max: o.fixed.floor_own?.p99_ms ?? null,
          },
        }
      : {}),
    ...(has('purchase') ? { purchase_rps } : {}),
    ...(has('spend') ? { spend_rps: summary.spend_rps } : {}),
    ...(has('redemption') ? { redemption_rps: summary.redemption_rps } : {}),
    ...(has('iso') ? { iso_rps: summary.iso_rps } : {}),
    ...(catchup?.ledger_behind === undefined
      ? {}
      : { ledger_behind: { max_s: catchup.ledger_behind.max_behind_s, samples: catchup.ledger_behind.samples, interval_ms: catchup.ledger_behind.interval_ms, run: `purchase long, ${catchup_duration} s` } }),
    ...(catchup === undefined
      ? {}
      : { ledger_catchup: { seconds: catchup_ms / 1000, entries_at_stop: backlog_at_stop, lost: ledger.lost, doubled: ledger.doubled + ledger.iso_doubled, iso_missing: Math.max(0, ledger.iso_approved - ledger.iso_recorded), after: `the ${catchup_duration} s run` } }),
    ...(purchase_cpu === undefined ? {} : { cpu_per_purchase_us: { gateway: purchase_cpu.server, redis: purchase_cpu.redis, postgres: purchase_cpu.postgres, runs: purchase_cpu.runs } }),
    ...(fixed_own === undefined ? {} : { half_own_max: { rate: own_half, achieved_rps: fixed_own.rps, p99_ms: fixed_own.p99_ms, empty_p99_ms: fixed_own_empty?.p99_ms ?? null, ...(fixed_own.tail === undefined ? {} : { tail: briefTailCauses(fixed_own.tail) }) } }),
    ...(has('purchase sync') ? { sync: { async_rps: purchase_rps, sync_rps, async_p99_ms: summary.purchase_p99_ms, sync_p99_ms: summary.sync_p99_ms } } : {}),
    redis_bytes_per_contact: { bytes: o.seeded.memory_per_contact, contacts: contacts_n },
    ...(per_transaction === undefined ? {} : { redis_bytes_per_transaction: per_transaction }),
  };
}

/** loadtest/reports/<timestamp>.json and .html; their paths. */
function writeReport(runs: readonly Run[], o: Outcome, summary: Summary, targets: TargetRow[], started: number): { json_file: string; html_file: string } {
  const report = {
    date: new Date().toISOString(),
    run_id,
    command: `npm run loadtest -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, memory_gib: Math.round(totalmem() / 2 ** 30), loadavg_at_end: loadavg().map(r2), node: process.version },
    settings: { contacts: contacts_n, offers: offers_n, connections, duration_s: duration, rounds, scenarios, catchup_duration_s: catchup_duration, iso_connections, fixed_rate: o.fixed.fixed_rate, memory_purchases, shards: shard_count },
    seed_ms: o.seeded.seed_ms,
    memory: { ...o.memory, per_transaction: o.per_transaction ?? null },
    summary,
    limits,
    targets,
    ledger_behind_method:
      "every 250 ms during each gateway run, over every shard's journal stream j:{s<n>}: the oldest of the consumer group 'ledger''s smallest pending id (XPENDING: delivered, not yet acknowledged, which the writer does after the PostgreSQL commit) and the first entry after its last-delivered-id (XINFO GROUPS, XRANGE); its age = Redis TIME (read after) − the id's ms",
    ledger: o.ledger,
    runs,
    wall_s: Math.round((Date.now() - started) / 1000),
  };
  const dir = join(repo_root, 'loadtest', 'reports');
  mkdirSync(dir, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, '-');
  const json_file = join(dir, `${stamp}.json`);
  const html_file = join(dir, `${stamp}.html`);
  writeFileSync(json_file, JSON.stringify(report, null, 2));
  writeFileSync(html_file, renderHtml(report));
  return { json_file, html_file };
}

/** The console's end: the runs' table, the targets table, where the report is. */
function printEnd(runs: readonly Run[], empty_rps: number, targets: TargetRow[], files: { json_file: string; html_file: string }): void {
  say('');
  say(table(runs, empty_rps));
  say('');
  const count = tally(targets);
  say(`targets (${count.met} met, ${count['not met']} not met${count['not measured'] > 0 ? `, ${count['not measured']} not measured` : ''}):`);
  say(formatTargets(targets));
  say('');
  say(`report: ${files.json_file}`);
  say(`        ${files.html_file}`);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  say(`pocketgate load test ${run_id}: ${contacts_n} contacts, ${offers_n} offers, ${connections} connections, ${duration} s per run, ${rounds} rounds, scenarios ${scenarios.join(',')}`);
  const children: Child[] = [];
  const sql = postgres(database_url!, { max: 2, onnotice: () => {} });
  const redis = await connectRedis(redis_url!);
  // PostgreSQL's CPU is read from /proc: undefined when the server runs on another machine.
  const postmaster = await postmasterPid(sql);
  try {
    const servers = await startServers(children);
    const business = await createBusiness(servers.gateway);
    const seeded = await seedContacts(redis, sql, servers.gateway, business);
    const traffic = new Traffic(seeded.wallet_code);
    await fundContacts(servers.gateway, business, traffic);
    const { gateway, sync, empty } = servers;
    const lt: LoadTest = {
      redis,
      sql,
      postmaster,
      servers,
      pids: { empty: empty.process.pid, sync: sync.process.pid, gateway: gateway.process.pid },
      business,
      traffic,
      cards: Array.from({ length: contacts_n }, (_, i) => card(i)),
      runs: [],
      iso_approved: 0,
    };
    await maxRateRounds(lt);
    const empty_rps = medianOf(lt.runs, 'empty', (r) => r.rps);
    const fixed = await fixedRateRuns(lt, empty_rps);
    const catchup = await ledgerCatchup(lt);
    const ledger = await checkLedger(lt, catchup);
    const memory = await memoryMakeup(redis, seeded);
    const per_transaction = memory_purchases > 0 ? await memoryPurchases(lt) : undefined;
    const outcome: Outcome = { seeded, empty_rps, fixed, catchup, ledger, memory, per_transaction };
    const summary = summarise(lt.runs, outcome);
    const targets = judgeTargets(figuresOf(lt.runs, outcome, summary), 'not measured (left out of this run)');
    const files = writeReport(lt.runs, outcome, summary, targets, started);
    printEnd(lt.runs, empty_rps, targets, files);
  } finally {
    if (tty) bar.stop();
    await sql.end();
    await redis.close().catch(() => {});
    for (const c of children.reverse()) await c.stop();
  }
}

/** The medians per target, with ratios to the empty route. */
export function table(runs: readonly Run[], empty_rps: number): string {
  const targets = [...new Set(runs.map((r) => r.target))];
  const head = ['target', 'runs', 'req/s (median)', 'vs empty', 'p50 ms', 'p90 ms', 'p99 ms', '2xx', 'non-2xx', 'CPU µs/req server+Redis+PG', 'ledger behind max s'];
  const rows = targets.map((t) => {
    const rs = runs.filter((r) => r.target === t);
    const rps = median(rs.map((r) => r.rps));
    const fmt = (x: number) => (Number.isNaN(x) ? '-' : String(r2(x)));
    return [
      t + (rs[0]!.rate !== null ? ` (${rs[0]!.rate}/s)` : ''),
      String(rs.length),
      String(Math.round(rps)),
      empty_rps > 0 ? `${Math.round((100 * rps) / empty_rps)}%` : '-',
      fmt(median(rs.map((r) => r.p50_ms))),
      fmt(median(rs.map((r) => r.p90_ms))),
      fmt(median(rs.map((r) => r.p99_ms))),
      String(rs.reduce((s, r) => s + r.ok, 0)),
      String(rs.reduce((s, r) => s + r.non2xx + r.errors + r.timeouts, 0)),
      rs.some((r) => r.cpu_us_per_request !== undefined)
        ? `${median(rs.map((r) => r.cpu_us_per_request?.server ?? NaN))}+${median(rs.map((r) => r.cpu_us_per_request?.redis ?? NaN))}+${rs.some((r) => r.cpu_us_per_request?.postgres == null) ? '-' : median(rs.map((r) => r.cpu_us_per_request!.postgres!))}`
        : '-',
      rs.some((r) => r.ledger_behind !== undefined) ? fmt(Math.max(...rs.map((r) => r.ledger_behind?.max_behind_s ?? 0))) : '-',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmtRow = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [fmtRow(head), `|${widths.map((w, i) => (i === 0 ? ':' : '') + '-'.repeat(w + 1 - (i === 0 ? 1 : 0)) + (i === 0 ? '-' : ':')).join('|')}|`, ...rows.map(fmtRow)].join('\n');
}

await main();
