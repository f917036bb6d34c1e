// A reversal voids a purchase "as if it never happened" (API.md), its referral included: when it
// leaves the referred contact no purchase, the referrer's award of its first purchase is reversed
// (its lots clawed back, its cap count and budget given back) and the contact's next purchase is
// its first again, which refers anew. In the ledger as in Redis, through a rebuild. On stores of
// its own: reconcile and rebuild read every contact.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetKey, capsKey, contactKey, referralsKey } from '../processor/hot/keys.ts';
import { rebuild } from '../processor/ledger/rebuild.ts';
import { reconcile } from '../processor/ledger/reconcile.ts';
import { decodeIntent, encodeIntent, intent_age_ms } from '../processor/referrals.ts';
import { default_config } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;
let referral_offer: string;
let seq = 0;

beforeAll(async () => {
  stores = await startOwnStores('referral_reversal');
  gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url, referral_sweep_ms: 200 });
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'ref', goal: 'referral', award: { fixed: 100 }, limits: { per_contact: { count: 1, period: 'lifetime' }, budget: 1_000 } });
  expect(o.status, o.text).toBe(201);
  referral_offer = o.body.id;
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'first', goal: 'first_purchase', award: { fixed: 30 } })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

interface Contact {
  readonly id: string;
  readonly card: string;
  readonly referral_code: string;
}

async function contact(referred_by?: string): Promise<Contact> {
  const card = testCard(61_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }], ...(referred_by === undefined ? {} : { referred_by }) });
  expect(c.status, c.text).toBe(201);
  return { id: c.body.id, card, referral_code: c.body.referral_code };
}

const commerce = async (c: Contact) => (await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body.commerce as number;
const buy = async (c: Contact, reference: string, awarded: number[]) => {
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: c.card }, amount: 1_000, currency: 'EUR' });
  expect(p.status, p.text).toBe(201);
  expect(p.body.awards.map((a: { amount: number }) => a.amount), reference).toEqual(awarded);
  return p.body.id as string;
};
const reverse = async (reference: string) => {
  const v = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: `${reference}-v`, original_reference: reference });
  expect(v.status, v.text).toBe(201);
};
/** A first purchase whose referral award is not made with it (a crash there, as referral-crash.test.ts kills): its intent waits in the outbox. */
const buyWithoutAward = async (c: Contact, reference: string) => {
  gw.processor.awards.onReferralStep = (step) => {
    if (step === 'committed') throw new Error('the award is not made now');
  };
  try {
    await buy(c, reference, [30]);
  } finally {
    gw.processor.awards.onReferralStep = undefined;
  }
};
const budget = async () => Number((await stores.redis.client.get(budgetKey(referral_offer))) ?? '0');
const caughtUp = () => eventually('ledger caught up', async () => (await call(gw, 'GET', '/readyz', undefined)).body.ledger_lag === 0);

async function mismatches(): Promise<string[]> {
  await caughtUp();
  const found: string[] = [];
  const r = await reconcile(stores.redis.client, stores.sql, { shard_count: gw.processor.stores.config.shard_count, wait_ms: 10_000, onMismatch: (m) => found.push(`${m.contact_id} ${m.balance} ${m.redis} ${m.ledger}`) });
  expect(r.outcome).toBe('compared');
  return found;
}

