// The writer's statement on every kind of journal entry the hot path writes: it knows every field
// of them (the ledger stores an entry as columns, postings and the reply; a field it does not know
// would be dropped), and each transaction reads back once recorded exactly as it read while
// pending. Entries delivered twice in one batch, a reply that does not carry the entry's awards,
// and a batch that commits whole.
//
// Runs on a Redis database of its own (redis_dbs),
// with no writer: the entries stay in the journal for the test to read. No webhook worker either:
// the outbox rows the statement writes stay as written.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../core/ids.ts';
import { configFromEnv } from '../gateway/config.ts';
import { entryAwards, streamEntryFields, type JournalEntry } from '../processor/journal.ts';
import { webhooks_channel } from '../processor/webhooks.ts';
import { recordBatch, recordEntries, statement_entries_max, type JournalRecord } from '../processor/ledger/writer.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { byPair, connectTestRedis, connectTestSql, createContacts, journalEntries, redis_dbs, redisUrl, type Contact } from './ledger-helpers.ts';

const redis_db = redis_dbs.ledger_writer;
let gw: TestGateway;
let redis: RedisClient;
let sql: Sql;

beforeAll(async () => {
  gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_db), webhooks: { ...configFromEnv().webhooks, worker: false } });
  redis = await connectTestRedis(redis_db);
  sql = connectTestSql();
});
afterAll(async () => {
  await redis?.close().catch(() => {});
  await sql?.end({ timeout: 5 });
  await gw?.close();
});

/** The fields of a journal entry recordEntries stores (processor/ledger/writer.ts). */
const known_fields = new Set([
  'id', 'kind', 'business_id', 'terminal_id', 'reference', 'contact_id', 'amount', 'currency', 'original_id', 'created_at',
  'awards', 'discount', 'paid_from_wallet', 'lots', 'owed', 'instead', 'postings', 'request_hash', 'occurred_at', 'made_by', 'terminal_code', 'settled', 'since',
]);

let seq = 0;
const ref = () => `w-${++seq}`;

async function post(biz: BusinessFixture, path: string, body: Record<string, unknown>) {
  const r = await call(gw, 'POST', path, biz.terminal_key, { reference: ref(), ...body });
  expect(r.status, `${path}: ${r.text}`).toBe(201);
  return r.body;
}

/** A purchase, redemption, spend, refund, reversal, award and expiry of one business, all in the journal. */
async function everyKind(): Promise<{ biz: BusinessFixture; contacts: Contact[] }> {
  const biz = await createBusiness(gw);
  const offers = [
    { name: '5% back', goal: 'spend', award: { percent: 5 } },
    { name: '10% off from 50.00', goal: 'spend', kind: 'instant_discount', award: { percent: 10 }, conditions: { min_amount: 5000 } },
    { name: 'a day only', goal: 'spend', award: { fixed: 100 }, validity_days: 1 },
    { name: 'welcome', goal: 'signup', award: { fixed: 250 } },
  ];
  for (const o of offers) expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, o)).status).toBe(201);
  const contacts = await createContacts(gw, biz, [testCard(41_000_001), testCard(41_000_002)]);
  const [a, b] = contacts as [Contact, Contact];
  const first = await post(biz, '/v1/purchases', { cim: { type: 'card', value: a.card }, amount: 6000, currency: 'EUR' });
  const second = await post(biz, '/v1/purchases', { cim: { type: 'card', value: b.card }, amount: 1000, currency: 'EUR' });
  await post(biz, '/v1/redemptions', { cim: { type: 'card', value: a.card } });
  const wallet_code = (await call(gw, 'GET', `/v1/contacts/${a.id}`, biz.admin_key)).body.wallet_code as string;
  await post(biz, '/v1/purchases', { cim: { type: 'card', value: a.card }, amount: 2000, currency: 'EUR', pay: { amount: 100, wallet_code } });
  await post(biz, '/v1/spends', { amount: 50, currency: 'EUR', wallet_code });
  await post(biz, '/v1/refunds', { original_reference: first.reference, amount: 3000 });
  await post(biz, '/v1/reversals', { original_reference: second.reference });
  await post(biz, '/v1/purchases', { cim: { type: 'card', value: b.card }, amount: 1500, currency: 'EUR' }); // a lot to expire
  const clock = gw.processor.stores.clock;
  const real = clock.now;
  clock.now = () => real() + 2 * 86_400_000;
  try {
    expect(await gw.processor.expiry.sweep()).toBeGreaterThanOrEqual(1);
  } finally {
    clock.now = real;
  }
  return { biz, contacts };
}

