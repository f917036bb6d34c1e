// Redis refusing writes (out of memory, a read-only replica): every POS request answers 503
// `unavailable` (ISO 8583: DE39 91), never 500, and the gateway serves again once Redis does,
// without a restart. The gateway runs on a Redis of this test's own, which it makes refuse.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorReply } from 'redis';
import { responseCode } from '../adapters/iso8583/mapping.ts';
import type { RedisClient } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, createContacts, type Contact } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';
import { createProcessor, postCallback, sale, transactionId } from './callback-helpers.ts';

let own: OwnRedis;
let admin: RedisClient;
let gw: TestGateway;
let biz: BusinessFixture;
let contact: Contact;
let seq = 0;

beforeAll(async () => {
  own = await startOwnRedis();
  admin = own.client;
  gw = await startTestGateway({ redis_url: own.url, ledger_writer: false });
  biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
  contact = (await createContacts(gw, biz, [testCard(14_000_001)]))[0]!;
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});

const purchase = () => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `rr-${++seq}`, cim: { type: 'card', value: contact.card }, amount: 1000, currency: 'EUR' });

const ready = () => call(gw, 'GET', '/readyz', undefined);

const quote = () => call(gw, 'POST', '/v1/purchases/quote', biz.terminal_key, { cim: { type: 'card', value: contact.card }, amount: 1000, currency: 'EUR' });

