// `npm run ws-bench -- [options]`: purchases over the WebSocket terminal channel (spec/TERMINAL.md)
// next to HTTP purchases and the empty route at the same concurrency, in one run on this machine.
// WebSocket: `connections` sockets × `in-flight` requests outstanding on each (8 × 32 = 256).
// HTTP, both ways of having 256 in flight: the same 8 connections with 32 requests pipelined on
// each (HTTP/1.1 pipelining: the same sockets and requests in flight as the WebSocket), and 256
// connections with one each. The empty route (loadtest/empty-server.ts) both ways too. Runs
// alternate A B C D E, each from a caught-up ledger; the report gives medians of the rounds:
// purchases/s, p50 and p99, CPU per request (the serving process, Redis, PostgreSQL). Any answer
// not 2xx, or a ledger without exactly the purchases answered, fails the run.

import { loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { purchaseBody } from './population.ts';
import type { Child } from './processes.ts';
import { cpuCell, httpLoad, LedgerCheck, markdownTable, measured, numberOptions, progress, rate, reportHead, Rounds, seedShop, thousands, withBench, type Bench, type LoadResult, type Shop } from './side-by-side.ts';
import { runWsLoad } from './ws-load.ts';

const usage = `npm run ws-bench -- [options]

  --contacts 10000   contacts seeded (by card); purchases draw from them
  --offers 20        offers of the seeded business (npm run loadtest's programme)
  --seconds 10       seconds per run
  --rounds 3         rounds of A B C D E (WebSocket, HTTP pipelined, HTTP connections, empty ×2)
  --connections 8    WebSocket connections, and the pipelined HTTP runs' connections
  --in-flight 32     requests outstanding on each (HTTP: pipelined); the other HTTP runs open
                     connections × in-flight connections
  --help`;

const opt = numberOptions(usage, { contacts: 10_000, offers: 20, seconds: 10, rounds: 3, connections: 8, 'in-flight': 32 });
const ports = { gateway: 18_411, empty: 18_412 };
const run_id = randomBytes(3).toString('hex');
const concurrency = opt.connections * opt['in-flight'];
const terminal_codes = { ws: 'WS000001', pipelined: 'HTTP0001', connections: 'HTTP0002' } as const;

interface Target {
  readonly name: string;
  /** The serving process: its CPU is the run's. */
  readonly server: Child;
  /** The terminal its purchases are booked on (none for the empty route). */
  readonly terminal?: string;
  run(seconds: number): Promise<LoadResult>;
}

let seq = 0;
const body = () => purchaseBody(`${run_id}-${++seq}`, opt.contacts);

function targets(gateway: Child, empty: Child, shop: Shop): Target[] {
  const key = (code: string) => shop.terminals[code]!.key;
  const purchases = `${gateway.url}/v1/purchases`;
  const http = (code: string, connections: number, pipelining: number) => (seconds: number) =>
    httpLoad({ what: `purchases ${connections}×${pipelining}`, url: purchases, seconds, connections, pipelining, headers: { authorization: `Bearer ${key(code)}` }, body, output: gateway.output });
  const emptyRun = (connections: number, pipelining: number) => (seconds: number) => httpLoad({ what: `empty ${connections}×${pipelining}`, url: `${empty.url}/empty`, seconds, connections, pipelining, output: empty.output });
  const ws_url = `${gateway.url.replace(/^http/, 'ws')}/v1/terminal`;
  const { connections, 'in-flight': in_flight } = opt;
  return [
    { name: `WebSocket \`purchase\`: ${connections} connections × ${in_flight} in flight`, server: gateway, terminal: terminal_codes.ws, run: (seconds) => runWsLoad({ url: ws_url, key: key(terminal_codes.ws), op: 'purchase', connections, in_flight, seconds, body }) },
    { name: `HTTP \`POST /v1/purchases\`: ${connections} connections × ${in_flight} pipelined`, server: gateway, terminal: terminal_codes.pipelined, run: http(terminal_codes.pipelined, connections, in_flight) },
    { name: `HTTP \`POST /v1/purchases\`: ${concurrency} connections`, server: gateway, terminal: terminal_codes.connections, run: http(terminal_codes.connections, concurrency, 1) },
    { name: `empty route: ${connections} connections × ${in_flight} pipelined`, server: empty, run: emptyRun(connections, in_flight) },
    { name: `empty route: ${concurrency} connections`, server: empty, run: emptyRun(concurrency, 1) },
  ];
}

/** The gateway, the empty route, the shop, and 2 s of each purchase load unmeasured (warm-up). */
async function setUp(b: Bench): Promise<{ all: Target[]; ledger: LedgerCheck; shop: Shop }> {
  const gateway = await b.gateway(ports.gateway);
  const empty = await b.child('loadtest/empty-server.ts', ports.empty, { ready_path: '/empty' });
  process.stderr.write(`seeding ${opt.contacts} contacts, ${opt.offers} offers…\n`);
  const shop = await seedShop(gateway.url, b.platform_key, { contacts: opt.contacts, offers: opt.offers, terminal_codes: Object.values(terminal_codes) });
  const ledger = new LedgerCheck(b);
  const all = targets(gateway, empty, shop);
  for (const t of all) {
    const r = await t.run(2);
    if (t.terminal !== undefined) ledger.expect(shop.terminals[t.terminal]!.id, r.items, r.unanswered_max);
  }
  return { all, ledger, shop };
}

async function main(): Promise<void> {
  const started = new Date();
  const load_at_start = loadavg();
  await withBench(async (b) => {
    const { all, ledger, shop } = await setUp(b);
    const rounds = new Rounds();
    for (let round = 1; round <= opt.rounds; round++) {
      for (const t of all) {
        const account = (r: LoadResult) => t.terminal !== undefined && ledger.expect(shop.terminals[t.terminal]!.id, r.items, r.unanswered_max);
        progress(t.name, round, rounds.add(t.name, await measured(b, ledger, t.server.process.pid, () => t.run(opt.seconds), account)));
      }
    }
    await ledger.caughtUp();
    const rows = await ledger.rows();
    const ledger_line = Object.entries(terminal_codes).map(([how, code]) => `${thousands(rows.get(shop.terminals[code]!.id) ?? 0)} (${how})`).join(', ');
    process.stdout.write(report(all, rounds, started, load_at_start, ledger_line) + '\n');
  });
}

function report(all: readonly Target[], rounds: Rounds, started: Date, load_at_start: readonly number[], ledger_line: string): string {
  const how = `${opt.rounds} rounds of ${opt.seconds} s per load, alternated A B C D E, each from a caught-up ledger; medians. ${opt.contacts} contacts, ${opt.offers} offers; gateway (1 process, ledger writer in process), empty route, Redis, PostgreSQL and the load generator on the same cores`;
  const [ws, pipelined, connections, empty_pipelined, empty_connections] = all.map((t) => t.name) as [string, string, string, string, string];
  const empty_of = new Map([[ws, empty_pipelined], [pipelined, empty_pipelined], [connections, empty_connections]]);
  const rows = all.map((t) => {
    const m = rounds.medians(t.name);
    const empty = empty_of.get(t.name);
    const vs = empty === undefined ? '-' : `${(100 * rounds.ratio(t.name, empty, (s) => s.items_per_s)).toFixed(1)}%`;
    return [t.name, rate(m.items_per_s), vs, `${m.p50_ms.toFixed(1)} / ${m.p99_ms.toFixed(1)}`, cpuCell(m.cpu_us)];
  });
  const ratio = (other: string) => rounds.ratio(ws, other, (s) => s.items_per_s).toFixed(2);
  return [
    reportHead(`Purchases over the WebSocket channel, HTTP and the empty route, ${concurrency} in flight`, 'ws-bench', started, load_at_start, how),
    '',
    markdownTable(['load', 'requests/s', 'vs the empty route, same shape', 'p50 / p99 ms', 'CPU µs per request: server + Redis + PostgreSQL'], rows),
    '',
    `- WebSocket ÷ HTTP purchases/s: ${ratio(pipelined)} against ${opt.connections} × ${opt['in-flight']} pipelined, ${ratio(connections)} against ${concurrency} connections; the WebSocket's "vs empty" is against the pipelined empty route (medians of the rounds' ratios)`,
    `- every answer 2xx; the ledger caught up after each run, rows per terminal: ${ledger_line} (every purchase answered, a 2 s warm-up's included; HTTP at most its connections × pipelining a run besides, in flight when the run stopped)`,
  ].join('\n');
}

await main();
