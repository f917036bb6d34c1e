// `npm run webhook-bench -- [--backlog 5000] [--endpoints 1] [--rate 200] [--seconds 10]`: webhooks
// out on this machine, everything on it (gateway in process, Redis, PostgreSQL, a receiver on
// loopback answering 200 at once).
//  1. Throughput: `backlog` purchases recorded while no worker runs, then one worker started:
//     deliveries per second until every one has succeeded (to `endpoints` endpoints).
//  2. Delay: purchases at `rate` per second for `seconds`, the worker running: from each
//     purchase's reply to its transaction.approved at the receiver, p50 and p99.

import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { WebhookWorker } from '../adapters/webhooks/worker.ts';
import { configFromEnv } from '../gateway/config.ts';
import { startGateway, type Gateway } from '../gateway/gateway.ts';
import { webhookSecretKey } from '../processor/webhooks.ts';

const { values: opt } = parseArgs({
  options: { backlog: { type: 'string', default: '5000' }, endpoints: { type: 'string', default: '1' }, rate: { type: 'string', default: '200' }, seconds: { type: 'string', default: '10' } },
});
const backlog = Number(opt.backlog);
const endpoints = Number(opt.endpoints);
const rate = Number(opt.rate);
const seconds = Number(opt.seconds);

process.env.PLATFORM_API_KEY ||= 'pk_bench_platform_key';
process.env.CIM_HMAC_KEY ||= 'bench-hmac-key';

/** Arrival time of each transaction's transaction.approved. */
const arrived = new Map<string, number>();
let received = 0;
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received++;
    const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; data: { id: string } };
    if (event.type === 'transaction.approved' && !arrived.has(event.data.id)) arrived.set(event.data.id, performance.now());
    res.writeHead(200).end();
  });
});
const port = await new Promise<number>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve((receiver.address() as { port: number }).port)));

async function api(gw: Gateway, method: string, path: string, key: string, body?: unknown): Promise<any> {
  const res = await gw.app.request(path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const json = (await res.json()) as unknown;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const base = configFromEnv();
const gw = await startGateway({ ...base, port: 0, webhooks: { retry_base_ms: 1_000, allow_private: true, worker: false } }, { listen: false, iso8583: false, logger: pino({ level: 'warn' }), collect_default_metrics: false });
const biz = await api(gw, 'POST', '/v1/businesses', process.env.PLATFORM_API_KEY!, { name: 'Webhook bench', currency: 'EUR' });
const key = biz.admin_key as string;
const merchant = await api(gw, 'POST', '/v1/merchants', key, { name: 'M', code: `WB${Date.now() % 1e9}` });
const venue = await api(gw, 'POST', '/v1/venues', key, { name: 'V', merchant_id: merchant.id });
const terminal = await api(gw, 'POST', '/v1/terminals', key, { venue_id: venue.id, code: 'WB000001' });
await api(gw, 'POST', '/v1/offers', key, { name: '5%', goal: 'spend', kind: 'cashback', award: { percent: 5 } });
const contact = await api(gw, 'POST', '/v1/contacts', key, { cims: [{ type: 'loyalty_id', value: 'WB-1' }] });
for (let i = 0; i < endpoints; i++) await api(gw, 'POST', '/v1/webhooks', key, { url: `http://127.0.0.1:${port}/e${i}`, events: ['transaction.approved'] });

let seq = 0;
function purchase(): Promise<any> {
  seq++;
  return api(gw, 'POST', '/v1/purchases', terminal.api_key, { reference: `wb-${seq}`, cim: { type: 'loyalty_id', value: 'WB-1' }, amount: 1000 + (seq % 100), currency: 'EUR' });
}

async function until(what: string, check: () => Promise<boolean>, timeout_ms = 300_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sql = gw.processor.stores.sql;
const pending = async () => (await sql<{ n: number }[]>`select count(*)::int4 as n from webhook_deliveries where status = 'pending'`)[0]!.n;
const succeeded = async () => (await sql<{ n: number }[]>`select count(*)::int4 as n from webhook_deliveries where status = 'succeeded'`)[0]!.n;

// 1. Throughput over a backlog.
for (let i = 0; i < backlog; i += 50) await Promise.all(Array.from({ length: Math.min(50, backlog - i) }, purchase));
await until('the backlog in the ledger', async () => (await pending()) === backlog * endpoints);
const worker = new WebhookWorker(sql, webhookSecretKey(base.processor.cim_hmac_key), { retry_base_ms: 1_000, allow_private: true, onError: (err, m) => console.error(m, err) });
const t0 = performance.now();
const cpu0 = process.cpuUsage();
worker.start();
await until('every delivery succeeded', async () => (await succeeded()) === backlog * endpoints);
const elapsed_s = (performance.now() - t0) / 1_000;
const cpu = process.cpuUsage(cpu0);
console.log(`throughput: ${backlog * endpoints} deliveries to ${endpoints} endpoint(s) in ${elapsed_s.toFixed(2)} s = ${Math.round((backlog * endpoints) / elapsed_s)} deliveries/s (receiver saw ${received}); CPU of this process (gateway, worker and receiver) ${((cpu.user + cpu.system) / 1_000 / (backlog * endpoints)).toFixed(2)} ms per delivery`);

// 2. Delay from a purchase's reply to its transaction.approved, at a steady rate.
const replied = new Map<string, number>();
const interval_ms = 1_000 / rate;
const start = performance.now();
const inflight: Promise<void>[] = [];
for (let i = 0; i < rate * seconds; i++) {
  const due = start + i * interval_ms;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  inflight.push(purchase().then((p: { id: string }) => void replied.set(p.id, performance.now())));
}
await Promise.all(inflight);
await until('every delayed event', async () => [...replied.keys()].every((id) => arrived.has(id)), 60_000);
const delays = [...replied].map(([id, at]) => arrived.get(id)! - at).sort((a, b) => a - b);
const pct = (p: number) => delays[Math.min(delays.length - 1, Math.floor((p / 100) * delays.length))]!;
console.log(`delay from reply to transaction.approved at ${rate}/s for ${seconds} s (${delays.length} purchases): p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${delays.at(-1)!.toFixed(1)} ms`);

await worker.stop();
await gw.close();
receiver.closeAllConnections();
receiver.close();
