// `npm run profile -- [options]`: where a purchase's time goes, and what a change did to it.
// Seeds a population, runs purchases (or spends) at maximum rate, and prints throughput, the
// gateway's CPU per request, Redis's CPU and commands per request; then runs the same load on a
// gateway started with `node --cpu-prof` and prints the profile by area and by function. The
// .cpuprofile is kept next to the summary (a flame graph in Chrome DevTools or speedscope).
//
// --baseline <dir> compares with another checkout (`git worktree add /tmp/before <commit>`),
// --baseline-env K=V,K=V with this checkout under other settings (GATEWAY_PROCESSES=2, say), or
// both: each seeds its own business on the same Redis and PostgreSQL, and their runs alternate
// A B A B, so the ratios hold on a noisy machine. --baseline-offers <n> gives the baseline's
// business n offers instead of --offers (0: what a purchase costs without any).
//
// Options: --contacts 10000 --offers 20 --connections 32 --duration 10 --rounds 2
// --scenario purchase|spend|refund|redemption|iso|budget-end --baseline <dir> --baseline-env K=V,... --baseline-offers <n> --no-profile
// --rate <req/s> (a fixed arrival rate: latency at a given load instead of maximum throughput)
// --heap (then the same load on a gateway under V8's sampling heap profiler: bytes allocated per
// request by function and by our own code on the stack, freed objects included)

import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { connectRedis, type RedisClient } from '../processor/stores.ts';
import { cpuMs, median, redisCpuMs } from './measure.ts';
import { formatShares, summariseProfile, type CpuProfile } from './cpu-profile.ts';
import { formatTailCauses, withTailWatch, type TailCauses } from './tail-watch.ts';
import { formatHeapShares, inspectFlag, startHeapSampling, summariseHeapProfile, type HeapSummary } from './heap-profile.ts';
import { api, basket, card, importContacts, offerDefinitions } from './population.ts';
import { repo_root, startChild, type Child } from './processes.ts';
import { runIsoLoad } from './iso-load.ts';

