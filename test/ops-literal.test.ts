// OPERATIONS.md as an acceptance test written from the page alone would drive it, where the other
// tests leave a gap: Redis unreachable (behind a TCP proxy the test cuts) for every POS path and the
// WebSocket channel, and an admin key making every POS call for a terminal (Pocketgate-Terminal).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from './contract-util.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';
import { StoreCut } from './store-cut.ts';
import { TerminalClient } from './ws-client.ts';

let seq = 0;
const card = () => testCard(41_000_000 + ++seq);
const purchase = (c: string, reference = `ol-${++seq}`, amount = 2000) => ({ reference, cim: { type: 'card', value: c }, amount, currency: 'EUR' });

async function contactWith(gw: TestGateway, biz: BusinessFixture, c: string): Promise<string> {
  const r = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: c }] });
  expect(r.status, r.text).toBe(201);
  return r.body.id;
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const r = await f();
  return [r, Date.now() - started];
}

describe('Redis unreachable', () => {
  let own: OwnRedis;
  let proxy: StoreCut;
  let gw: TestGateway;
  let biz: BusinessFixture;
  let c: string;

  beforeAll(async () => {
    own = await startOwnRedis();
    proxy = new StoreCut(new URL(own.url));
    await proxy.open();
    gw = await startTestGateway({ redis_url: proxy.url() }, true);
    biz = await createBusiness(gw);
    c = card();
    await contactWith(gw, biz, c);
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase(c))).status).toBe(201);
  });
  afterAll(async () => {
    await gw?.close();
    await own?.stop();
  });

  it('unreachable: every POS request 503 unavailable within 2 s (HTTP and WebSocket), /readyz 503 "down"; back without a restart', async () => {
    const ws = await TerminalClient.open(gw.port, biz.terminal_key);
    await proxy.cut();
    try {
      const paths: [string, unknown][] = [
        ['/v1/purchases', purchase(c)],
        ['/v1/purchases/quote', purchase(c)],
        ['/v1/redemptions', { reference: `ol-${++seq}`, cim: { type: 'card', value: c } }],
        ['/v1/spends', { reference: `ol-${++seq}`, amount: 1, currency: 'EUR', otp: '123456' }],
        ['/v1/refunds', { reference: `ol-${++seq}`, original_reference: 'nothing' }],
        ['/v1/reversals', { reference: `ol-${++seq}`, original_reference: 'nothing' }],
      ];
      for (const [path, body] of paths) {
        const [r, ms] = await timed(() => call(gw, 'POST', path, biz.terminal_key, body));
        expectProblem(r, 503, 'unavailable');
        expect(ms, path).toBeLessThan(2_000);
      }
      const [w, ms] = await timed(() => call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${c}`, biz.terminal_key));
      expectProblem(w, 503, 'unavailable');
      expect(ms).toBeLessThan(2_000);
      const [frame, frame_ms] = await timed(() => ws.request('down', 'purchase', purchase(c)));
      expect([frame.status, frame.body.code]).toEqual([503, 'unavailable']);
      expect(frame_ms).toBeLessThan(2_000);
      const [ready, ready_ms] = await timed(() => call(gw, 'GET', '/readyz', undefined));
      expect([ready.status, ready.body.redis]).toEqual([503, 'down']);
      expect(ready_ms).toBeLessThan(2_000);
    } finally {
      await proxy.open();
    }
    await eventually('serving again', async () => (await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase(c))).status === 201, 10_000);
    expect((await call(gw, 'GET', '/readyz', undefined)).status).toBe(200);
    await ws.close();
  }, 30_000);

});

describe('The operations console', () => {
  let gw: TestGateway;
  let biz: BusinessFixture;
  let other: BusinessFixture;

  beforeAll(async () => {
    gw = await startTestGateway();
    biz = await createBusiness(gw);
    other = await createBusiness(gw);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('an admin key makes any POS call for a terminal named in Pocketgate-Terminal; made_by admin; another business\'s terminal 404', async () => {
    await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5%', goal: 'spend', award: { percent: 5 } });
    const c = card();
    await contactWith(gw, biz, c);
    const as_terminal = { 'pocketgate-terminal': biz.terminal_id };
    const b = purchase(c, 'admin-made', 4000);
    const q = await call(gw, 'POST', '/v1/purchases/quote', biz.admin_key, b, as_terminal);
    expect(q.status, q.text).toBe(200);
    const p = await call(gw, 'POST', '/v1/purchases', biz.admin_key, b, as_terminal);
    expect(p.status, p.text).toBe(201);
    // The terminal's transaction, exactly as if it had sent it: its own retry replays it.
    const replay = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, b);
    expect([replay.status, replay.headers.get('idempotent-replayed'), replay.body.id]).toEqual([201, 'true', p.body.id]);
    const t = await call(gw, 'GET', `/v1/transactions/${p.body.id}`, biz.admin_key);
    expect([t.body.made_by, t.body.terminal_id, t.body.reference]).toEqual(['admin', biz.terminal_id, 'admin-made']);
    const own = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase(c, 'terminal-made'));
    expect((await call(gw, 'GET', `/v1/transactions/${own.body.id}`, biz.admin_key)).body.made_by).toBe('terminal');
    const r = await call(gw, 'POST', '/v1/redemptions', biz.admin_key, { reference: 'admin-rd', cim: { type: 'card', value: c }, amount: 50 }, as_terminal);
    expect(r.status, r.text).toBe(201);
    const s = await call(gw, 'POST', '/v1/spends', biz.admin_key, { reference: 'admin-sp', amount: 10, currency: 'EUR', wallet_code: (await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, { cim: { type: 'card', value: c } })).body.wallet_code }, as_terminal);
    expect(s.status, s.text).toBe(201);
    const rf = await call(gw, 'POST', '/v1/refunds', biz.admin_key, { reference: 'admin-rf', original_reference: 'terminal-made', amount: 500 }, as_terminal);
    expect(rf.status, rf.text).toBe(201);
    const rv = await call(gw, 'POST', '/v1/reversals', biz.admin_key, { reference: 'admin-rv', original_reference: 'admin-sp' }, as_terminal);
    expect(rv.status, rv.text).toBe(201);
    // Another business's terminal, or one that does not exist: 404.
    for (const id of [other.terminal_id, 'term_nosuchterminal']) {
      const x = await call(gw, 'POST', '/v1/purchases', biz.admin_key, purchase(c), { 'pocketgate-terminal': id });
      expect(x.status, x.text).toBe(404);
      expect(x.body.code).toBe('not_found');
    }
  });
});