function records(items: Awaited<ReturnType<typeof journalEntries>>): JournalRecord[] {
  return items.map((j) => ({ shard: j.shard, stream_id: j.stream_id, entry: j.fields[j.fields.indexOf('e') + 1]!, reply: j.fields[j.fields.indexOf('r') + 1] ?? '' }));
}

/** An entry's awards: a purchase's are its reply's alone (processor/templates.ts), older entries carried them too. */
function awardsOf(j: { entry: JournalEntry; fields: string[] }): readonly unknown[] {
  return entryAwards(j.entry, streamEntryFields(j.fields).reply);
}

describe('recordEntries', () => {
  let biz: BusinessFixture;
  let journal: Awaited<ReturnType<typeof journalEntries>>;

  it('knows every field of every kind of entry, and a recorded transaction reads back as it read pending', async () => {
    ({ biz } = await everyKind());
    journal = (await journalEntries(redis)).filter((j) => j.entry.business_id === biz.business_id);
    expect(new Set(journal.map((j) => j.entry.kind))).toEqual(new Set(['purchase', 'redemption', 'spend', 'refund', 'reversal', 'expiry', 'award']));
    for (const j of journal) expect(Object.keys(j.entry).filter((k) => !known_fields.has(k)), `fields of a ${j.entry.kind} entry`).toEqual([]);

    const pending = new Map<string, Record<string, unknown>>();
    for (const j of journal) {
      const r = await call(gw, 'GET', `/v1/transactions/${j.entry.id}`, biz.admin_key);
      expect(r.body.ledger).toBe('pending');
      pending.set(j.entry.id, r.body);
    }
    expect(await recordEntries(sql, records(journal))).toBe(journal.length);
    for (const j of journal) {
      const r = await call(gw, 'GET', `/v1/transactions/${j.entry.id}`, biz.admin_key);
      const { ledger, recorded_at, postings, ...rest } = r.body;
      expect([ledger, typeof recorded_at]).toEqual(['recorded', 'string']);
      expect(rest, `${j.entry.kind} ${j.entry.id}`).toEqual({ ...pending.get(j.entry.id), ledger: undefined, recorded_at: undefined });
      // The awards' keys in the order a ledger of jsonb documents gave them back (before 006).
      const [jsonb] = await sql<{ awards: unknown }[]>`select ${JSON.stringify(awardsOf(j))}::text::jsonb as awards`;
      expect(JSON.stringify(rest.awards)).toBe(JSON.stringify(jsonb!.awards));
      // One posting per account pair, in the order the entry first names the pair.
      const pairs = byPair(j.entry.postings);
      const order = (p: readonly [string, string, number]) => j.entry.postings.findIndex((q) => q[0] === p[0] && q[1] === p[1]);
      expect(postings.map((p: { debit_account: string; credit_account: string; amount: number }) => [p.debit_account, p.credit_account, p.amount])).toEqual(
        pairs.sort((x, y) => order(x) - order(y)),
      );
    }
    // Every reply carries its entry's awards and discount: nothing of an entry is stored twice,
    // and `body` holds only the lots a redemption or a claw-back took (its reply has none), what
    // a claw-back noted owed, and what it took from other lots instead (claw-back.lua).
    const rows = await sql<{ id: string; body: unknown; reply: string }[]>`
      select id, body, json_typeof(reply) as reply from ledger_transactions where business_id = ${biz.business_id}`;
    expect(rows.map((r) => r.reply)).toEqual(journal.map(() => 'object'));
    const clawBack = (e: JournalEntry) => typeof e.owed === 'number';
    expect(new Set(journal.filter((j) => clawBack(j.entry)).map((j) => j.entry.kind))).toEqual(new Set(['refund', 'reversal']));
    const bodyOf = (e: JournalEntry) =>
      clawBack(e) ? { ...(e.lots ? { lots: e.lots } : {}), owed: e.owed, ...(e.instead ? { instead: e.instead } : {}) } : { lots: e.lots, ...(e.since ? { since: e.since } : {}) };
    const lots = new Map(journal.filter((j) => j.entry.lots || clawBack(j.entry)).map((j) => [j.entry.id, bodyOf(j.entry)]));
    expect(new Set(journal.filter((j) => j.entry.lots).map((j) => j.entry.kind))).toEqual(new Set(['redemption', 'refund', 'reversal']));
    expect(new Map(rows.filter((r) => r.body !== null).map((r) => [r.id, r.body]))).toEqual(lots);
    // What `rebuild` needs: a terminal's transactions keep their claim hash, a purchase its occurred_at.
    const kept = await sql<{ kind: string; request_hash: string | null; occurred: boolean }[]>`
      select kind, request_hash, occurred_at is not null as occurred from ledger_transactions where business_id = ${biz.business_id}`;
    for (const k of kept) {
      const terminal = !['award', 'expiry'].includes(k.kind);
      expect([k.kind, terminal ? /^[A-Za-z0-9_-]{10}$/.test(k.request_hash ?? '') : k.request_hash === null, k.occurred]).toEqual([k.kind, true, k.kind === 'purchase']);
    }
    // Delivered again: nothing is recorded twice.
    expect(await recordEntries(sql, records(journal))).toBe(0);
  });

  it('records an entry twice in one batch once, its postings once', async () => {
    expect(journal).toBeDefined();
    const entry = { ...journal.find((j) => j.entry.kind === 'purchase')!.entry, id: newId('txn') };
    const record = { shard: 0, stream_id: '1-0', entry: JSON.stringify(entry), reply: JSON.stringify({ id: entry.id, awards: entry.awards, discount: entry.discount, paid_from_wallet: entry.paid_from_wallet }) };
    expect(await recordEntries(sql, [record, { ...record, stream_id: '1-1' }, record])).toBe(1);
    const postings = await sql<{ amount: number }[]>`select amount from ledger_postings where transaction_id = ${entry.id}`;
    expect(postings.length).toBe(byPair(entry.postings).length);
  });

  it('keeps the awards of an entry whose reply does not carry them', async () => {
    expect(journal).toBeDefined();
    // An entry as purchases wrote them before their awards were the reply's alone.
    const j = journal.find((x) => x.entry.kind === 'purchase' && awardsOf(x).length > 0)!;
    const purchase: JournalEntry = { ...j.entry, awards: awardsOf(j) };
    const entry: JournalEntry = { ...purchase, id: newId('txn') };
    expect(await recordEntries(sql, [{ shard: 0, stream_id: '2-0', entry: JSON.stringify(entry), reply: '' }])).toBe(1);
    const r = await call(gw, 'GET', `/v1/transactions/${entry.id}`, biz.admin_key);
    expect([r.body.ledger, r.body.awards, r.body.discount]).toEqual(['recorded', purchase.awards, purchase.discount]);
    const [row] = await sql<{ reply: unknown; body: unknown }[]>`select reply, body from ledger_transactions where id = ${entry.id}`;
    expect(row).toEqual({ reply: null, body: { awards: purchase.awards, discount: purchase.discount, paid_from_wallet: purchase.paid_from_wallet, lots: null } });
  });

  it('keeps in its body what a purchase’s awards paid of commerce debt, and shows the transaction as before', async () => {
    expect(journal).toBeDefined();
    const j = journal.find((x) => x.entry.kind === 'purchase' && awardsOf(x).length > 0)!;
    const entry: JournalEntry = { ...j.entry, id: newId('txn'), settled: 40 };
    expect(await recordEntries(sql, [{ shard: 0, stream_id: '2-1', entry: JSON.stringify(entry), reply: streamEntryFields(j.fields).reply!.replace(j.entry.id, entry.id) }])).toBe(1);
    const [row] = await sql<{ body: unknown }[]>`select body from ledger_transactions where id = ${entry.id}`;
    expect(row).toEqual({ body: { settled: 40 } });
    const r = await call(gw, 'GET', `/v1/transactions/${entry.id}`, biz.admin_key);
    expect([r.body.ledger, r.body.awards, 'settled' in r.body]).toEqual(['recorded', awardsOf(j), false]);
    // An entry carrying its awards too (as before they were the reply's alone): kept beside them.
    const old: JournalEntry = { ...entry, id: newId('txn'), awards: awardsOf(j) };
    expect(await recordEntries(sql, [{ shard: 0, stream_id: '2-2', entry: JSON.stringify(old), reply: '' }])).toBe(1);
    const [kept] = await sql<{ body: { settled?: number } }[]>`select body from ledger_transactions where id = ${old.id}`;
    expect(kept!.body.settled).toBe(40);
  });

  it('stores each reply with its own entry, an entry without one among them included, and refuses a reply holding a raw control character', async () => {
    expect(journal).toBeDefined();
    const j = journal.find((x) => x.entry.kind === 'purchase' && awardsOf(x).length > 0)!;
    // The replies travel beside the entries (writer.ts batchDocument): each must land on its own row.
    const items = [0, 1, 2, 3].map((i) => {
      const entry: JournalEntry = { ...j.entry, id: newId('txn'), ...(i === 1 ? { awards: awardsOf(j) } : {}) };
      return { shard: 0, stream_id: `4-${i}`, entry: JSON.stringify(entry), reply: i === 1 ? '' : JSON.stringify({ id: entry.id, n: i, awards: [], discount: entry.discount, paid_from_wallet: entry.paid_from_wallet }) };
    });
    expect(await recordEntries(sql, items)).toBe(4);
    const ids = items.map((i) => JSON.parse(i.entry).id as string);
    const rows = await sql<{ id: string; reply: { id: string; n: number } | null; body: { awards?: unknown } | null }[]>`select id, reply, body from ledger_transactions where id = any(${ids})`;
    const by_id = new Map(rows.map((r) => [r.id, r]));
    expect(ids.map((id) => by_id.get(id)?.reply?.id ?? null)).toEqual([ids[0], null, ids[2], ids[3]]);
    expect(ids.map((id) => by_id.get(id)?.body?.awards ?? null)).toEqual([null, awardsOf(j), null, null]);

    const bad = { ...items[0]!, entry: JSON.stringify({ ...j.entry, id: newId('txn') }), reply: `{"id":"x","pool":"a\u001eb"}` };
    await expect(recordEntries(sql, [items[2]!, bad])).rejects.toThrow(/raw control character/);
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where id = ${JSON.parse(bad.entry).id as string}`;
    expect(row!.n).toBe(0);
  });

  it('commits a batch whole: one entry PostgreSQL refuses, and none of the batch is recorded', async () => {
    expect(journal).toBeDefined();
    const purchase = journal.find((j) => j.entry.kind === 'purchase')!;
    const n = statement_entries_max + 44; // two statements
    const items = Array.from({ length: n }, (_, i) => {
      const entry = { ...purchase.entry, id: newId('txn'), reference: `batch-${i}`, amount: i === n - 3 ? -5 : purchase.entry.amount };
      return { shard: purchase.shard, stream_id: `3-${i}`, entry: JSON.stringify(entry), reply: purchase.fields[purchase.fields.indexOf('r') + 1]! };
    });
    await expect(recordBatch(sql, items)).rejects.toMatchObject({ code: '23514' });
    const ids = items.map((i) => JSON.parse(i.entry).id as string);
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where id = any(${ids})`;
    expect(row!.n).toBe(0);
    expect(await recordBatch(sql, items.filter((_, i) => i !== n - 3))).toBe(n - 1);
  });

  it('writes the webhook outbox: an event per type an enabled endpoint takes, a delivery per such endpoint, for new transactions only', async () => {
    expect(journal).toBeDefined();
    const [hooked, picky, quiet] = [await createBusiness(gw), await createBusiness(gw), await createBusiness(gw)];
    const endpoints = [
      { id: `whk_all_${seq}`, business_id: hooked.business_id, events: ['*'], status: 'enabled' },
      { id: `whk_awards_${seq}`, business_id: hooked.business_id, events: ['award.created'], status: 'enabled' },
      { id: `whk_mixed_${seq}`, business_id: hooked.business_id, events: ['award.expired', 'transaction.approved'], status: 'enabled' },
      { id: `whk_off_${seq}`, business_id: hooked.business_id, events: ['*'], status: 'disabled' },
      { id: `whk_gone_${seq}`, business_id: hooked.business_id, events: ['*'], status: 'deleted' },
      // Enabled, but for a type none of its business's transactions make.
      { id: `whk_picky_${seq}`, business_id: picky.business_id, events: ['award.expired'], status: 'enabled' },
    ];
    for (const e of endpoints) {
      await sql`insert into webhook_endpoints (id, business_id, url, events, status, secret)
        values (${e.id}, ${e.business_id}, 'https://example.com/hook', ${e.events}, ${e.status}, 'unused')`;
    }
    const of = (kind: string) => journal.find((j) => j.entry.kind === kind && (kind !== 'purchase' || awardsOf(j).length > 1))!;
    const copy = (j: (typeof journal)[number], business_id: string, change: (e: Record<string, unknown>) => void = () => {}): JournalRecord => {
      const entry: Record<string, unknown> = { ...j.entry, id: newId('txn'), business_id };
      change(entry);
      return { shard: j.shard, stream_id: `4-${++seq}`, entry: JSON.stringify(entry), reply: j.fields[j.fields.indexOf('r') + 1] ?? '' };
    };
    const items = [
      // Awards in the entry too, as purchases wrote them before: the events take the entry's.
      copy(of('purchase'), hooked.business_id, (e) => (e.awards = awardsOf(of('purchase')))),
      // Awards in the reply only, as purchases write them now: the events take them from there.
      copy(of('purchase'), hooked.business_id),
      copy(of('expiry'), hooked.business_id),
      copy(of('reversal'), hooked.business_id),
      copy(of('purchase'), picky.business_id),
      copy(of('purchase'), quiet.business_id),
    ];
    expect(JSON.parse(items[1]!.reply).awards.length).toBeGreaterThan(1);

    // What the outbox must hold, from the rules: each transaction's event types, kept when an
    // enabled endpoint of its business takes the type ('*': every type), one delivery per such endpoint.
    const want_events: string[] = [];
    const want_deliveries: string[] = [];
    for (const item of items) {
      const e = JSON.parse(item.entry) as { id: string; business_id: string; kind: string; amount: number; awards?: unknown[] };
      const awards = e.awards ?? (JSON.parse(item.reply) as { awards?: unknown[] }).awards ?? [];
      const types: [string, number | null, string][] = [['transaction.approved', null, ''], ...awards.map((_, n) => ['award.created', n, `_a${n}`] as [string, number, string])];
      if (e.kind === 'expiry' && e.amount > 0) types.push(['award.expired', null, '_x']);
      for (const [type, n, suffix] of types) {
        const to = endpoints.filter((w) => w.business_id === e.business_id && w.status === 'enabled' && (w.events.includes(type) || w.events.includes('*')));
        if (to.length === 0) continue;
        const event_id = `evt_${e.id.replace(/^txn_/, '')}${suffix}`;
        want_events.push(`${event_id} ${e.business_id} ${type} ${e.id} ${n}`);
        for (const w of to) want_deliveries.push(`${w.id} ${event_id}`);
      }
    }
    expect(want_events.some((e) => e.includes(' award.expired '))).toBe(true);

    const ids = items.map((i) => JSON.parse(i.entry).id as string);
    const outbox = async () => ({
      events: (await sql<{ e: string }[]>`select concat_ws(' ', id, business_id, type, transaction_id, coalesce(n::text, 'null')) as e from webhook_events where transaction_id = any(${ids})`).map((r) => r.e).sort(),
      deliveries: (await sql<{ d: string }[]>`select d.endpoint_id || ' ' || d.event_id as d from webhook_deliveries d join webhook_events e on e.id = d.event_id where e.transaction_id = any(${ids})`).map((r) => r.d).sort(),
    });
    let notified = 0;
    const listening = await sql.listen(webhooks_channel, () => notified++);
    try {
      expect(await recordEntries(sql, items)).toBe(items.length);
      expect(await outbox()).toEqual({ events: want_events.sort(), deliveries: want_deliveries.sort() });
      // The delivery workers are woken at commit.
      for (let i = 0; i < 50 && notified === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(notified).toBeGreaterThan(0);
    } finally {
      await listening.unlisten();
    }
    // Delivered again: recorded already, so no event and no delivery is made twice.
    expect(await recordEntries(sql, items)).toBe(0);
    expect(await outbox()).toEqual({ events: want_events.sort(), deliveries: want_deliveries.sort() });
  });
});
