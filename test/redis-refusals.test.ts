// Redis refusing writes (out of memory, a read-only replica): every POS request answers 503
// `unavailable` (ISO 8583: DE39 91), never 500, and the gateway serves again once Redis does,
// without a restart. The gateway runs on a Redis of this test's own, which it makes refuse.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorReply } from 'redis';
import { responseCode } from '../adapters/iso8583/mapping.ts';
import { connectRedis, type RedisClient } from '../processor/stores.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, createContacts, type Contact } from './ledger-helpers.ts';

let server: ChildProcess;
let admin: RedisClient;
let gw: TestGateway;
let biz: BusinessFixture;
let contact: Contact;
let seq = 0;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

beforeAll(async () => {
  const port = await freePort();
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      admin = await connectRedis(url);
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  gw = await startTestGateway({ redis_url: url, ledger_writer: false });
  biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
  contact = (await createContacts(gw, biz, [testCard(14_000_001)]))[0]!;
});
afterAll(async () => {
  await gw?.close();
  await admin?.close().catch(() => {});
  server?.kill('SIGKILL');
});

const purchase = () => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `rr-${++seq}`, cim: { type: 'card', value: contact.card }, amount: 1000, currency: 'EUR' });

describe('Redis refusing writes', () => {
  it('out of memory: 503 unavailable, then approvals again once it has room', async () => {
    expect((await purchase()).status).toBe(201);
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
    try {
      const refused = await purchase();
      expect(refused.status, refused.text).toBe(503);
      expect(refused.body.code).toBe('unavailable');
      const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: `rr-${++seq}`, amount: 1, currency: 'EUR', wallet_code: '4111111111111111' });
      expect(spend.status, spend.text).not.toBe(500);
    } finally {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
    }
    expect((await purchase()).status).toBe(201);
  });

  it('a read-only replica: 503 unavailable, then approvals again once it is a master', async () => {
    await admin.sendCommand(['REPLICAOF', '127.0.0.1', '1']);
    try {
      const refused = await purchase();
      expect(refused.status, refused.text).toBe(503);
      expect(refused.body.code).toBe('unavailable');
    } finally {
      await admin.sendCommand(['REPLICAOF', 'NO', 'ONE']);
    }
    expect((await purchase()).status).toBe(201);
  });

  it('ISO 8583 answers such a refusal with DE39 91, a fault of ours with 96', () => {
    expect(responseCode(new ErrorReply("OOM command not allowed when used memory > 'maxmemory'."))).toBe('91');
    expect(responseCode(new ErrorReply('LOADING Redis is loading the dataset in memory'))).toBe('91');
    expect(responseCode(new ErrorReply('ERR wrong number of arguments'))).toBe('96');
    expect(responseCode(new TypeError('x is undefined'))).toBe('96');
  });
});
