// The hot window (REPLY_TTL_SECONDS): Redis keeps a transaction's record, not its reply, and
// forgets the reference after the window. A repeated request is answered from the journal, then
// from the ledger, byte for byte; a refund or reversal that names an original older than the
// window finds it in the ledger, with the same result as within it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOriginal } from '../processor/claim.ts';
import { shardOf } from '../core/ids.ts';
import { stateKey, transactionKey } from '../processor/hot/keys.ts';
import { referenceSlot } from '../processor/hot/references.ts';
import type { RedisClient } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, connectTestRedis, createContacts, redis_dbs, redisUrl, shard_count } from './ledger-helpers.ts';

const window_s = 2;
let gw: TestGateway;
let redis: RedisClient;
let biz: BusinessFixture;
let seq = 0;

beforeAll(async () => {
  gw = await startTestGateway({ redis_url: redisUrl(redis_dbs.hot_window), processor: { ...(await import('../gateway/config.ts')).configFromEnv().processor, reply_ttl_seconds: window_s } });
  redis = await connectTestRedis(redis_dbs.hot_window);
  biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
});
afterAll(async () => {
  await redis?.close().catch(() => {});
  await gw?.close();
});

const ref = () => `hw-${Date.now()}-${++seq}`;
const pos = (path: string, body: unknown) => call(gw, 'POST', path, biz.terminal_key, body);

async function wallet(contact_id: string) {
  const w = await call(gw, 'GET', `/v1/contacts/${contact_id}/wallet`, biz.admin_key);
  return { open: w.body.open, commerce: w.body.commerce };
}

/** Until the ledger has `id` and the hot path dropped its pointer to the journal entry. */
async function recorded(id: string, contact_id: string): Promise<void> {
  await eventually(`${id} recorded`, async () => {
    const t = await call(gw, 'GET', `/v1/transactions/${id}`, biz.admin_key);
    return t.body.ledger === 'recorded' && (await redis.exists(transactionKey(shardOf(contact_id, shard_count), id))) === 0;
  });
}

/** Until the hot window no longer remembers `reference`. */
async function forgotten(reference: string): Promise<void> {
  const stores = gw.processor.stores;
  await eventually(`${reference} forgotten`, async () => (await findOriginal(stores, referenceSlot(stores.config, biz.terminal_id, reference, stores.clock.now()))) === undefined, 10_000);
}

