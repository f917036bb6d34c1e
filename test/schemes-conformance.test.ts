// API.md's sentences on schemes, sign-ups, codes and referrals that no other test drove: each
// sign-up mode's admission rule at its edges, codes across schemes, members-only offers from the
// moment of joining, a referred contact's first purchase at two terminals at once, and
// best_per_scheme with several schemes, promotions and ties.

import { describe, expect, it } from 'vitest';
import { businessGatewayForFile } from './business-gateway.ts';
import { expectProblem, expectValidation, unique, walletOf } from './contract-util.ts';
import { call, createBusiness, eventually, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
businessGatewayForFile((made) => ({ gw, biz } = made));
let seed = 7_240_000;

async function ok(res: Promise<{ status: number; body: any; text: string }>, status = 201): Promise<any> {
  const r = await res;
  expect(r.status, r.text).toBe(status);
  return r.body;
}
const scheme = (b: BusinessFixture, body: object) => ok(call(gw, 'POST', '/v1/schemes', b.admin_key, body));
const contact = (b: BusinessFixture, body: object = {}) => ok(call(gw, 'POST', '/v1/contacts', b.admin_key, body));
const offer = (b: BusinessFixture, body: object) => ok(call(gw, 'POST', '/v1/offers', b.admin_key, { name: 'o', ...body }));
const join = (b: BusinessFixture, scheme_id: string, body: object) => call(gw, 'POST', `/v1/schemes/${scheme_id}/signups`, b.admin_key, body);
const buy = (b: BusinessFixture, card: string, amount = 1000, key = b.terminal_key) =>
  ok(call(gw, 'POST', '/v1/purchases', key, { reference: unique('p'), cim: { type: 'card', value: card }, amount, currency: 'EUR' }));

// "`email_domain`: only contacts whose email ends with a listed domain may join."
describe('email_domain sign-up', () => {
  it('compares domains case-insensitively, admits subdomains, refuses look-alikes', async () => {
    const s = await scheme(biz, { name: 'Students', signup: 'email_domain', email_domains: ['Uni.EDU'] });
    for (const email of ['ANA@UNI.EDU', 'bo@cs.uni.edu']) expect((await join(biz, s.id, { contact_id: (await contact(biz, { email })).id })).status).toBe(201);
    for (const email of ['cy@notuni.edu', 'di@uni.edu.example.com']) {
      expectProblem(await join(biz, s.id, { contact_id: (await contact(biz, { email })).id }), 422, 'signup_not_allowed');
    }
  });

  it('a contact whose email is one of its CIMs may join', async () => {
    const s = await scheme(biz, { name: 'Staff', signup: 'email_domain', email_domains: ['staff.example'] });
    const c = await contact(biz, { cims: [{ type: 'email', value: 'eve@staff.example' }] });
    const r = await join(biz, s.id, { contact_id: c.id });
    expect(r.status, r.text).toBe(201);
    expect(r.body.joined).toBe(true);
    // An email CIM added later counts too; one of another domain does not.
    const later = await contact(biz, { cims: [{ type: 'email', value: 'fay@gmail.example' }] });
    expectProblem(await join(biz, s.id, { contact_id: later.id }), 422, 'signup_not_allowed');
    await ok(call(gw, 'POST', `/v1/contacts/${later.id}/cims`, biz.admin_key, { type: 'email', value: 'fay@staff.example' }));
    expect((await join(biz, s.id, { contact_id: later.id })).status).toBe(201);
  });

  it('an email changed later is the one that counts', async () => {
    const s = await scheme(biz, { name: 'Corp', signup: 'email_domain', email_domains: ['corp.example'] });
    const c = await contact(biz, { email: 'gil@home.example' });
    expectProblem(await join(biz, s.id, { contact_id: c.id }), 422, 'signup_not_allowed');
    await ok(call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { email: 'gil@corp.example' }), 200);
    expect((await join(biz, s.id, { contact_id: c.id })).status).toBe(201);
  });

  it('a domain that is empty once its "@" is taken off is refused, not stored', async () => {
    expectValidation(await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'x', signup: 'email_domain', email_domains: ['@'] }), /^email_domains/);
  });

  it('an entry that is no domain name is refused (it could never match an email); names in any script, "@" first, are taken (rewards audit, 2026-12-04)', async () => {
    for (const bad of ['not a domain', 'uni..edu', '-uni.edu', 'uni-.edu', 'uni.edu.', 'a@uni.edu', 'uni.edu/x', `${'a'.repeat(64)}.edu`, '10.0.0.1', '5776077775933400']) {
      expectValidation(await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'x', signup: 'email_domain', email_domains: ['ok.example', bad] }), /^email_domains\.1$/);
    }
    const s = await scheme(biz, { name: 'Any', signup: 'email_domain', email_domains: ['@Uni.EDU', 'bücher.example', 'xn--bcher-kva.example', 'localhost', '1.example'] });
    expect(s.email_domains).toEqual(['uni.edu', 'bücher.example', 'xn--bcher-kva.example', 'localhost', '1.example']);
  });
});

