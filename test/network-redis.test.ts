// The business network in Redis, written by the admin API after PostgreSQL: keys as their hashes
// only, rotation revoking the old key everywhere within seconds, a Redis write that fails after
// PostgreSQL committed answered 503 and converged by the same call again, acquirer links that
// neither squat nor tell, and the whole network copied from PostgreSQL into a Redis without it.

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage } from '../adapters/iso8583/codec.ts';
import { network_cache_ttl_ms } from '../processor/network.ts';
import { loadNetworkIntoRedis } from '../processor/network-load.ts';
import { expectProblem } from './contract-util.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, createContacts } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
let gw: TestGateway;
let other: TestGateway;
let biz: BusinessFixture;

const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');
/** A call a terminal key may make that reads nothing but the network: unknown CIM → 404, unknown key → 401. */
const probe = (g: TestGateway, key: string) => call(g, 'GET', '/v1/wallets?cim_type=email&cim_value=nobody@example.com', key);

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ redis_url: own.url }, false, true);
  other = await startTestGateway({ redis_url: own.url, ledger_writer: false });
  biz = await createBusiness(gw);
});
afterAll(async () => {
  await other?.close();
  await gw?.close();
  await own?.stop();
});

/** Every network hash and zset in Redis, as text: to compare and to search for secrets. */
async function networkDump(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for await (const keys of own.client.scanIterator({ MATCH: 'n:*', COUNT: 1000 })) {
    for (const key of keys) {
      const type = await own.client.type(key);
      out[key] = type === 'hash' ? await own.client.hGetAll(key) : type === 'zset' ? await own.client.zRangeWithScores(key, 0, -1) : type === 'string' && key !== 'n:loaded' ? await own.client.get(key) : type;
    }
  }
  return out;
}

describe('keys made by the admin API', () => {
  it('are in Redis as their hashes only, naming what they open, and work at once', async () => {
    const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: 'NR000001' });
    expect(t.status, t.text).toBe(201);
    expect(await own.client.hGetAll(`n:k:${sha256(t.body.api_key)}`)).toEqual({ b: biz.business_id, k: 'terminal', t: t.body.id });
    expect(await own.client.hGetAll(`n:t:${t.body.id}`)).toMatchObject({ b: biz.business_id, v: biz.venue_id, m: biz.merchant_id, code: 'NR000001', kh: sha256(t.body.api_key) });
    expect(await own.client.hGetAll(`n:k:${sha256(biz.admin_key)}`)).toEqual({ b: biz.business_id, k: 'admin' });
    expectProblem(await probe(other, t.body.api_key), 404, 'contact_not_found');
    const dump = JSON.stringify(await networkDump());
    for (const key of [t.body.api_key, biz.admin_key, biz.terminal_key]) expect(dump).not.toContain(key.slice(3));
  });

  it('a rotated terminal key stops working at once here and within the cache time on another gateway; the new one works', async () => {
    const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: 'NR000002' });
    expectProblem(await probe(other, t.body.api_key), 404, 'contact_not_found'); // now in the other gateway's cache
    const rotated = await call(gw, 'POST', `/v1/terminals/${t.body.id}/rotate-key`, biz.admin_key);
    expect(rotated.status, rotated.text).toBe(201);
    expect(rotated.body.id).toBe(t.body.id);
    expect(rotated.body.api_key).not.toBe(t.body.api_key);
    const revoked_at = Date.now();
    expectProblem(await probe(gw, t.body.api_key), 401, 'unauthorized');
    expect(await own.client.exists(`n:k:${sha256(t.body.api_key)}`)).toBe(0);
    await eventually('the other gateway refuses the old key', async () => (await probe(other, t.body.api_key)).status === 401, network_cache_ttl_ms + 2_000);
    expect(Date.now() - revoked_at).toBeLessThanOrEqual(network_cache_ttl_ms + 1_000);
    for (const g of [gw, other]) expectProblem(await probe(g, rotated.body.api_key), 404, 'contact_not_found');
  });

  it('a rotation that fails after revoking the old key in Redis puts it back: PostgreSQL rolled back and still holds it (a review, 2026-12-04)', async () => {
    const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: 'NR000098' });
    expect(t.status, t.text).toBe(201);
    const { sql } = gw.processor.stores;
    const fn = `refuse_key_${t.body.id as string}`;
    // A real PostgreSQL failure on the new key's insert, after the old key's Redis entry is gone.
    await sql.unsafe(`create function ${fn}() returns trigger language plpgsql as $$ begin
      if new.terminal_id = '${t.body.id as string}' then raise exception 'refused for the test'; end if; return new; end $$`);
    await sql.unsafe(`create trigger ${fn} before insert on api_keys for each row execute function ${fn}()`);
    try {
      const r = await call(gw, 'POST', `/v1/terminals/${t.body.id as string}/rotate-key`, biz.admin_key);
      expect(r.status, r.text).toBeGreaterThanOrEqual(500);
    } finally {
      await sql.unsafe(`drop trigger ${fn} on api_keys`);
      await sql.unsafe(`drop function ${fn}()`);
    }
    expect(await own.client.hGetAll(`n:k:${sha256(t.body.api_key)}`)).toEqual({ b: biz.business_id, k: 'terminal', t: t.body.id });
    expectProblem(await probe(gw, t.body.api_key), 404, 'contact_not_found');
  });

  it("another business's terminal, or an unknown one, is 404 to rotate, and its key keeps working", async () => {
    const stranger = await createBusiness(gw);
    expectProblem(await call(gw, 'POST', `/v1/terminals/${biz.terminal_id}/rotate-key`, stranger.admin_key), 404, 'not_found');
    expectProblem(await call(gw, 'POST', '/v1/terminals/ter_nothing/rotate-key', stranger.admin_key), 404, 'not_found');
    expectProblem(await call(gw, 'POST', `/v1/terminals/${biz.terminal_id}/rotate-key`, biz.terminal_key), 403, 'forbidden');
    expectProblem(await probe(gw, biz.terminal_key), 404, 'contact_not_found');
  });
});

