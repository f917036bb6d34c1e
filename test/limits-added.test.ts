// A budget or a per-contact cap that an offer gets later, through PATCH /v1/offers/{id}, counts
// what the offer awarded before it (API.md: "Neither is ever exceeded"): the awards the ledger
// holds and those still in the journal, less those of reversed purchases. And rebuild sets each
// budget net of reversed awards. Against real Redis (one of this file's own, so that no other
// file's ledger writer drains its journals: the tests choose what is recorded and what is not)
// and PostgreSQL, through the HTTP API.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetKey } from '../processor/hot/keys.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import type { Sql } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { connectTestSql, shard_count } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';
import { runCommand, startOwnStores, type OwnStores } from './own-stores.ts';

let own: OwnRedis;
let gw: TestGateway;
let sql: Sql;
let writer: LedgerWriter;
let seq = 0;

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ redis_url: own.url, ledger_writer: false });
  sql = connectTestSql();
  writer = new LedgerWriter(own.client, sql, { shard_count, trim_interval_ms: 0 });
});
afterAll(async () => {
  await gw?.close();
  await writer?.stop();
  await sql?.end();
  await own?.stop();
});

/** Record every journal entry in the ledger (and trim the journals) until a round finds none. */
async function drain(): Promise<void> {
  for (let round = 0; round < 20 && (await writer.drainOnce()) > 0; round++);
}

interface Contact {
  readonly id: string;
  readonly card: string;
}

async function contact(biz: BusinessFixture): Promise<Contact> {
  const card = testCard(71_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  return { id: c.body.id, card };
}

async function offer(biz: BusinessFixture, body: Record<string, unknown>): Promise<string> {
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: `o${++seq}`, goal: 'spend', ...body });
  expect(o.status, o.text).toBe(201);
  return o.body.id;
}

async function patch(biz: BusinessFixture, offer_id: string, body: Record<string, unknown>): Promise<void> {
  const r = await call(gw, 'PATCH', `/v1/offers/${offer_id}`, biz.admin_key, body);
  expect(r.status, r.text).toBe(200);
}

