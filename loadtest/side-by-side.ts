// What the side-by-side benchmarks share (callback-bench.ts, ws-bench.ts): their options, a
// gateway and its stores with every child stopped however the run ends, the seeded shop, an HTTP
// load that fails on any answer but a 2xx, the ledger's rows checked against what was answered,
// CPU per item, and the markdown report (command, date, load average, medians of the rounds).

import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { journalBacklog } from '../processor/ledger/writer.ts';
import { connectRedis, type RedisClient } from '../processor/stores.ts';
import { cpuPerItemUs, cpuReading, median, postmasterPid } from './measure.ts';
import { api, importContacts, offerDefinitions } from './population.ts';
import { startChild, stopOnSignals, type Child, type ChildOptions } from './processes.ts';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `--name <number>` options with their defaults, each a whole number ≥ 1; `--help` prints `usage`. */
export function numberOptions<K extends string>(usage: string, defaults: Record<K, number>): Record<K, number> {
  const options = Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, { type: 'string' as const, default: String(v) }]));
  const { values } = parseArgs({ options: { ...options, help: { type: 'boolean', default: false } } }) as { values: Record<string, string | boolean | undefined> };
  if (values.help === true) {
    process.stdout.write(usage + '\n');
    process.exit(0);
  }
  const out = {} as Record<K, number>;
  for (const k of Object.keys(defaults) as K[]) {
    const n = Number(values[k]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${k} must be a whole number ≥ 1, not ${String(values[k])}\n\n${usage}`);
    out[k] = n;
  }
  return out;
}

export interface Bench {
  readonly sql: postgres.Sql;
  readonly redis: RedisClient;
  /** PostgreSQL's postmaster when it runs on this machine (its CPU is read from /proc). */
  readonly postmaster: number | undefined;
  readonly platform_key: string;
  /** A gateway (gateway/main.ts, 1 process, the ledger writer in process, ISO 8583 on a free port). */
  gateway(port: number): Promise<Child>;
  /** Any other server (the empty route), stopped with the rest. */
  child(file: string, port: number, options?: ChildOptions): Promise<Child>;
}

/** Runs `f` with the stores of `npm run <script>` and stops every child it started, whatever happens (a signal included). */
export async function withBench<T>(f: (b: Bench) => Promise<T>): Promise<T> {
  const redis_url = process.env.REDIS_URL;
  const database_url = process.env.DATABASE_URL;
  if (redis_url === undefined || database_url === undefined) throw new Error('run through its npm script, which starts Redis and PostgreSQL');
  const platform_key = `pk_bench_${randomBytes(8).toString('hex')}`;
  const env = { REDIS_URL: redis_url, DATABASE_URL: database_url, PLATFORM_API_KEY: platform_key, CIM_HMAC_KEY: 'bench-hmac-key', LOG_LEVEL: 'warn', ISO8583_PORT: '0' };
  const redis = await connectRedis(redis_url);
  const sql = postgres(database_url, { max: 2, onnotice: () => {} });
  const children: Child[] = [];
  const forget = stopOnSignals(children);
  const track = (c: Child) => (children.push(c), c);
  try {
    const postmaster = await postmasterPid(sql);
    return await f({
      sql,
      redis,
      postmaster,
      platform_key,
      gateway: async (port) => track(await startChild('gateway/main.ts', port, env)),
      child: async (file, port, options) => track(await startChild(file, port, {}, options)),
    });
  } finally {
    for (const c of children.reverse()) await c.stop();
    forget();
    await sql.end({ timeout: 5 });
    await redis.close().catch(() => {});
  }
}

export interface Shop {
  readonly business_id: string;
  readonly admin_key: string;
  /** The merchant's `code`, which callbacks name. */
  readonly merchant_code: string;
  /** By code: the terminals asked for, at the merchant's venue. */
  readonly terminals: Readonly<Record<string, { readonly id: string; readonly key: string }>>;
}

/** A business with one merchant and venue, `terminal_codes`, `offers` offers (loadtest's programme) and `contacts` contacts by card. */
export async function seedShop(base: string, platform_key: string, o: { contacts: number; offers: number; terminal_codes: readonly string[] }): Promise<Shop> {
  const business = await api(base, platform_key, 'POST', '/v1/businesses', { name: 'Side-by-side bench', currency: 'EUR' });
  const admin_key = business.admin_key as string;
  const merchant_code = 'BENCHM01';
  const merchant = await api(base, admin_key, 'POST', '/v1/merchants', { name: 'Bench merchant', code: merchant_code });
  const venue = await api(base, admin_key, 'POST', '/v1/venues', { name: 'Bench venue', merchant_id: merchant.id });
  const terminals: Record<string, { id: string; key: string }> = {};
  for (const code of o.terminal_codes) {
    const t = await api(base, admin_key, 'POST', '/v1/terminals', { venue_id: venue.id, code });
    terminals[code] = { id: t.id as string, key: t.api_key as string };
  }
  for (const offer of offerDefinitions(o.offers)) await api(base, admin_key, 'POST', '/v1/offers', offer);
  await importContacts(base, admin_key, o.contacts, () => {});
  return { business_id: business.id as string, admin_key, merchant_code, terminals };
}

/** One run of a load. */
export interface LoadResult {
  /** Items (purchases, events) answered 2xx per second, and requests per second (the same when a request is one item). */
  readonly items_per_s: number;
  readonly requests_per_s: number;
  /** Latency of a request (a batch's, for a batch). */
  readonly p50_ms: number;
  readonly p99_ms: number;
  /** Items answered 2xx: every one sent, or the run failed. */
  readonly items: number;
  /** Requests committed perhaps without their answer read: in flight when the run stopped. */
  readonly unanswered_max: number;
}

export interface HttpLoadOptions {
  readonly what: string;
  readonly url: string;
  readonly seconds: number;
  readonly connections: number;
  /** Requests in flight on each connection (HTTP/1.1 pipelining): 1 by default. */
  readonly pipelining?: number;
  readonly headers?: Record<string, string>;
  readonly body?: () => string;
  /** The server's output, to say why a run failed. */
  readonly output?: () => string;
}

/** POSTs for `seconds` (autocannon); throws unless every answer was a 2xx. */
export async function httpLoad(o: HttpLoadOptions): Promise<LoadResult> {
  const pipelining = o.pipelining ?? 1;
  const result = await autocannon({
    url: o.url,
    method: 'POST',
    connections: o.connections,
    pipelining,
    duration: o.seconds,
    headers: { 'content-type': 'application/json', ...o.headers },
    requests: [{ setupRequest: (req: any) => ((req.body = o.body?.() ?? '{}'), req) }],
  } as autocannon.Options);
  if (result.non2xx + result.errors + result.timeouts > 0 || result['2xx'] === 0) {
    const statuses = JSON.stringify(Object.fromEntries(Object.entries((result as any).statusCodeStats ?? {}).map(([k, v]) => [k, (v as { count: number }).count])));
    throw new Error(`${o.what}: ${result['2xx']} 2xx, ${result.non2xx} non-2xx ${statuses}, ${result.errors} errors, ${result.timeouts} timeouts\n${o.output?.() ?? ''}`);
  }
  const rps = result.requests.average;
  return { items_per_s: rps, requests_per_s: rps, p50_ms: result.latency.p50, p99_ms: result.latency.p99, items: result['2xx'], unanswered_max: o.connections * pipelining };
}

/**
 * What the ledger must hold per terminal: a row for every item answered 2xx, and at most the
 * requests unanswered when runs stopped besides (each one committed by the gateway, its reply
 * never read).
 */
export class LedgerCheck {
  private readonly expected = new Map<string, { min: number; max: number }>();

  constructor(private readonly b: Bench) {}

  expect(terminal_id: string, answered: number, unanswered_max = 0): void {
    const e = this.expected.get(terminal_id) ?? { min: 0, max: 0 };
    this.expected.set(terminal_id, { min: e.min + answered, max: e.max + answered + unanswered_max });
  }

  /** The ledger's rows on each terminal expected (by its (terminal_id, …) indexes). */
  async rows(): Promise<Map<string, number>> {
    const ids = [...this.expected.keys()];
    if (ids.length === 0) return new Map();
    const rows = await this.b.sql<{ terminal_id: string; n: number }[]>`
      select terminal_id, count(*)::int as n from ledger_transactions where terminal_id in ${this.b.sql(ids)} group by terminal_id`;
    return new Map(rows.map((r) => [r.terminal_id, r.n]));
  }

  /**
   * Until no journal entry is waiting in Redis and every terminal has its rows (rows counted only
   * then: the count is PostgreSQL work in the run's CPU); throws past `limit_ms`, or if the ledger
   * holds more than was sent.
   */
  async caughtUp(limit_ms = 120_000): Promise<void> {
    const deadline = Date.now() + limit_ms;
    let why = '';
    for (;;) {
      const backlog = await journalBacklog(this.b.redis, Number(process.env.SHARDS ?? 16));
      if (backlog === 0) {
        const rows = await this.rows();
        const short = [...this.expected].filter(([t, e]) => (rows.get(t) ?? 0) < e.min);
        const over = [...this.expected].filter(([t, e]) => (rows.get(t) ?? 0) > e.max);
        if (over.length > 0) throw new Error(`the ledger holds more rows than were sent: ${over.map(([t, e]) => `${t} ${rows.get(t)} > ${e.max}`).join(', ')}`);
        if (short.length === 0) return;
        why = short.map(([t, e]) => `${t} ${rows.get(t) ?? 0} of ${e.min} rows`).join(', ');
      } else why = `${backlog} journal entries waiting`;
      if (Date.now() > deadline) throw new Error(`the ledger did not catch up within ${limit_ms / 1000} s: ${why}`);
      await sleep(100);
    }
  }
}

export interface Sample extends LoadResult {
  /** CPU µs per item from the run's start until the ledger had recorded it: the serving process, Redis, PostgreSQL. */
  readonly cpu_us: { readonly server: number; readonly redis: number; readonly postgres: number | null };
}

/** `run` from a caught-up ledger, with the CPU `pid`, Redis and PostgreSQL spent on it until the ledger holds what `account` expects of it. */
export async function measured(b: Bench, ledger: LedgerCheck, pid: number | undefined, run: () => Promise<LoadResult>, account: (r: LoadResult) => void): Promise<Sample> {
  await ledger.caughtUp();
  const c0 = await cpuReading(pid, b.redis, b.postmaster);
  const r = await run();
  account(r);
  await ledger.caughtUp();
  return { ...r, cpu_us: cpuPerItemUs(c0, await cpuReading(pid, b.redis, b.postmaster), r.items) };
}

/** The rounds' samples per target, in the order first met. */
export class Rounds {
  readonly samples = new Map<string, Sample[]>();

  add(target: string, s: Sample): Sample {
    this.samples.set(target, [...(this.samples.get(target) ?? []), s]);
    return s;
  }

  median(target: string, f: (s: Sample) => number): number {
    return median((this.samples.get(target) ?? []).map(f));
  }

  /** Each figure's median over the rounds (PostgreSQL's CPU null if any round could not read it). */
  medians(target: string): Omit<Sample, 'items' | 'unanswered_max'> {
    const m = (f: (s: Sample) => number) => this.median(target, f);
    const postgres = (this.samples.get(target) ?? []).some((s) => s.cpu_us.postgres === null) ? null : m((s) => s.cpu_us.postgres!);
    return {
      items_per_s: m((s) => s.items_per_s),
      requests_per_s: m((s) => s.requests_per_s),
      p50_ms: m((s) => s.p50_ms),
      p99_ms: m((s) => s.p99_ms),
      cpu_us: { server: m((s) => s.cpu_us.server), redis: m((s) => s.cpu_us.redis), postgres },
    };
  }

  /** The median over the rounds of f(a's sample) / f(b's sample) in the same round. */
  ratio(a: string, b: string, f: (s: Sample) => number): number {
    const bs = this.samples.get(b) ?? [];
    return median((this.samples.get(a) ?? []).flatMap((s, i) => (bs[i] === undefined ? [] : [f(s) / f(bs[i])])));
  }
}

export const thousands = (x: number) => Math.round(x).toLocaleString('en');
/** A rate: whole numbers with thousands separators, one decimal under 100 (batches per second). */
export const rate = (x: number) => (x < 100 ? x.toFixed(1) : thousands(x));

export function cpuCell(cpu: Sample['cpu_us']): string {
  return `${cpu.server} + ${cpu.redis} + ${cpu.postgres ?? '-'}`;
}

/** The report's head: what ran, when, on what (load average at the start and now), how it was measured. */
export function reportHead(title: string, script: string, started: Date, load_at_start: readonly number[], how: string): string {
  const args = process.argv.slice(2);
  const load = (l: readonly number[]) => l.map((x) => x.toFixed(2)).join(' ');
  return [
    `### ${title}`,
    '',
    `- command: \`npm run ${script}${args.length > 0 ? ` -- ${args.join(' ')}` : ''}\``,
    `- date: ${started.toISOString()} – ${new Date().toISOString()}`,
    `- machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.version}; load average (1, 5, 15 min) ${load(load_at_start)} at the start, ${load(loadavg())} at the end`,
    `- ${how}`,
  ].join('\n');
}

export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const align = head.map((_, i) => (i === 0 ? '---' : '---:'));
  return [head, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** One line per run on stderr, as it comes. */
export function progress(target: string, round: number, s: Sample): void {
  process.stderr.write(`round ${round} ${target}: ${rate(s.items_per_s)}/s, p99 ${s.p99_ms.toFixed(1)} ms, CPU µs per item ${cpuCell(s.cpu_us)}\n`);
}
