// No card number a payment processor sends in a callback is stored or logged: not in PostgreSQL
// (every text of every row of every table), not in the Redis AOF (every command Redis ever wrote,
// keys deleted since included), not in the gateway's logs at debug level, not in any reply. The
// gateway runs on a Redis of this test's own with an AOF (appendfsync always) in a folder of its
// own, which is read byte for byte. The scanner is first shown to find a canary in each place.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Sql } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type ApiResponse, type BusinessFixture, type TestGateway } from './helpers.ts';
import { createProcessor, eventId, postCallback, refunded, reversed, sale, transactionId, type ProcessorFixture } from './callback-helpers.ts';
import { startPersistentRedis, type PersistentRedis } from './own-redis.ts';

let redis: PersistentRedis;
let gw: TestGateway;
let biz: BusinessFixture;
let p: ProcessorFixture;

beforeAll(async () => {
  redis = await startPersistentRedis();
  gw = await startTestGateway({ redis_url: redis.url, log_level: 'debug' });
  biz = await createBusiness(gw);
  p = await createProcessor(gw, biz, 'authorization');
});
afterAll(async () => {
  await gw?.close();
  await redis?.stop();
});

/** Every file of the Redis's AOF (Redis 7: a folder of base and incremental files), concatenated. */
async function aofBytes(): Promise<string> {
  const config = await redis.client.configGet(['dir', 'appenddirname']);
  const root = join(config.dir!, config.appenddirname!);
  const files = readdirSync(root).map((f) => join(root, f)).filter((f) => statSync(f).isFile());
  expect(files.length).toBeGreaterThan(0);
  return files.map((f) => readFileSync(f).toString('latin1')).join('\n');
}

/** Every row of every table, as text. */
async function postgresText(sql: Sql, needles: string[]): Promise<string[]> {
  const tables = await sql<{ name: string }[]>`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`;
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['callback_events', 'processors', 'processor_secrets', 'ledger_transactions', 'contact_cims']));
  const patterns = needles.map((n) => `%${n}%`);
  const found: string[] = [];
  for (const { name } of tables) {
    const rows = await sql<{ row: string }[]>`select t::text as row from ${sql(name)} t where t::text like any(${patterns})`;
    for (const r of rows) for (const n of needles) if (r.row.includes(n)) found.push(`${n} in ${name}`);
  }
  return found;
}

async function findEverywhere(needles: string[]): Promise<string[]> {
  const aof = await aofBytes();
  const logs = gw.logs.join('\n');
  return [
    ...needles.filter((n) => aof.includes(n)).map((n) => `${n} in the AOF`),
    ...needles.filter((n) => logs.includes(n)).map((n) => `${n} in the logs`),
    ...(await postgresText(gw.processor.stores.sql, needles)),
  ];
}

it('the scanner finds a canary in the AOF, in PostgreSQL and in the logs', async () => {
  const canary = `canary${Date.now()}`;
  await redis.client.set(`k:${canary}`, 'x');
  await redis.client.del(`k:${canary}`); // deleted: still in the AOF
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: canary });
  expect(c.status).toBe(201);
  gw.logger.debug({ note: canary }, 'canary');
  const found = await findEverywhere([canary]);
  expect(found).toEqual(expect.arrayContaining([`${canary} in the AOF`, `${canary} in the logs`, `${canary} in contacts`]));
});

it('finds no card number anywhere after callbacks of every kind, processed, ignored, rejected or refused', async () => {
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5%', goal: 'spend', award: { percent: 5 } });
  expect(o.status).toBe(201);
  const cards = Array.from({ length: 3 }, (_, i) => testCard(77_123_400 + i));
  for (const card of cards) expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
  const spaced = cards[1]!.replace(/(\d{4})(?=\d)/g, '$1 ');
  const unknown = testCard(77_123_499);
  const luhn_bad = cards[2]!.slice(0, -1) + String((Number(cards[2]!.at(-1)) + 1) % 10);
  const data = (transaction_id: string, card: Record<string, unknown>, amount = 1000) => ({ transaction_id, ...card, amount, currency: 'EUR', merchant_code: biz.merchant_code });
  const replies: ApiResponse[] = [];
  const send = async (body: unknown, options?: Parameters<typeof postCallback>[3]) => {
    const r = await postCallback(gw, p, body, options);
    replies.push(r);
    return r;
  };

  const t1 = transactionId();
  const t2 = transactionId();
  const batch = [
    sale('transaction.authorized', data(t1, { card: { number: cards[0] } }, 2000)),
    sale('transaction.cleared', data(t1, { card: { number: cards[0] } }, 1500)), // refunds the difference
    sale('transaction.authorized', data(t2, { card: { number: spaced } })),
    sale('transaction.authorized', data(transactionId(), { cim: { type: 'card', value: cards[2] } })),
    sale('transaction.authorized', data(transactionId(), { card: { number: unknown } })), // contact_not_found
    sale('transaction.authorized', data(transactionId(), { card: { number: luhn_bad } })), // rejected
    sale('transaction.authorized', data(transactionId(), { card: { number: cards[0] }, cim: { type: 'card', value: cards[1] } })), // rejected: both
    sale('transaction.authorized', { ...data(transactionId(), { card: { number: cards[0] } }), amount: 'ten' }), // rejected
    refunded({ ...data(transactionId('rfd'), {}, 500), original_transaction_id: t2 }),
    reversed(t2),
  ];
  const res = await send({ events: batch });
  expect(res.status, res.text).toBe(200);
  expect(res.body.results.map((r: { status: string }) => r.status)).toEqual(['processed', 'processed', 'processed', 'processed', 'ignored', 'rejected', 'rejected', 'rejected', 'processed', 'processed']);
  expect((await send({ events: batch })).body.results.every((r: { replayed?: boolean }) => r.replayed === true)).toBe(true);
  // Refused before anything is parsed: a wrong signature, a stale one; a body that is not JSON.
  const single = sale('transaction.authorized', data(transactionId(), { card: { number: cards[1] } }));
  expect((await send(single, { secrets: ['whsec_wrong'] })).status).toBe(401);
  expect((await send(single, { t: Math.floor(Date.now() / 1000) - 1000 })).status).toBe(401);
  expect((await send(`{"id":"${eventId()}","data":{"card":{"number":"${cards[1]}"}`)).status).toBe(400);

  const pans = [...new Set([...cards, spaced, spaced.replace(/ /g, ''), unknown, luhn_bad])];
  for (const r of replies) for (const pan of pans) expect(r.text, `a reply holds ${pan}`).not.toContain(pan);
  await eventually('the callbacks’ transactions in the ledger', async () => {
    const [row] = await gw.processor.stores.sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where business_id = ${biz.business_id}`;
    return row!.n >= 6;
  });
  expect(await findEverywhere(pans)).toEqual([]);
  expect(gw.logs.length).toBeGreaterThan(0);
});