async function buy(biz: BusinessFixture, c: Contact, extra: Record<string, unknown> = {}, key = biz.terminal_key) {
  const r = await call(gw, 'POST', '/v1/purchases', key, { reference: `la-${++seq}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', ...extra });
  expect(r.status, r.text).toBe(201);
  return r;
}

/** What the purchase awarded of `offer_id`. */
function awardedOf(r: { body: { awards: { offer_id: string; amount: number }[] } }, offer_id: string): number {
  return r.body.awards.filter((a) => a.offer_id === offer_id).reduce((s, a) => s + a.amount, 0);
}

async function reverse(biz: BusinessFixture, purchase: { body: { reference: string } }): Promise<void> {
  const r = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: `la-${++seq}`, original_reference: purchase.body.reference });
  expect(r.status, r.text).toBe(201);
}

/** What the ledger holds of the offer's awards (its transactions not reversed). */
async function ledgerAwarded(offer_id: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select coalesce(sum((a->>'amount')::int8), 0)::int8 as n
    from ledger_transactions t cross join lateral json_array_elements(t.reply->'awards') a
    where t.kind = 'purchase' and a->>'offer_id' = ${offer_id}
      and not exists (select 1 from ledger_transactions r where r.kind = 'reversal' and r.original_id = t.id)`;
  return row!.n;
}

describe('a budget added by PATCH counts what the offer awarded before it', () => {
  it('999 awarded (part in the ledger, part still in the journal), then a budget of 1000: 1 more at most, under concurrency', async () => {
    const biz = await createBusiness(gw);
    const id = await offer(biz, { award: { fixed: 111 } });
    const contacts = await Promise.all(Array.from({ length: 9 }, () => contact(biz)));
    // 9 × 111 = 999: five recorded in the ledger, four left in the journal.
    for (const c of contacts.slice(0, 5)) expect(awardedOf(await buy(biz, c), id)).toBe(111);
    await drain();
    for (const c of contacts.slice(5)) expect(awardedOf(await buy(biz, c), id)).toBe(111);
    expect(await ledgerAwarded(id)).toBe(555);

    await patch(biz, id, { limits: { budget: 1000 } });
    // Exactly what is left: the seed is 999, neither less (a part not counted) nor more.
    expect(awardedOf(await buy(biz, contacts[0]!), id)).toBe(1);
    const after = await Promise.all(contacts.map((c) => buy(biz, c)));
    expect(after.map((r) => awardedOf(r, id))).toEqual(contacts.map(() => 0));
    await drain();
    expect(await ledgerAwarded(id)).toBe(1000);
  });

  it('a budget that merely changes keeps its counter', async () => {
    const biz = await createBusiness(gw);
    const id = await offer(biz, { award: { fixed: 100 }, limits: { budget: 10_000 } });
    const c = await contact(biz);
    for (let i = 0; i < 3; i++) await buy(biz, c);
    expect(await own.client.get(budgetKey(id))).toBe('300');
    await patch(biz, id, { limits: { budget: 350 } });
    expect(await own.client.get(budgetKey(id))).toBe('300');
    expect(awardedOf(await buy(biz, c), id)).toBe(50);
  });
});

describe('a per-contact cap added by PATCH counts what each contact was awarded before it', () => {
  it('a lifetime cap of 1 after a contact was awarded once: that contact gets no more of it, another still can', async () => {
    const biz = await createBusiness(gw);
    const id = await offer(biz, { award: { fixed: 100 } });
    const [recorded, pending, fresh] = [await contact(biz), await contact(biz), await contact(biz)];
    expect(awardedOf(await buy(biz, recorded), id)).toBe(100);
    await drain();
    expect(awardedOf(await buy(biz, pending), id)).toBe(100); // still in the journal

    await patch(biz, id, { limits: { per_contact: { count: 1, period: 'lifetime' } } });
    expect(awardedOf(await buy(biz, recorded), id)).toBe(0);
    expect(awardedOf(await buy(biz, pending), id)).toBe(0);
    expect(awardedOf(await buy(biz, fresh), id)).toBe(100);
    expect(awardedOf(await buy(biz, fresh), id)).toBe(0);
  });

  it('a day cap after an award today, at a venue 14 hours ahead of UTC: no second award that local day', async () => {
    const biz = await createBusiness(gw);
    // Kiritimati (UTC+14): at 12:00 UTC its date is already the next day, so a day counted in
    // UTC instead of the venue's timezone names another field than the purchase's.
    const venue = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Kiritimati', merchant_id: biz.merchant_id, timezone: 'Pacific/Kiritimati' });
    expect(venue.status, venue.text).toBe(201);
    const terminal = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: venue.body.id, code: 'T0000014' });
    expect(terminal.status, terminal.text).toBe(201);
    const key = terminal.body.api_key as string;
    // The latest 12:00 UTC at least a minute ago (within the 24 hours a terminal may date back).
    const noon = new Date(Date.now() - 60_000);
    if (noon.getUTCHours() < 12) noon.setUTCDate(noon.getUTCDate() - 1);
    noon.setUTCHours(12, 0, 0, 0);
    const at = (minute: number) => ({ occurred_at: new Date(noon.getTime() + minute * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z') });

    const id = await offer(biz, { award: { fixed: 100 } });
    const [c, other] = [await contact(biz), await contact(biz)];
    expect(awardedOf(await buy(biz, c, at(0), key), id)).toBe(100);
    expect(awardedOf(await buy(biz, other, at(0), key), id)).toBe(100);
    await drain();
    expect(awardedOf(await buy(biz, other, at(1), key), id)).toBe(100); // twice before the cap, once in the journal

    await patch(biz, id, { limits: { per_contact: { count: 1, period: 'day' } } });
    expect(awardedOf(await buy(biz, c, at(2), key), id)).toBe(0);
    expect(awardedOf(await buy(biz, other, at(2), key), id)).toBe(0);
  });

  it('a cap whose period changes counts the new period; one whose count merely changes keeps its counters', async () => {
    const biz = await createBusiness(gw);
    const id = await offer(biz, { award: { fixed: 100 }, limits: { per_contact: { count: 5, period: 'day' } } });
    const c = await contact(biz);
    for (let i = 0; i < 2; i++) expect(awardedOf(await buy(biz, c), id)).toBe(100);
    await patch(biz, id, { limits: { per_contact: { count: 2, period: 'day' } } });
    expect(awardedOf(await buy(biz, c), id)).toBe(0);
    await patch(biz, id, { limits: { per_contact: { count: 3, period: 'month' } } });
    expect(awardedOf(await buy(biz, c), id)).toBe(100);
    expect(awardedOf(await buy(biz, c), id)).toBe(0);
  });
});

describe('a reversed purchase’s award does not count', () => {
  it('toward a budget added later: reversals in the ledger and in the journal alike', async () => {
    const biz = await createBusiness(gw);
    const id = await offer(biz, { award: { fixed: 100 } });
    const cs = await Promise.all(Array.from({ length: 4 }, () => contact(biz)));
    const p = [];
    for (const c of cs) p.push(await buy(biz, c));
    await reverse(biz, p[0]!); // purchase and reversal both recorded
    await drain();
    await reverse(biz, p[1]!); // a recorded purchase, its reversal still in the journal
    const late = await buy(biz, cs[2]!); // a purchase and its reversal both in the journal
    await reverse(biz, late);
    // Awarded and standing: p[2] and p[3], 200.
    await patch(biz, id, { limits: { budget: 250 } });
    expect(awardedOf(await buy(biz, cs[0]!), id)).toBe(50);
    expect(awardedOf(await buy(biz, cs[1]!), id)).toBe(0);
  });

  it('toward a per-contact cap added later', async () => {
    const biz = await createBusiness(gw);
    const id = await offer(biz, { award: { fixed: 100 } });
    const [recorded, pending, kept] = [await contact(biz), await contact(biz), await contact(biz)];
    await reverse(biz, await buy(biz, recorded));
    await buy(biz, kept);
    await drain();
    await reverse(biz, await buy(biz, pending));
    // Standing: kept's 100 alone, for its cap and the budget.
    await patch(biz, id, { limits: { per_contact: { count: 1, period: 'lifetime' }, budget: 250 } });
    expect(awardedOf(await buy(biz, kept), id)).toBe(0);
    expect(awardedOf(await buy(biz, recorded), id)).toBe(100);
    expect(awardedOf(await buy(biz, pending), id)).toBe(50);
    expect(awardedOf(await buy(biz, recorded), id)).toBe(0);
  });
});

describe('npm run rebuild', () => {
  let stores: OwnStores;
  let rgw: TestGateway;

  beforeAll(async () => {
    stores = await startOwnStores('limits_added');
    rgw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  });
  afterAll(async () => {
    await rgw?.close();
    await stores?.stop();
  });

  it('sets each budget to what its offer awarded, net of reversed purchases', async () => {
    const biz = await createBusiness(rgw);
    const o = await call(rgw, 'POST', '/v1/offers', biz.admin_key, { name: 'budgeted', goal: 'spend', award: { fixed: 100 }, limits: { budget: 1_000 } });
    expect(o.status, o.text).toBe(201);
    const card = testCard(72_000_000 + ++seq);
    expect((await call(rgw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    const refs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await call(rgw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `rb-${++seq}`, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
      expect(r.status, r.text).toBe(201);
      refs.push(r.body.reference);
    }
    expect((await call(rgw, 'POST', '/v1/reversals', biz.terminal_key, { reference: `rb-${++seq}`, original_reference: refs[1] })).status).toBe(201);
    await eventually('the ledger to hold all four', async () => {
      const [row] = await stores.sql<{ n: number }[]>`select count(*)::int4 as n from ledger_transactions where business_id = ${biz.business_id}`;
      return row!.n === 4;
    });
    await rgw.close();
    await stores.redis.client.flushAll();
    const env = { REDIS_URL: stores.redis.url, DATABASE_URL: stores.database_url, SHARDS: String(shard_count), CIM_HMAC_KEY: process.env.CIM_HMAC_KEY ?? 'test-hmac-key' };
    const r = await runCommand('rebuild-main.ts', [], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await stores.redis.client.get(budgetKey(o.body.id))).toBe('200');
    rgw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  });
});
