// A referral award survives a crash: the referred contact's first purchase keeps the referrer's
// award as an intent in its shard's outbox, atomically (purchase.lua); a gateway killed with
// SIGKILL before it made the award, or after it made it but before taking the intent out, leaves
// the intent, and the sweeper of a gateway that runs (processor/referrals.ts) makes it: the
// referrer is awarded exactly once, its offer's budget holds exactly what was awarded, and
// replays award nothing more. On its own Redis (test/own-redis.ts): the child is another process.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetKey, referralsKey } from '../processor/hot/keys.ts';
import { intent_age_ms } from '../processor/referrals.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { runTs } from './child-run.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let redis: OwnRedis;
let gw: TestGateway;
let biz: BusinessFixture;
let offer_id: string;
let seq = 0;

beforeAll(async () => {
  redis = await startOwnRedis();
  gw = await startTestGateway({ redis_url: redis.url, referral_sweep_ms: 200 });
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'referral', goal: 'referral', award: { fixed: 700 }, limits: { budget: 100_000 } });
  expect(o.status, o.text).toBe(201);
  offer_id = o.body.id;
});
afterAll(async () => {
  await gw?.close();
  await redis?.stop();
});

interface Contact {
  readonly id: string;
  readonly card: string;
  readonly referral_code: string;
}

async function contact(referred_by?: string): Promise<Contact> {
  const card = testCard(77_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }], ...(referred_by === undefined ? {} : { referred_by }) });
  expect(c.status, c.text).toBe(201);
  return { id: c.body.id, card, referral_code: c.body.referral_code };
}

const commerce = async (c: Contact) => (await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body.commerce as number;
const intents = (c: Contact) => redis.client.zRange(referralsKey(gw.processor.contacts.shardOf(c.id)), 0, -1);
const budget = async () => Number(await redis.client.get(budgetKey(offer_id)));
const buy = (c: Contact, reference: string) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: c.card }, amount: 1_000, currency: 'EUR' });

/** A gateway process that buys as `referred` (or reverses `original_reference`) and is killed at `crash_at`; resolves to how it ended. */
async function buyAndCrash(referred: Contact, reference: string, crash_at: 'committed' | 'awarded' | 'kept' | 'reversed', original_reference?: string): Promise<{ signal: NodeJS.Signals | null; output: string }> {
  const env = { REDIS_URL: redis.url, CRASH_AT: crash_at, TERMINAL_KEY: biz.terminal_key, CARD: referred.card, REFERENCE: reference, ...(original_reference === undefined ? {} : { ORIGINAL_REFERENCE: original_reference }) };
  const { signal, stdout, stderr } = await runTs('test/referral-crash-child.ts', [], { env, kill_after_ms: 30_000 });
  return { signal, output: stdout + stderr };
}

