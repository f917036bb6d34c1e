// OPERATIONS.md, sentence by sentence, where the implementation did not do what it says: each test
// quotes the sentence it holds the gateway or a command to, and drives it from outside (HTTP, or
// the command as `npm run` starts it).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../gateway/config.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { runCommand, startOwnStores, type OwnStores } from './own-stores.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';
import { startPgProxy, type PgProxy } from './pg-proxy.ts';

const lag = async (gw: TestGateway): Promise<number> => (await call(gw, 'GET', '/readyz', undefined)).body.ledger_lag as number;

// "Past `JOURNAL_LENGTH_MAX` entries behind on a shard, new transactions on that shard answer 503
// `unavailable`, never lose data." Entries the ledger already holds are not behind: the shard
// refused purchases whenever its journal stream held JOURNAL_LENGTH_MAX entries, acknowledged
// ones not yet trimmed (the writer trims once a second) included, so traffic with the ledger 0
// entries behind got 503s.
describe('JOURNAL_LENGTH_MAX', () => {
  const journal_length_max = 1_000;
  let own: OwnRedis;
  let proxy: PgProxy;
  let gw: TestGateway;
  let biz: BusinessFixture;
  let seq = 0;
  const card = (i: number) => testCard(52_000_000 + (i % 20));
  const purchase = (reference = `jl-${++seq}`) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: card(seq) }, amount: 100, currency: 'EUR' });

  beforeAll(async () => {
    own = await startOwnRedis();
    proxy = await startPgProxy('forward');
    const base = configFromEnv();
    gw = await startTestGateway({ redis_url: own.url, database_url: proxy.url, processor: { ...base.processor, shard_count: 1, journal_length_max } });
    biz = await createBusiness(gw);
    for (let i = 0; i < 20; i++) expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card(i) }] })).status).toBe(201);
  });
  afterAll(async () => {
    await gw?.close();
    await proxy?.close();
    await own?.stop();
  });

  it('approves while the ledger keeps up, however long the journal was; past the bound behind, 503 unavailable, then approves again once the ledger caught up', async () => {
    const statuses: Record<number, number> = {};
    let most_behind = 0;
    let done = false;
    const watch = (async () => {
      while (!done) {
        most_behind = Math.max(most_behind, await lag(gw));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    let sent = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (sent < 3 * journal_length_max) {
          sent++;
          const p = await purchase();
          statuses[p.status] = (statuses[p.status] ?? 0) + 1;
        }
      }),
    );
    done = true;
    await watch;
    // The ledger never fell behind by the bound: every purchase is approved.
    expect(most_behind).toBeLessThan(journal_length_max);
    expect(statuses).toEqual({ 201: 3 * journal_length_max });

    // PostgreSQL gone: the journal grows up to the bound behind, then the shard answers 503.
    await eventually('the ledger caught up', async () => (await lag(gw)) === 0, 30_000);
    await proxy.set('refuse');
    let approved = 0;
    let refused: { status: number; body: any } | undefined;
    let refused_reference = '';
    while (refused === undefined && approved <= journal_length_max) {
      const reference = `jl-${++seq}`;
      const p = await purchase(reference);
      if (p.status === 201) approved++;
      else [refused, refused_reference] = [p, reference];
    }
    expect([refused?.status, refused?.body.code]).toEqual([503, 'unavailable']);
    expect(approved).toBe(journal_length_max);
    expect(await lag(gw)).toBe(journal_length_max);
    // Back: the ledger catches up by itself and the refused request, sent again, is approved.
    await proxy.set('forward');
    await eventually('the ledger caught up', async () => (await lag(gw)) === 0, 30_000);
    expect((await purchase(refused_reference)).status).toBe(201); // seq unchanged: the same body
  });
});

// `npm run rebuild`: "Prints a progress bar and what it loaded." Its bar was drawn only on a
// terminal: run with its output read by another program (a pipe), it printed no bar at all.
describe('npm run rebuild', () => {
  let stores: OwnStores;

  beforeAll(async () => {
    stores = await startOwnStores('opsconf');
  });
  afterAll(async () => {
    await stores?.stop();
  });

  it('prints a progress bar, also when its output is a pipe, and what it loaded', async () => {
    const gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
    try {
      const biz = await createBusiness(gw);
      for (let i = 0; i < 3; i++) {
        expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(53_000_000 + i) }] })).status).toBe(201);
        const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `pb-${i}`, cim: { type: 'card', value: testCard(53_000_000 + i) }, amount: 1_000, currency: 'EUR' });
        expect(p.status, p.text).toBe(201);
      }
      await eventually('the ledger caught up', async () => (await lag(gw)) === 0);
    } finally {
      await gw.close();
    }
    await stores.redis.client.flushAll();
    const r = await runCommand('rebuild-main.ts', [], { REDIS_URL: stores.redis.url, DATABASE_URL: stores.database_url, CIM_HMAC_KEY: process.env.CIM_HMAC_KEY ?? 'test-hmac-key' });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('contacts: 3');
    // The window it laid the records out for, which the gateways must share (a probe rebuilt with
    // another: every repeat after it was made anew, and nothing said so).
    expect(r.stdout).toMatch(/3 transaction records, .* laid out for REPLY_TTL_SECONDS=\d+: the gateways' must be the same/);
    // A bar run to its end: the contacts' phase, 3 of 3.
    expect(r.stderr).toMatch(/contacts \[[^\]]+\] 3\/3 \(100%\)/);
  });
});
