// API.md: "A repeat of the same terminal + reference + body returns the original status and body,
// with header `Idempotent-Replayed: true` … Same reference with a different body: 409
// `idempotency_conflict`." A purchase whose reversal came first is refused 409 already_reversed
// when it arrives (README, "a reversal that arrives before its original"). Its repeat was refused
// again, decided anew, without the header; and the same reference with another body was refused
// already_reversed too, as if it were the purchase the reversal named.

import { describe, expect, it } from 'vitest';
import { businessGatewayForFile } from './business-gateway.ts';
import { createCardContact } from './card-contact.ts';
import { call, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
businessGatewayForFile((made) => ({ gw, biz } = made), { name: '10% back', goal: 'spend', award: { percent: 10 } });

describe('an original that arrives after its reversal', () => {
  it('is refused already_reversed; its repeat replays that, another body under its reference is 409 idempotency_conflict', async () => {
    const { card } = await createCardContact(gw, biz, 850_000_001);
    const late = `late-${process.pid}-${Date.now()}`;
    const reversal = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: `${late}-v`, original_reference: late });
    expect([reversal.status, reversal.body.code], reversal.text).toEqual([404, 'original_not_found']);
    const body = { reference: late, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' };
    const first = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    expect([first.status, first.body.code], first.text).toEqual([409, 'already_reversed']);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const repeat = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    expect([repeat.status, repeat.body.code], repeat.text).toEqual([409, 'already_reversed']);
    expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    expect(repeat.body.detail).toBe(first.body.detail);
    const other = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...body, amount: 999 });
    expect([other.status, other.body.code], other.text).toEqual([409, 'idempotency_conflict']);
    // The reversal's own repeat is what it was.
    const again = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: `${late}-v`, original_reference: late });
    expect([again.status, again.headers.get('idempotent-replayed')]).toEqual([404, 'true']);
  });

  it('a reversal naming its own reference finds no original (404, replayed on repeat), and marks nothing', async () => {
    const self = `self-${process.pid}-${Date.now()}`;
    const body = { reference: self, original_reference: self };
    const first = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, body);
    expect([first.status, first.body.code], first.text).toEqual([404, 'original_not_found']);
    const repeat = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, body);
    expect([repeat.status, repeat.body.code, repeat.headers.get('idempotent-replayed')], repeat.text).toEqual([404, 'original_not_found', 'true']);
    // Its reference is held by it, as any refused reversal's is.
    const { card } = await createCardContact(gw, biz, 850_000_002);
    const purchase = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: self, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    expect([purchase.status, purchase.body.code], purchase.text).toEqual([409, 'idempotency_conflict']);
  });
});
