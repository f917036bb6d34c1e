// A refund or reversal whose original is older than the hot window reads it from the ledger. With
// PostgreSQL up but slow (a lock held on the ledger: its probe still answers, so the gateway does
// not know it down), the terminal is answered 503 `unavailable` within the read's timeout
// (processor/ledger-reads.ts ledger_read_timeout_ms) instead of waiting as long as the lock is
// held, and the same refund goes through once the ledger answers again; so is a repeat whose
// reply only the ledger holds. A reversal of a purchase still in the hot window whose entry the
// ledger has recorded, at a business whose offers have limits, is approved within the timeout,
// and what the purchase counted (its caps, its budget) is given back once the ledger answers
// (processor/deferred-undos.ts). Stores of its own: the lock would stall every other test's ledger.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../gateway/config.ts';
import { findOriginal } from '../processor/claim.ts';
import { deferredUndosKey } from '../processor/hot/keys.ts';
import { referenceSlot } from '../processor/hot/references.ts';
import { ledger_read_timeout_ms } from '../processor/ledger-reads.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type ApiResponse, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, createContacts } from './ledger-helpers.ts';
import { holdLock, startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;

beforeAll(async () => {
  stores = await startOwnStores('refundslow');
  gw = await startTestGateway({ database_url: stores.database_url, redis_url: stores.redis.url, processor: { ...configFromEnv().processor, reply_ttl_seconds: 2 } });
  biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
}, 30_000);
afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

/**
 * `request`'s answer, sent while the ledger's table is locked, checked to come within the read
 * timeout: unbounded, its read would wait as long as the lock is held (released after 10 s).
 */
async function whileLedgerLocked(request: () => Promise<ApiResponse>): Promise<ApiResponse> {
  const lock = await holdLock(stores.sql, 'ledger_transactions');
  const unlocking = setTimeout(() => lock.release(), 10_000);
  try {
    const started = Date.now();
    const answer = await request();
    expect(Date.now() - started).toBeLessThan(ledger_read_timeout_ms + 3_000);
    return answer;
  } finally {
    clearTimeout(unlocking);
    lock.release();
    await lock.done.catch(() => {});
  }
}

/**
 * `requests`' answers, sent while the ledger's table is locked for `still_ms` (within the read
 * timeout), so that their reads of it are in flight at once, as under load.
 */
async function whileLedgerStill(still_ms: number, requests: () => Promise<ApiResponse>[]): Promise<ApiResponse[]> {
  const lock = await holdLock(stores.sql, 'ledger_transactions');
  let answers: Promise<ApiResponse[]>;
  try {
    answers = Promise.all(requests());
    await new Promise((resolve) => setTimeout(resolve, still_ms));
  } finally {
    lock.release();
    await lock.done.catch(() => {});
  }
  return answers;
}

/** A contact's sale of 10,000 (5% back) under `reference`, once the ledger has it and the hot window no longer does. */
async function oldSale(card_seed: number, reference: string) {
  const [c] = await createContacts(gw, biz, [testCard(card_seed)]);
  const purchase = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: c!.card }, amount: 10_000, currency: 'EUR' });
  expect(purchase.status, purchase.text).toBe(201);
  const s = gw.processor.stores;
  await eventually('the sale recorded and out of the hot window', async () => {
    const t = await call(gw, 'GET', `/v1/transactions/${purchase.body.id}`, biz.admin_key);
    return t.body.ledger === 'recorded' && (await findOriginal(s, referenceSlot(s.config, biz.terminal_id, reference, s.clock.now()))) === undefined;
  }, 15_000);
  return c!;
}

describe('a refund of an original older than the hot window, the ledger slow', () => {
  it('is answered 503 unavailable within the read timeout, and goes through once the ledger answers', async () => {
    await oldSale(19_200_001, 'old-sale');
    const refund = { reference: 'refund-old-sale', original_reference: 'old-sale', amount: 4_000 };
    const lock = await holdLock(stores.sql, 'ledger_transactions');
    try {
      const started = Date.now();
      const refused = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, refund);
      const waited_ms = Date.now() - started;
      expect([refused.status, refused.body.code], refused.text).toEqual([503, 'unavailable']);
      expect(waited_ms).toBeGreaterThanOrEqual(ledger_read_timeout_ms - 50);
      expect(waited_ms).toBeLessThan(ledger_read_timeout_ms + 3_000);
    } finally {
      lock.release();
      await lock.done.catch(() => {});
    }
    const done = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, refund);
    expect([done.status, done.body.clawed_back], done.text).toEqual([201, 200]);
  }, 60_000);

  it('100 refunds of it sent together, the ledger still for 300 ms, are all approved from one read of it (each was a read: past 64 in flight, 503)', async () => {
    const c = await oldSale(19_200_004, 'old-sale-many');
    const refunds = await whileLedgerStill(300, () => Array.from({ length: 100 }, (_, i) => call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: `refund-many-${i}`, original_reference: 'old-sale-many', amount: 100 })));
    expect(refunds.map((r) => r.status)).toEqual(Array(100).fill(201));
    expect(refunds.reduce((sum, r) => sum + (r.body.clawed_back as number), 0)).toBe(500);
    const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect([w.body.open, w.body.commerce]).toEqual([0, 0]);
  }, 60_000);
});

