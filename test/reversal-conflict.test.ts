// A reversal (or refund) under a reference another body took is 409 idempotency_conflict and
// changes nothing (API.md), even when the original it names is not there: before, the reversal
// marked that original reversed (claimForReversal) and then answered 409, so the original,
// arriving later, was refused already_reversed.

import { describe, expect, it } from 'vitest';
import { call, createBusiness, testCard, type TestGateway } from './helpers.ts';
import { gatewayForFile } from './business-gateway.ts';

let gw: TestGateway;
gatewayForFile((made) => (gw = made));

describe('a reference reused with another body, naming an original not there', () => {
  it('reversal: 409, and the original it named is approved when it comes', async () => {
    const biz = await createBusiness(gw);
    const card = testCard(8_200_001);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    const buy = (reference: string) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    expect((await buy('p1')).status).toBe(201);
    expect((await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'v1', original_reference: 'p1' })).status).toBe(201);
    const conflict = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'v1', original_reference: 'p2' });
    expect(conflict.status, conflict.text).toBe(409);
    expect(conflict.body.code).toBe('idempotency_conflict');
    const late = await buy('p2');
    expect(late.status, late.text).toBe(201);
    // The reversal itself is still what it was.
    const again = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'v1', original_reference: 'p1' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  it('refund: 409, not original_not_found', async () => {
    const biz = await createBusiness(gw);
    const card = testCard(8_200_002);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'p1', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' })).status).toBe(201);
    expect((await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: 'r1', original_reference: 'p1', amount: 100 })).status).toBe(201);
    const conflict = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: 'r1', original_reference: 'nope', amount: 100 });
    expect(conflict.body.code, conflict.text).toBe('idempotency_conflict');
  });
});

// API.md: a reversal "voids an earlier purchase, spend or redemption ... Twice: 409
// already_reversed". An original that never arrived was never voided: a second reversal naming it
// (another reference) found the first one's mark and answered 409 already_reversed, as if a
// transaction had been reversed. Now 404 original_not_found again; the original is still refused
// if it comes.
describe('two reversals of an original that is not there', () => {
  it('both 404 original_not_found; the original refused when it comes', async () => {
    const biz = await createBusiness(gw);
    const card = testCard(8_200_003);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    for (const reference of ['w1', 'w2']) {
      const r = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference, original_reference: 'never' });
      expect([r.status, r.body.code], r.text).toEqual([404, 'original_not_found']);
    }
    const late = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'never', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    expect([late.status, late.body.code], late.text).toEqual([409, 'already_reversed']);
  });
});
