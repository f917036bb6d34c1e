// The CIM index through the whole gateway with every CIM in one Redis hash (CIM_INDEX_BUCKETS=1,
// on a database of its own): entries of many contacts and businesses side by side, a CIM taken
// by another contact, a rotated wallet code, and an import of more CIMs than a listpack holds.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { configFromEnv } from '../gateway/config.ts';
import { cimBucketKey } from '../processor/hot/keys.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { redis_dbs, redisUrl } from './ledger-helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let other: BusinessFixture;

beforeAll(async () => {
  gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_dbs.cim_index), processor: { ...configFromEnv().processor, cim_index_buckets: 1 } });
  biz = await createBusiness(gw);
  other = await createBusiness(gw);
});
afterAll(async () => {
  await gw.close();
});

const wallet = (b: BusinessFixture, type: string, value: string) => call(gw, 'GET', `/v1/wallets?cim_type=${type}&cim_value=${encodeURIComponent(value)}`, b.terminal_key);

it('resolves each of many contacts sharing one bucket, per business', async () => {
  const cards = Array.from({ length: 20 }, (_, i) => testCard(77_000_000 + i));
  const contacts = [];
  for (const card of cards) {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(c.status, c.text).toBe(201);
    contacts.push(c.body);
  }
  // The same card in another business is another CIM: its own entry, its own contact.
  const elsewhere = await call(gw, 'POST', '/v1/contacts', other.admin_key, { cims: [{ type: 'card', value: cards[0] }] });
  expect(elsewhere.status, elsewhere.text).toBe(201);
  for (let i = 0; i < cards.length; i++) {
    expect((await wallet(biz, 'card', cards[i]!)).body.contact_id).toBe(contacts[i].id);
    expect((await wallet(biz, 'contact_code', contacts[i].code)).body.contact_id).toBe(contacts[i].id);
  }
  expect((await wallet(other, 'card', cards[0]!)).body.contact_id).toBe(elsewhere.body.id);
  expect((await wallet(biz, 'card', testCard(77_999_999))).status).toBe(404);
  expect(await gw.processor.stores.redis.exists(cimBucketKey(0))).toBe(1);
});

it('a CIM taken by another contact still names the first, on create and on add', async () => {
  const card = testCard(78_000_000);
  const first = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  const second = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(78_000_001) }] });
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(409);
  expect((await call(gw, 'POST', `/v1/contacts/${second.body.id}/cims`, biz.admin_key, { type: 'card', value: card })).status).toBe(409);
  expect((await wallet(biz, 'card', card)).body.contact_id).toBe(first.body.id);
  const added = await call(gw, 'POST', `/v1/contacts/${second.body.id}/cims`, biz.admin_key, { type: 'loyalty_id', value: 'L-78000001' });
  expect(added.status, added.text).toBe(201);
  expect((await wallet(biz, 'loyalty_id', 'L-78000001')).body.contact_id).toBe(second.body.id);
});

it('after a wallet-code rotation the new code resolves and the old one names nobody', async () => {
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(79_000_000) }] });
  expect((await wallet(biz, 'wallet_code', c.body.wallet_code)).body.contact_id).toBe(c.body.id);
  for (let i = 0; i < 3; i++) {
    const before = (await call(gw, 'GET', `/v1/contacts/${c.body.id}`, biz.admin_key)).body.wallet_code;
    const rotated = await call(gw, 'POST', `/v1/contacts/${c.body.id}/wallet-code`, biz.admin_key, {});
    expect(rotated.status, rotated.text).toBe(201);
    expect((await wallet(biz, 'wallet_code', before)).status).toBe(404);
    expect((await wallet(biz, 'wallet_code', rotated.body.wallet_code)).body.contact_id).toBe(c.body.id);
  }
});

it('an import of more CIMs than a listpack holds resolves every one', async () => {
  // 300 contacts × (card, wallet code, contact code) = 900 entries more in the one bucket, past
  // Redis's default hash-max-listpack-entries (512): the bucket turns into a hash table.
  const cards = Array.from({ length: 300 }, (_, i) => testCard(80_000_000 + i));
  const lines = cards.map((card) => JSON.stringify({ cims: [{ type: 'card', value: card }] })).join('\n');
  const r = await call(gw, 'POST', '/v1/contacts/import', biz.admin_key, lines, { 'content-type': 'application/x-ndjson' });
  expect(r.status, r.text).toBe(200);
  expect(r.body.imported).toBe(300);
  expect(await gw.processor.stores.redis.hLen(cimBucketKey(0))).toBeGreaterThan(900);
  const ids = new Set<string>();
  for (const card of cards) {
    const w = await wallet(biz, 'card', card);
    expect(w.status).toBe(200);
    ids.add(w.body.contact_id);
  }
  expect(ids.size).toBe(300);
});