describe('a referred contact whose purchases are all reversed', () => {
  it('undoes the referral: the award reversed, cap and budget back; the next purchase refers anew; the ledger and a rebuild agree', async () => {
    const a = await contact();
    const b = await contact(a.referral_code);
    const p1 = await buy(b, `rr-${seq}-1`, [30]);
    expect(await commerce(a)).toBe(100);
    expect(await budget()).toBe(100);
    await buy(b, `rr-${seq}-2`, []);
    // A purchase still stands: the referral stands.
    await reverse(`rr-${seq}-2`);
    expect(await commerce(a)).toBe(100);
    await reverse(`rr-${seq}-1`);
    // Undone before the reversal answered.
    expect(await commerce(a)).toBe(0);
    expect(await budget()).toBe(0);
    expect(await stores.redis.client.hGetAll(capsKey(gw.processor.contacts.shardOf(a.id), a.id))).toEqual({});
    expect(await stores.redis.client.zCard(referralsKey(gw.processor.contacts.shardOf(b.id)))).toBe(0);
    // The first purchase again: its own first-purchase award, and the referrer's (its cap given back).
    const p3 = await buy(b, `rr-${seq}-3`, [30]);
    expect(await commerce(a)).toBe(100);
    expect(await budget()).toBe(100);

    expect(await mismatches()).toEqual([]);
    const rows = await stores.sql<{ id: string; kind: string; reference: string; original_id: string | null; terminal_id: string | null; amount: number }[]>`
      select id, kind, reference, original_id, terminal_id, amount::int4 from ledger_transactions where contact_id = ${a.id} order by created_at, id`;
    expect(rows.map((r) => [r.kind, r.reference, r.terminal_id, r.amount])).toEqual([
      ['award', `referral:${b.id}:${p1}`, null, 100],
      ['reversal', `referral-undo:${b.id}:${p1}`, null, 100],
      ['award', `referral:${b.id}:${p3}`, null, 100],
    ]);
    expect(rows[1]!.original_id).toBe(rows[0]!.id);
    const shown = await call(gw, 'GET', `/v1/transactions/${rows[1]!.id}`, biz.admin_key);
    expect(shown.body, shown.text).toMatchObject({ kind: 'reversal', contact_id: a.id, amount: 100, terminal_id: null, ledger: 'recorded' });

    // Rebuilt from the ledger: the same Redis (caps, the referral standing), and reversing p3 undoes it again.
    const contact_a = contactKey(gw.processor.contacts.shardOf(a.id), a.id);
    const contact_b = contactKey(gw.processor.contacts.shardOf(b.id), b.id);
    const caps_before = await stores.redis.client.hGetAll(capsKey(gw.processor.contacts.shardOf(a.id), a.id));
    expect(await stores.redis.client.hmGet(contact_b, ['rf', 'rd'])).toEqual([null, `${p3}|${a.id}`]);
    const config = { ...default_config, ...gw.processor.stores.config };
    const rebuilt = await rebuild(stores.redis.client, stores.sql, config, { force: true, wait_ms: 10_000, now_ms: Date.now() });
    expect(rebuilt.outcome).toBe('rebuilt');
    expect(await stores.redis.client.hGetAll(capsKey(gw.processor.contacts.shardOf(a.id), a.id))).toEqual(caps_before);
    expect(await stores.redis.client.hmGet(contact_b, ['rf', 'rd'])).toEqual([null, `${p3}|${a.id}`]);
    expect(await stores.redis.client.hGet(contact_a, 'm')).toBe('100');
    expect(await mismatches()).toEqual([]);
    await reverse(`rr-${seq}-3`);
    expect(await commerce(a)).toBe(0);
    expect(await stores.redis.client.hmGet(contact_b, ['rf', 'rd'])).toEqual([a.id, null]);
    expect(await mismatches()).toEqual([]);
  }, 60_000);

  it('an instant_redeem referral award undone comes back out of the open balance, not the referrer’s own commerce lots', async () => {
    const other = await createBusiness(gw);
    for (const offer of [
      { name: 'ref now', goal: 'referral', award: { fixed: 100 }, instant_redeem: true },
      { name: 'first', goal: 'first_purchase', award: { fixed: 30 }, validity_days: 30 },
    ]) expect((await call(gw, 'POST', '/v1/offers', other.admin_key, offer)).status).toBe(201);
    const made = async (referred_by?: string) => {
      const card = testCard(61_000_000 + ++seq);
      const c = await call(gw, 'POST', '/v1/contacts', other.admin_key, { cims: [{ type: 'card', value: card }], ...(referred_by === undefined ? {} : { referred_by }) });
      expect(c.status, c.text).toBe(201);
      return { id: c.body.id as string, card, referral_code: c.body.referral_code as string };
    };
    const wallet = async (id: string) => (await call(gw, 'GET', `/v1/contacts/${id}/wallet`, other.admin_key)).body as { open: number; commerce: number };
    const a = await made();
    const b = await made(a.referral_code);
    const buyAs = async (c: { card: string }, reference: string) =>
      expect((await call(gw, 'POST', '/v1/purchases', other.terminal_key, { reference, cim: { type: 'card', value: c.card }, amount: 1_000, currency: 'EUR' })).status).toBe(201);
    await buyAs(a, `ri-${seq}-a`);
    await buyAs(b, `ri-${seq}-b`);
    expect(await wallet(a.id)).toMatchObject({ open: 100, commerce: 30 });
    expect((await call(gw, 'POST', '/v1/reversals', other.terminal_key, { reference: `ri-${seq}-v`, original_reference: `ri-${seq}-b` })).status).toBe(201);
    expect(await wallet(a.id)).toMatchObject({ open: 0, commerce: 30 });
    expect(await mismatches()).toEqual([]);
  }, 60_000);

  it('a referral made before 2026-12-05 (its award under referral:<referred>) is undone too, once', async () => {
    const a = await contact();
    const b = await contact(a.referral_code);
    const outbox = referralsKey(gw.processor.contacts.shardOf(b.id));
    await buyWithoutAward(b, `rl-${seq}-1`);
    // Made as an earlier release made it: the intent named no purchase, the award's reference none.
    const [member] = await stores.redis.client.zRange(outbox, 0, -1);
    const decoded = decodeIntent(member!);
    if (decoded === undefined || !('award' in decoded)) throw new Error(`not an award intent: ${member}`);
    const { purchase_id: _, ...legacy } = decoded.award;
    await stores.redis.client.zRem(outbox, member!);
    const business = (await gw.processor.network.business(biz.business_id))!;
    await gw.processor.awards.referral(business, legacy, encodeIntent(legacy), Date.now());
    expect(await commerce(a)).toBe(100);
    await reverse(`rl-${seq}-1`);
    expect(await commerce(a)).toBe(0);
    // Its next first purchase refers anew; reversed again, that award goes, not the old one twice.
    await buy(b, `rl-${seq}-2`, [30]);
    expect(await commerce(a)).toBe(100);
    await reverse(`rl-${seq}-2`);
    expect(await commerce(a)).toBe(0);
    expect(await mismatches()).toEqual([]);
    const rows = await stores.sql<{ kind: string; reference: string }[]>`select kind, reference from ledger_transactions where contact_id = ${a.id} order by created_at, id`;
    expect(rows.map((r) => `${r.kind} ${r.reference.split(':').length}`)).toEqual(['award 2', 'reversal 3', 'award 3', 'reversal 3']);
  }, 60_000);

  it('reversed before the referrer’s award is made: the award is never made, and the next purchase refers anew', async () => {
    const a = await contact();
    const b = await contact(a.referral_code);
    await buyWithoutAward(b, `rb-${seq}-1`);
    const outbox = referralsKey(gw.processor.contacts.shardOf(b.id));
    expect(await stores.redis.client.zCard(outbox)).toBe(1);
    const spent = await budget();
    await reverse(`rb-${seq}-1`);
    // Its undo marked the award's reference; the sweeper's award is refused, and its intent leaves.
    await eventually('the award intent to leave the outbox', async () => (await stores.redis.client.zCard(outbox)) === 0, intent_age_ms + 10_000);
    expect(await commerce(a)).toBe(0);
    expect(await budget()).toBe(spent);
    await buy(b, `rb-${seq}-2`, [30]);
    expect(await commerce(a)).toBe(100);
    expect(await mismatches()).toEqual([]);
    expect(gw.logs.filter((l) => l.includes('given up on'))).toEqual([]);
    // The processor's own refusals, in the ledger under the rewards terminal (migration 018's columns are not null).
    const refusals = await stores.sql<{ terminal_id: string; reference: string; code: string }[]>`
      select terminal_id, reference, code from ledger_refusals where reference like ${`%:${b.id}:%`} order by code`;
    expect(refusals.map((r) => [r.terminal_id, r.reference.split(':')[0], r.code])).toEqual([
      ['_rewards', 'referral', 'already_reversed'],
      ['_rewards', 'referral-undo', 'original_not_found'],
    ]);
  }, 60_000);
});
