// `npm run loadtest -- [options]`: the performance case. Scenarios with per-request bodies
// (unique references, contacts drawn from a seeded population, baskets with items), next to two
// baselines started the same way on the same machine: an empty Hono route (the physical ceiling)
// and the gateway with DURABILITY=sync (reply after the PostgreSQL commit). Runs alternate
// A B A B; the report gives medians and ratios, per-second throughput and latency, the ledger's
// catch-up after a long max-rate run, Redis memory per contact and the time to seed contacts.
//
// Options: --contacts 100000 --offers 20 --connections 32 --duration 10 (s per run) --rounds 2
// --rate <req/s> (fixed arrival rate; default half the empty route's median maximum)
// --catchup-duration 60 (s of max-rate purchases before the ledger catch-up is timed)
// --scenarios purchase,spend,mixed,iso   --iso-connections 8

import autocannon from 'autocannon';
import cliProgress from 'cli-progress';
import { randomBytes } from 'node:crypto';
import { cpus, totalmem, loadavg } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { journalBacklog } from '../processor/ledger/writer.ts';
import { connectRedis, type RedisClient } from '../processor/stores.ts';
import { repo_root, startChild, type Child } from './processes.ts';
import { cpuMs, median, redisCpuMs } from './measure.ts';
import { api, card, importContacts, offerDefinitions, basket } from './population.ts';
import { runIsoLoad } from './iso-load.ts';
import { renderHtml } from './report-html.ts';

// ---------------------------------------------------------------------------------------------
// Options

const { values: opt } = parseArgs({
  options: {
    contacts: { type: 'string', default: '100000' },
    offers: { type: 'string', default: '20' },
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    rate: { type: 'string' },
    'catchup-duration': { type: 'string', default: '60' },
    scenarios: { type: 'string', default: 'purchase,spend,mixed,iso' },
    'iso-connections': { type: 'string', default: '8' },
  },
  allowPositionals: false,
});

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
const all_scenarios = ['purchase', 'spend', 'mixed', 'iso'] as const;
type Scenario = (typeof all_scenarios)[number];
const scenarios = opt.scenarios!.split(',').map((s) => s.trim()).filter((s) => s !== '') as Scenario[];
for (const s of scenarios) if (!all_scenarios.includes(s)) throw new Error(`unknown scenario ${s}: one of ${all_scenarios.join(', ')}`);

const redis_url = process.env.REDIS_URL;
const database_url = process.env.DATABASE_URL;
if (redis_url === undefined || database_url === undefined) throw new Error('run through `npm run loadtest`, which starts Redis and PostgreSQL');

const platform_key = `pk_lt_${randomBytes(8).toString('hex')}`;
const ports = { gateway: 18_190, sync: 18_191, empty: 18_192, iso: 18_193, iso_sync: 18_194 };
const run_id = randomBytes(3).toString('hex');

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
  /** CPU µs per completed request: of the process serving it, and of Redis. */
  cpu_us_per_request?: { server: number; redis: number };
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

