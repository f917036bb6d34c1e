// Money past 2^53 − 1 minor units (a black-box probe, 2026-12-05): 100 offers of the largest fixed
// award and a merchant at 99.99% took one contact's wallet to 9.2e15 in 92 purchases of 1. The
// wallet the Lua scripts answered was then a unit off (doubles), and the statement, the
// settlements, the stats and `npm run reconcile` failed on the ledger's sums (500, exit 2).
// Now an award never takes a wallet past wallet_balance_max (core/money.ts): it is cut to what
// fits, as an instant discount is cut to the price, and not made when nothing does (its budget
// and cap count given back); and reports and reconcile read sums exactly, however large (the
// JSON has their digits).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amount_max, wallet_balance_max } from '../core/money.ts';
import { newId, shardOf } from '../core/ids.ts';
import { budgetKey, capsKey, contactKey } from '../processor/hot/keys.ts';
import { accountId } from '../processor/journal.ts';
import { reconcile, type Mismatch } from '../processor/ledger/reconcile.ts';
import { createCardContact, type CardContact } from './card-contact.ts';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';
import { runCommand } from './own-stores.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;
const offers_n = 100;
// The last offer, budgeted and capped: 9 purchases of the 100 largest awards and it leave room for
// 100 of them and 999 of it in the 10th (wallet_balance_max − 9 × (B + 5,500) − B, B the 100's sum).
const last_award = 5_500;
const contacts_n = 10;
let budgeted_offer: string;
let terminal_key: string;
const contacts: CardContact[] = [];
/** Per contact, each purchase's reply. */
const replies: Record<string, any>[][] = [];

const big = (n: bigint | number) => String(n);

/** The integer after `"name":` in `text`, exactly (JSON.parse would round it past 2^53). */
function digits(text: string, name: string): bigint[] {
  return [...text.matchAll(new RegExp(`"${name}":(-?\\d+)`, 'g'))].map((m) => BigInt(m[1]!));
}

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
  const m = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Generous', code: `WB${Date.now() % 1e9}`, contribution_fee_percent: 99.99 });
  expect(m.status, m.text).toBe(201);
  const v = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Venue', merchant_id: m.body.id });
  const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: v.body.id, code: 'T0000053' });
  expect(t.status, t.text).toBe(201);
  terminal_key = t.body.api_key;
  for (let i = 0; i < offers_n; i++) {
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: `big ${i}`, kind: 'cashback', goal: 'spend', award: { fixed: amount_max - i } });
    expect(o.status, o.text).toBe(201);
  }
  const last = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'budgeted', kind: 'cashback', goal: 'spend', award: { fixed: last_award }, limits: { budget: amount_max, per_contact: { count: 100, period: 'lifetime' } } });
  expect(last.status, last.text).toBe(201);
  budgeted_offer = last.body.id;
  for (let k = 0; k < contacts_n; k++) {
    const c = await createCardContact(gw, biz, 5_353_000 + k);
    contacts.push(c);
    replies.push([]);
    // 11 purchases: 9 whole, the 10th cut, the 11th with nothing left.
    for (let p = 0; p < 11; p++) {
      const r = await call(gw, 'POST', '/v1/purchases', terminal_key, { reference: `wb-${++seq}`, cim: { type: 'card', value: c.card }, amount: 1, currency: 'EUR' });
      expect(r.status, r.text).toBe(201);
      replies[k]!.push(r.body);
    }
  }
}, 300_000);

afterAll(async () => {
  await gw?.close();
});