describe('a Redis write failing after PostgreSQL committed', () => {
  it('answers 503, and the same call again converges: one terminal, one merchant, keys that work', async () => {
    const venue = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Converge', merchant_id: biz.merchant_id });
    const sql = gw.processor.stores.sql;
    // Redis out of memory: reads go on, writes are refused.
    await own.client.configSet('maxmemory', '1');
    try {
      const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: venue.body.id, code: 'CONV0001' });
      expectProblem(t, 503, 'unavailable');
      expectProblem(await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Conv', code: 'CONVM1' }), 503, 'unavailable');
    } finally {
      await own.client.configSet('maxmemory', '0');
    }
    const [half] = await sql<{ n: number }[]>`select count(*)::int as n from terminals where business_id = ${biz.business_id} and code = 'CONV0001'`;
    expect(half!.n).toBe(1); // PostgreSQL committed it

    const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: venue.body.id, code: 'CONV0001' });
    expect(t.status, t.text).toBe(201);
    // The other gateway saw Redis refuse writes too; it serves again once its own probe of Redis
    // says so (a CI run on a busy machine met it still answering 503 here).
    await eventually('the other gateway takes transactions again', async () => (await probe(other, t.body.api_key)).status !== 503, 10_000);
    expectProblem(await probe(other, t.body.api_key), 404, 'contact_not_found');
    const m = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Conv', code: 'CONVM1' });
    expect(m.status, m.text).toBe(201);
    const [rows] = await sql<{ t: number; m: number; keys: number }[]>`
      select (select count(*)::int from terminals where business_id = ${biz.business_id} and code = 'CONV0001') as t,
             (select count(*)::int from merchants where business_id = ${biz.business_id} and code = 'CONVM1') as m,
             (select count(*)::int from api_keys where terminal_id = ${t.body.id}) as keys`;
    expect(rows).toEqual({ t: 1, m: 1, keys: 1 });
    expect(await own.client.hGet(`n:m:${m.body.id}`, 'code')).toBe('CONVM1');
    // Once finished, the same call is a duplicate as before.
    expect((await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: venue.body.id, code: 'CONV0001' })).status).toBe(400);
    expect((await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Conv', code: 'CONVM1' })).status).toBe(400);
  });
});

