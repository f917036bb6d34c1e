// The business network in Redis (spec/OPERATIONS.md, "When a store fails"): a gateway started
// while PostgreSQL is unreachable, refusing or hanging (test/pg-proxy.ts in front of the test
// PostgreSQL), authenticates terminals and approves purchases over HTTP and ISO 8583; unknown
// keys are refused without touching PostgreSQL; admin calls answer 503 `unavailable` within 2 s.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage } from '../adapters/iso8583/codec.ts';
import { call, closeAll, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, connectTestSql, createContacts, type Contact } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';
import { startPgProxy, type PgProxy } from './pg-proxy.ts';
import { startGatewayProcess } from './gateway-process.ts';
import type { Sql } from '../processor/stores.ts';

let own: OwnRedis;
let proxy: PgProxy;
let sql: Sql;
let gw: TestGateway | undefined;
let late: TestGateway | undefined;
let iso: IsoClient | undefined;
let biz: BusinessFixture;
let contact: Contact;
let start_ms = 0;
const acquirer = String(10_000_000 + Math.floor(Math.random() * 89_999_999));
const approved: string[] = [];
let stan = 0;

function isoPurchase(card: string, minor: number, acquirer_id = acquirer) {
  return createMessage('0200', {
    2: card,
    3: '000000',
    4: String(minor).padStart(12, '0'),
    7: '1124101500',
    11: String(++stan).padStart(6, '0'),
    32: acquirer_id,
    41: biz.terminal_code,
    42: biz.merchant_code.padEnd(15, ' '),
    49: '978',
  });
}

async function purchase(g: TestGateway, reference: string) {
  return call(g, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: contact.card }, amount: 2000, currency: 'EUR' });
}

beforeAll(async () => {
  own = await startOwnRedis();
  proxy = await startPgProxy('forward');
  sql = connectTestSql();
  // The network is made while PostgreSQL is up, by a gateway that then stops.
  const setup = await startTestGateway({ redis_url: own.url });
  try {
    biz = await createBusiness(setup);
    await addCashbackOffer(setup, biz, 5);
    contact = (await createContacts(setup, biz, [testCard(31_000_001)]))[0]!;
    expect((await call(setup, 'POST', '/v1/iso8583/links', biz.admin_key, { acquirer_id: acquirer })).status).toBe(201);
  } finally {
    await setup.close();
  }
  await proxy.set('refuse');
  start_ms = Date.now();
  gw = await startTestGateway({ redis_url: own.url, database_url: proxy.url }, false, true);
  start_ms = Date.now() - start_ms;
  iso = await connectIso(gw.iso8583_port);
});
afterAll(async () => {
  await closeAll(iso, gw, late, proxy);
  await sql?.end({ timeout: 5 });
  await own?.stop();
});

describe('a gateway started while PostgreSQL refuses connections', () => {
  it('starts at once, authenticates the terminal and approves purchases over HTTP and ISO 8583', async () => {
    expect(start_ms).toBeLessThan(3_000);
    const p = await purchase(gw!, 'refused-1');
    expect(p.status, p.text).toBe(201);
    expect(p.body.awards).toHaveLength(1);
    expect(p.body.awards[0].amount).toBe(100); // the offer came from Redis too
    approved.push(p.body.id);
    const reply = await iso!.send(isoPurchase(contact.card, 3000));
    expect(reply.fields[39]).toBe('00');
    expect((await iso!.send(isoPurchase(contact.card, 3000, '99999999999'))).fields[39]).toBe('03');
  });

  it('answers admin calls 503 unavailable at once', async () => {
    const started = Date.now();
    const res = await call(gw!, 'GET', '/v1/offers', biz.admin_key);
    expect(res.status, res.text).toBe(503);
    expect(res.body.code).toBe('unavailable');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('`npm start` (gateway/main.ts, demo seeding on) while PostgreSQL refuses connections', () => {
  it('serves terminals although the demo cannot be seeded', async () => {
    const data_dir = mkdtempSync(join(tmpdir(), 'pocketgate-demo-'));
    const gateway = await startGatewayProcess({ REDIS_URL: own.url, DATABASE_URL: proxy.url, LEDGER_WRITER: 'off', POCKETGATE_SEED_DEMO: '1', POCKETGATE_DATA_DIR: data_dir });
    try {
      const port = gateway.port;
      await eventually('the demo given up', async () => gateway.output().includes('demo not seeded'), 20_000);
      const res = await fetch(`http://127.0.0.1:${port}/v1/purchases`, {
        method: 'POST',
        headers: { authorization: `Bearer ${biz.terminal_key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reference: 'npm-start-outage', cim: { type: 'card', value: contact.card }, amount: 2000, currency: 'EUR' }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      expect(gateway.child.exitCode, gateway.output().slice(-2_000)).toBeNull();
    } finally {
      gateway.kill();
      rmSync(data_dir, { recursive: true, force: true });
    }
  });
});

describe('PostgreSQL hanging (connections accepted, nothing answered)', () => {
  it('admin calls answer 503 within 2 s, from the moment it hangs', async () => {
    await proxy.set('hang');
    for (const [method, path, body] of [
      ['GET', '/v1/offers', undefined],
      ['POST', '/v1/merchants', { name: 'Hung', code: 'HUNG1' }],
      ['POST', '/v1/businesses', { name: 'Hung', currency: 'EUR' }],
    ] as const) {
      const started = Date.now();
      const res = await call(gw!, method, path, path === '/v1/businesses' ? process.env.PLATFORM_API_KEY : biz.admin_key, body);
      expect(res.status, `${path}: ${res.text}`).toBe(503);
      expect(res.body.code).toBe('unavailable');
      expect(Date.now() - started, path).toBeLessThan(2_000);
    }
  });

  it('an unknown-key flood is refused 401 without a PostgreSQL query, and the terminal goes on buying', async () => {
    // Any query would hang for good here: answers within the bound show none was made.
    const started = Date.now();
    const keys = Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? 'sk_same_unknown' : `sk_unknown_${i}_${Math.random()}`));
    for (let i = 0; i < keys.length; i += 100) {
      const answers = await Promise.all(keys.slice(i, i + 100).map((key) => call(gw!, 'GET', '/v1/offers', key)));
      for (const a of answers) expect(a.status).toBe(401);
    }
    expect(Date.now() - started).toBeLessThan(5_000);
    const p = await purchase(gw!, 'hung-1');
    expect(p.status, p.text).toBe(201);
    approved.push(p.body.id);
  });

  it('a gateway started now starts within seconds and serves the terminal', async () => {
    const started = Date.now();
    late = await startTestGateway({ redis_url: own.url, database_url: proxy.url, ledger_writer: false });
    expect(Date.now() - started).toBeLessThan(4_000);
    const p = await purchase(late, 'hung-late-1');
    expect(p.status, p.text).toBe(201);
    approved.push(p.body.id);
    expect((await call(late, 'GET', '/v1/offers', biz.admin_key)).status).toBe(503);
  });
});

describe('PostgreSQL back', () => {
  it('admin calls work again and the ledger catches up by itself', async () => {
    await proxy.set('forward');
    await eventually('admin calls answered', async () => (await call(gw!, 'GET', '/v1/offers', biz.admin_key)).status === 200, 15_000);
    await eventually(
      'the ledger caught up',
      async () => {
        const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where id = any(${approved})`;
        return row!.n === approved.length;
      },
      30_000,
    );
  });
});