// ---------------------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const env = { REDIS_URL: redis_url!, DATABASE_URL: database_url!, PLATFORM_API_KEY: platform_key, CIM_HMAC_KEY: 'loadtest-hmac-key', LOG_LEVEL: 'warn' };
  say(`pocketgate load test ${run_id}: ${contacts_n} contacts, ${offers_n} offers, ${connections} connections, ${duration} s per run, ${rounds} rounds, scenarios ${scenarios.join(',')}`);
  const children: Child[] = [];
  const sql = postgres(database_url!, { max: 2, onnotice: () => {} });
  const redis = await connectRedis(redis_url!);
  try {
    const gateway = await startChild('gateway/main.ts', ports.gateway, { ...env, ISO8583_PORT: String(ports.iso), DURABILITY: 'async' });
    children.push(gateway);
    // The sync baseline: its journal entries are drained by the async gateway's writer, which
    // finds them already recorded.
    const sync = await startChild('gateway/main.ts', ports.sync, { ...env, ISO8583_PORT: String(ports.iso_sync), DURABILITY: 'sync', LEDGER_WRITER: 'off' });
    children.push(sync);
    const empty = await startChild('loadtest/empty-server.ts', ports.empty, {}, { ready_path: '/empty' });
    children.push(empty);

    // -- the business
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

    // -- seeding, with Redis memory measured around it
    await new Promise((r) => setTimeout(r, 500));
    const memory_before = await usedMemory(redis);
    const seeding = phase('seeding contacts', contacts_n, 'contacts');
    const seed_start = performance.now();
    await importContacts(gateway.url, admin, contacts_n, (n) => seeding.update(n));
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
    for (const r of await sql<{ phone: string; wallet_code: string }[]>`select phone, wallet_code from contacts where business_id = ${business_id}`) {
      wallet_code[Number(r.phone.slice(5))] = r.wallet_code;
    }

    // -- what the bodies draw from
    let seq = 0;
    /** Contacts with money in their open balance (a purchase approved: the 2% instant award). */
    const funded: number[] = [];
    /** Approved purchases not yet refunded or redeemed against: [reference, contact, amount]. */
    const recent: [string, number, number][] = [];
    const approved_refs: string[] = [];
    const rand = (n: number) => (Math.random() * n) | 0;
    const purchaseBody = (ctx: Record<string, any>, prefix: string) => {
      const c = rand(contacts_n);
      const b = basket();
      const ref = `${run_id}-${prefix}${++seq}`;
      ctx.kind = 'purchase';
      ctx.ref = ref;
      ctx.contact = c;
      ctx.amount = b.amount;
      return `{"reference":"${ref}","cim":{"type":"card","value":"${card(c)}"},"amount":${b.amount},"currency":"EUR","items":${b.items}}`;
    };
    const spendBody = (ctx: Record<string, any>) => {
      const c = funded.length > 0 ? funded[rand(funded.length)]! : rand(contacts_n);
      const ref = `${run_id}-s${++seq}`;
      ctx.kind = 'spend';
      ctx.ref = ref;
      return `{"reference":"${ref}","amount":1,"currency":"EUR","wallet_code":"${wallet_code[c]}"}`;
    };
    const mixedBody = (ctx: Record<string, any>) => {
      const r = Math.random();
      if (r < 0.7 || recent.length < 100) return purchaseBody(ctx, 'm');
      if (r < 0.85) {
        // Redeem the commerce balance of a contact whose purchase just earned cashback.
        const [, c] = recent.splice(rand(recent.length), 1)[0]!;
        const ref = `${run_id}-d${++seq}`;
        ctx.kind = 'redeem';
        ctx.ref = ref;
        return `{"reference":"${ref}","cim":{"type":"card","value":"${card(c)}"}}`;
      }
      if (r < 0.95) return spendBody(ctx);
      const [original, , amount] = recent.splice(rand(recent.length), 1)[0]!;
      const ref = `${run_id}-f${++seq}`;
      ctx.kind = 'refund';
      ctx.ref = ref;
      return `{"reference":"${ref}","original_reference":"${original}","amount":${Math.max(1, amount >> 1)}}`;
    };
    const urls: Record<string, string> = { purchase: '/v1/purchases', spend: '/v1/spends', redeem: '/v1/redemptions', refund: '/v1/refunds' };
    /** Refusals by request kind and body (a mixed run's redeem finding nothing to redeem, …). */
    const refusals: Record<string, number> = {};
    const onReply = (status: number, body: string, ctx: Record<string, any>) => {
      if (status < 200 || status >= 300) {
        const code = /"code":"([^"]*)"/.exec(body)?.[1] ?? '';
        const k = `${ctx.kind} ${status} ${code}`;
        refusals[k] = (refusals[k] ?? 0) + 1;
        return;
      }
      approved_refs.push(ctx.ref as string);
      if (ctx.kind === 'purchase') {
        if (funded.length < 200_000) funded.push(ctx.contact as number);
        if (recent.length < 50_000) recent.push([ctx.ref as string, ctx.contact as number, ctx.amount as number]);
      }
    };
    // The mixed run's bodies choose their path (the body is built first, with the same context).
    const mixedPath = (ctx: Record<string, any>) => urls[ctx.kind as string]!;

    // -- funding: a first purchase for some contacts, so spends and redeems have money to move
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
          headers: { 'content-type': 'application/json', ...terminal_headers },
          requests: [
            {
              setupRequest: (req: any, ctx: any) => ((req.body = purchaseBody(ctx, 'F')), req),
              onResponse: (status: number, body: string, ctx: any) => {
                onReply(status, body, ctx);
                if (++funded_done % 250 === 0) funding.update(funded_done);
              },
            },
          ],
        } as autocannon.Options,
        (err: Error | null) => (err ? reject(err) : resolve()),
      ),
    );
    funding.done();

    const runs: Run[] = [];
    const pids: Record<string, number | undefined> = { empty: empty.process.pid, sync: sync.process.pid, gateway: gateway.process.pid };
    /** Run `f` and note the CPU its server and Redis used per request. */
    const measured = async (server: 'empty' | 'sync' | 'gateway', f: () => Promise<Run>): Promise<Run> => {
      const pid = pids[server]!;
      const c0 = cpuMs(pid);
      const r0 = await redisCpuMs(redis);
      const run = await f();
      const n = Math.max(1, run.ok + run.non2xx);
      const r1 = await redisCpuMs(redis);
      run.cpu_us_per_request = { server: Math.round(((cpuMs(pid) - c0) * 1000) / n), redis: Math.round(((r1.sys + r1.user - r0.sys - r0.user) * 1000) / n) };
      return run;
    };
    const record = (r: Run) => {
      runs.push(r);
      return r;
    };
    const gatewayRun = (target: string, round: number, base: string, scenario: Scenario | 'purchase', seconds = duration, rate?: number) => {
      if (scenario === 'mixed') {
        return httpRun({ target, round, url: `${base}/v1/purchases`, seconds, rate, headers: terminal_headers, onReply, body: mixedBody, path: mixedPath });
      }
      return httpRun({ target, round, url: `${base}${urls[scenario]}`, seconds, rate, headers: terminal_headers, onReply, body: scenario === 'spend' ? spendBody : (ctx) => purchaseBody(ctx, 'p') });
    };

    const cards = Array.from({ length: contacts_n }, (_, i) => card(i));
    let iso_approved = 0;
    const isoRun = async (round: number): Promise<Run> => {
      const p = phase(`iso ${round > 0 ? `#${round}` : ''}`, Math.round(duration), 's');
      const start = performance.now();
      const sampler = new Sampler(start);
      let last = 0;
      const r = await runIsoLoad({
        port: ports.iso, connections: iso_connections, in_flight: 4, seconds: duration, acquirer_id, merchant_code: '', terminal_codes: iso_terminals, cards,
        onReply: (at, latency) => {
          sampler.add(at, latency);
          const s = Math.floor((at - start) / 1000);
          if (s !== last) p.update((last = s));
        },
      });
      p.done();
      iso_approved += r.approved;
      const run: Run = {
        target: 'iso', round, rate: null, seconds: duration, rps: r.rps, p50_ms: r.p50_ms, p90_ms: NaN, p99_ms: r.p99_ms, max_ms: NaN,
        ok: r.approved, non2xx: r.declined, errors: r.errors, timeouts: 0, statuses: { approved: r.approved, declined: r.declined }, per_second: sampler.seconds().slice(0, Math.floor(duration)),
      };
      if (!tty) say(line(run));
      return run;
    };

    // -- A B A B: every target once per round, in the same order
    for (let round = 1; round <= rounds; round++) {
      record(await measured('empty', () => httpRun({ target: 'empty', round, url: `${empty.url}/empty`, seconds: duration })));
      if (scenarios.includes('purchase')) {
        record(await measured('gateway', () => gatewayRun('purchase', round, gateway.url, 'purchase')));
        record(await measured('sync', () => gatewayRun('purchase sync', round, sync.url, 'purchase')));
      }
      if (scenarios.includes('spend')) record(await measured('gateway', () => gatewayRun('spend', round, gateway.url, 'spend')));
      if (scenarios.includes('mixed')) record(await measured('gateway', () => gatewayRun('mixed', round, gateway.url, 'mixed')));
      if (scenarios.includes('iso')) record(await measured('gateway', () => isoRun(round)));
    }
    const medianOf = (target: string, f: (r: Run) => number) => median(runs.filter((r) => r.target === target && r.round > 0).map(f));
    const empty_rps = medianOf('empty', (r) => r.rps);

    // -- latency at a fixed arrival rate
    const fixed_rate = fixed_rate_opt ?? Math.max(1, Math.floor(empty_rps / 2));
    const fixed_empty = record(await httpRun({ target: 'empty @rate', round: 0, url: `${empty.url}/empty`, seconds: duration, rate: fixed_rate }));
    const fixed_purchase = scenarios.includes('purchase') ? record(await gatewayRun('purchase @rate', 0, gateway.url, 'purchase', duration, fixed_rate)) : undefined;
    const fixed_sync = scenarios.includes('purchase') ? record(await gatewayRun('purchase sync @rate', 0, sync.url, 'purchase', duration, fixed_rate)) : undefined;
    // Half the empty route's maximum is past what a purchase sustains here: latency at half the
    // purchase's own maximum says what a terminal sees under a load the gateway can carry.
    const own_half = Math.max(1, Math.floor(medianOf('purchase', (r) => r.rps) / 2));
    const fixed_own = scenarios.includes('purchase') ? record(await gatewayRun('purchase @half own max', 0, gateway.url, 'purchase', duration, own_half)) : undefined;
    // The same rate on the empty route: on this kind of machine a lightly loaded process answers
    // late now and then by itself (idle cores wake slowly), and this is that floor.
    const fixed_own_empty = scenarios.includes('purchase') ? record(await httpRun({ target: 'empty @half own max', round: 0, url: `${empty.url}/empty`, seconds: duration, rate: own_half })) : undefined;

    // -- the ledger: a long max-rate run, then the time until PostgreSQL holds everything
    let catchup: Run | undefined;
    if (catchup_duration > 0) catchup = record(await gatewayRun('purchase long', 0, gateway.url, 'purchase', catchup_duration));
    const load_stopped = performance.now();
    const backlog_at_stop = await journalBacklog(redis, 16);
    let backlog = backlog_at_stop;
    const catching = phase('ledger catch-up', Math.max(1, backlog_at_stop), 'entries');
    while (backlog > 0 && performance.now() - load_stopped < 120_000) {
      await new Promise((r) => setTimeout(r, 20));
      backlog = await journalBacklog(redis, 16);
      catching.update(backlog_at_stop - backlog);
    }
    const catchup_ms = Math.round(performance.now() - load_stopped);
    catching.done();
    // Every 2xx by terminal + reference exactly once; nothing recorded that was not answered 2xx.
    const rows = await sql<{ reference: string; n: number }[]>`
      select reference, count(*)::int as n from ledger_transactions where business_id = ${business_id} and terminal_id = ${terminal.id as string} group by reference`;
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
      where business_id = ${business_id} and terminal_id <> ${terminal.id as string}`;
    const ledger = {
      backlog_at_stop,
      catchup_ms,
      http_2xx: approved_refs.length,
      http_recorded: rows.reduce((s, r) => s + r.n, 0),
      lost,
      doubled,
      recorded_without_2xx: unanswered_recorded,
      recorded_without_2xx_note: 'requests in flight when a run stopped: committed by the gateway, reply never read (at most connections × gateway runs)',
      refusals,
      iso_approved,
      iso_recorded: iso_row!.n,
      iso_doubled: iso_row!.d,
    };

    // -- what the Redis memory per contact is made of
    const sample = 200;
    const memory = {
      before_bytes: memory_before,
      after_bytes: memory_after,
      per_contact_bytes: memory_per_contact,
      keys_per_contact: 'a contact hash c:{s<n>}:<id> (business, profile: birthday, tags; balances once it buys) and four CIM index entries (card, phone, wallet code, contact code) in the buckets i:<n>, small hashes of token bits → contact id bytes',
      sample_after_seed: memory_after_seed,
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

    // -- summary
    const purchase_rps = medianOf('purchase', (r) => r.rps);
    const sync_rps = medianOf('purchase sync', (r) => r.rps);
    const summary = {
      empty_rps,
      purchase_rps,
      purchase_ratio: r2(purchase_rps / empty_rps),
      purchase_p99_ms: medianOf('purchase', (r) => r.p99_ms),
      sync_rps,
      sync_p99_ms: medianOf('purchase sync', (r) => r.p99_ms),
      async_over_sync: sync_rps > 0 ? r2(purchase_rps / sync_rps) : null,
      spend_rps: medianOf('spend', (r) => r.rps),
      mixed_rps: medianOf('mixed', (r) => r.rps),
      iso_rps: medianOf('iso', (r) => r.rps),
      fixed_rate,
      fixed_purchase_p99_ms: fixed_purchase?.p99_ms ?? null,
      fixed_sync_p99_ms: fixed_sync?.p99_ms ?? null,
      fixed_empty_p99_ms: fixed_empty.p99_ms,
      half_own_max_rate: own_half,
      half_own_max_p99_ms: fixed_own?.p99_ms ?? null,
      half_own_max_achieved_rps: fixed_own?.rps ?? null,
      half_own_max_empty_p99_ms: fixed_own_empty?.p99_ms ?? null,
      cpu_us_per_request: Object.fromEntries(
        [...new Set(runs.filter((r) => r.cpu_us_per_request !== undefined).map((r) => r.target))].map((t) => {
          const rs = runs.filter((r) => r.target === t && r.cpu_us_per_request !== undefined);
          return [t, { server: median(rs.map((r) => r.cpu_us_per_request!.server)), redis: median(rs.map((r) => r.cpu_us_per_request!.redis)) }];
        }),
      ),
    };
    const targets = [
      { target: 'purchase throughput ≥ 60% of the empty route', measured: `${Math.round(summary.purchase_ratio * 100)}% (${purchase_rps} / ${empty_rps} req/s)`, met: summary.purchase_ratio >= 0.6 },
      { target: `p99 ≤ 5 ms at a fixed ${fixed_rate} req/s (half the empty maximum)`, measured: `${summary.fixed_purchase_p99_ms} ms (achieved ${fixed_purchase?.rps ?? '-'} req/s; the empty route at that rate: ${summary.fixed_empty_p99_ms} ms)`, met: (summary.fixed_purchase_p99_ms ?? Infinity) <= 5 },
      { target: `(for reference) p99 at ${own_half} req/s, half the purchase's own maximum`, measured: `${summary.half_own_max_p99_ms} ms (achieved ${summary.half_own_max_achieved_rps} req/s; the empty route at that rate: ${summary.half_own_max_empty_p99_ms} ms)`, met: (summary.half_own_max_p99_ms ?? Infinity) <= 5 },
      { target: 'async ≥ 3× DURABILITY=sync throughput, with lower p99', measured: `${summary.async_over_sync}× (p99 ${summary.purchase_p99_ms} vs ${summary.sync_p99_ms} ms)`, met: (summary.async_over_sync ?? 0) >= 3 && summary.purchase_p99_ms < summary.sync_p99_ms },
      { target: `ledger caught up ≤ 5 s after a ${catchup_duration} s max-rate run, none lost or doubled`, measured: `${(catchup_ms / 1000).toFixed(2)} s (${backlog_at_stop} entries behind at stop), lost ${lost}, doubled ${doubled}, ISO ${ledger.iso_recorded}/${iso_approved}`, met: catchup_ms <= 5_000 && lost === 0 && doubled === 0 && ledger.iso_recorded >= iso_approved && ledger.iso_doubled === 0 },
      { target: 'Redis ≤ 300 bytes per contact', measured: `${memory_per_contact} bytes`, met: memory_per_contact <= 300 },
      { target: 'seed 100,000 contacts ≤ 20 s', measured: `${(seed_ms / 1000).toFixed(1)} s for ${contacts_n}${contacts_n === 100_000 ? '' : ` (${((seed_ms * (100_000 / contacts_n)) / 1000).toFixed(0)} s per 100,000 at that pace)`}`, met: seed_ms * (100_000 / contacts_n) <= 20_000 },
    ];

    const report = {
      date: new Date().toISOString(),
      run_id,
      command: `npm run loadtest -- ${process.argv.slice(2).join(' ')}`.trim(),
      machine: { cores: cpus().length, cpu: cpus()[0]?.model, memory_gib: Math.round(totalmem() / 2 ** 30), loadavg_at_end: loadavg().map(r2), node: process.version },
      settings: { contacts: contacts_n, offers: offers_n, connections, duration_s: duration, rounds, scenarios, catchup_duration_s: catchup_duration, iso_connections, fixed_rate },
      seed_ms,
      memory,
      summary,
      targets,
      ledger,
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

    say('');
    say(table(runs, empty_rps));
    say('');
    for (const t of targets) say(`${t.met ? 'met    ' : 'NOT MET'}  ${t.target}: ${t.measured}`);
    say('');
    say(`report: ${json_file}`);
    say(`        ${html_file}`);
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
  const head = ['target', 'runs', 'req/s (median)', 'vs empty', 'p50 ms', 'p90 ms', 'p99 ms', '2xx', 'non-2xx', 'CPU µs/req server+Redis'];
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
        ? `${median(rs.map((r) => r.cpu_us_per_request?.server ?? NaN))}+${median(rs.map((r) => r.cpu_us_per_request?.redis ?? NaN))}`
        : '-',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmtRow = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [fmtRow(head), `|${widths.map((w, i) => (i === 0 ? ':' : '') + '-'.repeat(w + 1 - (i === 0 ? 1 : 0)) + (i === 0 ? '-' : ':')).join('|')}|`, ...rows.map(fmtRow)].join('\n');
}

await main();