// "`codes`: joining needs a one-time code from `POST /v1/schemes/{id}/codes`"
describe('codes sign-up', () => {
  it('a code of another scheme, or of another business, does not open this one', async () => {
    const s = await scheme(biz, { name: 'A', signup: 'codes' });
    const t = await scheme(biz, { name: 'B', signup: 'codes' });
    const [theirs] = (await ok(call(gw, 'POST', `/v1/schemes/${t.id}/codes`, biz.admin_key, { count: 1 }))).codes;
    const c = await contact(biz);
    expectProblem(await join(biz, s.id, { contact_id: c.id, code: theirs }), 422, 'signup_not_allowed');
    const other = await createBusiness(gw);
    const o = await ok(call(gw, 'POST', '/v1/schemes', other.admin_key, { name: 'O', signup: 'codes' }));
    const [foreign] = (await ok(call(gw, 'POST', `/v1/schemes/${o.id}/codes`, other.admin_key, { count: 1 }))).codes;
    expectProblem(await join(biz, s.id, { contact_id: c.id, code: foreign }), 422, 'signup_not_allowed');
    expect((await call(gw, 'POST', `/v1/schemes/${o.id}/codes`, biz.admin_key, { count: 1 })).status).toBe(404);
    // The code refused here is still good where it belongs.
    expect((await join(biz, t.id, { contact_id: c.id, code: theirs })).status).toBe(201);
  });

  it('a member joining again is 201 without using up the code it sends', async () => {
    const s = await scheme(biz, { name: 'C', signup: 'codes' });
    const [a, b] = (await ok(call(gw, 'POST', `/v1/schemes/${s.id}/codes`, biz.admin_key, { count: 2 }))).codes;
    const c = await contact(biz);
    expect((await join(biz, s.id, { contact_id: c.id, code: a })).body.joined).toBe(true);
    const again = await join(biz, s.id, { contact_id: c.id, code: b });
    expect(again.status).toBe(201);
    expect(again.body.joined).toBe(false);
    expect((await join(biz, s.id, { contact_id: (await contact(biz)).id, code: b })).status).toBe(201);
  });
});

// "`scheme_id`: none = promotion open to all"; `self`: contacts join through signups.
describe('members-only offers', () => {
  it('apply from the moment the contact joins, not before', async () => {
    const b = await createBusiness(gw);
    const s = await ok(call(gw, 'POST', '/v1/schemes', b.admin_key, { name: 'Club', signup: 'self' }));
    const o = await ok(call(gw, 'POST', '/v1/offers', b.admin_key, { name: 'club 10%', scheme_id: s.id, goal: 'spend', award: { percent: 10 } }));
    const card = testCard(++seed);
    const c = await ok(call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: card }] }));
    expect((await buy(b, card)).awards).toEqual([]);
    await join(b, s.id, { contact_id: c.id });
    expect((await buy(b, card)).awards).toMatchObject([{ offer_id: o.id, scheme_id: s.id, amount: 100 }]);
  });
});

// "`referral` awards the referrer once, on the referred contact's first purchase."
describe('referral', () => {
  it('a first purchase made at two terminals at once awards the referrer once', async () => {
    const b = await createBusiness(gw);
    const t2 = await ok(call(gw, 'POST', '/v1/terminals', b.admin_key, { venue_id: b.venue_id, code: 'T0000002' }));
    await ok(call(gw, 'POST', '/v1/offers', b.admin_key, { name: 'ref', goal: 'referral', award: { fixed: 500 } }));
    const referrer = await ok(call(gw, 'POST', '/v1/contacts', b.admin_key, {}));
    const card = testCard(++seed);
    await ok(call(gw, 'POST', '/v1/contacts', b.admin_key, { referred_by: referrer.referral_code, cims: [{ type: 'card', value: card }] }));
    await Promise.all(Array.from({ length: 10 }, (_, i) => buy(b, card, 1000, i % 2 === 0 ? b.terminal_key : t2.api_key)));
    await eventually('the referral award', async () => (await walletOf(gw, b.admin_key, referrer.id)).commerce > 0);
    await new Promise((r) => setTimeout(r, 200));
    expect(await walletOf(gw, b.admin_key, referrer.id)).toMatchObject({ open: 0, commerce: 500 });
  });
});

// "`best_per_scheme` the largest of each scheme. Promotions (no scheme) count as one scheme."
describe('best_per_scheme', () => {
  it('one award per scheme and one for the promotions; a tie goes to the older offer', async () => {
    const b = await createBusiness(gw, { reward_resolution: 'best_per_scheme' });
    const auto = await ok(call(gw, 'POST', '/v1/schemes', b.admin_key, { name: 'All', signup: 'auto' }));
    const club = await ok(call(gw, 'POST', '/v1/schemes', b.admin_key, { name: 'Club', signup: 'self' }));
    const card = testCard(++seed);
    const c = await ok(call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: card }] }));
    await join(b, club.id, { contact_id: c.id });
    const made = async (scheme_id: string | null, award: object) =>
      (await ok(call(gw, 'POST', '/v1/offers', b.admin_key, { name: 'o', scheme_id, goal: 'spend', award }))).id as string;
    await made(auto.id, { fixed: 50 });
    const auto_best = await made(auto.id, { fixed: 70 });
    const club_older = await made(club.id, { fixed: 30 });
    await made(club.id, { fixed: 30 });
    await made(null, { fixed: 10 });
    const promo_best = await made(null, { percent: 5 });
    const awards = (await buy(b, card)).awards.map((a: any) => a.offer_id).sort();
    expect(awards).toEqual([auto_best, club_older, promo_best].sort());
  });
});
