// An offer names its scheme, merchants and venues by id: another business's ids, or made-up
// ones, are 404 like anywhere else, on create and on patch, and nothing is stored.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';
import { countRows } from './contract-util.ts';

let gw: TestGateway;
let mine: BusinessFixture;
let theirs: BusinessFixture;
let their_scheme: string;
let my_scheme: string;

beforeAll(async () => {
  gw = await startTestGateway();
  [mine, theirs] = await Promise.all([createBusiness(gw), createBusiness(gw)]);
  their_scheme = (await call(gw, 'POST', '/v1/schemes', theirs.admin_key, { name: 'Theirs', signup: 'self' })).body.id;
  my_scheme = (await call(gw, 'POST', '/v1/schemes', mine.admin_key, { name: 'Mine', signup: 'self' })).body.id;
});
afterAll(async () => {
  await gw?.close();
});

const offer = (extra: object) => ({ name: 'x', goal: 'spend', kind: 'cashback', award: { percent: 1 }, ...extra });

describe('an offer’s references', () => {
  it('to another business’s or made-up scheme, merchant and venue ids are 404, and store nothing', async () => {
    const before = await countRows(gw, 'offers', mine.business_id);
    for (const extra of [
      { scheme_id: their_scheme },
      { scheme_id: 'sch_madeup' },
      { conditions: { merchants: [theirs.merchant_id] } },
      { conditions: { merchants: [mine.merchant_id, 'mer_madeup'] } },
      { conditions: { venues: [theirs.venue_id] } },
    ]) {
      const res = await call(gw, 'POST', '/v1/offers', mine.admin_key, offer(extra));
      expect(res.status, `${JSON.stringify(extra)}: ${res.text}`).toBe(404);
      expect(res.body.code).toBe('not_found');
    }
    expect(await countRows(gw, 'offers', mine.business_id)).toBe(before);
  });

  it('to its own are taken, and a patch to another business’s is 404 and changes nothing', async () => {
    const ok = await call(gw, 'POST', '/v1/offers', mine.admin_key, offer({ scheme_id: my_scheme, conditions: { merchants: [mine.merchant_id], venues: [mine.venue_id] } }));
    expect(ok.status, ok.text).toBe(201);
    const patched = await call(gw, 'PATCH', `/v1/offers/${ok.body.id}`, mine.admin_key, { conditions: { merchants: [theirs.merchant_id] } });
    expect(patched.status, patched.text).toBe(404);
    const now = await call(gw, 'GET', `/v1/offers/${ok.body.id}`, mine.admin_key);
    expect(now.body.conditions.merchants).toEqual([mine.merchant_id]);
  });
});

// A sign-up has no purchase to take a percent of: such an offer was stored and never awarded
// (a black-box probe of the rewards, 2026-12-05).
describe('a sign-up offer’s award', () => {
  it('is fixed: a percent one is 400 on award.percent, on create and on a patch that sets goal or award, and stores nothing', async () => {
    const before = await countRows(gw, 'offers', mine.business_id);
    const res = await call(gw, 'POST', '/v1/offers', mine.admin_key, offer({ goal: 'signup', award: { percent: 10 } }));
    expect([res.status, res.body.code, res.body.errors?.[0]?.path], res.text).toEqual([400, 'validation_failed', 'award.percent']);
    expect(await countRows(gw, 'offers', mine.business_id)).toBe(before);
    const spend = await call(gw, 'POST', '/v1/offers', mine.admin_key, offer({ award: { percent: 10 } }));
    expect(spend.status, spend.text).toBe(201);
    const to_signup = await call(gw, 'PATCH', `/v1/offers/${spend.body.id}`, mine.admin_key, { goal: 'signup' });
    expect([to_signup.status, to_signup.body.errors?.[0]?.path], to_signup.text).toEqual([400, 'award.percent']);
    const fixed = await call(gw, 'POST', '/v1/offers', mine.admin_key, offer({ goal: 'signup', award: { fixed: 500 } }));
    expect(fixed.status, fixed.text).toBe(201);
    const to_percent = await call(gw, 'PATCH', `/v1/offers/${fixed.body.id}`, mine.admin_key, { award: { percent: 5 } });
    expect([to_percent.status, to_percent.body.errors?.[0]?.path], to_percent.text).toEqual([400, 'award.percent']);
    expect((await call(gw, 'GET', `/v1/offers/${spend.body.id}`, mine.admin_key)).body.goal).toBe('spend');
  });
});

// Conditions only a purchase can meet were ignored on a sign-up offer: a Monday-only one awarded
// on a Saturday, one for 02:00–03:00 at 18:42 (a black-box probe, 2026-12-05). Refused now.
describe('a sign-up offer’s conditions', () => {
  it('are tiers and tags only: a purchase’s condition is 400 on it, on create and on a patch, and stores nothing', async () => {
    const before = await countRows(gw, 'offers', mine.business_id);
    const unmet = { min_amount: 100, merchants: ['m'], venues: ['v'], products: { skus: ['A'] }, days_of_week: [1], time_from: '02:00', time_to: '03:00' };
    for (const [key, value] of Object.entries(unmet)) {
      const res = await call(gw, 'POST', '/v1/offers', mine.admin_key, offer({ goal: 'signup', award: { fixed: 10 }, conditions: { [key]: value } }));
      expect([res.status, res.body.code, res.body.errors?.[0]?.path], res.text).toEqual([400, 'validation_failed', `conditions.${key}`]);
    }
    expect(await countRows(gw, 'offers', mine.business_id)).toBe(before);
    const tagged = await call(gw, 'POST', '/v1/offers', mine.admin_key, offer({ goal: 'signup', award: { fixed: 10 }, conditions: { tags: ['vip'] } }));
    expect(tagged.status, tagged.text).toBe(201);
    const timed = await call(gw, 'PATCH', `/v1/offers/${tagged.body.id}`, mine.admin_key, { conditions: { days_of_week: [1] } });
    expect([timed.status, timed.body.errors?.[0]?.path], timed.text).toEqual([400, 'conditions.days_of_week']);
    const mondays = await call(gw, 'POST', '/v1/offers', mine.admin_key, offer({ goal: 'spend', award: { fixed: 10 }, conditions: { days_of_week: [1] } }));
    expect(mondays.status, mondays.text).toBe(201);
    const to_signup = await call(gw, 'PATCH', `/v1/offers/${mondays.body.id}`, mine.admin_key, { goal: 'signup' });
    expect([to_signup.status, to_signup.body.errors?.[0]?.path], to_signup.text).toEqual([400, 'conditions.days_of_week']);
    expect((await call(gw, 'GET', `/v1/offers/${tagged.body.id}`, mine.admin_key)).body.conditions).toEqual({ tags: ['vip'] });
  });
});
