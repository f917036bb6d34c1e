// `npm run bench`: purchase throughput and latency next to an empty Hono JSON route started the
// same way on the same machine, alternated A B A B in one run (these machines are shared and
// noisy: only ratios measured side by side mean anything). Then p99 at a fixed rate of half the
// empty route's maximum, and how long the ledger takes to catch up. Ends with the performance
// targets table (loadtest/targets.ts) for what it measures: the throughput ratios of purchases,
// spends and ISO 8583 0200s, CPU per purchase (gateway + Redis + PostgreSQL, from the start of a
// run until the ledger has recorded it), the ledger's lag during the purchase runs (sampled every
// 250 ms) and its catch-up after the last load; the rest is `npm run loadtest`'s.

import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { luhnCheckDigit } from '../core/luhn.ts';
import { repo_root, startChild, type Child } from './processes.ts';
import { runIsoLoad, type IsoLoadResult } from './iso-load.ts';
import { runCodecBench, type CodecBenchFigures } from './codec-bench.ts';
import { runOffersBench, type OffersBenchFigures } from './offers-bench.ts';
import { cpuMs, median, postgresCpuMs, postmasterPid, redisCpuMs } from './measure.ts';
import { journalBacklog } from '../processor/ledger/writer.ts';
import { connectRedis, type RedisClient } from '../processor/stores.ts';
import { LagSampler, type LagSeries } from './ledger-lag.ts';
import { formatTargets, judgeTargets, tally, type TargetRow } from './targets.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const contacts = Number(process.env.BENCH_CONTACTS ?? 10_000);
const redis_url = process.env.REDIS_URL;
const database_url = process.env.DATABASE_URL;
if (redis_url === undefined || database_url === undefined) throw new Error('run through `npm run bench`, which starts Redis and PostgreSQL');

const platform_key = `pk_bench_${randomBytes(8).toString('hex')}`;
const gateway_port = 18_090;
const empty_port = 18_091;
const iso_port = 18_092;
const iso_connections = 8;
const shard_count = Number(process.env.SHARDS ?? 16);

function card(i: number): string {
  const partial = `52${String(i).padStart(13, '0')}`;
  return partial + luhnCheckDigit(partial);
}

async function api(base: string, key: string, method: string, path: string, body?: string, content_type = 'application/json') {
  const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': content_type }, ...(body === undefined ? {} : { body }) });
  const json = (await res.json()) as Record<string, any>;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

interface Run {
  readonly target: string;
  readonly round: number;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly ok: number;
  /** Purchase runs: CPU µs per request until the ledger recorded the run, and the ledger's lag during it. */
  cpu_us_per_request?: { gateway: number; redis: number; postgres: number | null };
  ledger_behind?: LagSeries;
}

function run(target: string, round: number, url: string, options: { body?: () => string; rate?: number; headers?: Record<string, string> }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        method: 'POST',
        connections,
        duration: seconds,
        headers: { 'content-type': 'application/json', ...options.headers },
        ...(options.rate === undefined ? {} : { overallRate: options.rate }),
        requests: [
          {
            setupRequest: (req: any) => {
              req.body = options.body === undefined ? '{}' : options.body();
              return req;
            },
          },
        ],
      },
      (err: Error | null, result: autocannon.Result) => {
        if (err) return reject(err);
        resolve({
          target,
          round,
          rps: Math.round(result.requests.average),
          p50_ms: result.latency.p50,
          p99_ms: result.latency.p99,
          non2xx: result.non2xx,
          errors: result.errors,
          ok: result['2xx'],
        });
      },
    );
    void instance;
  });
}


/** What every phase uses: the two servers and the stores. */
interface Bench {
  readonly gateway: Child;
  readonly empty: Child;
  readonly sql: postgres.Sql;
  readonly redis: RedisClient;
  /** PostgreSQL's CPU is read from /proc: undefined when the server runs on another machine. */
  readonly postmaster: number | undefined;
}

