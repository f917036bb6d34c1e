// `npm run rebuild` (spec/OPERATIONS.md) as a child process over a Redis and a database of this
// file's own: traffic of every kind, then Redis loses everything (FLUSHALL), then rebuild. What
// it loads is what Redis held (contacts, lots, caps, tier units, CIM index, records and states of
// the window, budgets; the claims of approved requests, from the claim hash the ledger keeps),
// every reply replays byte for byte, another body under a reference of the window is refused, refunds and reversals of earlier transactions work, guards, caps and budgets hold, and
// reconcile finds nothing. It refuses a Redis with data unless --force.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { npmRun, runCommand, startOwnStores, type OwnStores } from './own-stores.ts';
import type { RedisClient } from '../processor/stores.ts';
import { comparableRedis } from './redis-state.ts';
import { probe_key } from '../processor/redis-health.ts';
import { rebuild_lock_namespace } from '../processor/ledger/rebuild.ts';

const shard_count = 16;
let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;
const ref = () => `rb-${++seq}`;
const offers: Record<string, string> = {};

/** Every approved POS request and the reply it got: each must replay unchanged after the rebuild. */
const sent: { path: string; body: unknown; text: string }[] = [];
/** Every request refused on its merits and what it was answered: each is refused so again after the rebuild, replayed. */
const refused: { path: string; body: unknown; status: number; text: string }[] = [];

/** A request refused on its merits (remembered under its reference), kept to be repeated after the rebuild. */
async function refuse(path: string, body: unknown, status: number, code: string) {
  const r = await call(gw, 'POST', path, biz.terminal_key, body);
  expect([r.status, r.body.code], r.text).toEqual([status, code]);
  refused.push({ path, body, status: r.status, text: r.text });
}

const env = () => ({ REDIS_URL: stores.redis.url, DATABASE_URL: stores.database_url, SHARDS: String(shard_count), CIM_HMAC_KEY: process.env.CIM_HMAC_KEY ?? 'test-hmac-key' });
const rebuild = (...args: string[]) => runCommand('rebuild-main.ts', args, env());
const reconcile = () => runCommand('reconcile-main.ts', [], env());

async function pos(path: string, body: unknown, keep = true) {
  const r = await call(gw, 'POST', path, biz.terminal_key, body);
  if (keep && r.status === 201) sent.push({ path, body, text: r.text });
  return r;
}

const card = (i: number) => testCard(41_000_000 + i);
const purchase = (i: number, amount: number) => pos('/v1/purchases', { reference: ref(), cim: { type: 'card', value: card(i) }, amount, currency: 'EUR' });

/** What Redis holds, comparable: claims (r:), journals (j:) and the expiry index (e:, which keeps contacts whose lots are gone until the sweeper passes) aside. */
const snapshot = (client: RedisClient) => comparableRedis(client, ['r', 'j', 'e'], 'present');

/**
 * `after` with each key's expiry taken from `before` where the two are within a second: a script's
 * PEXPIRE counts from when Redis ran it, a few ms after the now_ms rebuild counts from, so the two
 * may fall on either side of a second's end (a purchase at ….997 s). Further apart, left to differ.
 */
function withExpiriesOf(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(after)) {
    const was = (before[key] as { expires?: number } | undefined)?.expires;
    const is = (v as { expires?: number } | undefined)?.expires;
    out[key] = was !== undefined && is !== undefined && Math.abs(was - is) <= 1 ? { ...(v as object), expires: was } : v;
  }
  return out;
}

/** The field names of the contact hashes in a snapshot. */
function contactFieldNames(snap: Record<string, unknown>): Set<string> {
  const names = new Set<string>();
  for (const [key, v] of Object.entries(snap)) {
    if (!key.startsWith('c:')) continue;
    for (const pair of (v as { pairs: string[] }).pairs) names.add(Buffer.from(pair.slice(0, pair.indexOf('=')), 'hex').toString());
  }
  return names;
}

