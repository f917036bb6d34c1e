// Migration 026: an offer stored with conditions.time_to 24:01–24:59 (taken until 2026-12-05, 400
// since) is written 24:00, which the engine reads the same way (the end of the day). Without it a
// PATCH, which validates the whole merged offer, refused every change of such an offer on a field
// the client did not send: not even `{active: false}`, the console's switch (a review).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

describe('migration 026: time_to past 24:00', () => {
  it('writes 24:00, so that a PATCH of another field is taken', async () => {
    const biz = await createBusiness(gw);
    const created = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'evenings', goal: 'happy_hour', award: { percent: 5 }, conditions: { time_from: '18:00', time_to: '24:00' } });
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    const sql = gw.processor.stores.sql;
    // As stored before 2026-12-05.
    await sql`update offers set body = jsonb_set(body, '{conditions,time_to}', '"24:30"') where id = ${id}`;
    const refused = await call(gw, 'PATCH', `/v1/offers/${id}`, biz.admin_key, { active: false });
    expect([refused.status, refused.body.errors?.[0]?.path]).toEqual([400, 'conditions.time_to']);

    await sql.unsafe(await readFile(join(import.meta.dirname, '..', 'processor', 'ledger', 'migrations', '026_offer_time_to_end_of_day.sql'), 'utf8'));
    const patched = await call(gw, 'PATCH', `/v1/offers/${id}`, biz.admin_key, { active: false });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ active: false, conditions: { time_from: '18:00', time_to: '24:00' } });
  });
});
