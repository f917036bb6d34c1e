// No card number (PAN) is ever stored or logged: not in PostgreSQL, not in Redis (key names or
// values), not in the gateway's logs (at debug), not echoed in error replies; neither the PANs of
// contacts nor invalid ones sent in failed requests.
//
// The gateway runs on a Redis database of its own (so the Redis scan covers exactly what this gateway wrote,
// journal included: its writer is started only after the scan) and the shared PostgreSQL, where
// every row of every table is scanned. The scanner is first shown to find a canary planted in
// each place, so a stored PAN would fail the test.

import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseSchema, parseWith } from '../core/schemas.ts';
import { referenceSlot } from '../processor/hot/references.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type ApiResponse, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, connectTestRedis, connectTestSql, redis_dbs, redisUrl, shard_count } from './ledger-helpers.ts';

const redis_db = redis_dbs.no_pan;
let gw: TestGateway;
let redis: RedisClient;
let sql: Sql;
let writer: LedgerWriter | undefined;

beforeAll(async () => {
  gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_db), log_level: 'debug' });
  redis = await connectTestRedis(redis_db);
  sql = connectTestSql();
});
afterAll(async () => {
  await writer?.stop();
  await redis?.close().catch(() => {});
  await sql?.end({ timeout: 5 });
  await gw?.close();
});

/** Where each needle occurs: "redis key <name>", "redis value <name>", "postgres <table>", "logs". */
async function findEverywhere(needles: string[]): Promise<Map<string, string[]>> {
  const hits = new Map<string, string[]>(needles.map((n) => [n, []]));
  const look = (where: string, text: string) => {
    for (const n of needles) if (text.includes(n)) hits.get(n)!.push(where);
  };

  // Redis: every key of the gateway's database, by type.
  for await (const keys of redis.scanIterator({ COUNT: 1000 })) {
    for (const key of keys) {
      look(`redis key ${key}`, key);
      const type = String(await redis.sendCommand(['TYPE', key]));
      let values: unknown;
      switch (type) {
        case 'string':
          values = await redis.sendCommand(['GET', key]);
          break;
        case 'hash':
          values = await redis.sendCommand(['HGETALL', key]);
          break;
        case 'list':
          values = await redis.sendCommand(['LRANGE', key, '0', '-1']);
          break;
        case 'set':
          values = await redis.sendCommand(['SMEMBERS', key]);
          break;
        case 'zset':
          values = await redis.sendCommand(['ZRANGE', key, '0', '-1', 'WITHSCORES']);
          break;
        case 'stream':
          values = [await redis.sendCommand(['XRANGE', key, '-', '+']), await redis.sendCommand(['XINFO', 'GROUPS', key])];
          break;
        case 'none':
          continue; // expired or deleted since SCAN saw it
        default:
          throw new Error(`key ${key} has type ${type}, which this scanner cannot read`);
      }
      look(`redis value ${key}`, JSON.stringify(values));
    }
  }

  // PostgreSQL: every row of every table in the public schema, as text (jsonb included).
  const tables = await sql<{ name: string }[]>`
    select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`;
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['contacts', 'contact_cims', 'ledger_transactions', 'ledger_postings', 'offers']));
  const patterns = needles.map((n) => `%${n.replace(/[\\%_]/g, '\\$&')}%`);
  for (const { name } of tables) {
    const rows = await sql<{ row: string }[]>`select t::text as row from ${sql(name)} t where t::text like any(${patterns})`;
    for (const r of rows) look(`postgres ${name}`, r.row);
  }

  look('logs', gw.logs.join('\n'));
  return hits;
}

function invalidLuhn(pan: string): string {
  const last = Number(pan.at(-1));
  return pan.slice(0, -1) + String((last + 1) % 10);
}

/** The forms a PAN may be found in: as sent (with separators) and as digits. */
function forms(pan: string): string[] {
  const digits = pan.replace(/\D/g, '');
  return digits === pan ? [pan] : [pan, digits];
}

