// /readyz tells the POS path what its Redis probe found (redis-health.ts heard()). Its answer
// waits on PostgreSQL's check too (up to 1.5 s): what it tells must be what Redis said then,
// not undo a newer probe's finding once Redis takes writes again.

import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RedisClient } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { createContacts, type Contact } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';
import { startPgProxy, type PgProxy } from './pg-proxy.ts';

let own: OwnRedis;
let admin: RedisClient;
let pg: PgProxy;
let gw: TestGateway;
let biz: BusinessFixture;
let contact: Contact;

beforeAll(async () => {
  own = await startOwnRedis();
  admin = own.client;
  pg = await startPgProxy('forward');
  gw = await startTestGateway({ redis_url: own.url, database_url: pg.url, ledger_writer: false });
  biz = await createBusiness(gw);
  contact = (await createContacts(gw, biz, [testCard(61_000_001)]))[0]!;
});
afterAll(async () => {
  await pg?.set('refuse'); // its hung connections cut: the gateway's close does not wait on them
  await gw?.close();
  await pg?.close();
  await own?.stop();
});

const quote = () => call(gw, 'POST', '/v1/purchases/quote', biz.terminal_key, { cim: { type: 'card', value: contact.card }, amount: 1000, currency: 'EUR' });

it('a /readyz that waited on PostgreSQL does not tell the POS path a refusal Redis has ended', async () => {
  const health = gw.processor.stores.redis_health!;
  await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
  await eventually('the probe sees the refusal', async () => !health.writable, 5_000);
  await pg.set('hang');
  const readyz = call(gw, 'GET', '/readyz', undefined); // its Redis probe answers at once, PostgreSQL's check in 1.5 s
  await new Promise((r) => setTimeout(r, 200));
  await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
  await eventually('the probe sees Redis take writes again', async () => health.writable, 5_000);
  const r = await readyz;
  expect(r.body.postgres).toBe('down');
  // Told what Redis said 1.5 s ago, every POS request is 503 until the probe's next round (250 ms).
  expect(health.writable).toBe(true);
  const q = await quote();
  expect(q.status, q.text).toBe(200);
});