describe('a referral award', () => {
  it('is made once with the purchase, no intent left behind, and a replay makes none', async () => {
    const referrer = await contact();
    const referred = await contact(referrer.referral_code);
    const before = await budget();
    const first = await buy(referred, `ok-${seq}`);
    expect(first.status, first.text).toBe(201);
    expect(await commerce(referrer)).toBe(700);
    expect(await intents(referred)).toEqual([]);
    const replay = await buy(referred, `ok-${seq}`);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((await buy(referred, `ok-${seq}-2`)).status).toBe(201);
    expect(await commerce(referrer)).toBe(700);
    expect(await budget()).toBe(before + 700);
  });

  it('survives a gateway killed between the purchase’s commit and the award: the sweeper makes it, once', async () => {
    const referrer = await contact();
    const referred = await contact(referrer.referral_code);
    const before = await budget();
    const reference = `crash-${seq}`;
    const { signal, output } = await buyAndCrash(referred, reference, 'committed');
    expect(signal, output).toBe('SIGKILL');
    // The purchase stands, the award is not made, and its intent waits in the outbox.
    expect(await commerce(referrer)).toBe(0);
    expect(await intents(referred)).toHaveLength(1);
    await eventually('the sweeper to make the award', async () => (await commerce(referrer)) === 700, intent_age_ms + 10_000);
    expect(await intents(referred)).toEqual([]);
    // The purchase replays (the crashed process committed it) and awards nothing more.
    const replay = await buy(referred, reference);
    expect(replay.status, replay.text).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    await new Promise((resolve) => setTimeout(resolve, 600)); // a few sweeps more
    expect(await commerce(referrer)).toBe(700);
    expect(await budget()).toBe(before + 700);
  });

  it('survives a gateway killed after the award, before its intent left the outbox: the sweeper awards nothing more', async () => {
    const referrer = await contact();
    const referred = await contact(referrer.referral_code);
    const before = await budget();
    const { signal, output } = await buyAndCrash(referred, `crash-${seq}`, 'awarded');
    expect(signal, output).toBe('SIGKILL');
    expect(await commerce(referrer)).toBe(700);
    expect(await intents(referred)).toHaveLength(1);
    await eventually('the sweeper to take the intent out', async () => (await intents(referred)).length === 0, intent_age_ms + 10_000);
    expect(await commerce(referrer)).toBe(700);
    // The sweeper reserved the budget again and gave it back when the award script replayed.
    expect(await budget()).toBe(before + 700);
  });

  it('is reversed once when a gateway is killed between the reversal of its purchase and the undo: the sweeper undoes it, budget back', async () => {
    const referrer = await contact();
    const referred = await contact(referrer.referral_code);
    const before = await budget();
    expect((await buy(referred, `undo-${seq}`)).status).toBe(201);
    expect(await commerce(referrer)).toBe(700);
    const { signal, output } = await buyAndCrash(referred, `undo-${seq}-v`, 'kept', `undo-${seq}`);
    expect(signal, output).toBe('SIGKILL');
    // The reversal stands, the award is not reversed yet, and the undo waits in the outbox.
    expect(await commerce(referrer)).toBe(700);
    expect(await intents(referred)).toHaveLength(1);
    await eventually('the sweeper to reverse the award', async () => (await commerce(referrer)) === 0, intent_age_ms + 10_000);
    await eventually('the undo to leave the outbox', async () => (await intents(referred)).length === 0);
    await new Promise((resolve) => setTimeout(resolve, 600)); // a few sweeps more
    expect(await commerce(referrer)).toBe(0);
    expect(await budget()).toBe(before);
  });

  it('is reversed once when a gateway is killed after the undo, before its intent left the outbox: the sweeper replays it', async () => {
    const referrer = await contact();
    const referred = await contact(referrer.referral_code);
    const before = await budget();
    expect((await buy(referred, `undo-${seq}`)).status).toBe(201);
    const { signal, output } = await buyAndCrash(referred, `undo-${seq}-v`, 'reversed', `undo-${seq}`);
    expect(signal, output).toBe('SIGKILL');
    expect(await commerce(referrer)).toBe(0);
    expect(await intents(referred)).toHaveLength(1);
    await eventually('the sweeper to take the undo out', async () => (await intents(referred)).length === 0, intent_age_ms + 10_000);
    expect(await commerce(referrer)).toBe(0);
    // Given back once: the replayed reversal gives back nothing more.
    expect(await budget()).toBe(before);
    // The referred contact's next purchase is its first again, and refers anew.
    expect((await buy(referred, `undo-${seq}-again`)).status).toBe(201);
    expect(await commerce(referrer)).toBe(700);
    expect(await budget()).toBe(before + 700);
  });

  it('is given up on, reported, when its intent can never be made: not an intent, or a referrer not the business’s contact', async () => {
    const referred = await contact();
    const other = await createBusiness(gw);
    const stranger = await call(gw, 'POST', '/v1/contacts', other.admin_key, {});
    expect(stranger.status, stranger.text).toBe(201);
    const key = referralsKey(gw.processor.contacts.shardOf(referred.id));
    const award = { offer_id: offer_id, scheme_id: null, kind: 'cashback', amount: 1, pool: null, expires_at: null, instant_redeem: false, goal: 'referral', beneficiary: 'referrer', referrer_id: stranger.body.id, limits: null, period_key: null, guard: null, guard_since_ms: 0, rank: 0 };
    const foreign = JSON.stringify({ b: biz.business_id, r: stranger.body.id, c: referred.id, a: [award] });
    const old = Date.now() - intent_age_ms;
    await redis.client.zAdd(key, [{ score: old, value: 'not json' }, { score: old, value: foreign }]);
    await eventually('the sweeper to give both up', async () => (await redis.client.zCard(key)) === 0);
    const reports = gw.logs.filter((l) => l.includes('referral award given up on'));
    expect(reports.some((l) => l.includes('not a referral intent'))).toBe(true);
    expect(reports.some((l) => l.includes('the referrer is not a contact of the business') && l.includes(stranger.body.id))).toBe(true);
  });
});