describe('no PAN is stored or logged', () => {
  let biz: BusinessFixture;

  it('the scanner finds a canary in every store it scans', async () => {
    biz = await createBusiness(gw);
    const canary = `canary-${randomBytes(6).toString('hex')}`;
    await redis.set(`canary:${canary}`, 'x');
    await redis.set('canary:string', `before ${canary} after`);
    await redis.hSet('canary:hash', 'f', `[${canary}]`);
    await redis.sendCommand(['RPUSH', 'canary:list', canary]);
    await redis.sendCommand(['SADD', 'canary:set', canary]);
    await redis.sendCommand(['ZADD', 'canary:zset', '1', canary]);
    await redis.sendCommand(['XADD', 'canary:stream', '*', 'e', JSON.stringify({ x: canary })]);
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: canary });
    expect(c.status).toBe(201);
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: `offer ${canary}`, goal: 'spend', kind: 'cashback', award: { percent: 1 }, active: false });
    expect(o.status).toBe(201);
    gw.logger.debug({ note: canary }, 'canary');

    const where = (await findEverywhere([canary])).get(canary)!;
    expect(where).toEqual(
      expect.arrayContaining([
        `redis key canary:${canary}`,
        'redis value canary:string',
        'redis value canary:hash',
        'redis value canary:list',
        'redis value canary:set',
        'redis value canary:zset',
        'redis value canary:stream',
        'postgres contacts',
        'postgres offers',
        'logs',
      ]),
    );
    for (const key of [`canary:${canary}`, 'canary:string', 'canary:hash', 'canary:list', 'canary:set', 'canary:zset', 'canary:stream']) await redis.del(key);
  });

  it('finds no PAN anywhere after contacts, purchases, wallet look-ups and failed requests', async () => {
    expect(biz).toBeDefined();
    await addCashbackOffer(gw, biz, 5);
    // Cards seen only by this test (the PostgreSQL scan covers every test's rows).
    const cards = Array.from({ length: 6 }, (_, i) => testCard(94_731_000 + i));
    const spaced = `${cards[1]!.slice(0, 4)} ${cards[1]!.slice(4, 8)} ${cards[1]!.slice(8, 12)} ${cards[1]!.slice(12)}`;
    const dashed = cards[2]!.replace(/(\d{4})(?=\d)/g, '$1-');
    const unknown = testCard(94_731_900); // Luhn-valid, never given to a contact
    const bad = [invalidLuhn(cards[0]!), invalidLuhn(testCard(94_731_901)), invalidLuhn(cards[3]!)];
    const replies: ApiResponse[] = [];
    const send = async (method: string, path: string, key: string, body?: unknown) => {
      const r = await call(gw, method, path, key, body);
      replies.push(r);
      return r;
    };

    // Contacts with cards (one sent with spaces, one with dashes), one card added later.
    const contacts: string[] = [];
    for (const [i, value] of [cards[0]!, spaced, dashed, cards[3]!].entries()) {
      const r = await send('POST', '/v1/contacts', biz.admin_key, { first_name: `C${i}`, cims: [{ type: 'card', value }] });
      expect(r.status, r.text).toBe(201);
      expect(r.body.cims[0].masked).toBe(`${cards[i]!.slice(0, 6)}******${cards[i]!.slice(-4)}`);
      contacts.push(r.body.id);
    }
    expect((await send('POST', `/v1/contacts/${contacts[0]}/cims`, biz.admin_key, { type: 'card', value: cards[4]! })).status).toBe(201);
    expect((await send('GET', `/v1/contacts/${contacts[0]}`, biz.admin_key)).status).toBe(200);

    // Purchases by card, in every form; a replay; wallet look-ups by card.
    const purchase_bodies = [cards[0]!, spaced, dashed, cards[3]!, cards[4]!].map((value, i) => ({ reference: `pan-${i}`, cim: { type: 'card', value }, amount: 1000 + i, currency: 'EUR' }));
    const approved: string[] = [];
    for (const body of purchase_bodies) {
      const r = await send('POST', '/v1/purchases', biz.terminal_key, body);
      expect(r.status, r.text).toBe(201);
      approved.push(r.body.id);
    }
    expect((await send('POST', '/v1/purchases', biz.terminal_key, purchase_bodies[0])).headers.get('idempotent-replayed')).toBe('true');
    for (const value of [cards[0]!, spaced, cards[4]!]) {
      const r = await send('GET', `/v1/wallets?cim_type=card&cim_value=${encodeURIComponent(value)}`, biz.terminal_key);
      expect(r.status, r.text).toBe(200);
    }

    // Failed requests: invalid PANs everywhere a card goes, an unknown card, a taken card, a
    // reference reused with another card, a body that is not JSON.
    for (const value of bad) {
      expect((await send('POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value }] })).body.code).toBe('validation_failed');
      expect((await send('POST', `/v1/contacts/${contacts[1]}/cims`, biz.admin_key, { type: 'card', value })).body.code).toBe('validation_failed');
      expect((await send('POST', '/v1/purchases', biz.terminal_key, { reference: `bad-${value}`, cim: { type: 'card', value }, amount: 100, currency: 'EUR' })).body.code).toBe('validation_failed');
      expect((await send('GET', `/v1/wallets?cim_type=card&cim_value=${value}`, biz.terminal_key)).body.code).toBe('validation_failed');
    }
    expect((await send('POST', '/v1/purchases', biz.terminal_key, { reference: 'unknown-card', cim: { type: 'card', value: unknown }, amount: 100, currency: 'EUR' })).body.code).toBe('contact_not_found');
    expect((await send('GET', `/v1/wallets?cim_type=card&cim_value=${unknown}`, biz.terminal_key)).body.code).toBe('contact_not_found');
    expect((await send('POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: cards[3]! }] })).body.code).toBe('cim_taken');
    expect((await send('POST', '/v1/purchases', biz.terminal_key, { ...purchase_bodies[0]!, cim: { type: 'card', value: cards[3]! } })).body.code).toBe('idempotency_conflict');
    expect((await send('POST', '/v1/purchases', biz.terminal_key, `{"reference":"x","cim":{"type":"card","value":"${cards[5]}"}`)).body.code).toBe('validation_failed');
    expect((await send('POST', '/v1/purchases', biz.terminal_key, { reference: 'wrong-type', cim: { type: 'card', value: 12345 }, amount: 1, currency: 'EUR', extra: cards[5] })).status).toBe(400);

    // A card number typed into free text (a name, a tag, an offer's name): refused, never stored.
    // A tier's name and an offer's tag and tier conditions too (a black-box probe, 2026-12-05).
    const typed = Array.from({ length: 7 }, (_, i) => testCard(94_731_910 + i));
    const typed_refusals = [
      await send('POST', '/v1/contacts', biz.admin_key, { first_name: typed[0] }),
      await send('PATCH', `/v1/contacts/${contacts[0]}`, biz.admin_key, { last_name: `Card ${typed[1]!.replace(/(\d{4})(?=\d)/g, '$1 ')}` }),
      await send('POST', '/v1/contacts', biz.admin_key, { first_name: 'Vip', tags: ['vip', typed[2]] }),
      await send('POST', '/v1/offers', biz.admin_key, { name: `Offer ${typed[3]}`, goal: 'spend', award: { percent: 1 } }),
      await send('PUT', '/v1/tiers', biz.admin_key, [{ name: 'Silver', min_period_units: 0, period: 'month' }, { name: typed[4], min_period_units: 100, period: 'month' }]),
      await send('POST', '/v1/offers', biz.admin_key, { name: 'Tagged', goal: 'spend', award: { percent: 1 }, conditions: { tags: [typed[5]] } }),
      await send('POST', '/v1/offers', biz.admin_key, { name: 'Tiered', goal: 'spend', award: { percent: 1 }, conditions: { tiers: [typed[6]] } }),
    ];
    for (const r of typed_refusals) expect([r.status, r.body.code], r.text).toEqual([400, 'validation_failed']);
    expect(typed_refusals.map((r) => r.body.errors[0].path)).toEqual(['first_name', 'last_name', 'tags.1', 'name', '1.name', 'conditions.tags.0', 'conditions.tiers.0']);

    const pans = [...new Set([...cards, spaced, dashed, unknown, ...bad, ...typed].flatMap(forms))];

    // Nothing echoed back in any reply, nor in the metrics (labelled by route, not by URL).
    const metrics = await call(gw, 'GET', '/metrics', undefined);
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('/v1/wallets');
    replies.push(metrics);
    for (const r of replies) for (const pan of pans) expect(r.text, `reply ${r.status} contains a PAN`).not.toContain(pan);

    // Redis, while the journal still holds every entry (no writer has drained it yet).
    const in_redis = await findEverywhere(pans);
    for (const [pan, where] of in_redis) expect(where, `PAN ${pan} found`).toEqual([]);

    // The idempotency records hold a digest of a request that carried a PAN. Unkeyed, with the
    // card's first six and last four digits known (the contact's masked CIM), only about 10^5
    // candidate PANs remain, so such a digest gives the PAN back: it must be keyed.
    for (const body of purchase_bodies) {
      const unkeyed = createHash('sha256').update('purchase').update(JSON.stringify(parseWith(purchaseSchema, body))).digest('base64url').slice(0, 22);
      const slot = referenceSlot(gw.processor.stores.config, biz.terminal_id, body.reference, Date.now());
      const claim = (await redis.sendCommand(['HGET', slot.claim_keys[0]!, slot.field])) as string | null;
      expect(claim).not.toBeNull();
      expect(claim!.slice(0, 10)).not.toBe(unkeyed.slice(0, 10));
      const found = (await findEverywhere([unkeyed])).get(unkeyed)!;
      expect(found, 'an unkeyed digest of a request carrying a PAN is stored').toEqual([]);
    }

    // Now into the ledger, and PostgreSQL and the logs once more.
    writer = new LedgerWriter(redis, sql, { shard_count });
    writer.start();
    await eventually('purchases recorded', async () => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where id = any(${approved})`;
      return row!.n === approved.length;
    });
    const everywhere = await findEverywhere(pans);
    for (const [pan, where] of everywhere) expect(where, `PAN ${pan} found`).toEqual([]);
    expect(gw.logs.length).toBeGreaterThan(0); // the canary line at least: the log capture works
  });
});
