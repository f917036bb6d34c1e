// TERMINAL.md as an acceptance test written from the page alone would drive it, where the other
// terminal tests leave a gap: the channel's default limits (5 s for the auth frame, exactly 256 in
// flight) and keys offered in a URL under other names.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { refusedUpgrade, TerminalClient } from './ws-client.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;

beforeAll(async () => {
  gw = await startTestGateway({}, true);
  biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5% cashback', goal: 'spend', award: { percent: 5 } })).status).toBe(201);
});
afterAll(async () => {
  await gw?.close();
});

async function contact(): Promise<{ id: string; card: string }> {
  const card = testCard(31_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  return { id: c.body.id, card };
}
const body = (card: string, amount = 2000, reference = `tl-${++seq}`) => ({ reference, cim: { type: 'card', value: card }, amount, currency: 'EUR' });

const open = (key = biz.terminal_key, protocols: string[] = []) => TerminalClient.open(gw.port, key, protocols);

describe('WebSocket terminal channel: the upgrade', () => {
  it('without a valid terminal key the upgrade answers 401 and no socket opens; a key never goes in a URL', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${biz.admin_key}` }] as Record<string, string>[]) {
      expect((await refusedUpgrade(gw.port, headers)).status).toBe(401);
    }
    expect((await refusedUpgrade(gw.port, {}, `/v1/terminal?key=${biz.terminal_key}`)).status).toBe(401);
    expect((await refusedUpgrade(gw.port, {}, `/v1/terminal?access_token=${biz.terminal_key}`)).status).toBe(401);
  });

  it('a wrong or missing key closes with 4401; so does silence for 5 s', async () => {
    for (const frame of [{ op: 'auth', key: 'wrong' }, { op: 'auth' }, { op: 'auth', key: biz.admin_key }]) {
      const client = await open(undefined, ['pocketgate.auth-frame']);
      client.ws.send(JSON.stringify(frame));
      expect((await client.closed).code).toBe(4401);
    }
    const silent = await open(undefined, ['pocketgate.auth-frame']);
    const started = Date.now();
    expect((await silent.closed).code).toBe(4401);
    expect(Date.now() - started).toBeGreaterThan(4_000);
    expect(Date.now() - started).toBeLessThan(7_000);
  }, 15_000);
});

describe('WebSocket terminal channel: frames', () => {
  it('256 in flight at once are all served: none is rate_limited', async () => {
    const client = await open();
    const c = await contact();
    for (let i = 0; i < 256; i++) client.ws.send(JSON.stringify({ id: `e${i}`, op: 'purchase', body: body(c.card, 1000, `exact-${i}`) }));
    await client.until(256, 60_000);
    const statuses = new Map<number, number>();
    for (const r of client.replies) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    expect(Object.fromEntries(statuses)).toEqual({ 201: 256 });
    await client.close();
  }, 90_000);
});
