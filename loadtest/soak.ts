// Soak: a modest, steady mix of every kind of client against one running gateway, for a while,
// sampling what the process and its stores hold every 30 s. Whatever grows steadily under steady
// load (beyond data meant to be kept) is a leak. The mix: HTTP purchases, quotes, replays, 409s,
// refunds, reversals, spends, redemptions, wallet reads, bad input; WebSocket terminals opened,
// used and dropped without a close frame; ISO 8583 connections sending an echo, a purchase and
// half a frame, then dropped; signed processor callbacks (some batches, some badly signed); live
// feeds dropped by the reader; webhook endpoints whose receivers answer 500, hang, are closed, or
// answer 200 (receivers on ports the system picks).
//
// Start the gateway with the probe (a forced GC and heap figures on SIGUSR2, a heap snapshot on
// SIGWINCH, both in /tmp/pocketgate-soak-*):
//   NODE_OPTIONS="--expose-gc --import ./loadtest/soak-probe.mjs" WEBHOOKS_ALLOW_PRIVATE=1 \
//     WEBHOOK_RETRY_BASE_MS=1000 PLATFORM_API_KEY=pk_demo npm start
// then: SOAK_PID=<the gateway's pid> npx tsx loadtest/soak.ts --minutes 12
// (env: SOAK_HTTP, SOAK_ISO, SOAK_REDIS_PORT, SOAK_PG_PORT, SOAK_RATE, SOAK_OUT, PLATFORM_API_KEY).

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';
import { signatureHeader } from '../core/signature.ts';
import { luhnCheckDigit } from '../core/luhn.ts';

const base = process.env.SOAK_HTTP ?? 'http://127.0.0.1:19030';
const iso_port = Number(process.env.SOAK_ISO ?? 19031);
const pid = Number(process.env.SOAK_PID);
const redis_port = process.env.SOAK_REDIS_PORT ?? '17040';
const pg_port = process.env.SOAK_PG_PORT ?? '16040';
const platform_key = process.env.PLATFORM_API_KEY ?? 'pk_demo';
const minutes = Number(process.argv[process.argv.indexOf('--minutes') + 1] ?? 12);
const rate = Number(process.env.SOAK_RATE ?? 200); // HTTP POS requests per second
const out = process.env.SOAK_OUT ?? '/tmp/pocketgate-soak-samples.jsonl';

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const counts: Record<string, number> = {};
const bump = (k: string) => (counts[k] = (counts[k] ?? 0) + 1);

function req(method: string, path: string, key: string | undefined, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const r = http.request(base + path, { method, agent, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(text ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString();
        let parsed: any = raw;
        try { parsed = JSON.parse(raw); } catch { /* text */ }
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
      });
    });
    r.on('error', reject);
    r.setTimeout(15_000, () => r.destroy(new Error(`timeout ${method} ${path}`)));
    r.end(text);
  });
}

