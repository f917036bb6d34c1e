// The hints of emails and phones on file (processor/detail-hints.ts), through a rebuild: the POS
// path reads them while PostgreSQL cannot answer (test/postgres-down.test.ts), so a Redis rebuilt
// from PostgreSQL must hold the same: one contact named, several as '*', a detail that is also the
// contact's own CIM not hinted, a detail a PATCH took away naming nobody.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { journalMarks, waitForLedger } from '../processor/ledger/caught-up.ts';
import { rebuild } from '../processor/ledger/rebuild.ts';
import { CimIndex } from '../processor/hot/cim-index.ts';
import { DetailHints, type DetailType } from '../processor/detail-hints.ts';

let own: OwnStores;
let gw: TestGateway;

beforeAll(async () => {
  own = await startOwnStores('detailhints');
  gw = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url });
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});

describe('hints of the details on file through a rebuild', () => {
  it('a rebuilt Redis holds the hints the live one made, and none it took away', async () => {
    const biz = await createBusiness(gw);
    const made = async (body: Record<string, unknown>): Promise<string> => {
      const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, body);
      expect(c.status, c.text).toBe(201);
      return c.body.id;
    };
    const alone = await made({ email: 'alone@example.com', phone: '+33612345678' });
    await made({ email: 'house@example.com' });
    await made({ email: 'house@example.com' });
    await made({ email: 'own@example.com', cims: [{ type: 'email', value: 'own@example.com' }] });
    const moved = await made({ email: 'old@example.com' });
    expect((await call(gw, 'PATCH', `/v1/contacts/${moved}`, biz.admin_key, { email: 'new@example.com', phone: '+33698765432' })).status).toBe(200);
    const { config } = gw.processor.stores;
    const index = new CimIndex(own.redis.client, config.cim_index_buckets!);
    const hints = new DetailHints(own.redis.client, config.cim_hmac_key, index);
    const details: [DetailType, string][] = [['email', 'alone@example.com'], ['phone', '+33612345678'], ['email', 'house@example.com'], ['email', 'own@example.com'], ['email', 'old@example.com'], ['email', 'new@example.com'], ['phone', '+33698765432']];
    const hinted = async () => Promise.all(details.map(async ([type, value]) => (await index.bytes(hints.token(biz.business_id, type, value)))?.toString('hex') ?? null));
    const live = await hinted();
    expect(await Promise.all(details.map(([type, value]) => hints.contactOf(biz.business_id, type, value)))).toEqual([alone, alone, null, null, null, moved, moved]);
    const several = Buffer.from('*').toString('hex');
    // The household's email names nobody; so does the one the PATCH took away ('*' before it committed).
    expect([live[2], live[4]]).toEqual([several, several]);

    expect(await waitForLedger(own.redis.client, await journalMarks(own.redis.client, config.shard_count), 30_000)).toBe(true);
    await gw.close();
    await own.redis.client.flushAll();
    const r = await rebuild(own.redis.client, own.sql, config, { force: false, wait_ms: 30_000, now_ms: Date.now() });
    expect(r.outcome).toBe('rebuilt');
    // The same, but for the email nobody has now, which a rebuild does not hint at all.
    expect(await hinted()).toEqual(live.map((h, i) => (i === 4 ? null : h)));
    gw = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url });
  });
});
