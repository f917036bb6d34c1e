// PostgreSQL unreachable (its connections refused: a TCP proxy between the gateway and the test
// PostgreSQL is closed): the POS path goes on approving, admin calls that need PostgreSQL answer
// 503 `unavailable` at once, /readyz stays 200 and says PostgreSQL is down, and once PostgreSQL is
// back the ledger catches up by itself.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../core/ids.ts';
import type { Sql } from '../processor/stores.ts';
import { StoreCut } from './store-cut.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, connectTestSql, createContacts, type Contact } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';
import { CimIndex } from '../processor/hot/cim-index.ts';
import { DetailHints } from '../processor/detail-hints.ts';

let own: OwnRedis;
const postgres = new StoreCut(new URL(process.env.DATABASE_URL!));
let gw: TestGateway;
let sql: Sql;
let biz: BusinessFixture;
let contact: Contact;
const on_file_email = `on-file-${process.pid}@example.com`;
const on_file_phone = `+3361${String(process.pid).padStart(7, '0').slice(-7)}`;
const shared_email = `household-${process.pid}@example.com`;
const moved_email = `moved-${process.pid}@example.com`;
const unhinted_email = `unhinted-${process.pid}@example.com`;
let on_file_id: string;

beforeAll(async () => {
  await postgres.open();
  // A Redis of its own: the ledger lag it reads is this gateway's alone.
  own = await startOwnRedis();
  gw = await startTestGateway({ database_url: postgres.url(), redis_url: own.url });
  sql = connectTestSql();
  biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
  contact = (await createContacts(gw, biz, [testCard(18_000_001)]))[0]!;
  const on_file = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { email: on_file_email });
  expect(on_file.status, on_file.text).toBe(201);
  on_file_id = on_file.body.id;
  // Details on file: a phone too (normalised as a CIM's: spaces dropped); an email two contacts
  // have (a household: neither is named); an email changed by a PATCH (the old one names nobody).
  expect((await call(gw, 'PATCH', `/v1/contacts/${on_file_id}`, biz.admin_key, { phone: on_file_phone.replace(/^(\+33)(\d)/, '$1 $2 ') })).status).toBe(200);
  for (let i = 0; i < 2; i++) expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { email: shared_email })).status).toBe(201);
  const moved = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { email: moved_email });
  expect((await call(gw, 'PATCH', `/v1/contacts/${moved.body.id}`, biz.admin_key, { email: `now-${moved_email}` })).status).toBe(200);
  // A contact with an email and no hint of it (made before hints, or its hint lost to a crash),
  // then another with the same: PostgreSQL has two, so the second is not named (a review found it
  // named, and bought for while PostgreSQL was down, where PostgreSQL says 404).
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { email: unhinted_email })).status).toBe(201);
  const { config } = gw.processor.stores;
  const index = new CimIndex(own.client, config.cim_index_buckets!);
  const hint = index.entry(new DetailHints(own.client, config.cim_hmac_key, index).token(biz.business_id, 'email', unhinted_email));
  expect(await own.client.hDel(hint.key, hint.field)).toBe(1);
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { email: unhinted_email })).status).toBe(201);
  // The terminal and the offers are in the gateway's caches once it has served a purchase.
  expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'warm', cim: { type: 'card', value: contact.card }, amount: 1000, currency: 'EUR' })).status).toBe(201);
});
afterAll(async () => {
  await gw?.close();
  await sql?.end({ timeout: 5 });
  await postgres.cut();
  await own?.stop();
});

