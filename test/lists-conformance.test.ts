// Every list and page of the pages, to the letter: limits and their bounds, the order and its
// ties, cursors (another business's, another list's, a garbled one), pages walked while items are
// being added, and the lists that read the ledger. What other files already cover (the deliveries'
// basic paging, the network lists' bounds) is not repeated here.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../core/ids.ts';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';
import { expectValidation } from './contract-util.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let other: BusinessFixture;

beforeAll(async () => {
  gw = await startTestGateway();
  [biz, other] = await Promise.all([createBusiness(gw), createBusiness(gw)]);
});
afterAll(async () => {
  await gw?.close();
});

type Page = { object: string; data: { id?: string; event_id?: string }[]; has_more: boolean };

/** Every item of a list, a page of `limit` at a time, checking each page's shape. */
async function walk(path: string, key: string, limit: number, idOf: (x: any) => string, between: () => Promise<unknown> = async () => {}): Promise<string[]> {
  const seen: string[] = [];
  let after: string | undefined;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const r = await call<Page>(gw, 'GET', `${path}${sep}limit=${limit}${after === undefined ? '' : `&starting_after=${after}`}`, key);
    expect(r.status, r.text).toBe(200);
    expect(r.body.object).toBe('list');
    expect(typeof r.body.has_more).toBe('boolean');
    expect(r.body.data.length).toBeLessThanOrEqual(limit);
    seen.push(...r.body.data.map(idOf));
    if (!r.body.has_more) return seen;
    expect(r.body.data.length).toBe(limit);
    after = idOf(r.body.data.at(-1));
    await between();
  }
}

describe('GET /v1/processors (EVENTS.md: "GET /v1/processors lists them (never the secret)")', () => {
  it('lists every processor of the business, past a thousand, a page at a time', async () => {
    const b = await createBusiness(gw);
    const { sql } = gw.processor.stores;
    // Rows as POST /v1/processors makes them (without secrets: the list never reads them), in one second.
    const ids = Array.from({ length: 1_005 }, () => newId('prc'));
    await sql`insert into processors ${sql(ids.map((id, i) => ({ id, business_id: b.business_id, name: `p${i}`, award_on: 'clearing' })))}`;
    const listed = await walk('/v1/processors', b.admin_key, 1_000, (p) => p.id);
    expect(listed.length).toBe(ids.length);
    expect(new Set(listed)).toEqual(new Set(ids));
    for (const p of (await call(gw, 'GET', '/v1/processors?limit=3', b.admin_key)).body.data) expect(Object.keys(p).sort()).toEqual(['award_on', 'created_at', 'id', 'name']);
  });

  it('keeps its order across pages, oldest first, and refuses cursors not its own', async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = await call(gw, 'POST', '/v1/processors', biz.admin_key, { name: `acq ${i}` });
      expect(p.status, p.text).toBe(201);
      made.push(p.body.id);
    }
    const all = await call(gw, 'GET', '/v1/processors', biz.admin_key);
    expect(all.body).toMatchObject({ object: 'list', has_more: false });
    expect(all.body.data.map((p: { id: string }) => p.id)).toEqual(made);
    expect(await walk('/v1/processors', biz.admin_key, 2, (p) => p.id)).toEqual(made);
    const theirs = await call(gw, 'POST', '/v1/processors', other.admin_key, { name: 'theirs' });
    for (const cursor of [theirs.body.id, 'prc_nope', biz.terminal_id]) expectValidation(await call(gw, 'GET', `/v1/processors?starting_after=${cursor}`, biz.admin_key), 'starting_after');
    for (const q of ['limit=0', 'limit=1001', 'limit=abc']) expectValidation(await call(gw, 'GET', `/v1/processors?${q}`, biz.admin_key), 'limit');
  });
});

