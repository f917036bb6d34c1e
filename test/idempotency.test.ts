// Idempotency under concurrency: 100 simultaneous copies of one purchase make one transaction;
// the same reference with two bodies makes one transaction and 409s for the other body.
//
// The gateway runs on a Redis database of its own (redis_dbs) without its in-process writer, so the journal still holds
// what the hot path appended when the test looks; a writer is then drained by hand.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOriginal } from '../processor/claim.ts';
import { referenceSlot } from '../processor/hot/references.ts';
import { readRecord } from '../processor/shard.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type ApiResponse, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, connectTestRedis, connectTestSql, createContacts, journalEntries, ledgerPostings, ledgerRows, redis_dbs, redisUrl, shard_count } from './ledger-helpers.ts';

let gw: TestGateway;
let redis: RedisClient;
let sql: Sql;
let writer: LedgerWriter;

beforeAll(async () => {
  gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_dbs.idempotency) });
  redis = await connectTestRedis(redis_dbs.idempotency);
  sql = connectTestSql();
  writer = new LedgerWriter(redis, sql, { shard_count });
});
afterAll(async () => {
  await redis?.close().catch(() => {});
  await sql?.end({ timeout: 5 });
  await gw?.close();
});

async function newBusiness(): Promise<BusinessFixture> {
  const biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
  return biz;
}

/** Journal entries (still in the streams: no writer has drained them) for one terminal + reference. */
async function journalFor(terminal_id: string, reference: string) {
  return (await journalEntries(redis)).filter((i) => i.entry.terminal_id === terminal_id && i.entry.reference === reference);
}

/** Drain the journal into PostgreSQL until the business's ledger holds `n` transactions. */
async function drainUntil(business_id: string, n: number) {
  return eventually(`${n} ledger rows`, async () => {
    await writer.drainOnce();
    const rows = await ledgerRows(sql, business_id);
    return rows.length >= n ? rows : undefined;
  });
}

async function wallet(biz: BusinessFixture, contact_id: string) {
  const w = await call(gw, 'GET', `/v1/contacts/${contact_id}/wallet`, biz.admin_key);
  expect(w.status).toBe(200);
  return w.body as { open: number; commerce: number };
}