/** Until the ledger holds every journal entry (at most a minute); the ms waited. */
async function settle(b: Bench): Promise<number> {
  const t0 = performance.now();
  while ((await journalBacklog(b.redis, shard_count)) > 0 && performance.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
  return performance.now() - t0;
}

async function cpuNow(b: Bench) {
  const r = await redisCpuMs(b.redis);
  return { gateway: cpuMs(b.gateway.process.pid), redis: r.sys + r.user, postgres: postgresCpuMs(b.postmaster) };
}

interface Seeded {
  readonly business_id: string;
  readonly terminal_key: string;
  readonly iso_terminals: string[];
  readonly acquirer_id: string;
  readonly seed_ms: number;
  readonly wallet_codes: string[];
}

async function seed(b: Bench): Promise<Seeded> {
  const { gateway } = b;
  process.stdout.write(`seeding ${contacts} contacts…\n`);
  const business = await api(gateway.url, platform_key, 'POST', '/v1/businesses', JSON.stringify({ name: 'Bench', currency: 'EUR' }));
  const admin = business.admin_key as string;
  const venue = await api(gateway.url, admin, 'POST', '/v1/venues', JSON.stringify({ name: 'Bench venue' }));
  const terminal = await api(gateway.url, admin, 'POST', '/v1/terminals', JSON.stringify({ venue_id: venue.id, code: 'BENCH001' }));
  await api(gateway.url, admin, 'POST', '/v1/offers', JSON.stringify({ name: '5% cashback', goal: 'spend', award: { percent: 5 } }));
  // A second award straight into the open balance, so that the spend runs have money to spend.
  await api(gateway.url, admin, 'POST', '/v1/offers', JSON.stringify({ name: '2% to spend now', goal: 'spend', award: { percent: 2 }, instant_redeem: true }));
  const iso_terminals: string[] = [];
  for (let i = 1; i <= iso_connections; i++) {
    // One terminal per connection: STANs (the idempotency key with DE32 and DE7) count per terminal.
    const code = `ISO0000${i}`.slice(-8);
    await api(gateway.url, admin, 'POST', '/v1/terminals', JSON.stringify({ venue_id: venue.id, code }));
    iso_terminals.push(code);
  }
  const acquirer_id = String(100_000 + Math.floor(Math.random() * 899_999));
  await api(gateway.url, admin, 'POST', '/v1/iso8583/links', JSON.stringify({ acquirer_id }));
  const seed_start = Date.now();
  const lines = Array.from({ length: contacts }, (_, i) => JSON.stringify({ cims: [{ type: 'card', value: card(i) }] })).join('\n');
  const imported = await api(gateway.url, admin, 'POST', '/v1/contacts/import', lines, 'application/x-ndjson');
  const seed_ms = Date.now() - seed_start;
  if (imported.imported !== contacts) throw new Error(`import: ${JSON.stringify(imported).slice(0, 500)}`);

  const wallet_codes = (await b.sql<{ wallet_code: string }[]>`select wallet_code from contacts where business_id = ${business.id as string}`).map((r) => r.wallet_code);
  return { business_id: business.id as string, terminal_key: terminal.api_key as string, iso_terminals, acquirer_id, seed_ms, wallet_codes };
}

/** Every contact buys once first, so that each has some open balance for the spend runs; the purchases approved. */
function fund(b: Bench, s: Seeded): Promise<number> {
  let funded = 0;
  return new Promise<number>((resolve, reject) =>
    autocannon(
      {
        url: `${b.gateway.url}/v1/purchases`,
        method: 'POST',
        connections,
        amount: contacts,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${s.terminal_key}` },
        requests: [{ setupRequest: (req: any) => ((req.body = `{"reference":"fund-${funded}","cim":{"type":"card","value":"${card(funded++ % contacts)}"},"amount":5000,"currency":"EUR"}`), req) }],
      },
      (err: Error | null, result: autocannon.Result) => (err ? reject(err) : resolve(result['2xx'])),
    ),
  );
}

/** The runs' request bodies, and the terminal's headers to send them with. */
interface Load {
  readonly purchase: () => string;
  readonly spend: () => string;
  readonly headers: Record<string, string>;
}

function bodies(s: Seeded): Load {
  let seq = 0;
  const run_id = randomBytes(3).toString('hex');
  return {
    purchase: () => `{"reference":"${run_id}-${++seq}","cim":{"type":"card","value":"${card((Math.random() * contacts) | 0)}"},"amount":${100 + ((Math.random() * 10_000) | 0)},"currency":"EUR"}`,
    // Spends of 0.01: every contact has been awarded some open balance by the purchases before.
    spend: () => `{"reference":"${run_id}-s${++seq}","amount":1,"currency":"EUR","wallet_code":"${s.wallet_codes[(Math.random() * s.wallet_codes.length) | 0]}"}`,
    headers: { authorization: `Bearer ${s.terminal_key}` },
  };
}

/** A purchase run from a caught-up ledger: its lag sampled, CPU per request until the ledger recorded it. */
async function purchaseRun(b: Bench, load: Load, round: number): Promise<Run> {
  const c0 = await cpuNow(b);
  const sampler = new LagSampler(b.redis, shard_count, 250);
  let r: Run;
  try {
    r = await run('purchase', round, `${b.gateway.url}/v1/purchases`, { body: load.purchase, headers: load.headers });
  } catch (err) {
    await sampler.stop();
    throw err;
  }
  r.ledger_behind = await sampler.stop();
  await settle(b);
  const c1 = await cpuNow(b);
  const n = Math.max(1, r.ok + r.non2xx);
  r.cpu_us_per_request = {
    gateway: Math.round(((c1.gateway - c0.gateway) * 1000) / n),
    redis: Math.round(((c1.redis - c0.redis) * 1000) / n),
    postgres: c0.postgres === undefined || c1.postgres === undefined ? null : Math.round(((c1.postgres - c0.postgres) * 1000) / n),
  };
  return r;
}

/** A B A B: empty, purchase, spend once per round, each from a caught-up ledger. */
async function maxRateRounds(b: Bench, load: Load): Promise<Run[]> {
  const runs: Run[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const target of ['empty', 'purchase', 'spend'] as const) {
      await settle(b);
      const r =
        target === 'empty'
          ? await run(target, round, `${b.empty.url}/empty`, {})
          : target === 'purchase'
            ? await purchaseRun(b, load, round)
            : await run(target, round, `${b.gateway.url}/v1/spends`, { body: load.spend, headers: load.headers });
      runs.push(r);
      const extra = r.cpu_us_per_request === undefined ? '' : `  CPU/req gateway ${r.cpu_us_per_request.gateway} µs Redis ${r.cpu_us_per_request.redis} µs PostgreSQL ${r.cpu_us_per_request.postgres ?? '-'} µs  ledger behind ≤ ${r.ledger_behind?.max_behind_s.toFixed(2)} s`;
      process.stdout.write(`round ${round} ${target.padEnd(8)} ${String(r.rps).padStart(6)} req/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  non-2xx ${r.non2xx}  errors ${r.errors}${extra}\n`);
    }
  }
  return runs;
}

interface Fixed {
  readonly half: number;
  readonly fixed_empty: Run;
  readonly fixed_purchase: Run;
}

/** p99 at half the empty route's maximum, the empty route and purchases; both added to `runs`. */
async function fixedRate(b: Bench, load: Load, runs: Run[], empty_rps: number): Promise<Fixed> {
  const half = Math.max(1, Math.floor(empty_rps / 2));
  await settle(b);
  const fixed_empty = await run('empty@half', 0, `${b.empty.url}/empty`, { rate: half });
  const fixed_purchase = await run('purchase@half', 0, `${b.gateway.url}/v1/purchases`, { body: load.purchase, headers: load.headers, rate: half });
  runs.push(fixed_empty, fixed_purchase);
  process.stdout.write(`fixed ${half} req/s: empty p99 ${fixed_empty.p99_ms} ms, purchase p99 ${fixed_purchase.p99_ms} ms (achieved ${fixed_purchase.rps} req/s)\n`);
  return { half, fixed_empty, fixed_purchase };
}

async function isoRun(b: Bench, s: Seeded): Promise<IsoLoadResult> {
  const cards = Array.from({ length: contacts }, (_, i) => card(i));
  await settle(b);
  const iso = await runIsoLoad({ port: iso_port, connections: iso_connections, in_flight: 4, seconds, acquirer_id: s.acquirer_id, merchant_code: '', terminal_codes: s.iso_terminals, cards });
  process.stdout.write(`iso8583 0200 over ${iso_connections} connections: ${iso.rps} req/s  p50 ${iso.p50_ms} ms  p99 ${iso.p99_ms} ms  declined ${iso.declined}  errors ${iso.errors}\n`);
  return iso;
}

/**
 * Ledger catch-up after the last load: until no journal entry is pending or undelivered in any
 * shard (counted in Redis), then every 2xx of this run must be in PostgreSQL exactly once.
 * autocannon counts the replies it saw before its time was up; replies still in flight then
 * are approved too, so the ledger may hold a few more than this.
 */
async function catchUp(b: Bench, seeded: Seeded, funding_ok: number, runs: readonly Run[], iso: IsoLoadResult) {
  const catchup_start = performance.now();
  const backlog_at_stop = await journalBacklog(b.redis, shard_count);
  while ((await journalBacklog(b.redis, shard_count)) > 0 && performance.now() - catchup_start < 60_000) await new Promise((r) => setTimeout(r, 20));
  const catchup_ms = Math.round(performance.now() - catchup_start);
  const approved = funding_ok + runs.filter((r) => r.target !== 'empty' && r.target !== 'empty@half').reduce((s, r) => s + r.ok, 0) + iso.approved;
  const [row] = await b.sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where business_id = ${seeded.business_id}`;
  return { catchup_ms, backlog_at_stop, approved, recorded: row!.n };
}

async function duplicateCount(b: Bench, s: Seeded): Promise<number> {
  const [dup] = await b.sql<{ n: number }[]>`select count(*)::int as n from (select 1 from ledger_transactions where business_id = ${s.business_id} group by terminal_id, reference having count(*) > 1) d`;
  return dup!.n;
}

/** What the phases measured, for the targets, the report and the console. */
interface Outcome {
  readonly seed_ms: number;
  readonly runs: readonly Run[];
  readonly empty_rps: number;
  readonly purchase_rps: number;
  readonly spend_rps: number;
  readonly fixed: Fixed;
  readonly iso: IsoLoadResult;
  readonly codec: CodecBenchFigures;
  readonly offers_eval: OffersBenchFigures;
  readonly ledger: { approved: number; recorded: number; duplicates: number; catchup_ms: number; backlog_at_stop: number; max_behind_s_during_purchase_runs: number };
}

const purchaseRuns = (runs: readonly Run[]) => runs.filter((r) => r.target === 'purchase' && r.cpu_us_per_request !== undefined);

function judge(o: Outcome): TargetRow[] {
  const purchase_runs = purchaseRuns(o.runs);
  const pg = purchase_runs.map((r) => r.cpu_us_per_request!.postgres);
  const { approved, recorded, duplicates, catchup_ms, backlog_at_stop, max_behind_s_during_purchase_runs: behind_max } = o.ledger;
  return judgeTargets(
    {
      empty_rps: o.empty_rps,
      purchase_rps: o.purchase_rps,
      spend_rps: o.spend_rps,
      iso_rps: o.iso.rps,
      ledger_behind: { max_s: behind_max, samples: purchase_runs.reduce((s, r) => s + (r.ledger_behind?.samples ?? 0), 0), interval_ms: 250, run: `${rounds} purchase run${rounds === 1 ? '' : 's'} of ${seconds} s` },
      ledger_catchup: { seconds: catchup_ms / 1000, entries_at_stop: backlog_at_stop, lost: Math.max(0, approved - recorded), doubled: duplicates, after: 'the ISO 0200 run, the last load' },
      cpu_per_purchase_us: {
        gateway: median(purchase_runs.map((r) => r.cpu_us_per_request!.gateway)),
        redis: median(purchase_runs.map((r) => r.cpu_us_per_request!.redis)),
        postgres: pg.includes(null) ? null : median(pg as number[]),
        runs: purchase_runs.length,
      },
    },
    'not measured by npm run bench (npm run loadtest)',
  );
}

function reportOf(o: Outcome, targets: TargetRow[]) {
  const { empty_rps, purchase_rps, spend_rps, fixed } = o;
  return {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, memory_gib: Math.round(totalmem() / 2 ** 30) },
    settings: { seconds, rounds, connections, contacts },
    seed_ms: o.seed_ms,
    runs: o.runs,
    empty_rps,
    purchase_rps,
    ratio: Number((purchase_rps / empty_rps).toFixed(3)),
    spend_rps,
    spend_ratio: Number((spend_rps / empty_rps).toFixed(3)),
    iso8583: { connections: iso_connections, in_flight_per_connection: 4, ...o.iso },
    codec: o.codec,
    offer_evaluation: o.offers_eval,
    fixed_rate: { rate: fixed.half, empty_p99_ms: fixed.fixed_empty.p99_ms, purchase_p99_ms: fixed.fixed_purchase.p99_ms },
    ledger: o.ledger,
    targets,
  };
}
type Report = ReturnType<typeof reportOf>;

function print(o: Outcome, report: Report, targets: TargetRow[], file: string): void {
  const { empty_rps, purchase_rps, spend_rps, iso, offers_eval, codec } = o;
  const { half, fixed_empty, fixed_purchase } = o.fixed;
  const { recorded, approved, duplicates, catchup_ms, backlog_at_stop, max_behind_s_during_purchase_runs: behind_max } = o.ledger;
  process.stdout.write(
    [
      '',
      `empty route   ${empty_rps} req/s (median of ${rounds})`,
      `purchase      ${purchase_rps} req/s (median of ${rounds})   ratio ${report.ratio} (goal ≥ 0.30)`,
      `spend         ${spend_rps} req/s (median of ${rounds})   ratio ${report.spend_ratio}`,
      `iso8583 0200  ${iso.rps} req/s over ${iso_connections} connections, p99 ${iso.p99_ms} ms`,
      `offers        one purchase (10 items) against 1,000 offers: p50 ${offers_eval.p50_us.toFixed(1)} µs, p99 ${offers_eval.p99_us.toFixed(1)} µs (goal p50 < 20 µs)`,
      `codec         ${codec.oursPerSecond} pack+unpack/s, iso_8583 ${codec.iso8583PerSecond}/s, ratio ${codec.ratio.toFixed(1)} (goal ≥ 15)`,
      `p99 at ${half} req/s (half the empty maximum): purchase ${fixed_purchase.p99_ms} ms, empty ${fixed_empty.p99_ms} ms`,
      `ledger: ${recorded}/${approved} recorded, ${duplicates} doubled, caught up ${catchup_ms} ms after the last load stopped (${backlog_at_stop} entries behind); at most ${behind_max.toFixed(2)} s behind during the purchase runs`,
      `seeding ${contacts} contacts through the import: ${o.seed_ms} ms`,
      '',
      `targets (${tally(targets).met} met, ${tally(targets)['not met']} not met, ${tally(targets)['not measured']} not measured here):`,
      formatTargets(targets),
      '',
      `report: ${file}`,
      '',
    ].join('\n'),
  );
}

async function main() {
  const env = { REDIS_URL: redis_url!, DATABASE_URL: database_url!, PLATFORM_API_KEY: platform_key, CIM_HMAC_KEY: 'bench-hmac-key', LOG_LEVEL: 'warn' };
  const gateway = await startChild('gateway/main.ts', gateway_port, { ...env, ISO8583_PORT: String(iso_port) });
  const empty = await startChild('loadtest/empty-server.ts', empty_port, {}, { ready_path: '/empty' });
  const sql = postgres(database_url!, { max: 2, onnotice: () => {} });
  const redis = await connectRedis(redis_url!);
  const postmaster = await postmasterPid(sql);
  const b: Bench = { gateway, empty, sql, redis, postmaster };
  try {
    const seeded = await seed(b);
    const funding_ok = await fund(b, seeded);
    const load = bodies(seeded);
    const runs = await maxRateRounds(b, load);
    const empty_rps = median(runs.filter((r) => r.target === 'empty').map((r) => r.rps));
    const purchase_rps = median(runs.filter((r) => r.target === 'purchase').map((r) => r.rps));
    const spend_rps = median(runs.filter((r) => r.target === 'spend').map((r) => r.rps));
    const fixed = await fixedRate(b, load, runs, empty_rps);
    const iso = await isoRun(b, seeded);
    const { catchup_ms, backlog_at_stop, approved, recorded } = await catchUp(b, seeded, funding_ok, runs, iso);
    const codec = runCodecBench({ seconds: Math.min(seconds, 5) });
    const offers_eval = runOffersBench({ offers: 1_000 });
    const dup = await duplicateCount(b, seeded);
    const behind_max = Math.max(0, ...purchaseRuns(runs).map((r) => r.ledger_behind?.max_behind_s ?? 0));
    const ledger = { approved, recorded, duplicates: dup, catchup_ms, backlog_at_stop, max_behind_s_during_purchase_runs: behind_max };
    const o: Outcome = { seed_ms: seeded.seed_ms, runs, empty_rps, purchase_rps, spend_rps, fixed, iso, codec, offers_eval, ledger };
    const targets = judge(o);
    const report = reportOf(o, targets);
    const dir = join(repo_root, 'loadtest', 'reports');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `bench-${report.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(report, null, 2));
    print(o, report, targets, file);
  } finally {
    await sql.end();
    await redis.close().catch(() => {});
    await gateway.stop();
    await empty.stop();
  }
}

await main();
