// Webhook URLs on loopback, private, link-local and other non-public addresses are refused
// without WEBHOOKS_ALLOW_PRIVATE (spec/EVENTS.md), at creation and again at every delivery, on
// the address the name resolves to then: an endpoint that got in while private addresses were
// allowed (or a name that now resolves to one) is never connected to.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, closeAll, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { createContacts } from './ledger-helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { startReceiver, type Receiver } from './webhook-helpers.ts';

let own: OwnStores;
/** WEBHOOKS_ALLOW_PRIVATE unset: the gateway that sends. */
let strict: TestGateway;
/** WEBHOOKS_ALLOW_PRIVATE=1, no worker: lets a loopback endpoint in, sends nothing. */
let lax: TestGateway;
let r: Receiver;

beforeAll(async () => {
  own = await startOwnStores('webhook_address');
  strict = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url, webhooks: { retry_base_ms: 50, allow_private: false, worker: true } });
  lax = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url, ledger_writer: false, webhooks: { retry_base_ms: 50, allow_private: true, worker: false } });
  r = await startReceiver();
});
afterAll(async () => {
  await closeAll(strict, lax, r);
  await own?.stop();
});

describe('webhook addresses without WEBHOOKS_ALLOW_PRIVATE', () => {
  it('refuses loopback, private, link-local and reserved addresses, as literals and as names', async () => {
    const biz = await createBusiness(strict);
    const refused = [
      'http://127.0.0.1/hook',
      'http://127.1.2.3:8080/hook',
      'http://localhost/hook',
      'http://[::1]/hook',
      'http://10.1.2.3/hook',
      'http://172.16.0.1/hook',
      'http://192.168.1.10/hook',
      'https://169.254.169.254/latest/meta-data',
      'http://[fe80::1]/hook',
      'http://[fd00::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://0.0.0.0/hook',
      'http://100.64.0.1/hook',
      'http://2130706433/hook', // 127.0.0.1 written as a number
    ];
    for (const url of refused) {
      const res = await call(strict, 'POST', '/v1/webhooks', biz.admin_key, { url, events: ['*'] });
      expect(res.status, url).toBe(400);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.errors[0].path).toBe('url');
    }
    expect((await call(strict, 'GET', '/v1/webhooks', biz.admin_key)).body.data).toEqual([]);
    // A public address is taken (nothing is sent to it: no event is made for this business).
    const ok = await call(strict, 'POST', '/v1/webhooks', biz.admin_key, { url: 'https://8.8.8.8/hook', events: ['*'] });
    expect(ok.status, ok.text).toBe(201);
    const patched = await call(strict, 'PATCH', `/v1/webhooks/${ok.body.id}`, biz.admin_key, { url: 'http://192.168.0.1/' });
    expect(patched.status).toBe(400);
    expect((await call(strict, 'GET', `/v1/webhooks/${ok.body.id}`, biz.admin_key)).body.url).toBe('https://8.8.8.8/hook');
  });

  it('checks again at delivery: an endpoint on loopback is never connected to', async () => {
    const biz = await createBusiness(lax);
    const [c] = await createContacts(lax, biz, [testCard(22_000_001)]);
    // One by name (resolved, then refused, at connect time), one by address.
    const by_name = await call(lax, 'POST', '/v1/webhooks', biz.admin_key, { url: `http://localhost:${r.port}/hook`, events: ['transaction.approved'] });
    const by_address = await call(lax, 'POST', '/v1/webhooks', biz.admin_key, { url: r.url, events: ['transaction.approved'] });
    expect([by_name.status, by_address.status]).toEqual([201, 201]);
    const p = await call(lax, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'private-1', cim: { type: 'card', value: c!.card }, amount: 900, currency: 'EUR' });
    expect(p.status).toBe(201);
    for (const [w, why] of [
      [by_name.body.id, /localhost resolves to (127\.0\.0\.1|::1), not a public address/],
      [by_address.body.id, /127\.0\.0\.1 is not a public address/],
    ] as const) {
      const [d] = await eventually('an attempt refused', async () => {
        const list = (await call(strict, 'GET', `/v1/webhooks/${w}/deliveries`, biz.admin_key)).body.data;
        return list[0]?.attempts >= 1 && list[0]?.last_error !== null ? list : undefined;
      });
      expect(d).toMatchObject({ status: 'pending', last_status_code: null });
      expect(d.last_error).toMatch(why);
    }
    expect(r.received).toEqual([]);
  });
});