async function must(method: string, path: string, key: string | undefined, body?: unknown): Promise<any> {
  const r = await req(method, path, key, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

function card(seed: number): string {
  const partial = `4${String(seed).padStart(14, '0')}`;
  return partial + luhnCheckDigit(partial);
}

interface Contact { id: string; card: string; wallet_code: string }
interface Setup { admin: string; guesser: { key: string; code: string }; terminals: { key: string; code: string }[]; merchant_code: string; contacts: Contact[]; acquirer: string; processor: { id: string; secret: string } }

// ---------------------------------------------------------------- receivers for webhooks
function receiver(behaviour: '500' | 'hang' | '200'): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer((rq, rs) => {
    rq.resume();
    if (behaviour === 'hang') return; // never answers
    rs.writeHead(behaviour === '500' ? 500 : 200).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`, server })));
}

async function setup(): Promise<Setup> {
  const biz = await must('POST', '/v1/businesses', platform_key, { name: 'Soak', currency: 'EUR' });
  const admin = biz.admin_key as string;
  const merchant_code = `SOAK${crypto.randomInt(1e6)}`;
  const merchant = await must('POST', '/v1/merchants', admin, { name: 'Soak merchant', code: merchant_code });
  const venue = await must('POST', '/v1/venues', admin, { name: 'Soak venue', merchant_id: merchant.id });
  const terminals = [];
  for (let i = 0; i < 5; i++) {
    const code = `SOAKT00${i}`;
    const t = await must('POST', '/v1/terminals', admin, { venue_id: venue.id, code });
    terminals.push({ key: t.api_key as string, code });
  }
  await must('POST', '/v1/offers', admin, { name: '5% cashback', goal: 'spend', kind: 'cashback', award: { percent: 5 } });
  await must('POST', '/v1/offers', admin, { name: '3% instant', goal: 'spend', kind: 'cashback', award: { percent: 3 }, instant_redeem: true });
  await must('POST', '/v1/offers', admin, { name: '1% off', goal: 'spend', kind: 'instant_discount', award: { percent: 1 } });
  const contacts: Contact[] = [];
  const seed0 = crypto.randomInt(1e9);
  for (let i = 0; i < 300; i++) {
    const c = card(seed0 + i);
    const k = await must('POST', '/v1/contacts', admin, { first_name: `S${i}`, cims: [{ type: 'card', value: c }] });
    contacts.push({ id: k.id, card: c, wallet_code: k.wallet_code });
  }
  const acquirer = String(crypto.randomInt(1e9, 9e9));
  await must('POST', '/v1/iso8583/links', admin, { acquirer_id: acquirer });
  const p = await must('POST', '/v1/processors', admin, { name: 'Soak PSP', award_on: 'authorization' });
  for (const behaviour of ['500', 'hang'] as const) {
    const r = await receiver(behaviour);
    await must('POST', '/v1/webhooks', admin, { url: r.url, events: ['*'] });
  }
  const closed = await receiver('200');
  await must('POST', '/v1/webhooks', admin, { url: closed.url, events: ['transaction.approved'] });
  closed.server.close();
  const ok = await receiver('200');
  await must('POST', '/v1/webhooks', admin, { url: ok.url, events: ['award.created'] });
  // Wrong wallet codes go through a terminal of their own: its daily guess limit locks it only.
  const guesser = terminals.pop()!;
  return { admin, guesser, terminals, merchant_code, contacts, acquirer, processor: { id: p.id, secret: p.signing_secret } };
}

// ---------------------------------------------------------------- HTTP POS mix
const pick = <T>(a: readonly T[]): T => a[crypto.randomInt(a.length)]!;
let seq = 0;
const ref = () => `s${Date.now().toString(36)}${(++seq).toString(36)}`;

async function posOne(s: Setup): Promise<void> {
  const t = pick(s.terminals);
  const c = pick(s.contacts);
  const roll = crypto.randomInt(100);
  const k = (r: { status: number; headers: http.IncomingHttpHeaders }, what: string) => bump(`${what} ${r.status}${r.headers['idempotent-replayed'] ? ' replayed' : ''}`);
  if (roll < 35) {
    const body = { reference: ref(), cim: { type: 'card', value: c.card }, amount: 500 + crypto.randomInt(5000), currency: 'EUR' };
    const r = await req('POST', '/v1/purchases', t.key, body);
    k(r, 'purchase');
    const next = crypto.randomInt(10);
    if (next === 0) k(await req('POST', '/v1/purchases', t.key, body), 'purchase-replay');
    else if (next === 1) k(await req('POST', '/v1/purchases', t.key, { ...body, amount: body.amount + 1 }), 'purchase-409');
    else if (next === 2) k(await req('POST', '/v1/refunds', t.key, { reference: ref(), original_reference: body.reference, amount: 100 }), 'refund');
    else if (next === 3) k(await req('POST', '/v1/reversals', t.key, { reference: ref(), original_reference: body.reference }), 'reversal');
  } else if (roll < 45) {
    k(await req('POST', '/v1/purchases/quote', t.key, { cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' }), 'quote');
  } else if (roll < 55) {
    k(await req('POST', '/v1/redemptions', t.key, { reference: ref(), cim: { type: 'wallet_code', value: c.wallet_code } }), 'redemption');
  } else if (roll < 70) {
    const reference = ref();
    const r = await req('POST', '/v1/spends', t.key, { reference, amount: 50 + crypto.randomInt(200), currency: 'EUR', wallet_code: c.wallet_code });
    k(r, 'spend');
    if (r.status === 201 && crypto.randomInt(4) === 0) k(await req('POST', '/v1/reversals', t.key, { reference: ref(), original_reference: reference }), 'spend-reversal');
  } else if (roll < 78) {
    k(await req('GET', `/v1/wallets?cim_type=wallet_code&cim_value=${c.wallet_code}`, t.key), 'wallet');
  } else if (roll < 85) {
    if (crypto.randomInt(40) === 0) k(await req('POST', '/v1/spends', s.guesser.key, { reference: ref(), amount: 10, currency: 'EUR', wallet_code: '4000000000000002' }), 'spend-badcode');
  } else if (roll < 92) {
    k(await req('POST', '/v1/purchases', t.key, { reference: ref(), cim: { type: 'card', value: c.card }, amount: -5, currency: 'EUR' }), 'purchase-bad');
  } else {
    k(await req('POST', '/v1/reversals', t.key, { reference: ref(), original_reference: 'nope' + ref() }), 'reversal-404');
  }
}

// ---------------------------------------------------------------- WebSocket terminals
function wsOne(s: Setup): void {
  const t = pick(s.terminals);
  const browser = crypto.randomInt(4) === 0;
  const ws = browser
    ? new WebSocket(base.replace('http', 'ws') + '/v1/terminal', ['pocketgate.auth-frame'])
    : new WebSocket(base.replace('http', 'ws') + '/v1/terminal', { headers: { authorization: `Bearer ${t.key}` } });
  ws.on('error', () => bump('ws error'));
  ws.on('message', () => bump('ws reply'));
  ws.on('open', () => {
    bump('ws open');
    if (browser && crypto.randomInt(2) === 0) ws.send(JSON.stringify({ op: 'auth', key: t.key }));
    const c = pick(s.contacts);
    for (let i = 0; i < 5; i++) {
      ws.send(JSON.stringify({ id: `q${i}`, op: 'purchase.quote', body: { cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' } }));
      ws.send(JSON.stringify({ id: `p${i}`, op: 'purchase', body: { reference: ref(), cim: { type: 'card', value: c.card }, amount: 700, currency: 'EUR' } }));
    }
    ws.send('not json');
  });
  // Dropped abruptly: no close frame, the TCP connection simply goes away, sometimes mid-request.
  setTimeout(() => { ws.terminate(); bump('ws dropped'); }, 200 + crypto.randomInt(3000));
}

// ---------------------------------------------------------------- ISO 8583
const iso_layout: Record<number, [number, number]> = { 2: [2, 19], 3: [0, 6], 4: [0, 12], 7: [0, 10], 11: [0, 6], 32: [2, 11], 41: [0, 8], 42: [0, 15], 49: [0, 3], 70: [0, 3] };
function pack(mti: string, fields: Record<number, string>): Buffer {
  const numbers = Object.keys(fields).map(Number).sort((a, b) => a - b);
  const bits = new Array<number>(129).fill(0);
  for (const f of numbers) bits[f] = 1;
  if (numbers.some((f) => f > 64)) bits[1] = 1;
  let bitmap = '';
  for (let i = 1; i <= (bits[1] ? 128 : 64); i += 4) bitmap += ((bits[i]! << 3) | (bits[i + 1]! << 2) | (bits[i + 2]! << 1) | bits[i + 3]!).toString(16).toUpperCase();
  let body = mti + bitmap;
  for (const f of numbers) body += (iso_layout[f]![0] === 0 ? '' : String(fields[f]!.length).padStart(iso_layout[f]![0], '0')) + fields[f]!;
  const bytes = Buffer.from(body, 'latin1');
  const framed = Buffer.alloc(bytes.length + 2);
  framed.writeUInt16BE(bytes.length, 0);
  bytes.copy(framed, 2);
  return framed;
}
let stan = 0;
function isoOne(s: Setup): void {
  const sock = net.connect(iso_port, '127.0.0.1');
  sock.on('error', () => bump('iso error'));
  sock.on('data', () => bump('iso data'));
  sock.on('connect', () => {
    bump('iso open');
    const now = new Date();
    const de7 = `${String(now.getUTCMonth() + 1).padStart(2, '0')}${String(now.getUTCDate()).padStart(2, '0')}${now.toISOString().slice(11, 19).replace(/:/g, '')}`;
    const common = { 7: de7, 32: s.acquirer, 41: pick(s.terminals).code, 42: s.merchant_code.padEnd(15, ' '), 49: '978' };
    const kind = crypto.randomInt(4);
    if (kind === 0) return; // opened and left silent, then dropped
    sock.write(pack('0800', { ...common, 11: String((++stan) % 1e6).padStart(6, '0'), 70: '301' }));
    sock.write(pack('0200', { ...common, 2: pick(s.contacts).card, 3: '000000', 4: '000000001500', 11: String((++stan) % 1e6).padStart(6, '0') }));
    if (kind >= 2) {
      // A partial frame: the length says 300 bytes, 20 come, then the peer vanishes.
      const partial = Buffer.alloc(22);
      partial.writeUInt16BE(300, 0);
      partial.write('0200F23A000000000000', 2, 'latin1');
      sock.write(partial);
    }
  });
  setTimeout(() => { sock.destroy(); bump('iso dropped'); }, 100 + crypto.randomInt(2000));
}

// ---------------------------------------------------------------- processor callbacks
let ptx = 0;
const ptx_done: string[] = [];
async function callbackOne(s: Setup): Promise<void> {
  const roll = crypto.randomInt(10);
  let event: unknown;
  const eid = `evt_soak_${Date.now()}_${++ptx}`;
  if (roll < 7 || ptx_done.length < 5) {
    const transaction_id = `ptx_${Date.now()}_${ptx}`;
    ptx_done.push(transaction_id);
    if (ptx_done.length > 1000) ptx_done.shift();
    event = { id: eid, type: 'transaction.authorized', created_at: new Date().toISOString(), data: { transaction_id, card: { number: pick(s.contacts).card }, amount: 1200, currency: 'EUR', merchant_code: s.merchant_code } };
  } else if (roll < 8) {
    event = { id: eid, type: 'transaction.refunded', created_at: new Date().toISOString(), data: { transaction_id: `ptr_${ptx}`, original_transaction_id: pick(ptx_done), amount: 100, currency: 'EUR', merchant_code: s.merchant_code } };
  } else if (roll < 9) {
    event = { id: eid, type: 'transaction.reversed', created_at: new Date().toISOString(), data: { transaction_id: pick(ptx_done) } };
  } else {
    event = { events: Array.from({ length: 20 }, (_, i) => ({ id: `${eid}_${i}`, type: 'transaction.authorized', created_at: new Date().toISOString(), data: { transaction_id: `ptb_${ptx}_${i}`, card: { number: pick(s.contacts).card }, amount: 900, currency: 'EUR', merchant_code: s.merchant_code } })) };
  }
  const text = JSON.stringify(event);
  const bad = crypto.randomInt(10) === 0;
  const sig = signatureHeader([bad ? 'whsec_wrong' : s.processor.secret], Math.floor(Date.now() / 1000), text);
  const r = await req('POST', `/v1/callbacks/${s.processor.id}`, undefined, text, { 'pocketgate-signature': sig });
  bump(`callback ${r.status}`);
}

// ---------------------------------------------------------------- console live feed
function feedOne(s: Setup): void {
  const r = http.request(base + '/v1/feed', { headers: { authorization: `Bearer ${s.admin}` } }, (res) => {
    bump(`feed ${res.statusCode}`);
    res.on('data', () => bump('feed data'));
    res.on('error', () => {});
  });
  r.on('error', () => {});
  r.end();
  // The browser tab closes: the socket just goes away.
  setTimeout(() => { r.destroy(); bump('feed dropped'); }, 500 + crypto.randomInt(4000));
}

// ---------------------------------------------------------------- samples
function sh(cmd: string, args: string[]): string {
  try { return execFileSync(cmd, args, { encoding: 'utf8', timeout: 20_000 }).trim(); } catch (e) { return `ERR ${(e as Error).message.slice(0, 80)}`; }
}
function redis(...args: string[]): string { return sh('redis-cli', ['-p', redis_port, ...args]); }

async function sample(label: string): Promise<void> {
  const probe = '/tmp/pocketgate-soak-probe.json';
  let gc: any = {};
  if (pid) {
    const before = fs.existsSync(probe) ? fs.statSync(probe).mtimeMs : 0;
    process.kill(pid, 'SIGUSR2');
    for (let i = 0; i < 50 && (fs.existsSync(probe) ? fs.statSync(probe).mtimeMs : 0) === before; i++) await new Promise((r) => setTimeout(r, 100));
    gc = JSON.parse(fs.readFileSync(probe, 'utf8'));
  }
  const fds = pid ? fs.readdirSync(`/proc/${pid}/fd`).length : -1;
  const info = redis('INFO', 'memory');
  const used = /used_memory:(\d+)/.exec(info)?.[1];
  const families: Record<string, number> = {};
  for (const key of redis('--scan').split('\n')) {
    const f = key.slice(0, Math.max(0, key.indexOf(':'))) || key;
    families[f] = (families[f] ?? 0) + 1;
  }
  const xlen: Record<string, string> = {};
  for (const key of Object.keys(families).includes('j') ? redis('--scan', '--pattern', 'j:*').split('\n') : []) if (key) xlen[key] = redis('XLEN', key);
  const pg = sh('psql', ['-h', '127.0.0.1', '-p', pg_port, '-U', 'pocketgate', '-d', 'pocketgate', '-tAc', 'select count(*) from pg_stat_activity']);
  const metrics = (await req('GET', '/metrics', undefined)).body as string;
  const m: Record<string, string> = {};
  for (const line of String(metrics).split('\n')) if (/^(pocketgate_(journal|webhook)_backlog|process_open_fds|nodejs_active_handles_total|nodejs_heap_size_used_bytes|process_resident_memory_bytes)/.test(line)) { const [k, v] = line.split(' '); m[k!] = v!; }
  const row = { label, at: new Date().toISOString(), rss_mb: +(gc.rss / 2 ** 20).toFixed(1), heap_after_gc_mb: +(gc.heapUsed / 2 ** 20).toFixed(1), external_mb: +(gc.external / 2 ** 20).toFixed(1), resources: gc.resources, fds, redis_used_mb: used ? +(Number(used) / 2 ** 20).toFixed(1) : used, dbsize: redis('DBSIZE'), families, xlen, pg_conns: pg, metrics: m, counts: { ...counts } };
  fs.appendFileSync(out, JSON.stringify(row) + '\n');
  console.log(JSON.stringify({ label, at: row.at, rss_mb: row.rss_mb, heap_mb: row.heap_after_gc_mb, fds, redis_mb: row.redis_used_mb, dbsize: row.dbsize, pg, res: gc.resources, m }));
}

// ---------------------------------------------------------------- main
const s = await setup();
console.log('setup done');
await sample('start');
const end = Date.now() + minutes * 60_000;
const timers: NodeJS.Timeout[] = [];
let in_flight = 0;
timers.push(setInterval(() => {
  // rate/s in ticks of 50 ms, at most 64 in flight
  for (let i = 0; i < rate / 20 && in_flight < 64; i++) {
    in_flight++;
    posOne(s).catch(() => bump('pos error')).finally(() => in_flight--);
  }
}, 50));
timers.push(setInterval(() => wsOne(s), 700));
timers.push(setInterval(() => isoOne(s), 500));
timers.push(setInterval(() => callbackOne(s).catch(() => bump('callback error')), 100));
timers.push(setInterval(() => feedOne(s), 1500));
const sampler = setInterval(() => sample('load').catch((e) => console.error('sample', e)), 30_000);
await new Promise((r) => setTimeout(r, end - Date.now()));
for (const t of timers) clearInterval(t);
clearInterval(sampler);
await new Promise((r) => setTimeout(r, 20_000)); // quiet: in-flight work ends, sockets time out
await sample('quiet+20s');
console.log(JSON.stringify(counts));
process.exit(0);
