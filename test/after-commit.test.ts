// What follows a committed purchase (giving back the budget of awards its script refused) can
// fail on its own. That failure must neither change the reply the purchase committed nor end the
// process: it was an unhandled promise rejection, which ends a Node 20 process.
//
// The failure is a real Redis one: the gateway connects as a Redis user that may run the shard
// and budget scripts but not DECRBY, the command that gives a budget back.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { budgetKey } from '../processor/hot/keys.ts';
import type { RedisClient } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { connectTestRedis, redis_dbs, redisUrl } from './ledger-helpers.ts';

const redis_db = redis_dbs.after_commit;
const user = `pg_no_decrby_${process.pid}`;
let gw: TestGateway;
let admin: RedisClient;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  admin = await connectTestRedis(redis_db);
  await admin.sendCommand(['ACL', 'SETUSER', user, 'reset', 'on', 'nopass', '~*', '&*', '+@all', '-decrby']);
  const url = new URL(redisUrl(redis_db));
  url.username = user;
  url.password = 'any'; // a nopass user takes any password
  gw = await startTestGateway({ redis_url: url.toString() });
  process.on('unhandledRejection', onUnhandled);
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await gw?.close();
  await admin.sendCommand(['ACL', 'DELUSER', user]);
  await admin.close();
});

it('a purchase whose refused award cannot give its budget back keeps its reply, and the process lives', async () => {
  const biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, {
    name: 'once, budgeted', goal: 'spend', award: { fixed: 100 }, limits: { per_contact: { count: 1, period: 'lifetime' }, budget: 10_000 },
  });
  expect(o.status, o.text).toBe(201);
  const card = testCard(88_000_001);
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
  const buy = (reference: string) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });

  const first = await buy('ac-1');
  expect(first.status, first.text).toBe(201);
  expect(first.body.awards).toHaveLength(1);
  // The second reserves budget for an award its script refuses (the per-contact cap): giving
  // that back is a DECRBY, which this gateway's Redis user may not run.
  const second = await buy('ac-2');
  expect(second.status, second.text).toBe(201);
  expect(second.body.awards).toEqual([]);
  expect(second.body.wallet).toEqual({ open: 0, commerce: 100 });
  // A replay gives all of its reservations back: the same failure, the same reply.
  const replay = await buy('ac-2');
  expect(replay.status).toBe(201);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  expect(replay.text).toBe(second.text);

  await new Promise((resolve) => setTimeout(resolve, 100)); // let any stray rejection surface
  expect(unhandled).toEqual([]);
  const reports = await eventually('the failures to be logged', async () => {
    const found = gw.logs.filter((l) => l.includes('could not give back the budget'));
    return found.length >= 2 ? found : undefined;
  });
  const report = JSON.parse(reports[0]!) as { level: number; offers: { offer_id: string; amount: number }[]; err: { message: string } };
  expect(report.level).toBe(50); // error
  expect(report.offers).toEqual([{ offer_id: o.body.id, amount: 100 }]);
  // Refused inside budget.lua, which gives a budget back since 2026-12-05 (DECRBY in a script).
  expect(report.err.message).toMatch(/NOPERM|can't run this command/);
  // What was not given back stays reserved: the offer may stop short of its budget, never pass it.
  expect(Number(await admin.get(budgetKey(o.body.id)))).toBe(300);
  // The gateway goes on.
  expect((await buy('ac-3')).status).toBe(201);
});