beforeAll(async () => {
  stores = await startOwnStores('rebuild');
  gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  biz = await createBusiness(gw);
  const offer = async (name: string, body: Record<string, unknown>) => {
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name, ...body });
    expect(o.status, o.text).toBe(201);
    offers[name] = o.body.id;
  };
  await offer('5%', { goal: 'spend', award: { percent: 5 }, validity_days: 30, limits: { budget: 1_000_000 } });
  await offer('welcome', { goal: 'first_purchase', award: { fixed: 300 }, instant_redeem: true });
  await offer('twice a day', { goal: 'spend', award: { fixed: 100 }, limits: { per_contact: { count: 2, period: 'day' } }, pool: biz.merchant_code });
  await offer('small budget', { goal: 'spend', award: { fixed: 250 }, conditions: { min_amount: 5_000 }, limits: { budget: 500 } });
  const contacts = [];
  // Contact 4's birthday is today at the venue (UTC): its purchases today are kept by time.
  const today = new Date().toISOString().slice(5, 10);
  for (let i = 0; i < 5; i++) {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card(i) }], tags: i === 0 ? ['vip'] : [], ...(i === 4 ? { birth_date: `1992-${today}` } : {}) });
    expect(c.status, c.text).toBe(201);
    contacts.push(c.body);
  }
  // Contact 0: three purchases (the cap of two a day), a redemption, a spend by wallet code.
  // Its first before the business had tiers: it counted no units, and rebuild must not count it
  // either (tiers.units_since); a kind added later counts from then on.
  expect((await purchase(0, 10_000)).status).toBe(201);
  expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 150, period: 'month' }])).status).toBe(200);
  const p0 = await purchase(0, 6_000);
  expect(p0.status).toBe(201);
  expect((await purchase(0, 2_000)).status).toBe(201);
  expect((await pos('/v1/redemptions', { reference: ref(), cim: { type: 'card', value: card(0) }, amount: 400 })).status).toBe(201);
  expect((await pos('/v1/spends', { reference: ref(), amount: 350, currency: 'EUR', wallet_code: contacts[0].wallet_code })).status).toBe(201);
  // Contact 1: a purchase, refunded in part (a claw-back).
  const p1 = await purchase(1, 8_000);
  expect((await pos('/v1/refunds', { reference: ref(), original_reference: p1.body.reference, amount: 4_000 })).status).toBe(201);
  // Contact 2: a purchase and a redemption, the redemption reversed (lots back).
  expect((await purchase(2, 4_000)).status).toBe(201);
  const r2 = await pos('/v1/redemptions', { reference: ref(), cim: { type: 'card', value: card(2) } });
  expect(r2.status, r2.text).toBe(201);
  expect((await pos('/v1/reversals', { reference: ref(), original_reference: r2.body.reference })).status).toBe(201);
  // A yearly tier from here on; the monthly one keeps counting as it did.
  const tiers = [{ name: 'gold', min_period_units: 150, period: 'month' }, { name: 'vip', min_period_units: 100_000, period: 'year' }];
  expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, tiers)).status).toBe(200);
  // Contact 3: a purchase fully refunded after its commerce was redeemed (debt).
  const p3 = await purchase(3, 6_000);
  expect((await pos('/v1/redemptions', { reference: ref(), cim: { type: 'card', value: card(3) } })).status).toBe(201);
  expect((await pos('/v1/spends', { reference: ref(), amount: 200, currency: 'EUR', wallet_code: contacts[3].wallet_code })).status).toBe(201);
  expect((await pos('/v1/refunds', { reference: ref(), original_reference: p3.body.reference })).status).toBe(201);
  // Contact 4: one purchase, kept for a refund and a reversal after the rebuild; one reversed.
  expect((await purchase(4, 5_000)).status).toBe(201);
  const p4 = await purchase(4, 1_000);
  expect((await pos('/v1/reversals', { reference: ref(), original_reference: p4.body.reference })).status).toBe(201);
  // Contact 0's second purchase reversed, last: its cap count, the small budget's award, its tier
  // units and the purchase itself given back.
  expect((await pos('/v1/reversals', { reference: ref(), original_reference: p0.body.reference })).status).toBe(201);
  // Refusals remembered under their references: a shard script's (funds, a refund too large), and
  // two refused before a contact is named (a refund and a reversal of originals not there; the
  // reversal's mark refuses its original if it comes, after the rebuild too).
  const short = ref();
  await refuse('/v1/spends', { reference: short, amount: 10_000_000, currency: 'EUR', wallet_code: contacts[1].wallet_code }, 422, 'insufficient_funds');
  // A reversal of that refused spend: no transaction to void, decided again at each repeat (the
  // script remembers nothing under its reference, only the claim holds it): rebuild must not
  // remember more (a record '-original_not_found' the hot path never wrote).
  const void_of_refused = await pos('/v1/reversals', { reference: ref(), original_reference: short });
  expect([void_of_refused.status, void_of_refused.body.code]).toEqual([404, 'original_not_found']);
  await refuse('/v1/refunds', { reference: ref(), original_reference: p1.body.reference, amount: 999_999 }, 422, 'amount_exceeds_original');
  await refuse('/v1/refunds', { reference: ref(), original_reference: 'rb-never' }, 404, 'original_not_found');
  await refuse('/v1/reversals', { reference: ref(), original_reference: 'rb-late' }, 404, 'original_not_found');
  // An original that came after its reversal, refused at its claim (the mark keeps its claim hash
  // after it): its repeat replays after the rebuild too, another body under it is 409.
  await refuse('/v1/reversals', { reference: ref(), original_reference: 'rb-late-came' }, 404, 'original_not_found');
  await refuse('/v1/purchases', { reference: 'rb-late-came', cim: { type: 'card', value: card(2) }, amount: 1_000, currency: 'EUR' }, 409, 'already_reversed');
  // A refusal claimed and never journaled (a gateway killed between its two calls, the claim and
  // the journal: processor/refund.ts journalNotFound), as the ledger sees it: its row gone. Its
  // repeat journals it again, so that rebuild remembers it; the ledger keeps one row a request.
  const lost = { reference: ref(), original_reference: 'rb-lost' };
  await refuse('/v1/refunds', lost, 404, 'original_not_found');
  const rows = () => stores.sql<{ id: string }[]>`select id from ledger_refusals where reference = ${lost.reference}`;
  await eventually('the refusal recorded', async () => (await rows()).length === 1);
  await stores.sql`delete from ledger_refusals where reference = ${lost.reference}`;
  for (let i = 0; i < 2; i++) {
    const repeat = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, lost);
    expect([repeat.status, repeat.headers.get('idempotent-replayed')]).toEqual([404, 'true']);
  }
  await eventually('the repeat’s refusal recorded', async () => (await rows()).length === 1);
  const clean = await reconcile();
  expect(clean.code, clean.stdout + clean.stderr).toBe(0);
  // Reconcile waited for the ledger: both repeats recorded, one row.
  expect(await rows()).toHaveLength(1);
});

afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

describe('npm run rebuild', () => {
  let before: Record<string, unknown>;

  it('refuses a Redis that holds Pocketgate data', async () => {
    const r = await rebuild();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refused');
  });

  it('loads after FLUSHALL what Redis held, claims aside', async () => {
    before = await snapshot(stores.redis.client);
    // Contact 4's birthday purchase, kept by time (its reversed one taken out): rebuild must make it.
    expect(Object.entries(before).filter(([k]) => k.startsWith('h:')).map(([, v]) => (v as { members: unknown[] }).members.length)).toEqual([1]);
    // No latest purchase time ('lp', of earlier versions) in a contact's hash: nothing reads it.
    expect(contactFieldNames(before)).toContain('fp');
    expect(contactFieldNames(before)).not.toContain('lp');

    await gw.close();
    await stores.redis.client.flushAll();
    // A gateway's readiness probe (or a /readyz) on the empty Redis writes its key: still empty.
    await stores.redis.client.set(probe_key, String(Date.now()), { expiration: { type: 'PX', value: 60_000 } });
    const r = await rebuild();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('contacts: 5');
    expect(r.stdout).toMatch(/network: 1 businesses, \d+ merchants, \d+ venues, \d+ terminals/);
    expect(r.stdout).not.toContain('warning');
    const after = await snapshot(stores.redis.client);
    expect(contactFieldNames(after)).not.toContain('lp');
    expect(withExpiriesOf(before, after)).toEqual(before);
    gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
    const clean = await reconcile();
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    expect(clean.stdout.trim()).toBe('contacts checked: 5, mismatches: 0');
  });

  it('replays every earlier reply byte for byte', async () => {
    for (const s of sent) {
      const again = await call(gw, 'POST', s.path, biz.terminal_key, s.body);
      expect(again.status, `${s.path} ${again.text}`).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.text).toBe(s.text);
    }
  });

  it('refuses every request refused before as it was, replayed; and the original a reversal found missing', async () => {
    for (const r of refused) {
      const again = await call(gw, 'POST', r.path, biz.terminal_key, r.body);
      expect([again.status, again.text], r.path).toEqual([r.status, r.text]);
      expect(again.headers.get('idempotent-replayed'), `${r.path} ${again.text}`).toBe('true');
      const other = await call(gw, 'POST', r.path, biz.terminal_key, { ...(r.body as object), ...('amount' in (r.body as object) ? { amount: (r.body as { amount: number }).amount + 1 } : { original_reference: 'rb-other' }) });
      expect([other.status, other.body.code], r.path).toEqual([409, 'idempotency_conflict']);
    }
    const late = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'rb-late', cim: { type: 'card', value: card(1) }, amount: 1_000, currency: 'EUR' });
    expect([late.status, late.body.code], late.text).toEqual([409, 'already_reversed']);
  });

  it('refuses another body under a reference of the window, naming the same contact or another (409)', async () => {
    const p1 = sent.find((s) => s.path === '/v1/purchases' && (s.body as any).cim.value === card(1))!;
    const body = p1.body as { reference: string; amount: number };
    const same_contact = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...body, amount: body.amount + 1 });
    expect([same_contact.status, same_contact.body.code]).toEqual([409, 'idempotency_conflict']);
    const other_contact = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...body, cim: { type: 'card', value: card(2) } });
    expect([other_contact.status, other_contact.body.code]).toEqual([409, 'idempotency_conflict']);
  });

  it('refunds and reverses earlier transactions as before', async () => {
    const [p1, p4] = [sent.find((s) => s.path === '/v1/purchases' && (s.body as any).cim.value === card(1))!, sent.find((s) => s.path === '/v1/purchases' && (s.body as any).cim.value === card(4))!];
    const ref1 = (p1.body as { reference: string }).reference;
    expect((await pos('/v1/refunds', { reference: ref(), original_reference: ref1, amount: 4_001 }, false)).body.code).toBe('amount_exceeds_original');
    const rest = await pos('/v1/refunds', { reference: ref(), original_reference: ref1, amount: 4_000 }, false);
    expect(rest.status, rest.text).toBe(201);
    expect(rest.body.clawed_back).toBe(400);
    const ref4 = (p4.body as { reference: string }).reference;
    const reversed = await pos('/v1/reversals', { reference: ref(), original_reference: ref4 }, false);
    expect(reversed.status, reversed.text).toBe(201);
    expect(reversed.body).toMatchObject({ original_kind: 'purchase', wallet: { open: 0, commerce: 0 } });
    expect((await pos('/v1/reversals', { reference: ref(), original_reference: ref4 }, false)).body.code).toBe('already_reversed');
  });

  it('holds guards, caps and budgets: no second welcome, no third capped award today, no budget beyond its end', async () => {
    const buy = async () => {
      const p = await purchase(0, 9_000);
      expect(p.status, p.text).toBe(201);
      return (p.body.awards as { offer_id: string }[]).map((a) => a.offer_id);
    };
    // What the reversed purchase had used is free again: one capped award, one budgeted award.
    const freed = await buy();
    expect(freed).toContain(offers['5%']);
    expect(freed).not.toContain(offers.welcome);
    expect(freed).toContain(offers['twice a day']);
    expect(freed).toContain(offers['small budget']);
    const awarded = await buy();
    expect(awarded).toContain(offers['5%']);
    expect(awarded).not.toContain(offers.welcome);
    expect(awarded).not.toContain(offers['twice a day']);
    expect(awarded).not.toContain(offers['small budget']);
    const clean = await reconcile();
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
  });

  it('does not run beside another rebuild of the database (exit 2, Redis untouched); a rebuild killed frees it with its session', async () => {
    // Another rebuild's session: the lock it holds while it runs (processor/ledger/rebuild.ts).
    const other = await stores.sql.reserve();
    let other_pid = 0;
    try {
      const [row] = await other<{ pid: number; locked: boolean }[]>`select pg_backend_pid() as pid, pg_try_advisory_lock(${rebuild_lock_namespace}, 0) as locked`;
      expect(row?.locked).toBe(true);
      other_pid = row!.pid;
      const held = await snapshot(stores.redis.client);
      const r = await rebuild('--force');
      expect([r.code, r.stderr.trim()]).toEqual([2, 'rebuild: another rebuild is running on this database; nothing loaded']);
      expect(await snapshot(stores.redis.client)).toEqual(held);
      // That rebuild killed: its connection ends, its lock goes with it.
      await stores.sql`select pg_terminate_backend(${other_pid})`;
    } finally {
      other.release();
    }
    const r = await rebuild('--force');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('with --force, overwrites a Redis with data and leaves it consistent (`npm run rebuild --force`: npm takes the flag for itself, and it is read back)', async () => {
    const r = await npmRun(['run', '--silent', 'rebuild', '--force'], env());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // It says what it waits for (silent for up to a minute before: a rebuild probe).
    expect(r.stderr).toContain('rebuild: --force: waiting up to 60 s for the ledger');
    const clean = await reconcile();
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
  });
});
