// `npm run callback-bench -- [options]`: payment-processor callbacks (spec/EVENTS.md) next to HTTP
// purchases, in one run on this machine. A processor with award_on clearing posts signed batches
// of `transaction.cleared` events (cards of seeded contacts, the merchant's code, baskets as the
// load test's purchases have) to `POST /v1/callbacks/{processor_id}`; the purchases are
// `POST /v1/purchases` over autocannon, 32 connections as `npm run loadtest`. Runs alternate
// A B A B, each from a caught-up ledger; the report gives medians of the rounds: events/s and
// batches/s, purchases/s, their ratio, and CPU per event and per purchase (gateway, Redis,
// PostgreSQL, from a run's start until the ledger had recorded it). A batch with any event not
// `processed`, an answer not 2xx or a ledger without exactly its rows fails the run.

import { loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { signature_header, signatureHeader } from '../core/signature.ts';
import { latencyQuantiles } from './measure.ts';
import { api, clearedEvent, purchaseBody } from './population.ts';
import type { Child } from './processes.ts';
import { cpuCell, httpLoad, LedgerCheck, markdownTable, measured, numberOptions, progress, rate, reportHead, Rounds, seedShop, thousands, withBench, type Bench, type LoadResult, type Sample, type Shop } from './side-by-side.ts';

const usage = `npm run callback-bench -- [options]

  --contacts 10000         contacts seeded (by card); events and purchases draw from them
  --offers 20              offers of the seeded business (npm run loadtest's programme)
  --seconds 10             seconds per run
  --rounds 3               rounds of A B (callbacks, purchases)
  --batch 500              events per callback request (at most 500)
  --batches-in-flight 2    callback requests at once: the gateway works 16 events of a batch at
                           once, so 2 keep 32 in flight, as the purchases' 32 connections
  --connections 32         HTTP connections of the purchases' load
  --help`;

const opt = numberOptions(usage, { contacts: 10_000, offers: 20, seconds: 10, rounds: 3, batch: 500, 'batches-in-flight': 2, connections: 32 });
if (opt.batch > 500) throw new Error(`--batch is at most 500 (spec/EVENTS.md), not ${opt.batch}`);
const gateway_port = 18_401;
const run_id = randomBytes(3).toString('hex');

interface CallbackTarget {
  readonly url: string;
  readonly secret: string;
  readonly merchant_code: string;
}

let event_seq = 0;

function batchBody(t: CallbackTarget): string {
  const created_at = new Date().toISOString();
  const events: string[] = [];
  for (let i = 0; i < opt.batch; i++) {
    const n = ++event_seq;
    events.push(clearedEvent(`evt_${run_id}_${n}`, `ptx_${run_id}_${n}`, opt.contacts, t.merchant_code, created_at));
  }
  return `{"events":[${events.join(',')}]}`;
}

interface EventResult {
  readonly event_id: string;
  readonly status: string;
  readonly code?: string;
  readonly transaction_id?: string;
}

/** One signed batch; throws unless it was answered 200 with every event `processed`. */
async function postBatch(t: CallbackTarget, body: string): Promise<EventResult[]> {
  const signature = signatureHeader([t.secret], Math.floor(Date.now() / 1000), body);
  const res = await fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json', [signature_header]: signature }, body, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`callback batch answered ${res.status}: ${text.slice(0, 500)}`);
  const results = (JSON.parse(text) as { results?: EventResult[] }).results ?? [];
  const bad = results.find((r) => r.status !== 'processed');
  if (results.length !== opt.batch || bad !== undefined) throw new Error(`callback batch: ${results.length} results for ${opt.batch} events; not processed: ${JSON.stringify(bad)}`);
  return results;
}

/** Batches posted `in_flight` at a time until `seconds` have passed; the last ones are awaited and counted, over the time they took. */
async function callbackLoad(t: CallbackTarget, seconds: number, in_flight: number): Promise<LoadResult> {
  const start = performance.now();
  const end = start + seconds * 1000;
  const latencies: number[] = [];
  let last = start;
  let failed = false;
  const lane = async () => {
    while (!failed && performance.now() < end) {
      const body = batchBody(t);
      const t0 = performance.now();
      await postBatch(t, body).catch((err: unknown) => {
        failed = true;
        throw err;
      });
      last = performance.now();
      latencies.push(last - t0);
    }
  };
  await Promise.all(Array.from({ length: in_flight }, lane));
  const elapsed_s = (last - start) / 1000;
  const { p50, p99 } = latencyQuantiles(latencies);
  const events = latencies.length * opt.batch;
  return { items_per_s: events / elapsed_s, requests_per_s: latencies.length / elapsed_s, p50_ms: p50, p99_ms: p99, items: events, unanswered_max: 0 };
}

interface Setup {
  readonly gateway: Child;
  readonly shop: Shop;
  readonly target: CallbackTarget;
  readonly ledger: LedgerCheck;
  /** The terminal the processor's purchases are booked on (made by the first callback). */
  readonly processor_terminal: string;
}

/** The shop, the processor and its terminal (made by a first batch), and 2 s of each load unmeasured (warm-up). */
async function setUp(b: Bench): Promise<Setup> {
  const gateway = await b.gateway(gateway_port);
  process.stderr.write(`seeding ${opt.contacts} contacts, ${opt.offers} offers…\n`);
  const shop = await seedShop(gateway.url, b.platform_key, { contacts: opt.contacts, offers: opt.offers, terminal_codes: ['HTTP0001'] });
  const processor = await api(gateway.url, shop.admin_key, 'POST', '/v1/processors', { name: 'Bench acquirer', award_on: 'clearing' });
  const target = { url: `${gateway.url}/v1/callbacks/${processor.id as string}`, secret: processor.signing_secret as string, merchant_code: shop.merchant_code };
  const ledger = new LedgerCheck(b);
  const [first] = await postBatch(target, batchBody(target));
  await ledger.caughtUp();
  const [row] = await b.sql<{ terminal_id: string }[]>`select terminal_id from ledger_transactions where id = ${first!.transaction_id!}`;
  if (row === undefined) throw new Error(`the first batch's first transaction ${first!.transaction_id} is not in the ledger`);
  const warm_callbacks = await callbackLoad(target, 2, opt['batches-in-flight']);
  ledger.expect(row.terminal_id, opt.batch + warm_callbacks.items);
  const warm = await purchases(gateway, shop, 2);
  ledger.expect(shop.terminals.HTTP0001!.id, warm.items, warm.unanswered_max);
  return { gateway, shop, target, ledger, processor_terminal: row.terminal_id };
}

let purchase_seq = 0;

function purchases(gateway: Child, shop: Shop, seconds: number): Promise<LoadResult> {
  const headers = { authorization: `Bearer ${shop.terminals.HTTP0001!.key}` };
  const body = () => purchaseBody(`${run_id}-p${++purchase_seq}`, opt.contacts);
  return httpLoad({ what: 'purchases', url: `${gateway.url}/v1/purchases`, seconds, connections: opt.connections, headers, body, output: gateway.output });
}

const callbacks_target = `\`POST /v1/callbacks/{id}\`: \`transaction.cleared\` in batches of ${opt.batch}, ${opt['batches-in-flight']} batches in flight`;
const purchases_target = `\`POST /v1/purchases\`, ${opt.connections} connections`;

async function main(): Promise<void> {
  const started = new Date();
  const load_at_start = loadavg();
  await withBench(async (b) => {
    const s = await setUp(b);
    const pid = s.gateway.process.pid;
    const rounds = new Rounds();
    for (let round = 1; round <= opt.rounds; round++) {
      const c = await measured(b, s.ledger, pid, () => callbackLoad(s.target, opt.seconds, opt['batches-in-flight']), (r) => s.ledger.expect(s.processor_terminal, r.items));
      progress('callbacks', round, rounds.add(callbacks_target, c));
      const p = await measured(b, s.ledger, pid, () => purchases(s.gateway, s.shop, opt.seconds), (r) => s.ledger.expect(s.shop.terminals.HTTP0001!.id, r.items, r.unanswered_max));
      progress('purchases', round, rounds.add(purchases_target, p));
    }
    await s.ledger.caughtUp();
    const rows = await s.ledger.rows();
    process.stdout.write(report(rounds, started, load_at_start, rows.get(s.processor_terminal) ?? 0, rows.get(s.shop.terminals.HTTP0001!.id) ?? 0) + '\n');
  });
}

function report(rounds: Rounds, started: Date, load_at_start: readonly number[], callback_rows: number, purchase_rows: number): string {
  const how = `${opt.rounds} rounds of ${opt.seconds} s per load, alternated A B A B, each from a caught-up ledger; medians. ${opt.contacts} contacts, ${opt.offers} offers; gateway (1 process, ledger writer in process), Redis, PostgreSQL and the load generator on the same cores`;
  const row = (target: string, unit: string) => {
    const m = rounds.medians(target);
    return [target, `${rate(m.items_per_s)} ${unit}`, rate(m.requests_per_s), `${m.p50_ms.toFixed(1)} / ${m.p99_ms.toFixed(1)}`, cpuCell(m.cpu_us)];
  };
  const ratio = (f: (s: Sample) => number) => rounds.ratio(callbacks_target, purchases_target, f).toFixed(2);
  return [
    reportHead('Callbacks next to purchases', 'callback-bench', started, load_at_start, how),
    '',
    markdownTable(['load', 'per second', 'requests/s', 'p50 / p99 ms per request', 'CPU µs per event or purchase: gateway + Redis + PostgreSQL'], [row(callbacks_target, 'events/s'), row(purchases_target, 'purchases/s')]),
    '',
    `- events/s ÷ purchases/s: **${ratio((s) => s.items_per_s)}**; gateway CPU per event ÷ per purchase: ${ratio((s) => s.cpu_us.server)} (medians of the rounds' ratios)`,
    `- every answer 2xx and every event \`processed\`; the ledger caught up after each run: ${thousands(callback_rows)} rows on the processor's terminal = every event sent (a first batch's and a 2 s warm-up's included), ${thousands(purchase_rows)} on the HTTP terminal (every purchase answered 2xx, a 2 s warm-up's included, and at most ${opt.connections} a run in flight when it stopped)`,
  ].join('\n');
}

await main();