describe('the hot window', () => {
  it('answers a repeated purchase from the ledger once it has it, byte for byte', async () => {
    const [c] = await createContacts(gw, biz, [testCard(12_000_001)]);
    const body = { reference: ref(), cim: { type: 'card', value: c!.card }, amount: 10_000, currency: 'EUR' };
    const first = await pos('/v1/purchases', body);
    expect(first.status).toBe(201);
    // While the journal has it: the journal's copy.
    const early = await pos('/v1/purchases', body);
    expect(early.text).toBe(first.text);
    await recorded(first.body.id, c!.id);
    const late = await pos('/v1/purchases', body);
    expect(late.status).toBe(201);
    expect(late.headers.get('idempotent-replayed')).toBe('true');
    expect(late.text).toBe(first.text);
    expect((await pos('/v1/purchases', { ...body, amount: 9_999 })).status).toBe(409);
    expect(await wallet(c!.id)).toEqual({ open: 0, commerce: 500 });
  });

  it('refunds an original older than the window from the ledger, exactly as within it', async () => {
    const [x, y] = await createContacts(gw, biz, [testCard(12_000_011), testCard(12_000_012)]);
    const px = await pos('/v1/purchases', { reference: ref(), cim: { type: 'card', value: x!.card }, amount: 10_000, currency: 'EUR' });
    const py = await pos('/v1/purchases', { reference: ref(), cim: { type: 'card', value: y!.card }, amount: 10_000, currency: 'EUR' });
    expect([px.status, py.status]).toEqual([201, 201]);
    const refund = (p: typeof px, amount: number) => pos('/v1/refunds', { reference: ref(), original_reference: p.body.reference, amount });
    const shares = (r: Awaited<ReturnType<typeof refund>>) => ({ status: r.status, clawed_back: r.body.clawed_back, returned: r.body.returned_to_wallet, wallet: r.body.wallet });

    // x within the window, y after it (its state not in Redis either: the ledger's sums).
    const fx1 = await refund(px, 3_001);
    await forgotten(py.body.reference);
    await recorded(py.body.id, y!.id);
    const fy1 = await refund(py, 3_001);
    expect(shares(fy1)).toEqual(shares(fx1));
    expect(fy1.body.original_id).toBe(py.body.id);

    // A second refund of y while its state is hot, then a third once it is gone too.
    expect(shares(await refund(py, 2_000))).toEqual(shares(await refund(px, 2_000)));
    await eventually('y’s refund state forgotten', async () => (await redis.exists(stateKey(shardOf(y!.id, shard_count), py.body.id))) === 0, 10_000);
    await recorded(fy1.body.id, y!.id);
    await eventually('refunds recorded', async () => {
      const t = await call(gw, 'GET', `/v1/contacts/${y!.id}/statement`, biz.admin_key);
      return t.body.lines?.length === 3;
    });
    const fy3 = await refund(py, 4_999);
    const fx3 = await refund(px, 4_999);
    expect(shares(fy3)).toEqual(shares(fx3));
    expect(fy3.body.wallet).toEqual({ open: 0, commerce: 0 });

    expect((await refund(py, 1)).body.code).toBe('amount_exceeds_original');
    expect((await refund(px, 1)).body.code).toBe('amount_exceeds_original');
  });

  it('reverses an original older than the window from the ledger, once', async () => {
    const [c] = await createContacts(gw, biz, [testCard(12_000_021)]);
    const p = await pos('/v1/purchases', { reference: ref(), cim: { type: 'card', value: c!.card }, amount: 4_000, currency: 'EUR' });
    const redeem = await pos('/v1/redemptions', { reference: ref(), cim: { type: 'card', value: c!.card } });
    expect(redeem.body.redeemed).toBe(200);
    const created = await call(gw, 'GET', `/v1/contacts/${c!.id}`, biz.admin_key);
    const spend = await pos('/v1/spends', { reference: ref(), amount: 150, currency: 'EUR', wallet_code: created.body.wallet_code });
    expect(spend.status).toBe(201);
    expect(await wallet(c!.id)).toEqual({ open: 50, commerce: 0 });
    await recorded(spend.body.id, c!.id);
    // A retry while the window remembers it: the ledger's copy of the reply.
    const again = await pos('/v1/spends', { reference: spend.body.reference, amount: 150, currency: 'EUR', wallet_code: created.body.wallet_code });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(spend.text);
    for (const t of [p, redeem, spend]) await forgotten(t.body.reference);

    const reverse = (t: typeof p) => pos('/v1/reversals', { reference: ref(), original_reference: t.body.reference });
    const rs = await reverse(spend);
    expect(rs.status, rs.text).toBe(201);
    expect(rs.body).toMatchObject({ original_id: spend.body.id, original_kind: 'spend', wallet: { open: 200, commerce: 0 } });
    expect((await reverse(spend)).body.code).toBe('already_reversed');
    // The purchase: its award clawed back from what is there (the open balance here).
    const rp = await reverse(p);
    expect(rp.status, rp.text).toBe(201);
    expect(rp.body.wallet).toEqual({ open: 0, commerce: 0 });
    await eventually('the reversal’s state forgotten', async () => (await redis.exists(stateKey(shardOf(c!.id, shard_count), p.body.id))) === 0, 10_000);
    await recorded(rp.body.id, c!.id);
    expect((await reverse(p)).body.code).toBe('already_reversed');
  });
});

describe('a redemption older than the window', () => {
  it('is reversed into the very lots it came from, as the ledger recorded them', async () => {
    // A pool named after a merchant code redeems at that merchant: a code with a quote and a
    // backslash puts both into the redemption's lots, and so into its journal entry.
    const code = 'Q"\\z';
    const m = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Quoted', code });
    const v = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Quoted venue', merchant_id: m.body.id });
    const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: v.body.id, code: 'Q0000001' });
    expect(t.status, t.text).toBe(201);
    const at = (path: string, body: unknown) => call(gw, 'POST', path, t.body.api_key, body);
    const offer = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'pooled', goal: 'spend', kind: 'cashback', award: { percent: 10 }, pool: code, validity_days: 30 });
    expect(offer.status, offer.text).toBe(201);
    try {
      const [c] = await createContacts(gw, biz, [testCard(12_000_031)]);
      const p = await pos('/v1/purchases', { reference: ref(), cim: { type: 'card', value: c!.card }, amount: 10_000, currency: 'EUR' });
      expect(p.body.awards.map((a: { pool: string | null }) => a.pool)).toContain(code);
      const lots = async () => (await call(gw, 'GET', `/v1/contacts/${c!.id}/wallet`, biz.admin_key)).body;
      const before = await lots();
      const r = await at('/v1/redemptions', { reference: ref(), cim: { type: 'card', value: c!.card }, amount: 1_200 });
      expect(r.status, r.text).toBe(201);
      await forgotten(r.body.reference);
      await recorded(r.body.id, c!.id);
      await eventually('the redemption’s state forgotten', async () => (await redis.exists(stateKey(shardOf(c!.id, shard_count), r.body.id))) === 0, 10_000);
      const back = await at('/v1/reversals', { reference: ref(), original_reference: r.body.reference });
      expect(back.status, back.text).toBe(201);
      expect(back.body.wallet).toEqual({ open: 0, commerce: 1_500 });
      const after = await lots();
      expect({ pools: after.pools, expiring: after.expiring }).toEqual({ pools: before.pools, expiring: before.expiring });
    } finally {
      await call(gw, 'PATCH', `/v1/offers/${offer.body.id}`, biz.admin_key, { active: false });
    }
  });
});