describe('a wallet never holds more than wallet_balance_max', () => {
  it('is filled to the bound exactly: the wallet is the sum of the awards made, the last one cut', () => {
    const each = BigInt(offers_n) * BigInt(amount_max) - BigInt((offers_n * (offers_n - 1)) / 2);
    for (const made of replies) {
      let sum = 0n;
      for (const r of made) {
        for (const a of r.awards) sum += BigInt(a.amount);
        expect(r.wallet.open + r.wallet.commerce).toBeLessThanOrEqual(wallet_balance_max);
        expect(BigInt(r.wallet.commerce)).toBe(sum);
      }
      expect(sum).toBe(BigInt(wallet_balance_max));
      // 9 whole, then the 10th: every large award and the last cut to 999; then nothing.
      expect(made.slice(0, 9).every((r) => r.awards.length === offers_n + 1)).toBe(true);
      expect(made[9]!.awards.map((a: { amount: number }) => a.amount)).toEqual([...Array.from({ length: offers_n }, (_, i) => amount_max - i), 999]);
      expect(BigInt(made[9]!.wallet.commerce)).toBe(9n * (each + BigInt(last_award)) + each + 999n);
      expect(made[10]!.awards).toEqual([]);
      expect(made[10]!.wallet.commerce).toBe(wallet_balance_max);
    }
  });

  it('the cut award is the same in the reply, GET /v1/transactions/{id} and the ledger’s postings', async () => {
    const cut = replies[0]![9]!;
    const t = await call(gw, 'GET', `/v1/transactions/${cut.id}`, biz.admin_key);
    expect(t.status, t.text).toBe(200);
    expect(t.body.awards ?? t.body.reply?.awards).toEqual(cut.awards);
    const c = contacts[0]!;
    const [credited] = await gw.processor.stores.sql<{ sum: string }[]>`
      select sum(amount)::text as sum from ledger_postings where transaction_id = ${cut.id} and credit_account = ${accountId(c.id, 'commerce', 'EUR')}`;
    expect(BigInt(credited!.sum)).toBe(cut.awards.reduce((s: bigint, a: { amount: number }) => s + BigInt(a.amount), 0n));
  });

  it('gives back the budget and cap count of what was not made', async () => {
    const { redis } = gw.processor.stores;
    // Each contact: 9 whole, 999 cut, none after.
    expect(await redis.get(budgetKey(budgeted_offer))).toBe(big(contacts_n * (9 * last_award + 999)));
    for (const c of contacts) {
      const shard = shardOf(c.id, gw.processor.stores.config.shard_count);
      expect(await redis.hGet(capsKey(shard, c.id), `${budgeted_offer}|l`)).toBe('10');
    }
  });

  it('statement, settlements and stats answer 200 with exact figures past 2^53', async () => {
    const c = contacts[0]!;
    const s = await call(gw, 'GET', `/v1/contacts/${c.id}/statement`, biz.admin_key);
    expect(s.status, s.text).toBe(200);
    expect(digits(s.text, 'commerce').at(-1)).toBe(BigInt(wallet_balance_max)); // the closing
    expect(s.body.lines).toHaveLength(10); // the 11th moved nothing

    const { sql } = gw.processor.stores;
    const [ledger] = await sql<{ awards: string; fees: string }[]>`
      select (select sum(amount) from ledger_postings where debit_account = ${accountId(biz.business_id, 'rewards', 'EUR')})::text as awards,
        (select sum(amount) from ledger_postings where debit_account like '%:fees:EUR' and transaction_id in
          (select id from ledger_transactions where business_id = ${biz.business_id}))::text as fees`;
    expect(BigInt(ledger!.awards)).toBe(BigInt(contacts_n) * BigInt(wallet_balance_max));
    expect(BigInt(ledger!.awards)).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER));

    const st = await call(gw, 'GET', '/v1/settlements', biz.admin_key);
    expect(st.status, st.text).toBe(200);
    expect(digits(st.text, 'awards_funded')).toContain(BigInt(ledger!.awards));
    expect(digits(st.text, 'contribution_fees')).toContain(BigInt(ledger!.fees));
    expect(digits(st.text, 'net_amount')).toContain(BigInt(ledger!.fees));
    expect(st.text).toContain('"owed_by":"merchant"');

    const stats = await call(gw, 'GET', `/v1/stats?since=${new Date(Date.now() - 3_600_000).toISOString()}`, biz.admin_key);
    expect(stats.status, stats.text).toBe(200);
    expect(digits(stats.text, 'awards_today')).toEqual([BigInt(ledger!.awards)]);
  });

  it('reconcile compares exactly: no mismatch at the bound; past 2^53 a unit apart is one', async () => {
    const { redis, sql, config } = gw.processor.stores;
    const found: Mismatch[] = [];
    const run = () => reconcile(redis, sql, { shard_count: config.shard_count, business_id: biz.business_id, wait_ms: 10_000, onMismatch: (m) => found.push(m) });
    expect(await run()).toMatchObject({ outcome: 'compared', checked: contacts_n, mismatches: 0 });

    // A balance past 2^53 (a refund may give back past the bound), in both stores alike, then a unit apart.
    const other = await createBusiness(gw);
    const c = await createCardContact(gw, other, 5_354_000);
    const shard = shardOf(c.id, config.shard_count);
    const past = 9_007_199_254_740_993n;
    const id = newId('txn');
    await sql`insert into ledger_transactions ${sql({ id, business_id: other.business_id, kind: 'award', currency: 'EUR', amount: 0, shard, journal_id: '1-0', contact_id: c.id, created_at: new Date() })}`;
    await sql`insert into ledger_postings (transaction_id, n, amount, debit_account, credit_account)
      values (${id}, 0, ${past.toString()}::int8, ${accountId(other.business_id, 'rewards', 'EUR')}, ${accountId(c.id, 'open', 'EUR')})`;
    await redis.hSet(contactKey(shard, c.id), 'o', past.toString());
    const s = await call(gw, 'GET', `/v1/contacts/${c.id}/statement`, other.admin_key);
    expect(s.status, s.text).toBe(200);
    expect(s.text).toContain(`"closing":{"open":${past},"commerce":0}`);
    expect(s.text).toContain(`"open_delta":${past},`);
    const env = { REDIS_URL: process.env.REDIS_URL!, DATABASE_URL: process.env.DATABASE_URL!, SHARDS: String(config.shard_count) };
    const same = await runCommand('reconcile-main.ts', ['--business', other.business_id, '--wait-seconds', '10'], env);
    expect(same.stdout + same.stderr).toContain('contacts checked: 1, mismatches: 0');
    expect(same.code).toBe(0);
    await redis.hIncrBy(contactKey(shard, c.id), 'o', 1);
    const apart = await runCommand('reconcile-main.ts', ['--business', other.business_id, '--wait-seconds', '10'], env);
    expect(apart.stdout).toContain(`${c.id} open ${past + 1n} ${past}`);
    expect(apart.code).toBe(1);
  });
});