describe('acquirer links', () => {
  let iso: IsoClient;
  let stan = 0;
  beforeAll(async () => {
    iso = await connectIso(gw.iso8583_port);
  });
  afterAll(async () => {
    await iso?.close();
  });
  const purchase = (acquirer: string, merchant_code: string, terminal_code: string, card: string) =>
    iso.send(createMessage('0200', { 2: card, 3: '000000', 4: '000000001000', 7: '1124101500', 11: String(++stan).padStart(6, '0'), 32: acquirer, 41: terminal_code, 42: merchant_code.padEnd(15, ' '), 49: '978' }));

  it("linking another business's DE32 answers as any link, and takes none of its traffic", async () => {
    const acquirer = String(100_000_000 + Math.floor(Math.random() * 899_999_999));
    const first = await createBusiness(gw);
    const squatter = await createBusiness(gw);
    const a = await call(gw, 'POST', '/v1/iso8583/links', first.admin_key, { acquirer_id: acquirer });
    expect(a.status, a.text).toBe(201);
    const b = await call(gw, 'POST', '/v1/iso8583/links', squatter.admin_key, { acquirer_id: acquirer });
    const fresh = await call(gw, 'POST', '/v1/iso8583/links', squatter.admin_key, { acquirer_id: String(Number(acquirer) + 1) });
    // Nothing tells the second business that the first linked it: the same answer as a fresh DE32.
    expect(b.status, b.text).toBe(201);
    expect(Object.keys(b.body).sort()).toEqual(Object.keys(fresh.body).sort());
    expect(b.body).toMatchObject({ acquirer_id: acquirer, business_id: squatter.business_id });
    expect(b.text).not.toContain(first.business_id);
    // Linking again is the same link.
    const again = await call(gw, 'POST', '/v1/iso8583/links', first.admin_key, { acquirer_id: acquirer });
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(a.body.id);

    // The squatter copies the first business's merchant and terminal codes: the traffic stays with the first.
    const m = await call(gw, 'POST', '/v1/merchants', squatter.admin_key, { name: 'Copy', code: first.merchant_code });
    const v = await call(gw, 'POST', '/v1/venues', squatter.admin_key, { name: 'Copy', merchant_id: m.body.id });
    expect((await call(gw, 'POST', '/v1/terminals', squatter.admin_key, { venue_id: v.body.id, code: first.terminal_code })).status).toBe(201);
    await addCashbackOffer(gw, first, 10);
    await addCashbackOffer(gw, squatter, 10);
    const [mine] = await createContacts(gw, first, [testCard(32_000_001)]);
    const [theirs] = await createContacts(gw, squatter, [testCard(32_000_002)]);
    expect((await purchase(acquirer, first.merchant_code, first.terminal_code, mine!.card)).fields[39]).toBe('00');
    expect((await purchase(acquirer, first.merchant_code, first.terminal_code, theirs!.card)).fields[39]).toBe('14'); // not the squatter's contact
    expect((await call(gw, 'GET', `/v1/contacts/${mine!.id}/wallet`, first.admin_key)).body.commerce).toBe(100);

    // Codes only the squatter has do reach it.
    const own_venue = await call(gw, 'POST', '/v1/venues', squatter.admin_key, { name: 'Own' });
    expect((await call(gw, 'POST', '/v1/terminals', squatter.admin_key, { venue_id: own_venue.body.id, code: 'SQ000001' })).status).toBe(201);
    expect((await purchase(acquirer, '', 'SQ000001', theirs!.card)).fields[39]).toBe('00');
    expect((await call(gw, 'GET', `/v1/contacts/${theirs!.id}/wallet`, squatter.admin_key)).body.commerce).toBe(100);
  });
});

describe('the whole network copied from PostgreSQL', () => {
  it('is idempotent and counts what it copied', async () => {
    const stores = gw.processor.stores;
    const progress: string[] = [];
    const counts = await loadNetworkIntoRedis(stores, (kind, done, total) => progress.push(`${kind}:${done}/${total}`));
    const before = await networkDump();
    const again = await loadNetworkIntoRedis(stores);
    expect(await networkDump()).toEqual(before);
    expect(again.terminals).toBeGreaterThanOrEqual(counts.terminals);
    expect(counts.businesses).toBeGreaterThanOrEqual(4);
    expect(counts.terminals).toBeGreaterThanOrEqual(counts.businesses);
    expect(counts.links).toBeGreaterThanOrEqual(3);
    expect(progress.some((p) => p.startsWith('terminals:'))).toBe(true);
  });

  it('waits for a rotation holding a terminal and copies its new key, never the one it replaced (a review, 2026-12-04)', async () => {
    const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: 'NR000099' });
    expect(t.status, t.text).toBe(201);
    const { sql } = gw.processor.stores;
    const old_hash = sha256(t.body.api_key);
    const new_hash = sha256(`tk_test_rotated_${Date.now()}`);
    let loading: Promise<unknown> = Promise.resolve();
    // What a rotation does under the terminal's row lock (processor/network.ts rotateTerminalKey).
    await sql.begin(async (tx) => {
      await tx`select 1 from terminals where id = ${t.body.id as string} for update`;
      await tx`delete from api_keys where terminal_id = ${t.body.id as string}`;
      await tx`insert into api_keys (hash, business_id, kind, terminal_id) values (${new_hash}, ${biz.business_id}, 'terminal', ${t.body.id as string})`;
      await own.client.del(`n:k:${old_hash}`);
      loading = loadNetworkIntoRedis(gw.processor.stores);
      loading.catch(() => {}); // awaited below; not an unhandled rejection if the wait fails first
      // The copy's own statement, waiting (rotations elsewhere lock terminals for update).
      await eventually('the copy to wait on the terminal', async () => {
        const [w] = await sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%from terminals%for share%'`;
        return w!.n > 0;
      }, 60_000);
    });
    await loading;
    expect(await own.client.exists(`n:k:${old_hash}`)).toBe(0);
    expect(await own.client.hGet(`n:t:${t.body.id as string}`, 'kh')).toBe(new_hash);
  });

  it('a gateway finding no network in Redis copies it at start: every key works again', async () => {
    await own.client.flushDb();
    expect(await own.client.exists(`n:k:${sha256(biz.terminal_key)}`)).toBe(0);
    const fresh = await startTestGateway({ redis_url: own.url, ledger_writer: false });
    try {
      expect(await own.client.exists('n:loaded')).toBe(1);
      expectProblem(await probe(fresh, biz.terminal_key), 404, 'contact_not_found');
      expect((await call(fresh, 'GET', '/v1/offers', biz.admin_key)).status).toBe(200);
      expect(await own.client.exists(`n:r:${biz.business_id}`)).toBe(1); // the rewards snapshot too
    } finally {
      await fresh.close();
    }
  });
});