const { values: opt } = parseArgs({
  options: {
    contacts: { type: 'string', default: '10000' },
    offers: { type: 'string', default: '20' },
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    scenario: { type: 'string', default: 'purchase' },
    baseline: { type: 'string' },
    'baseline-env': { type: 'string' },
    'baseline-offers': { type: 'string' },
    'no-profile': { type: 'boolean', default: false },
    rate: { type: 'string' },
    heap: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  console.log(`npm run profile -- [options]

  --contacts 10000 --offers 20 --connections 32 --duration 10 --rounds 2
  --scenario purchase|spend|refund|redemption|iso|budget-end  refund: partial refunds (1%) of the seeded purchases; redemption: 1 of a contact's commerce balance; iso: ISO 8583 0200 purchases over 8 TCP links, 4 in flight each; budget-end: purchases at the end of a budget the seeded purchases spent, one request in ten a reversal of one of those (each giving some back)
  --baseline <dir>          another checkout, run alternately with this one (A B A B): ratios
  --baseline-env K=V,...    this checkout under other settings, alternately
  --baseline-offers <n>     the baseline's business with n offers instead of --offers
  --no-profile              skip the CPU profile run
  --rate <req/s>            a fixed arrival rate: latency at a given load
  --heap                    the same load under V8's sampling heap profiler`);
  process.exit(0);
}
const contacts_n = Number(opt.contacts);
const duration_s = Number(opt.duration);
const connections = Number(opt.connections);
const rounds = Number(opt.rounds);
if (!(contacts_n >= 1 && duration_s >= 1 && connections >= 1)) throw new Error('--contacts, --duration and --connections must be positive numbers');
if (!['purchase', 'spend', 'refund', 'redemption', 'iso', 'budget-end'].includes(opt.scenario!)) throw new Error('--scenario is purchase, spend, refund, redemption, iso or budget-end');
for (const n of [opt.offers, opt['baseline-offers'] ?? '0']) if (!/^\d+$/.test(n)) throw new Error('--offers and --baseline-offers are whole numbers');
const redis_url = process.env.REDIS_URL;
const database_url = process.env.DATABASE_URL;
if (redis_url === undefined || database_url === undefined) throw new Error('run through `npm run profile`, which starts Redis and PostgreSQL');

const say = (line: string) => process.stdout.write(line + '\n');
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const dir = join(repo_root, 'loadtest', 'reports', `profile-${stamp}`);

/** CPU ms of this PostgreSQL server's processes, by kind (client backend, walwriter, checkpointer, …). */
async function postgresCpuMs(sql: postgres.Sql): Promise<Map<string, number>> {
  // Only this server's: another PostgreSQL on the machine is none of this measurement's business.
  const rows = await sql<{ pid: number; kind: string }[]>`select pid, coalesce(backend_type, '') as kind from pg_stat_activity`;
  const out = new Map<string, number>();
  for (const { pid, kind } of rows) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(`${pid} ${kind}`, ((Number(fields[11]) + Number(fields[12])) * 1000) / 100);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** What each kind of PostgreSQL process spent between two readings, µs per request. */
function postgresDelta(before: Map<string, number>, after: Map<string, number>, n: number): Record<string, number> {
  const by_kind: Record<string, number> = {};
  for (const [key, ms] of after) {
    const kind = key.slice(key.indexOf(' ') + 1);
    by_kind[kind] = (by_kind[kind] ?? 0) + ((ms - (before.get(key) ?? 0)) * 1000) / n;
  }
  for (const k of Object.keys(by_kind)) by_kind[k] = Math.round(by_kind[k]!);
  return by_kind;
}

/** CPU ms the whole machine spent busy (all cores; other sessions' work included). */
function machineBusyMs(): number {
  const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = f.map(Number) as number[];
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / 100;
}

/** Read and write system calls so far (reads and writes on sockets included), from /proc. */
function syscalls(pid: number | undefined): { r: number; w: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return { r: Number(/syscr: (\d+)/.exec(io)![1]), w: Number(/syscw: (\d+)/.exec(io)![1]) };
}

/** Redis's command statistics: calls and µs by command. */
async function commandStats(redis: RedisClient): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of (await redis.info('commandstats')).split('\r\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m !== null) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}


interface Variant {
  readonly name: string;
  readonly root: string;
  readonly port: number;
  readonly env: Record<string, string>;
  /** How many of the loadtest's offers (population.ts offerDefinitions) its business has. */
  readonly offers: number;
  gateway: Child;
  terminal_key: string;
  wallet_codes: string[];
  /** The ISO scenario's terminal codes (DE41) and acquirer (DE32). */
  iso_terminals: string[];
  acquirer_id: string;
  readonly runs: Measured[];
}

interface Measured {
  readonly rps: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly non2xx: number;
  readonly gateway_us: number;
  readonly redis_us: number;
  /** Of redis_us, the share spent in the kernel. */
  readonly redis_sys_us: number;
  /** PostgreSQL's CPU (the ledger writer's inserts), this load generator's, and the machine's in all. */
  readonly postgres_us: number;
  readonly postgres_by_kind: Record<string, number>;
  readonly loadgen_us: number;
  readonly machine_us: number;
  readonly reads_per_request: number;
  readonly writes_per_request: number;
  readonly commands: { name: string; calls_per_request: number; us_per_request: number; us_per_call: number }[];
  /** Per request: bytes Redis read and wrote on its connections, and appended to its AOF. */
  readonly redis_bytes: { in: number; out: number; aof: number };
  /** Redis's own stalls and AOF rewrites, the gateway's event-loop delay and GC pauses, during the run. */
  readonly tail: TailCauses;
}

const platform_key = `pk_prof_${randomBytes(8).toString('hex')}`;
const run_id = randomBytes(3).toString('hex');
const env = { REDIS_URL: redis_url!, DATABASE_URL: database_url!, PLATFORM_API_KEY: platform_key, CIM_HMAC_KEY: 'profile-hmac-key', LOG_LEVEL: 'warn', ISO8583_PORT: '0' };
let seq = 0;

/** What `measure` reads of a run: autocannon's result, or the ISO load's in its shape. */
type LoadResult = Pick<autocannon.Result, '2xx' | 'non2xx'> & { requests: { average: number; total: number }; latency: { p50: number; p90: number; p99: number } };

/** The budget-end scenario's offer: 3% of every purchase, its budget spent to the last unit by the seeded ones (5,000 each: 150). */
const budget_end_percent = 3;
/** The seeded purchases the budget-end scenario has reversed so far in each variant's store (each once). */
const budget_end_reversed = new Map<string, number>();

/** A request of the budget-end scenario: nine purchases in ten, and a reversal of a seeded purchase (its award's budget given back). */
function budgetEndRequest(v: Variant, req: { path?: string; body?: string }, purchase: () => string): { path?: string; body?: string } {
  const reversed = budget_end_reversed.get(v.name) ?? 0;
  if (Math.random() >= 0.1 || reversed >= contacts_n) return { ...req, path: '/v1/purchases', body: purchase() };
  budget_end_reversed.set(v.name, reversed + 1);
  return { ...req, path: '/v1/reversals', body: `{"reference":"${run_id}-${++seq}","original_reference":"fund-${run_id}-${reversed}"}` };
}

function load(v: Variant, seconds: number): Promise<LoadResult> {
  if (opt.scenario === 'iso') return isoLoad(v, seconds);
  const body =
    opt.scenario === 'purchase' || opt.scenario === 'budget-end'
      ? () => {
          const b = basket();
          return `{"reference":"${run_id}-${++seq}","cim":{"type":"card","value":"${card((Math.random() * contacts_n) | 0)}"},"amount":${b.amount},"currency":"EUR","items":${b.items}}`;
        }
      : opt.scenario === 'refund'
        ? // 1% of a seeded purchase of 5,000 (its award clawed back in proportion): a hundred refunds each before none is left.
          () => `{"reference":"${run_id}-${++seq}","original_reference":"fund-${run_id}-${(Math.random() * contacts_n) | 0}","amount":50}`
        : opt.scenario === 'redemption'
          ? // 1 of the commerce balance the seeded purchase's awards gave (a few hundred each).
            () => `{"reference":"${run_id}-${++seq}","cim":{"type":"card","value":"${card((Math.random() * contacts_n) | 0)}"},"amount":1}`
          : () => `{"reference":"${run_id}-${++seq}","amount":1,"currency":"EUR","wallet_code":"${v.wallet_codes[(Math.random() * v.wallet_codes.length) | 0]}"}`;
  return new Promise((resolve, reject) =>
    autocannon(
      {
        url: `${v.gateway.url}/v1/${{ purchase: 'purchases', 'budget-end': 'purchases', refund: 'refunds', redemption: 'redemptions' }[opt.scenario as string] ?? 'spends'}`,
        method: 'POST',
        connections,
        duration: seconds,
        ...(opt.rate === undefined ? {} : { overallRate: Number(opt.rate) }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${v.terminal_key}` },
        requests: [{ setupRequest: (req: any) => (opt.scenario === 'budget-end' ? budgetEndRequest(v, req, body) : ((req.body = body()), req)) }],
      },
      (err: Error | null, r: autocannon.Result) => (err ? reject(err) : resolve(r)),
    ),
  );
}

/** ISO 8583 links: 8 connections, 4 messages in flight each, as the loadtest's ISO run. */
const iso_links = 8;

async function isoLoad(v: Variant, seconds: number): Promise<LoadResult> {
  const r = await runIsoLoad({ port: v.port + iso_port_offset, connections: iso_links, in_flight: 4, seconds, acquirer_id: v.acquirer_id, merchant_code: '', terminal_codes: v.iso_terminals, cards: iso_cards });
  return { '2xx': r.approved, non2xx: r.declined + r.errors, requests: { average: r.rps, total: r.approved + r.declined + r.errors }, latency: { p50: r.p50_ms, p90: r.p90_ms, p99: r.p99_ms } };
}

/** Each variant's ISO 8583 port: its HTTP port plus this. */
const iso_port_offset = 300;
const iso_cards = Array.from({ length: contacts_n }, (_, i) => card(i));

/** The gateway's ISO 8583 listener, for the iso scenario only (otherwise off, as in `env`). */
function isoPort(http_port: number): Record<string, string> {
  return opt.scenario === 'iso' ? { ISO8583_PORT: String(http_port + iso_port_offset) } : {};
}

async function seedIso(v: Variant, url: string, admin: string, venue_id: string): Promise<void> {
  for (let i = 1; i <= iso_links; i++) {
    const code = `ISO${String(i).padStart(5, '0')}`;
    await api(url, admin, 'POST', '/v1/terminals', { venue_id, code });
    v.iso_terminals.push(code);
  }
  v.acquirer_id = String(100_000 + Math.floor(Math.random() * 899_999));
  await api(url, admin, 'POST', '/v1/iso8583/links', { acquirer_id: v.acquirer_id });
}

async function seed(v: Variant, sql: postgres.Sql): Promise<void> {
  const url = v.gateway.url;
  const business = await api(url, platform_key, 'POST', '/v1/businesses', { name: `Profile ${v.name}`, currency: 'EUR' });
  const admin = business.admin_key as string;
  const venue = await api(url, admin, 'POST', '/v1/venues', { name: 'Profile venue' });
  const terminal = await api(url, admin, 'POST', '/v1/terminals', { venue_id: venue.id, code: 'PROF0001' });
  v.terminal_key = terminal.api_key as string;
  if (opt.scenario === 'iso') await seedIso(v, url, admin, venue.id as string);
  for (const o of offerDefinitions(v.offers)) await api(url, admin, 'POST', '/v1/offers', o);
  if (opt.scenario === 'budget-end') await api(url, admin, 'POST', '/v1/offers', { name: 'Budget end', goal: 'spend', award: { percent: budget_end_percent }, limits: { budget: ((5_000 * budget_end_percent) / 100) * contacts_n } });
  await importContacts(url, admin, contacts_n, () => {});
  v.wallet_codes = (await sql<{ wallet_code: string }[]>`select wallet_code from contacts where business_id = ${business.id as string}`).map((r) => r.wallet_code);
  // A purchase for every contact first: money to spend, and the contact's first purchase is
  // behind it (a steady state, not a population of newcomers).
  let i = 0;
  await new Promise((resolve, reject) =>
    autocannon(
      {
        url: `${url}/v1/purchases`, method: 'POST', connections, amount: contacts_n,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${v.terminal_key}` },
        requests: [{ setupRequest: (req: any) => ((req.body = `{"reference":"fund-${run_id}-${i}","cim":{"type":"card","value":"${card(i++ % contacts_n)}"},"amount":5000,"currency":"EUR"}`), req) }],
      },
      (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r)),
    ),
  );
}

async function measure(v: Variant, redis: RedisClient, sql: postgres.Sql): Promise<Measured> {
  const stats0 = await commandStats(redis);
  const redis0 = await redisCpuMs(redis);
  const bytes0 = await redisBytes(redis);
  const cpu0 = cpuMs(v.gateway.process.pid);
  const io0 = syscalls(v.gateway.process.pid);
  const pg0 = await postgresCpuMs(sql);
  const machine0 = machineBusyMs();
  const self0 = process.cpuUsage();
  const { result, tail } = await withTailWatch(redis, v.gateway.url, () => load(v, duration_s));
  const self = process.cpuUsage(self0);
  const machine_ms = machineBusyMs() - machine0;
  const pg1 = await postgresCpuMs(sql);
  const io1 = syscalls(v.gateway.process.pid);
  const n = Math.max(1, result['2xx'] + result.non2xx);
  const gateway_us = Math.round(((cpuMs(v.gateway.process.pid) - cpu0) * 1000) / n);
  const redis1 = await redisCpuMs(redis);
  const redis_us = Math.round(((redis1.sys + redis1.user - redis0.sys - redis0.user) * 1000) / n);
  const redis_sys_us = Math.round(((redis1.sys - redis0.sys) * 1000) / n);
  const stats1 = await commandStats(redis);
  const bytes1 = await redisBytes(redis);
  const redis_bytes = { in: Math.round((bytes1.in - bytes0.in) / n), out: Math.round((bytes1.out - bytes0.out) / n), aof: Math.round((bytes1.aof - bytes0.aof) / n) };
  const commands = [...stats1]
    .map(([name, s]) => {
      const b = stats0.get(name) ?? { calls: 0, usec: 0 };
      const calls = s.calls - b.calls;
      return { name, calls_per_request: Math.round((calls / n) * 100) / 100, us_per_request: Math.round(((s.usec - b.usec) / n) * 10) / 10, us_per_call: calls === 0 ? 0 : Math.round(((s.usec - b.usec) / calls) * 10) / 10 };
    })
    .filter((c) => c.calls_per_request > 0)
    .sort((a, b) => b.us_per_request - a.us_per_request);
  const per = (x: number) => Math.round((x / n) * 100) / 100;
  const postgres_by_kind = postgresDelta(pg0, pg1, n);
  const postgres_us = Object.values(postgres_by_kind).reduce((a, b) => a + b, 0);
  return { rps: Math.round(result.requests.average), p50_ms: result.latency.p50, p90_ms: result.latency.p90, p99_ms: result.latency.p99, non2xx: result.non2xx, gateway_us, redis_us, redis_sys_us, postgres_us, postgres_by_kind, loadgen_us: Math.round((self.user + self.system) / n), machine_us: Math.round((machine_ms * 1000) / n), reads_per_request: per(io1.r - io0.r), writes_per_request: per(io1.w - io0.w), commands, redis_bytes, tail };
}

/** Bytes Redis has read from and written to its clients, and the size of its append-only file. */
async function redisBytes(redis: RedisClient): Promise<{ in: number; out: number; aof: number }> {
  const info = await redis.info();
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { in: field('total_net_input_bytes'), out: field('total_net_output_bytes'), aof: field('aof_current_size') };
}


/** A fresh database and Redis database 1 for the baseline checkout. */
async function ownStores(sql: postgres.Sql): Promise<Record<string, string>> {
  const url = new URL(database_url!);
  const name = `${url.pathname.slice(1)}_baseline`;
  await sql.unsafe(`drop database if exists ${name}`);
  await sql.unsafe(`create database ${name}`);
  url.pathname = `/${name}`;
  const redis_db = new URL(redis_url!);
  redis_db.pathname = '/1';
  const other = await connectRedis(redis_db.toString());
  await other.flushDb();
  await other.close();
  return { DATABASE_URL: url.toString(), REDIS_URL: redis_db.toString() };
}

/** The same load on this checkout's gateway under the sampling heap profiler (slower: not comparable). */
async function heapProfile(me: Variant): Promise<HeapSummary & { bytes_per_request: number }> {
  await me.gateway.stop();
  const inspect_port = me.port + 1_000;
  me.gateway = await startChild('gateway/main.ts', me.port, { ...env, ...isoPort(me.port) }, { node_args: [inspectFlag(inspect_port)] });
  await load(me, 2);
  const sampling = await startHeapSampling(inspect_port);
  let result: LoadResult;
  try {
    result = await load(me, duration_s);
  } catch (err) {
    sampling.close();
    throw err;
  }
  const heap = await sampling.stop();
  writeFileSync(join(dir, 'gateway.heapprofile'), JSON.stringify(heap));
  const summary = summariseHeapProfile(heap, 30);
  const bytes_per_request = Math.round(summary.total_bytes / result.requests.total);
  say(`\nheap: ${Math.round(summary.total_bytes / 1024 / 1024)} MB allocated in the gateway process (sampled, freed objects included) over ${result.requests.total} requests: ${Math.round(bytes_per_request / 1024)} KB per request`);
  say(formatHeapShares('\nallocated by function:', summary.functions));
  say(formatHeapShares('\nallocated under our innermost function on the stack:', summary.ours));
  say(`\n${join(dir, 'gateway.heapprofile')} (Chrome DevTools, Memory tab)`);
  return { ...summary, bytes_per_request };
}

/** This checkout, and the baseline when --baseline or --baseline-env asks for one. */
async function variantSpecs(sql: postgres.Sql): Promise<{ name: string; root: string; port: number; env: Record<string, string>; offers: number }[]> {
  const baseline_env = Object.fromEntries((opt['baseline-env'] ?? '').split(',').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const with_baseline = opt.baseline !== undefined || Object.keys(baseline_env).length > 0 || opt['baseline-offers'] !== undefined;
  // Another checkout gets stores of its own (a database and a Redis database): its migrations
  // and ledger are not this one's (since migration 007 the two ledgers differ in shape).
  const own_stores = opt.baseline !== undefined ? await ownStores(sql) : {};
  return [
    { name: 'this', root: repo_root, port: 18_290, env: {}, offers: Number(opt.offers) },
    ...(with_baseline ? [{ name: 'baseline', root: opt.baseline ?? repo_root, port: 18_291, env: { ...own_stores, ...baseline_env }, offers: Number(opt['baseline-offers'] ?? opt.offers) }] : []),
  ];
}

/** Each variant's gateway started and seeded, pushed onto `variants` as soon as it runs (main() stops them). */
async function startVariants(sql: postgres.Sql, variants: Variant[]): Promise<void> {
  for (const s of await variantSpecs(sql)) {
    // One at a time: the first runs the migrations before the next one starts.
    const gateway = await startChild('gateway/main.ts', s.port, { ...env, ...s.env, ...isoPort(s.port) }, { root: s.root });
    const v: Variant = { ...s, gateway, terminal_key: '', wallet_codes: [], iso_terminals: [], acquirer_id: '', runs: [] };
    variants.push(v);
    // Its contacts are in its own database when it has one.
    const own_db = s.env.DATABASE_URL;
    const seed_sql = own_db === undefined ? sql : postgres(own_db, { max: 1, onnotice: () => {} });
    try {
      await seed(v, seed_sql);
    } catch (err) {
      throw new Error(`seeding ${v.name}: ${(err as Error).message}\n${gateway.output()}`);
    } finally {
      if (seed_sql !== sql) await seed_sql.end({ timeout: 5 });
    }
    say(`${v.name} (${v.root}${Object.keys(v.env).length > 0 ? ` ${JSON.stringify(v.env)}` : ''}): seeded ${v.offers} offers, ${contacts_n} contacts and a purchase each`);
  }
}

/** The variants' runs alternate, round after round. */
async function measureRounds(variants: readonly Variant[], redis: RedisClient, sql: postgres.Sql): Promise<void> {
  for (const v of variants) await load(v, 2); // warm the JIT and the caches
  for (let round = 1; round <= rounds; round++) {
    for (const v of variants) {
      const m = await measure(v, redis, sql);
      v.runs.push(m);
      say(`round ${round} ${v.name.padEnd(8)} ${String(m.rps).padStart(6)} req/s  p50 ${m.p50_ms} ms  p90 ${m.p90_ms} ms  p99 ${m.p99_ms} ms  non-2xx ${m.non2xx}  CPU/req gateway ${m.gateway_us} µs  Redis ${m.redis_us} µs (kernel ${m.redis_sys_us})  PostgreSQL ${m.postgres_us} µs ${JSON.stringify(m.postgres_by_kind)}  load generator ${m.loadgen_us} µs  machine ${m.machine_us} µs  syscalls/req ${m.reads_per_request} reads ${m.writes_per_request} writes`);
      say(`  ${formatTailCauses(m.tail)}`);
    }
  }
}

/** Each variant's medians over its rounds, printed; with a baseline, the ratios between them. */
function medians(variants: readonly Variant[]) {
  const table = variants.map((v) => ({ name: v.name, rps: median(v.runs.map((r) => r.rps)), p99_ms: median(v.runs.map((r) => r.p99_ms)), gateway_us: median(v.runs.map((r) => r.gateway_us)), redis_us: median(v.runs.map((r) => r.redis_us)), postgres_us: median(v.runs.map((r) => r.postgres_us)), loadgen_us: median(v.runs.map((r) => r.loadgen_us)), machine_us: median(v.runs.map((r) => r.machine_us)) }));
  say('');
  for (const t of table) say(`${t.name.padEnd(8)} median ${t.rps} req/s  p99 ${t.p99_ms} ms  CPU/req gateway ${t.gateway_us} µs  Redis ${t.redis_us} µs  PostgreSQL ${t.postgres_us} µs  load generator ${t.loadgen_us} µs  machine ${t.machine_us} µs`);
  if (table.length === 2) {
    const [a, b] = table as [(typeof table)[0], (typeof table)[0]];
    say(`this / baseline: throughput ×${(a.rps / b.rps).toFixed(2)}, p99 ×${(a.p99_ms / b.p99_ms).toFixed(2)}, gateway CPU/req ×${(a.gateway_us / b.gateway_us).toFixed(2)}, Redis CPU/req ×${(a.redis_us / b.redis_us).toFixed(2)}, PostgreSQL CPU/req ×${(a.postgres_us / b.postgres_us).toFixed(2)}, machine CPU/req ×${(a.machine_us / b.machine_us).toFixed(2)}`);
  }
  return table;
}

/** Per variant, its last round's Redis bytes and commands per request. */
function printRedisPerRequest(variants: readonly Variant[]): void {
  for (const v of variants) {
    const b = v.runs.at(-1)!.redis_bytes;
    say(`\nRedis bytes per request (${v.name}, last round): ${b.in} in, ${b.out} out (every client's, the ledger writer's included), ${b.aof < 0 ? 'the AOF rewritten meanwhile' : `${b.aof} appended to the AOF`}`);
    say(`Redis commands per request (${v.name}, last round):`);
    for (const c of v.runs.at(-1)!.commands) say(`  ${c.name.padEnd(14)} ${String(c.calls_per_request).padStart(5)} calls  ${String(c.us_per_request).padStart(6)} µs  (${c.us_per_call} µs/call)`);
  }
}

/** The same load on a profiled gateway of this checkout (profiling slows it: its figures are not comparable). */
async function cpuProfile(me: Variant): Promise<ReturnType<typeof summariseProfile>> {
  await me.gateway.stop();
  me.gateway = await startChild('gateway/main.ts', me.port, { ...env, ...isoPort(me.port) }, { node_args: ['--cpu-prof', '--cpu-prof-dir', dir] });
  await load(me, 2);
  await load(me, duration_s);
  await me.gateway.stop();
  // The largest: tsx's loader thread writes a small profile of its own.
  const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0];
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}: the gateway did not exit cleanly`);
  const profile = summariseProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, 40);
  say(`\nprofile: ${profile.busy_ms} ms busy of ${profile.wall_ms} ms (start-up and warm-up included)`);
  say(formatShares('\nself time by area:', profile.areas.slice(0, 20)));
  say(formatShares('\ntime including callees, by area:', profile.inclusive.slice(0, 20)));
  say(formatShares('\nself time by function:', profile.functions));
  say(`\n${join(dir, file)} (open in Chrome DevTools or speedscope for the flame graph)`);
  return profile;
}

async function main() {
  mkdirSync(dir, { recursive: true });
  const redis = await connectRedis(redis_url!);
  const sql = postgres(database_url!, { max: 1, onnotice: () => {} });
  const variants: Variant[] = [];
  try {
    await startVariants(sql, variants);
    await measureRounds(variants, redis, sql);
    const table = medians(variants);
    printRedisPerRequest(variants);
    const profile = opt['no-profile'] ? undefined : await cpuProfile(variants[0]!);
    const heap = opt.heap ? await heapProfile(variants[0]!) : undefined;
    writeFileSync(join(dir, 'summary.json'), JSON.stringify({ date: new Date().toISOString(), scenario: opt.scenario, contacts: contacts_n, connections, duration_s, rounds, variants: variants.map((v) => ({ name: v.name, root: v.root, runs: v.runs })), table, profile, heap }, null, 2));
    say(join(dir, 'summary.json'));
  } finally {
    await sql.end();
    await redis.close().catch(() => {});
    for (const v of variants) await v.gateway.stop();
  }
}

await main();