describe('the network lists, walked while items are added', () => {
  it('show every terminal that existed when the walk began, once', async () => {
    const b = await createBusiness(gw);
    const made = [b.terminal_id];
    for (let i = 2; i <= 12; i++) {
      const t = await call(gw, 'POST', '/v1/terminals', b.admin_key, { venue_id: b.venue_id, code: `T${String(i).padStart(7, '0')}` });
      expect(t.status, t.text).toBe(201);
      made.push(t.body.id);
    }
    let n = 100;
    const seen = await walk('/v1/terminals', b.admin_key, 3, (t) => t.id, () => call(gw, 'POST', '/v1/terminals', b.admin_key, { venue_id: b.venue_id, code: `T${String(n++).padStart(7, '0')}` }));
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of made) expect(seen).toContain(id);
    // Oldest first: those made before the walk in the order they were made, then those made during it
    // (a black-box probe found them in the order of their random ids, 2026-12-06).
    expect(seen.slice(0, made.length)).toEqual(made);
    expect(seen.length).toBeGreaterThan(made.length);
  });

  it('merchants and venues too, oldest first', async () => {
    const b = await createBusiness(gw);
    const merchants = [b.merchant_id];
    const venues = [b.venue_id];
    for (let i = 0; i < 6; i++) {
      const m = await call(gw, 'POST', '/v1/merchants', b.admin_key, { name: `M${i}`, code: `ORDER${i}` });
      expect(m.status, m.text).toBe(201);
      merchants.push(m.body.id);
      const v = await call(gw, 'POST', '/v1/venues', b.admin_key, { name: `V${i}`, merchant_id: m.body.id });
      expect(v.status, v.text).toBe(201);
      venues.push(v.body.id);
    }
    expect(await walk('/v1/merchants', b.admin_key, 4, (m) => m.id)).toEqual(merchants);
    expect(await walk('/v1/venues', b.admin_key, 4, (v) => v.id)).toEqual(venues);
  });
});

describe('GET /v1/webhooks/{id}/deliveries (EVENTS.md: newest first, limit 1–1000 (default 100), starting_after)', () => {
  /** Deliveries as the ledger writer makes them, `n` events of one second (a writer batch). */
  async function deliveries(endpoint_id: string, business_id: string, n: number, status: (i: number) => string): Promise<string[]> {
    const { sql } = gw.processor.stores;
    const ids = Array.from({ length: n }, () => `evt_${newId('txn').slice(4)}`).sort();
    await sql`insert into webhook_events ${sql(ids.map((id) => ({ id, business_id, type: 'transaction.approved', transaction_id: `txn_${id.slice(4)}` })))}`;
    for (let i = 0; i < ids.length; i++) {
      await sql`insert into webhook_deliveries (endpoint_id, event_id, status, attempts, next_attempt_at)
        values (${endpoint_id}, ${ids[i]!}, ${status(i)}, 1, ${status(i) === 'pending' ? sql`now() + interval '1 day'` : null})`;
    }
    return ids;
  }

  it('pages 100 by default, walks every delivery once, filters and cursors combined', async () => {
    const b = await createBusiness(gw);
    const w = await call(gw, 'POST', '/v1/webhooks', b.admin_key, { url: 'https://example.com/hooks', events: ['*'] });
    expect(w.status, w.text).toBe(201);
    const base = `/v1/webhooks/${w.body.id}/deliveries`;
    const statuses = ['pending', 'succeeded', 'failed'];
    const made = await deliveries(w.body.id, b.business_id, 150, (i) => statuses[i % 3]!);
    const first = await call(gw, 'GET', base, b.admin_key);
    expect(first.body.data).toHaveLength(100);
    expect(first.body.has_more).toBe(true);
    expect(first.body.data.map((d: { event_id: string }) => d.event_id)).toEqual([...made].reverse().slice(0, 100));
    // Walked while more are recorded: the newer ones come first, so nothing is skipped or repeated.
    const seen = await walk(base, b.admin_key, 7, (d) => d.event_id, () => deliveries(w.body.id, b.business_id, 2, () => 'succeeded'));
    expect(seen).toEqual([...made].reverse());
    // A status filter with a cursor of another status: the page after it, in that status.
    const after = made[100]!; // succeeded (100 % 3 = 1)
    const failed = await call(gw, 'GET', `${base}?status=failed&limit=1000&starting_after=${after}`, b.admin_key);
    expect(failed.body.data.map((d: { event_id: string }) => d.event_id)).toEqual(made.slice(0, 100).filter((_, i) => i % 3 === 2).reverse());
    expect(failed.body.has_more).toBe(false);
    // Exactly `limit` left: no next page.
    const last = await call(gw, 'GET', `${base}?limit=3&starting_after=${made[3]!}`, b.admin_key);
    expect(last.body.data.map((d: { event_id: string }) => d.event_id)).toEqual([made[2], made[1], made[0]]);
    expect(last.body.has_more).toBe(false);
    // Another endpoint's delivery, of this business or another, is no cursor here.
    const w2 = await call(gw, 'POST', '/v1/webhooks', b.admin_key, { url: 'https://example.com/other', events: ['*'] });
    const [theirs] = await deliveries(w2.body.id, b.business_id, 1, () => 'failed');
    for (const cursor of [theirs!, 'evt_x', `${made[0]!}x`]) expectValidation(await call(gw, 'GET', `${base}?starting_after=${cursor}`, b.admin_key), 'starting_after');
    expect((await call(gw, 'GET', base, other.admin_key)).status).toBe(404);
    const empty = await call(gw, 'GET', `/v1/webhooks/${w2.body.id}/deliveries?status=pending`, b.admin_key);
    expect(empty.body).toEqual({ object: 'list', data: [], has_more: false });
  });
});

