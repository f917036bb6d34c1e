// TERMINAL.md sentences no other test names, at their exact bounds: checked as the page words them.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';
import { refusedUpgrade, TerminalClient } from './ws-client.ts';

let own: OwnRedis;
let gw: TestGateway;
let biz: BusinessFixture;
let card: string;
let wallet_code: string;

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ redis_url: own.url, ledger_writer: false }, true);
  biz = await createBusiness(gw);
  card = testCard(15_600_001);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  wallet_code = c.body.wallet_code;
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});

describe('frames at their bounds', () => {
  it('an id of 64 characters is taken, 65 is 400 validation_failed with id null; the connection stays open', async () => {
    const t = await TerminalClient.open(gw.port, biz.terminal_key);
    try {
      const ok = await t.request('i'.repeat(64), 'wallet', { cim: { type: 'card', value: card } });
      expect(ok.status).toBe(200);
      t.send('j'.repeat(65), 'wallet', { cim: { type: 'card', value: card } });
      const [, refused] = await t.until(2);
      expect(refused).toMatchObject({ id: null, status: 400, body: { code: 'validation_failed' } });
      expect((await t.request('after', 'wallet', { cim: { type: 'card', value: card } })).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('a frame of exactly 64 KiB is served; one byte more closes with 1009', async () => {
    const frame = (bytes: number) => {
      const base = { id: 'big', op: 'wallet', body: { cim: { type: 'card', value: card } }, pad: '' };
      return JSON.stringify({ ...base, pad: 'x'.repeat(bytes - JSON.stringify(base).length) });
    };
    const t = await TerminalClient.open(gw.port, biz.terminal_key);
    try {
      expect(frame(65_536)).toHaveLength(65_536);
      t.ws.send(frame(65_536));
      const [reply] = await t.until(1);
      expect(reply).toMatchObject({ id: 'big', status: 200 });
      t.ws.send(frame(65_537));
      expect((await t.closed).code).toBe(1009);
    } finally {
      await t.close();
    }
  });
});

describe('keys', () => {
  it('an admin key is not a terminal key: the upgrade answers 401', async () => {
    const r = await refusedUpgrade(gw.port, { authorization: `Bearer ${biz.admin_key}` });
    expect(r.status).toBe(401);
  });

  it('a browser offering other subprotocols too is given pocketgate.auth-frame, and its auth frame answered {id: null, status: 200}', async () => {
    const t = await TerminalClient.open(gw.port, undefined, ['chat', 'pocketgate.auth-frame']);
    try {
      expect(t.ws.protocol).toBe('pocketgate.auth-frame');
      t.ws.send(JSON.stringify({ op: 'auth', key: biz.terminal_key }));
      const [auth] = await t.until(1);
      expect(JSON.parse(t.texts[0]!)).toEqual({ id: null, status: 200 });
      expect(auth).toEqual({ id: null, status: 200 });
      expect((await t.request('w', 'wallet', { cim: { type: 'card', value: card } })).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('replayed', () => {
  it('a refusal HTTP replays with Idempotent-Replayed is replayed: true on the channel, the same status and body', async () => {
    const body = { reference: 'ts-refused-1', amount: 100, currency: 'EUR', wallet_code };
    const first = await call(gw, 'POST', '/v1/spends', biz.terminal_key, body);
    expect(first.status, first.text).toBe(422);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const t = await TerminalClient.open(gw.port, biz.terminal_key);
    try {
      const again = await t.request('r1', 'spend', body);
      expect(again).toEqual({ id: 'r1', status: 422, body: first.body, replayed: true });
    } finally {
      await t.close();
    }
  });
});
