// The floor of the purchase's shape on this machine: Hono routes that do only what the shape
// cannot avoid, served exactly as the gateway is (Hono on @hono/node-server, node-redis):
//   POST /empty  the physical ceiling (as empty-server.ts)
//   POST /one    the body parsed, one EVALSHA on the contact's shard slot (HINCRBY + XADD + SET):
//                the floor the hot-path issue measured
//   POST /two    the same after a claim EVALSHA on the reference's slot: the least a purchase
//                needs when a terminal's reference and a contact's shard are two Redis Cluster
//                slots (the contract's 409 for another body naming another contact)
// With FLOOR_LEDGER=1 the process also drains the journal streams into PostgreSQL as the ledger
// writer does (XREADGROUP, one multi-row INSERT, XACK + XDEL), with the narrowest row possible:
// the floor of "the ledger keeps up on the same cores".
//
// REDIS_URL, DATABASE_URL (FLOOR_LEDGER=1 only), PORT.

import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import postgres from 'postgres';
import { createClient, defineScript } from 'redis';

const shards = 16;
const drain_count_max = 256;
/**
 * As the ledger writer does (writer.ts poll_idle_ms): after a round with less than a quarter of
 * a batch, a pause, so that entries gather and a round's reads, insert and acknowledgements are
 * paid per many entries, not per one. Without it the drain costs more than the real writer.
 */
const drain_idle_ms = 10;

const claim = defineScript({
  NUMBER_OF_KEYS: 1,
  SCRIPT: "local p = redis.call('HGET', KEYS[1], ARGV[1]) if p then return p end redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return false",
  parseCommand(parser, key: string, field: string, value: string) {
    parser.pushKey(key);
    parser.push(field, value);
  },
  transformReply: (reply: unknown) => reply as string | null,
});

const shard = defineScript({
  NUMBER_OF_KEYS: 3,
  SCRIPT: "redis.call('HINCRBY', KEYS[1], 'o', ARGV[1]) local id = redis.call('XADD', KEYS[2], '*', 'e', ARGV[2]) redis.call('SET', KEYS[3], id, 'EX', 86400) return id",
  parseCommand(parser, n: number, id: string, amount: number, entry: string) {
    parser.pushKey(`c:{s${n}}:${id}`);
    parser.pushKey(`j:{s${n}}`);
    parser.pushKey(`t:{s${n}}:${id}`);
    parser.push(String(amount), entry);
  },
  transformReply: (reply: unknown) => reply as string,
});

const url = process.env.REDIS_URL;
if (url === undefined) throw new Error('REDIS_URL');
const redis = createClient({ url, scripts: { claim, shard } });
redis.on('error', (err: unknown) => process.stderr.write(`redis: ${String(err)}\n`));
await redis.connect();

let sequence = 0;

interface Body {
  readonly reference: string;
  readonly amount: number;
  readonly cim: { readonly value: string };
}

async function commit(body: Body): Promise<{ id: string; journal_id: string }> {
  const id = `${process.pid}-${++sequence}`;
  const n = sequence % shards;
  const entry = JSON.stringify({ id, amount: body.amount, reference: body.reference });
  const journal_id = await redis.shard(n, id, body.amount, entry);
  return { id, journal_id };
}

const app = new Hono();
app.post('/empty', (c) => c.json({ ok: true }));
app.get('/empty', (c) => c.json({ ok: true }));
app.post('/one', async (c) => c.json(await commit(await c.req.json<Body>())));
app.post('/two', async (c) => {
  const body = await c.req.json<Body>();
  // Every request a reference of its own: the claim always takes it, as a new purchase's does.
  const reference = `${body.reference}-${process.pid}-${++sequence}`;
  const prior = await redis.claim(`r:{r${sequence % 4096}}`, reference, body.cim.value);
  if (prior !== null) return c.json({ error: 'idempotency_conflict' }, 409);
  return c.json(await commit(body));
});

if (process.env.FLOOR_LEDGER === '1') void drainForever();

async function drainForever(): Promise<void> {
  const database = process.env.DATABASE_URL;
  if (database === undefined) throw new Error('DATABASE_URL');
  const sql = postgres(database, { max: 2, onnotice: () => {} });
  await sql`create table if not exists floor_entries (id text primary key, amount bigint not null, entry text not null)`;
  const reader = redis.duplicate();
  reader.on('error', (err: unknown) => process.stderr.write(`redis reader: ${String(err)}\n`));
  await reader.connect();
  for (let n = 0; n < shards; n++) {
    await reader.sendCommand(['XGROUP', 'CREATE', `j:{s${n}}`, 'floor', '0', 'MKSTREAM']).catch(() => {});
  }
  for (;;) {
    try {
      if ((await drainOnce(reader, sql)) < drain_count_max / 4) await new Promise((r) => setTimeout(r, drain_idle_ms));
    } catch (err) {
      process.stderr.write(`drain: ${String(err)}\n`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

type StreamEntries = [string, string[]][];
// node-redis answers a map of stream → entries; older servers an array of pairs (as writer.ts reads it).
type Read = Record<string, StreamEntries> | [string, StreamEntries][] | null;

/** One round: what every stream holds, in one INSERT, then acknowledged and deleted. Returns the rows. */
async function drainOnce(reader: typeof redis, sql: postgres.Sql): Promise<number> {
  const streams = Array.from({ length: shards }, (_, n) => `j:{s${n}}`);
  const read = (await reader.sendCommand(['XREADGROUP', 'GROUP', 'floor', 'floor', 'COUNT', String(drain_count_max), 'BLOCK', '100', 'STREAMS', ...streams, ...streams.map(() => '>')])) as Read;
  if (read === null) return 0;
  const streams_read: [string, StreamEntries][] = Array.isArray(read) ? read : Object.entries(read);
  const rows: { id: string; amount: number; entry: string }[] = [];
  for (const [, entries] of streams_read) for (const [, fields] of entries) rows.push(entryRow(fields[1]!));
  if (rows.length === 0) return 0;
  await sql`insert into floor_entries select * from json_to_recordset(${JSON.stringify(rows)}::text::json) as x(id text, amount bigint, entry text) on conflict do nothing`;
  await Promise.all(streams_read.map(([stream, entries]) => {
    const ids = entries.map(([id]) => id);
    return Promise.all([reader.sendCommand(['XACK', stream, 'floor', ...ids]), reader.sendCommand(['XDEL', stream, ...ids])]);
  }));
  return rows.length;
}

function entryRow(entry: string): { id: string; amount: number; entry: string } {
  const e = JSON.parse(entry) as { id: string; amount: number };
  return { id: e.id, amount: e.amount, entry };
}

const port = Number(process.env.PORT ?? 18301);
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`listening ${info.port}\n`);
});