describe('PostgreSQL unreachable', () => {
  it('POS approves, admin is 503 at once, /readyz 200 with postgres down; then the ledger catches up', async () => {
    await postgres.cut();
    const approved: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `down-${i}`, cim: { type: 'card', value: contact.card }, amount: 2000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
      approved.push(p.body.id);
    }
    const started = Date.now();
    const admin = await call(gw, 'GET', '/v1/offers', biz.admin_key);
    expect(admin.status, admin.text).toBe(503);
    expect(admin.body.code).toBe('unavailable');
    expect(Date.now() - started).toBeLessThan(2_000);
    const ready = await call(gw, 'GET', '/readyz', undefined);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ redis: 'ok', postgres: 'down' });
    expect(ready.body.ledger_lag).toBeGreaterThanOrEqual(5);
    // A card number put where an id goes, answered 503: neither the problem nor the log holds it
    // whole, plain or grouped (a PAN probe found the log's path did, 2026-12-06).
    const pan = testCard(18_000_002);
    for (const path of [`/v1/contacts/${pan}`, `/v1/transactions/${pan.replace(/(\d{4})(?=\d)/g, '$1-')}`]) {
      const refused = await call(gw, 'GET', path, biz.admin_key);
      expect(refused.status, refused.text).toBe(503);
      expect(refused.text).not.toContain(pan.slice(6, 12));
    }
    expect(gw.logs.some((line) => line.includes('request failed') && line.includes('/v1/contacts/'))).toBe(true);
    const digits = gw.logs.join('').replace(/[\s-]/g, '');
    expect(digits).not.toContain(pan);
    // PostgreSQL known down now. A contact's wallet and its spend OTPs are Redis's alone: served,
    // and the OTP pays, while a call that needs PostgreSQL is still 503.
    expect((await call(gw, 'GET', '/v1/offers', biz.admin_key)).status).toBe(503);
    const wallet = await call(gw, 'GET', `/v1/contacts/${contact.id}/wallet`, biz.admin_key);
    expect(wallet.status, wallet.text).toBe(200);
    expect(wallet.body.commerce).toBeGreaterThanOrEqual(500);
    const redeemed = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: 'down-redeem', cim: { type: 'card', value: contact.card }, amount: 100 });
    expect(redeemed.status, redeemed.text).toBe(201);
    approved.push(redeemed.body.id);
    const otp = await call(gw, 'POST', `/v1/contacts/${contact.id}/spend-otp`, biz.admin_key, { amount: 100 });
    expect(otp.status, otp.text).toBe(201);
    const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: 'down-otp', amount: 100, currency: 'EUR', otp: otp.body.otp });
    expect([spend.status, spend.body.code], spend.text).toEqual([201, undefined]);
    approved.push(spend.body.id);
    // A callback's signature header, missing, malformed or stale, is judged without PostgreSQL:
    // 401 signature_invalid (EVENTS.md), not 503 (a black-box audit, 2026-12-03).
    const stale = `t=${Math.floor(Date.now() / 1000) - 1_000},v1=${'0'.repeat(64)}`;
    for (const header of [undefined, 'xyz', stale]) {
      const refused = await call(gw, 'POST', `/v1/callbacks/${newId('prc')}`, undefined, {}, header === undefined ? {} : { 'pocketgate-signature': header });
      expect([refused.status, refused.body.code], `${header} ${refused.text}`).toEqual([401, 'signature_invalid']);
    }

    // A contact named by the email or phone it has on file (no CIM): found by its hint in Redis
    // (until 2026-12-06 PostgreSQL alone knew it, and the POS answered 503: a black-box probe).
    for (const cim of [{ type: 'email', value: on_file_email }, { type: 'phone', value: on_file_phone }, { type: 'email', value: `now-${moved_email}` }]) {
      const bought = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `down-${cim.value}`, cim, amount: 1000, currency: 'EUR' });
      expect(bought.status, bought.text).toBe(201);
      if (cim.value !== `now-${moved_email}`) expect(bought.body.contact_id).toBe(on_file_id);
      approved.push(bought.body.id);
    }
    const wallet_by_email = await call(gw, 'GET', `/v1/wallets?cim_type=email&cim_value=${encodeURIComponent(on_file_email)}`, biz.terminal_key);
    expect(wallet_by_email.status, wallet_by_email.text).toBe(200);
    // One several contacts have on file, one a PATCH took away, one nobody has: who it names (or
    // that nobody does) only PostgreSQL can say, so 503, and the reference keeps no contact_not_found
    // that the outage made; once back, the same call buys (or is 404).
    const by_shared = { reference: 'down-shared', cim: { type: 'email', value: shared_email }, amount: 1000, currency: 'EUR' };
    for (const value of [shared_email, moved_email, unhinted_email, `nobody-${moved_email}`]) {
      const refused = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...by_shared, cim: { type: 'email', value } });
      expect([refused.status, refused.body.code], refused.text).toEqual([503, 'unavailable']);
    }

    await postgres.open();
    await eventually('PostgreSQL back', async () => (await call(gw, 'GET', '/v1/offers', biz.admin_key)).status === 200);
    const ambiguous = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, by_shared);
    expect([ambiguous.status, ambiguous.body.code, ambiguous.headers.get('idempotent-replayed')], ambiguous.text).toEqual([404, 'contact_not_found', null]);
    await eventually('the ledger caught up', async () => {
      const rows = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where id = any(${approved})`;
      return rows[0]!.n === approved.length;
    }, 30_000);
    // Recorded, then acknowledged in the journal: the lag reaches 0 just after.
    await eventually('the lag back to 0', async () => {
      const body = (await call(gw, 'GET', '/readyz', undefined)).body;
      return body.postgres === 'ok' && body.ledger_lag === 0;
    });
  });

  it('after an outage long enough for the clients to back off, the ledger catches up within 2 s of PostgreSQL answering (a store-failures probe: 4–15 s)', async () => {
    await postgres.cut();
    const approved: string[] = [];
    // Twelve seconds of failed connections: postgres.js's own backoff (3^n / 100 s, up to 20 s)
    // had grown to several seconds by then, and the writer's next connection waited that long.
    const cut_until = Date.now() + 12_000;
    for (let i = 0; Date.now() < cut_until; i++) {
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `backoff-${i}`, cim: { type: 'card', value: contact.card }, amount: 500, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
      approved.push(p.body.id);
      await new Promise((r) => setTimeout(r, 500));
    }
    await postgres.open();
    const opened = Date.now();
    await eventually('the ledger caught up', async () => {
      const rows = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where id = any(${approved})`;
      return rows[0]!.n === approved.length;
    }, 30_000);
    expect(Date.now() - opened).toBeLessThan(2_000);
  }, 60_000);
});