describe('GET /v1/transactions (the console\'s latest, from the ledger)', () => {
  it('is the first `limit` of its own order, ties at one terminal included', async () => {
    const b = await createBusiness(gw);
    const { sql } = gw.processor.stores;
    // Two transactions of one terminal in one millisecond, the later id recorded first.
    const at = new Date(Date.now() - 1_000);
    const [low, high] = [newId('txn', at.getTime()), newId('txn', at.getTime())].sort() as [string, string];
    for (const [id, n] of [[high, 1], [low, 2]] as const) {
      await sql`insert into ledger_transactions (id, business_id, kind, terminal_id, reference, amount, currency, created_at, shard, journal_id)
        values (${id}, ${b.business_id}, 'purchase', ${b.terminal_id}, ${`tie-${n}`}, 100, 'EUR', ${at}, 0, ${`${at.getTime()}-${n}`})`;
    }
    const two = await call(gw, 'GET', '/v1/transactions?limit=2', b.admin_key);
    expect(two.body.data.map((t: { id: string }) => t.id)).toEqual([high, low]);
    const one = await call(gw, 'GET', '/v1/transactions?limit=1', b.admin_key);
    expect(one.body.data.map((t: { id: string }) => t.id)).toEqual([high]);
    // A page at a time from the tie (a black-box probe: no has_more, starting_after ignored).
    expect(one.body.has_more).toBe(true);
    expect(await walk('/v1/transactions', b.admin_key, 1, (t) => t.id)).toEqual([high, low]);
  });

  it('walks a page at a time, newest first, a contact\'s list too; cursors not of the list are 400', async () => {
    const b = await createBusiness(gw);
    const card = '4000000000000002';
    // A sign-up award: the gateway's own transaction, no terminal, listed with the terminals' (a
    // console probe saw it in the live feed, then not in this list).
    expect((await call(gw, 'POST', '/v1/offers', b.admin_key, { name: 'welcome', goal: 'signup', award: { fixed: 100 } })).status).toBe(201);
    const contact = await call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(contact.status, contact.text).toBe(201);
    const award = await eventuallyAward(b, contact.body.id);
    const made: string[] = [award];
    for (let i = 0; i < 7; i++) {
      const p = await call(gw, 'POST', '/v1/purchases', b.terminal_key, { reference: `walk-${i}`, cim: { type: 'card', value: card }, amount: 100 + i, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
      made.unshift(p.body.id);
    }
    await eventuallyRecorded(made);
    for (const limit of [1, 3, 7, 100]) {
      expect(await walk('/v1/transactions', b.admin_key, limit, (t) => t.id)).toEqual(made);
      expect(await walk(`/v1/contacts/${contact.body.id}/transactions`, b.admin_key, limit, (t) => t.id)).toEqual(made);
    }
    // Another business's transaction, a contact's other than this one, an id of nothing: 400, as on every list.
    expect((await call(gw, 'POST', '/v1/contacts', other.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    const theirs = await call(gw, 'POST', '/v1/purchases', other.terminal_key, { reference: 'walk-other', cim: { type: 'card', value: card }, amount: 100, currency: 'EUR' });
    expect(theirs.status, theirs.text).toBe(201);
    await eventuallyRecorded([theirs.body.id]);
    const cursors = ['txn_nosuchtransaction', b.terminal_id, theirs.body.id as string];
    for (const after of cursors) {
      expectValidation(await call(gw, 'GET', `/v1/transactions?starting_after=${after}`, b.admin_key), 'starting_after');
      expectValidation(await call(gw, 'GET', `/v1/contacts/${contact.body.id}/transactions?starting_after=${after}`, b.admin_key), 'starting_after');
    }
  });
});

/** The id of the contact's sign-up award, once recorded. */
describe('GET /v1/transactions right after a 201', () => {
  it('holds the transaction just answered, and takes it as a cursor (a probe: missing, and 400 as a cursor)', async () => {
    const b = await createBusiness(gw);
    const card = '4000000000000010';
    expect((await call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    for (let i = 0; i < 5; i++) {
      const p = await call(gw, 'POST', '/v1/purchases', b.terminal_key, { reference: `raw-${i}`, cim: { type: 'card', value: card }, amount: 100, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
      const list = await call(gw, 'GET', '/v1/transactions?limit=1', b.admin_key);
      expect(list.body.data.map((t: { id: string }) => t.id)).toEqual([p.body.id]);
      expect((await call(gw, 'GET', `/v1/transactions?starting_after=${p.body.id}`, b.admin_key)).status).toBe(200);
    }
  });
});

async function eventuallyAward(b: BusinessFixture, contact_id: string): Promise<string> {
  const { sql } = gw.processor.stores;
  for (let tries = 0; tries < 100; tries++) {
    const [row] = await sql<{ id: string }[]>`select id from ledger_transactions where contact_id = ${contact_id} and kind = 'award' and business_id = ${b.business_id}`;
    if (row !== undefined) return row.id;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('no sign-up award recorded within 5 s');
}

async function eventuallyRecorded(ids: readonly string[]): Promise<void> {
  const { sql } = gw.processor.stores;
  for (let tries = 0; tries < 100; tries++) {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where id in ${sql(ids)}`;
    if (row!.n === ids.length) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('not recorded within 5 s');
}

describe('the console\'s network lists (OPERATIONS.md: "choose one of the business\'s terminals, listed by GET /v1/terminals")', () => {
  it('reads every page, not the first thousand only', async () => {
    const b = await createBusiness(gw);
    const { sql } = gw.processor.stores;
    const ids = Array.from({ length: 1_500 }, () => newId('ter'));
    await sql`insert into terminals ${sql(ids.map((id, i) => ({ id, business_id: b.business_id, venue_id: b.venue_id, merchant_id: b.merchant_id, code: `L${String(i).padStart(7, '0')}` })))}`;
    const one = await call(gw, 'GET', '/v1/terminals?limit=1000', b.admin_key);
    expect(one.body).toMatchObject({ has_more: true }); // one page is not all of them
    // The console's own module, its fetch answered by this gateway and its key in a session store.
    const saved = { fetch: globalThis.fetch, sessionStorage: (globalThis as any).sessionStorage };
    (globalThis as any).sessionStorage = { getItem: () => b.admin_key, setItem() {}, removeItem() {} };
    globalThis.fetch = ((path: string, init: RequestInit) => gw.app.request(path, init)) as typeof fetch;
    try {
      // @ts-expect-error: the console's own browser module, plain JavaScript served as written
      const { apiListAll } = await import('../console/api.js');
      const listed = (await apiListAll('/v1/terminals')).map((t: { id: string }) => t.id);
      expect(listed).toHaveLength(ids.length + 1);
      expect(new Set(listed)).toEqual(new Set([...ids, b.terminal_id]));
    } finally {
      globalThis.fetch = saved.fetch;
      (globalThis as any).sessionStorage = saved.sessionStorage;
    }
  });
});

describe('GET /v1/offers, /v1/schemes, /v1/webhooks: read whole, or a page at a time (a webhooks probe: no has_more, limit ignored)', () => {
  it('answers every item with has_more false without limit, and pages with limit and starting_after as every list does', async () => {
    const mine = await createBusiness(gw);
    for (let i = 0; i < 5; i++) {
      expect((await call(gw, 'POST', '/v1/offers', mine.admin_key, { name: `o${i}`, goal: 'spend', award: { percent: 1 } })).status).toBe(201);
      expect((await call(gw, 'POST', '/v1/schemes', mine.admin_key, { name: `s${i}`, signup: 'self' })).status).toBe(201);
      expect((await call(gw, 'POST', '/v1/webhooks', mine.admin_key, { url: `https://example.com/hook/${i}`, events: ['*'] })).status).toBe(201);
    }
    for (const path of ['/v1/offers', '/v1/schemes', '/v1/webhooks']) {
      const whole = await call<Page>(gw, 'GET', path, mine.admin_key);
      expect([whole.status, whole.body.object, whole.body.has_more], path).toEqual([200, 'list', false]);
      expect(whole.body.data.length, path).toBeGreaterThanOrEqual(5); // a business has a scheme of its own too
      const ids = whole.body.data.map((x) => x.id!);
      expect(await walk(path, mine.admin_key, 2, (x) => x.id), path).toEqual(ids);
      expect(await walk(path, mine.admin_key, 5, (x) => x.id), path).toEqual(ids);
      // A cursor of another list, another business, or none of them: 400, as on every list.
      const foreign = (await call<Page>(gw, 'GET', path, other.admin_key)).body.data[0]?.id ?? newId('off');
      for (const cursor of [foreign, mine.terminal_id, 'nope']) expectValidation(await call(gw, 'GET', `${path}?starting_after=${cursor}`, mine.admin_key), 'starting_after');
      for (const limit of ['0', '1001', 'x']) expectValidation(await call(gw, 'GET', `${path}?limit=${limit}`, mine.admin_key), 'limit');
    }
  });
});

describe('GET /v1/merchants/{id}, /v1/venues/{id}, /v1/terminals/{id}, /v1/processors/{id} (an addition: Stripe reads back what it made)', () => {
  it('answers each as its list shows it, never a key or secret; another business\'s id and an unknown one alike 404', async () => {
    const merchant = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Read back', code: `RB${Date.now() % 1e9}`, contribution_fee_percent: 2.5 });
    const venue = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Read back venue', merchant_id: merchant.body.id, timezone: 'Europe/Paris' });
    const terminal = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: venue.body.id, code: 'RBT00001' });
    const processor = await call(gw, 'POST', '/v1/processors', biz.admin_key, { name: 'Read back acquirer', award_on: 'authorization' });
    const made = { merchants: merchant, venues: venue, terminals: terminal, processors: processor };
    for (const [list, created] of Object.entries(made)) {
      expect(created.status, created.text).toBe(201);
      const one = await call<Record<string, unknown>>(gw, 'GET', `/v1/${list}/${created.body.id}`, biz.admin_key);
      expect(one.status, one.text).toBe(200);
      const listed = (await walk(`/v1/${list}`, biz.admin_key, 1_000, (x) => JSON.stringify(x))).map((x) => JSON.parse(x) as { id: string }).find((x) => x.id === created.body.id);
      expect(one.body, list).toEqual(listed);
      const { api_key, signing_secret, ...shown } = created.body as Record<string, unknown>;
      expect([api_key === undefined || typeof api_key === 'string', signing_secret === undefined || typeof signing_secret === 'string']).toEqual([true, true]);
      expect(one.body, list).toEqual({ ...shown, ...(list === 'terminals' ? { merchant_id: merchant.body.id } : {}) });
      expect(one.text).not.toMatch(/api_key|signing_secret|whsec_|tk_/);
      for (const [key, id] of [[other.admin_key, created.body.id], [biz.admin_key, `${String(created.body.id).slice(0, 4)}nosuchid0000000000`]] as const) {
        const refused = await call(gw, 'GET', `/v1/${list}/${id}`, key);
        expect([refused.status, refused.body.code], refused.text).toEqual([404, 'not_found']);
      }
      expect((await call(gw, 'GET', `/v1/${list}/${created.body.id}`, biz.terminal_key)).status).toBe(403);
    }
  });
});