describe('a reversal of a purchase in the hot window that the ledger has recorded, the ledger slow', () => {
  // Its own gateway, with the default hot window (this file's other holds originals 2 s).
  let hot: TestGateway;
  beforeAll(async () => {
    hot = await startTestGateway({ database_url: stores.database_url, redis_url: stores.redis.url });
  });
  afterAll(async () => {
    await hot?.close();
  });

  it('is approved within the read timeout (what the purchase counted is in the ledger), which gives it back once it answers', async () => {
    const gw = hot;
    const capped = await createBusiness(gw);
    const o = await call(gw, 'POST', '/v1/offers', capped.admin_key, { name: 'once a day', goal: 'spend', kind: 'cashback', award: { percent: 5 }, limits: { per_contact: { count: 1, period: 'day' }, budget: 1_000_000 } });
    expect(o.status, o.text).toBe(201);
    const [c] = await createContacts(gw, capped, [testCard(19_200_002)]);
    const purchase = await call(gw, 'POST', '/v1/purchases', capped.terminal_key, { reference: 'capped-sale', cim: { type: 'card', value: c!.card }, amount: 10_000, currency: 'EUR' });
    expect(purchase.status, purchase.text).toBe(201);
    await eventually('the sale recorded', async () => (await call(gw, 'GET', `/v1/transactions/${purchase.body.id}`, capped.admin_key)).body.ledger === 'recorded', 15_000);
    const s = gw.processor.stores;
    expect(await findOriginal(s, referenceSlot(s.config, capped.terminal_id, 'capped-sale', s.clock.now()))).toBeDefined();

    const reversal = { reference: 'void-capped-sale', original_reference: 'capped-sale' };
    const voided = await whileLedgerLocked(() => call(gw, 'POST', '/v1/reversals', capped.terminal_key, reversal));
    expect(voided.status, voided.text).toBe(201);
    // Its cap given back once the ledger answers: the contact is awarded again today.
    const shard = gw.processor.contacts.shardOf(c!.id);
    await eventually('the deferred undo given back', async () => (await s.redis.hLen(deferredUndosKey(shard))) === 0, 15_000);
    const again = await call(gw, 'POST', '/v1/purchases', capped.terminal_key, { reference: 'capped-sale-2', cim: { type: 'card', value: c!.card }, amount: 10_000, currency: 'EUR' });
    expect(again.status, again.text).toBe(201);
    expect(again.body.awards.length, again.text).toBe(1);
  }, 60_000);

  /** A sale of 10,000 (5% back) at a business of its own, in the hot window, once the ledger has recorded it. */
  async function recordedSale(card_seed: number, reference: string) {
    const b = await createBusiness(hot);
    await addCashbackOffer(hot, b, 5);
    const [c] = await createContacts(hot, b, [testCard(card_seed)]);
    const body = { reference, cim: { type: 'card', value: c!.card }, amount: 10_000, currency: 'EUR' };
    const purchase = await call(hot, 'POST', '/v1/purchases', b.terminal_key, body);
    expect(purchase.status, purchase.text).toBe(201);
    await eventually('the sale recorded', async () => (await call(hot, 'GET', `/v1/transactions/${purchase.body.id}`, b.admin_key)).body.ledger === 'recorded', 15_000);
    return { b, body, purchase };
  }

  it('a repeat of a purchase whose reply only the ledger holds now is answered 503 within the read timeout, and replays once the ledger answers', async () => {
    const gw = hot;
    const { b, body, purchase } = await recordedSale(19_200_003, 'repeated-sale');
    const refused = await whileLedgerLocked(() => call(gw, 'POST', '/v1/purchases', b.terminal_key, body));
    expect([refused.status, refused.body.code], refused.text).toEqual([503, 'unavailable']);
    const replayed = await call(gw, 'POST', '/v1/purchases', b.terminal_key, body);
    expect([replayed.status, replayed.headers.get('idempotent-replayed')], replayed.text).toEqual([201, 'true']);
    expect(replayed.body).toEqual(purchase.body);
  }, 60_000);

  it('100 copies of such a purchase sent together, the ledger still for 300 ms, are all replayed from one read of it (a black-box probe: past 64 reads in flight, 503)', async () => {
    const gw = hot;
    const { b, body, purchase } = await recordedSale(19_200_005, 'copied-sale');
    const copies = await whileLedgerStill(300, () => Array.from({ length: 100 }, () => call(gw, 'POST', '/v1/purchases', b.terminal_key, body)));
    expect(copies.map((r) => `${r.status} ${r.headers.get('idempotent-replayed')}`)).toEqual(Array(100).fill('201 true'));
    expect(new Set(copies.map((r) => r.text))).toEqual(new Set([purchase.text]));
  }, 60_000);
});

describe('DURABILITY=sync, the ledger slow', () => {
  it('a purchase and its repeat are answered 503 within the timeout, not as long as the lock is held; the retry after replays it, recorded once', async () => {
    const sync_gw = await startTestGateway({ database_url: stores.database_url, redis_url: stores.redis.url, ledger_writer: false, processor: { ...configFromEnv().processor, durability: 'sync' } });
    try {
      const [c] = await createContacts(gw, biz, [testCard(19_200_011)]);
      const body = { reference: 'sync-slow', cim: { type: 'card', value: c!.card }, amount: 1_000, currency: 'EUR' };
      const first = await whileLedgerLocked(() => call(sync_gw, 'POST', '/v1/purchases', biz.terminal_key, body));
      expect([first.status, first.body.code], first.text).toEqual([503, 'unavailable']);
      const repeat = await whileLedgerLocked(() => call(sync_gw, 'POST', '/v1/purchases', biz.terminal_key, body));
      expect([repeat.status, repeat.body.code], repeat.text).toEqual([503, 'unavailable']);
      const after = await call(sync_gw, 'POST', '/v1/purchases', biz.terminal_key, body);
      expect([after.status, after.headers.get('idempotent-replayed')], after.text).toEqual([201, 'true']);
      const rows = await stores.sql`select id from ledger_transactions where reference = 'sync-slow'`;
      expect(rows.map((r) => r.id)).toEqual([after.body.id]);
    } finally {
      await sync_gw.close();
    }
  }, 60_000);
});