describe('Redis refusing writes', () => {
  it('/readyz: 200 while Redis takes writes, with the ledger lag counted (no writer here: every approval)', async () => {
    const approved = [];
    for (let i = 0; i < 3; i++) approved.push(await purchase());
    expect(approved.map((r) => r.status)).toEqual([201, 201, 201]);
    const res = await ready();
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ redis: 'ok', postgres: 'ok', ledger_lag: seq });
  });

  it('out of memory: 503 unavailable, then approvals again once it has room', async () => {
    expect((await purchase()).status).toBe(201);
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
    try {
      const r = await ready();
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ redis: 'refusing_writes', postgres: 'ok' });
      const refused = await purchase();
      expect(refused.status, refused.text).toBe(503);
      expect(refused.body.code).toBe('unavailable');
      const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: `rr-${++seq}`, amount: 1, currency: 'EUR', wallet_code: '4111111111111111' });
      expect(spend.status, spend.text).not.toBe(500);
      // POS reads too (OPERATIONS.md: every POS request), once the gateway's probe has seen it
      // (every 250 ms); an admin's read of the same wallet goes on.
      await eventually('a quote refused', async () => (await quote()).status === 503, 2_000);
      const refused_quote = await quote();
      expect(refused_quote.body.code).toBe('unavailable');
      const look_up = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${contact.card}`, biz.terminal_key);
      expect(look_up.status, look_up.text).toBe(503);
      expect((await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${contact.card}`, biz.admin_key)).status).toBe(200);
    } finally {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
    }
    expect((await purchase()).status).toBe(201);
    await eventually('quotes again', async () => (await quote()).status === 200, 2_000);
  });

  it('a quote and a wallet look-up sent as soon as /readyz said refusing_writes are 503 too (OPERATIONS.md: 200 exactly when the POS path can approve)', async () => {
    for (let i = 0; i < 3; i++) {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
      try {
        expect((await ready()).body.redis).toBe('refusing_writes');
        const refused_quote = await quote();
        expect(refused_quote.status, refused_quote.text).toBe(503);
        expect(refused_quote.body.code).toBe('unavailable');
        expect((await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${contact.card}`, biz.terminal_key)).status).toBe(503);
      } finally {
        await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
      }
      expect((await ready()).status).toBe(200);
      const served = await quote();
      expect(served.status, served.text).toBe(200);
    }
  });

  it('a quote and a wallet look-up sent first, the moment Redis refuses writes, are 503 (no probe has run yet)', async () => {
    for (let i = 0; i < 3; i++) {
      // Each read in a round of its own: the first POS call after the refusal began, before the
      // gateway's probe (every 250 ms) or a /readyz could have seen it.
      for (const read of [quote, () => call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${contact.card}`, biz.terminal_key)]) {
        expect((await read()).status).toBe(200);
        await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
        try {
          const refused = await read();
          expect(refused.status, refused.text).toBe(503);
          expect(refused.body.code).toBe('unavailable');
        } finally {
          await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
        }
        await eventually('Redis takes writes again', async () => (await ready()).status === 200);
      }
    }
  });

  it('50 purchases at once while Redis refuses: all 503, and Redis is probed a few times, not once more for each', async () => {
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
    try {
      expect((await ready()).body.redis).toBe('refusing_writes');
      await admin.sendCommand(['CONFIG', 'RESETSTAT']);
      const refused = await Promise.all(Array.from({ length: 50 }, () => purchase()));
      expect(refused.map((r) => r.status)).toEqual(Array(50).fill(503));
      // SETs Redis was sent (calls, and rejected_calls: refused for want of memory): the probe's
      // writes alone. Before, one re-probe per purchase refused: 50 and more.
      const stats = String(await admin.sendCommand(['INFO', 'commandstats']));
      const set = /cmdstat_set:calls=(\d+),[^\r\n]*?rejected_calls=(\d+)/.exec(stats);
      const sets = set === null ? 0 : Number(set[1]) + Number(set[2]);
      expect(sets).toBeLessThanOrEqual(5);
    } finally {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
    }
    expect((await purchase()).status).toBe(201);
  });

  // A contact committed to PostgreSQL while Redis refused its copy stood without it, and the
  // retry the 503 asks for made a second one when no CIM tied the two (a black-box probe,
  // 2026-12-05: two contacts with one email, the look-up by it then 404). Refused at once now.
  it('a contact created or imported while Redis refuses writes: 503 and nothing written; the retry makes one contact', async () => {
    const sql = gw.processor.stores.sql;
    const email = `refused-${Date.now()}@example.com`;
    const count = async () => (await sql<{ n: number }[]>`select count(*)::int4 as n from contacts where business_id = ${biz.business_id} and email = ${email}`)[0]!.n;
    const lines = [JSON.stringify({ first_name: 'Imported', email }), JSON.stringify({ first_name: 'Imported', email })].join('\n');
    const importing = () => gw.app.request('/v1/contacts/import', { method: 'POST', headers: { authorization: `Bearer ${biz.admin_key}`, 'content-type': 'application/x-ndjson' }, body: lines });
    await admin.sendCommand(['REPLICAOF', '127.0.0.1', '1']);
    try {
      expect((await ready()).body.redis).toBe('refusing_writes');
      const refused = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Refused', email });
      expect(refused.status, refused.text).toBe(503);
      expect(refused.body.code).toBe('unavailable');
      const imported = await importing();
      expect(imported.status, await imported.text()).toBe(503);
      expect(await count()).toBe(0);
    } finally {
      await admin.sendCommand(['REPLICAOF', 'NO', 'ONE']);
    }
    await eventually('Redis takes writes again', async () => (await ready()).status === 200);
    const made = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Refused', email });
    expect(made.status, made.text).toBe(201);
    expect(await count()).toBe(1);
  });

  it('a read-only replica: 503 unavailable, then approvals again once it is a master', async () => {
    await admin.sendCommand(['REPLICAOF', '127.0.0.1', '1']);
    try {
      expect((await ready()).body.redis).toBe('refusing_writes');
      const refused = await purchase();
      expect(refused.status, refused.text).toBe(503);
      expect(refused.body.code).toBe('unavailable');
    } finally {
      await admin.sendCommand(['REPLICAOF', 'NO', 'ONE']);
    }
    expect((await purchase()).status).toBe(201);
    expect((await ready()).status).toBe(200);
  });

  it('a processor callback, valid or malformed, is 503 unavailable (EVENTS.md: only a 5xx is retried), then processed once Redis takes writes', async () => {
    const p = await createProcessor(gw, biz);
    const event = sale('transaction.cleared', { transaction_id: transactionId(), card: { number: contact.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code });
    const malformed = { id: `${event.id}-bad`, type: 'transaction.cleared', created_at: event.created_at, data: { amount: 'x' } };
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
    try {
      for (const body of [event, malformed]) {
        const refused = await postCallback(gw, p, body);
        expect(refused.status, refused.text).toBe(503);
        expect(refused.body.code).toBe('unavailable');
      }
    } finally {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
    }
    await eventually('callbacks again', async () => (await postCallback(gw, p, event)).status === 200, 2_000);
    const again = await postCallback(gw, p, event);
    expect(again.body).toMatchObject({ event_id: event.id, status: 'processed', replayed: true });
    expect((await postCallback(gw, p, malformed)).body).toMatchObject({ status: 'rejected', code: 'validation_failed' });
  });

  it('ISO 8583 answers such a refusal with DE39 91, a fault of ours with 96', () => {
    expect(responseCode(new ErrorReply("OOM command not allowed when used memory > 'maxmemory'."))).toBe('91');
    expect(responseCode(new ErrorReply('LOADING Redis is loading the dataset in memory'))).toBe('91');
    expect(responseCode(new ErrorReply('ERR wrong number of arguments'))).toBe('96');
    expect(responseCode(new TypeError('x is undefined'))).toBe('96');
  });
});