describe('idempotency under concurrency', () => {
  it('100 simultaneous copies of one purchase make exactly one transaction', async () => {
    const biz = await newBusiness();
    const [contact] = await createContacts(gw, biz, [testCard(11_000_001)]);
    const body = { reference: 'same-ref-1', cim: { type: 'card', value: contact!.card }, amount: 2000, currency: 'EUR' };

    const replies = await Promise.all(Array.from({ length: 100 }, () => call(gw, 'POST', '/v1/purchases', biz.terminal_key, body)));

    expect(replies.map((r) => r.status)).toEqual(Array(100).fill(201));
    expect(new Set(replies.map((r) => r.text)).size).toBe(1);
    const originals = replies.filter((r) => r.headers.get('idempotent-replayed') !== 'true');
    expect(originals).toHaveLength(1);
    for (const r of replies) if (r !== originals[0]) expect(r.headers.get('idempotent-replayed')).toBe('true');
    const ids = new Set(replies.map((r) => r.body.id as string));
    expect(ids.size).toBe(1);
    const [id] = ids;
    expect(replies[0]!.body.awards).toHaveLength(1);
    expect(replies[0]!.body.wallet).toEqual({ open: 0, commerce: 100 });

    // One award in the wallet, one entry in the journal.
    expect(await wallet(biz, contact!.id)).toMatchObject({ open: 0, commerce: 100 });
    const journal = await journalFor(biz.terminal_id, body.reference);
    expect(journal).toHaveLength(1);
    expect(journal[0]!.entry.id).toBe(id);

    // One ledger transaction for the reference, with one posting.
    const rows = await drainUntil(biz.business_id, 1);
    expect(rows.map((r) => [r.id, r.terminal_id, r.reference])).toEqual([[id, biz.terminal_id, body.reference]]);
    const postings = await ledgerPostings(sql, biz.business_id);
    // One award of 100, and the merchant's 10% contribution fee on it.
    expect(postings.map((p) => [p.transaction_id, p.amount]).sort()).toEqual([[id, 10], [id, 100]]);

    // A later copy is still a replay, and changes nothing.
    const later = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    expect(later.status).toBe(201);
    expect(later.headers.get('idempotent-replayed')).toBe('true');
    expect(later.text).toBe(replies[0]!.text);
    expect(await wallet(biz, contact!.id)).toMatchObject({ open: 0, commerce: 100 });
    expect(await journalFor(biz.terminal_id, body.reference)).toHaveLength(0); // drained, nothing new
  });

  // References are remembered for REPLY_TTL_SECONDS; a terminal using one again after that (ISO
  // 8583 STANs wrap) gets a new, approved transaction, which the ledger must then hold too, or
  // the wallet holds money the ledger never saw.
  it('a reference used again after its idempotency window is a new transaction, in the ledger too', async () => {
    const short = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_dbs.idempotency), processor: { ...gw.processor.stores.config, reply_ttl_seconds: 1 } });
    try {
      const biz = await createBusiness(short);
      await addCashbackOffer(short, biz, 5);
      const [contact] = await createContacts(short, biz, [testCard(11_000_201)]);
      const body = { reference: 'wraps-around', cim: { type: 'card', value: contact!.card }, amount: 2000, currency: 'EUR' };
      const first = await call(short, 'POST', '/v1/purchases', biz.terminal_key, body);
      expect(first.status).toBe(201);
      const stores = short.processor.stores;
      const [shard] = (await journalFor(biz.terminal_id, body.reference)).map((j) => j.shard);
      const slot = () => referenceSlot(stores.config, biz.terminal_id, body.reference, stores.clock.now());
      expect(await readRecord(stores, shard!, slot())).toBeDefined();
      await eventually('the reference forgotten', async () => (await findOriginal(stores, slot())) === undefined, 5_000);
      await eventually('the record forgotten', async () => (await readRecord(stores, shard!, slot())) === undefined, 5_000);
      const second = await call(short, 'POST', '/v1/purchases', biz.terminal_key, { ...body, amount: 3000 });
      expect(second.status).toBe(201);
      expect(second.headers.get('idempotent-replayed')).toBeNull();
      expect(second.body.id).not.toBe(first.body.id);
      expect(second.body.wallet).toEqual({ open: 0, commerce: 250 });

      const rows = await drainUntil(biz.business_id, 2);
      expect(rows.map((r) => r.id).sort()).toEqual([first.body.id, second.body.id].sort());
      const postings = await ledgerPostings(sql, biz.business_id);
      expect(postings.filter((p) => p.credit_account === `${contact!.id}:commerce:EUR`).reduce((s, p) => s + p.amount, 0)).toBe(250);
    } finally {
      await short.close();
    }
  });

  // Two bodies for one reference, interleaved: either the other amount for the same contact, or
  // another contact (which may live on another shard, so the shard script alone cannot decide).
  for (const variant of ['same contact, other amount', 'other contact'] as const) {
    it(`100 simultaneous requests with one reference and two bodies (${variant}) make one transaction`, async () => {
      const biz = await newBusiness();
      const contacts = await createContacts(gw, biz, [testCard(11_000_101), testCard(11_000_102)]);
      const reference = `two-bodies-${variant === 'other contact' ? 'c' : 'a'}`;
      const a = { reference, cim: { type: 'card', value: contacts[0]!.card }, amount: 2000, currency: 'EUR' };
      const b = variant === 'other contact' ? { ...a, cim: { type: 'card', value: contacts[1]!.card } } : { ...a, amount: 3000 };

      const sent = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? 'a' : 'b') as 'a' | 'b');
      const replies = await Promise.all(sent.map((which) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, which === 'a' ? a : b)));
      const of = (which: 'a' | 'b') => replies.filter((_, i) => sent[i] === which);

      const first_ok = replies.findIndex((r) => r.status === 201);
      expect(first_ok).toBeGreaterThanOrEqual(0);
      const winner = sent[first_ok]!;
      const loser = winner === 'a' ? 'b' : 'a';
      const won: ApiResponse[] = of(winner);
      const lost: ApiResponse[] = of(loser);
      expect(won.map((r) => r.status)).toEqual(Array(50).fill(201));
      expect(new Set(won.map((r) => r.text)).size).toBe(1);
      expect(won.filter((r) => r.headers.get('idempotent-replayed') !== 'true')).toHaveLength(1);
      expect(lost.map((r) => r.status)).toEqual(Array(50).fill(409));
      for (const r of lost) {
        expect(r.headers.get('content-type')).toContain('application/problem+json');
        expect(r.body.code).toBe('idempotency_conflict');
      }

      const ids = new Set(won.map((r) => r.body.id as string));
      expect(ids.size).toBe(1);
      const [id] = ids;
      const winning_body = winner === 'a' ? a : b;
      const award = winning_body.amount / 20;
      expect(won[0]!.body.awards.map((x: { amount: number }) => x.amount)).toEqual([award]);

      // Exactly one award, to the winner's contact only.
      const winner_contact = winning_body.cim.value === contacts[0]!.card ? contacts[0]! : contacts[1]!;
      const other_contact = winner_contact === contacts[0] ? contacts[1]! : contacts[0]!;
      expect(won[0]!.body.contact_id).toBe(winner_contact.id);
      expect(await wallet(biz, winner_contact.id)).toMatchObject({ commerce: award });
      expect(await wallet(biz, other_contact.id)).toMatchObject({ commerce: 0 });

      const journal = await journalFor(biz.terminal_id, reference);
      expect(journal.map((j) => j.entry.id)).toEqual([id]);

      const rows = await drainUntil(biz.business_id, 1);
      expect(rows.map((r) => [r.id, r.reference, r.amount])).toEqual([[id, reference, winning_body.amount]]);

      // Afterwards, too: the loser's body still conflicts, the winner's still replays.
      const again_lost = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, loser === 'a' ? a : b);
      expect(again_lost.status).toBe(409);
      expect(again_lost.body.code).toBe('idempotency_conflict');
      const again_won = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, winning_body);
      expect(again_won.status).toBe(201);
      expect(again_won.text).toBe(won[0]!.text);
    });
  }
});
