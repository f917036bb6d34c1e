// Redis frozen (SIGSTOP: the process alive, its connections open, nothing answered): every POS
// request answers 503 `unavailable` within 2 s, ISO 8583 DE39 91, /readyz 503, never a hang
// (OPERATIONS.md). Once Redis runs again the gateway serves without a restart, and a terminal's
// retry of a request that got 503 gets one transaction, never two. The gateway runs on a Redis
// of this test's own, which it freezes.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage } from '../adapters/iso8583/codec.ts';
import { RedisHealth } from '../processor/redis-health.ts';
import { connectRedis, type RedisClient } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, createContacts, type Contact } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

const deadline_ms = 2_000;
const acquirer = '4242';

let own: OwnRedis;
let gw: TestGateway;
let biz: BusinessFixture;
let contact: Contact;
let iso: IsoClient;
let frozen = false;
let seq = 0;

function freeze(): void {
  process.kill(own.pid, 'SIGSTOP');
  frozen = true;
}
function thaw(): void {
  process.kill(own.pid, 'SIGCONT');
  frozen = false;
}

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ redis_url: own.url, ledger_writer: false }, false, true);
  biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
  expect((await call(gw, 'POST', '/v1/iso8583/links', biz.admin_key, { acquirer_id: acquirer })).status).toBe(201);
  contact = (await createContacts(gw, biz, [testCard(15_000_001)]))[0]!;
  iso = await connectIso(gw.iso8583_port);
});
afterAll(async () => {
  if (frozen) thaw();
  await iso?.close();
  await gw?.close();
  await own?.stop();
});

const purchaseBody = (reference: string) => ({ reference, cim: { type: 'card', value: contact.card }, amount: 1000, currency: 'EUR' });
const purchase = (reference = `fz-${++seq}`) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchaseBody(reference));

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const t = performance.now();
  const value = await work;
  return { value, ms: performance.now() - t };
}

function isoPurchase() {
  return createMessage('0200', {
    2: contact.card, 3: '000000', 4: '000000001000', 7: '1130183000', 11: String(++seq).padStart(6, '0'),
    32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' '), 49: '978',
  });
}

describe('Redis frozen', () => {
  it('POS calls answer 503 unavailable (ISO 8583: 91) within 2 s, /readyz 503; then approvals again, a retry one transaction', async () => {
    expect((await purchase()).status).toBe(201);
    // The ledger's lag while Redis cannot be read is the last count: nothing enters or leaves the
    // journal meanwhile (this gateway runs no writer, so the purchases stay in it).
    const lag_before = (await call(gw, 'GET', '/readyz', undefined)).body.ledger_lag;
    expect(lag_before).toBeGreaterThan(0);
    freeze();
    let refused_reference = '';
    try {
      refused_reference = `fz-${++seq}`;
      const first = await timed(purchase(refused_reference));
      expect(first.value.status, first.value.text).toBe(503);
      expect(first.value.body.code).toBe('unavailable');
      expect(first.ms).toBeLessThan(deadline_ms);
      // Once the hung connection is dropped, every POS call is refused at once, reads included.
      const later = await timed(purchase());
      expect(later.value.status).toBe(503);
      expect(later.ms).toBeLessThan(deadline_ms);
      const quote = await timed(call(gw, 'POST', '/v1/purchases/quote', biz.terminal_key, { cim: { type: 'card', value: contact.card }, amount: 1000, currency: 'EUR' }));
      expect(quote.value.status, quote.value.text).toBe(503);
      expect(quote.ms).toBeLessThan(deadline_ms);
      const card = await timed(iso.send(isoPurchase()));
      expect(card.value.fields[39]).toBe('91');
      expect(card.ms).toBeLessThan(deadline_ms);
      const ready = await timed(call(gw, 'GET', '/readyz', undefined));
      expect(ready.value.status).toBe(503);
      expect(ready.value.body.redis).toBe('down');
      expect(ready.value.body.ledger_lag).toBe(lag_before);
      expect(ready.ms).toBeLessThan(deadline_ms);
    } finally {
      thaw();
    }
    await eventually('approvals once Redis runs again', async () => (await purchase()).status === 201, 10_000);
    // The request that got 503 may have run when Redis woke: its retry replays it or makes it, once.
    const retry = await purchase(refused_reference);
    expect(retry.status, retry.text).toBe(201);
    const again = await purchase(refused_reference);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(retry.body.id);
    expect((await call(gw, 'GET', '/readyz', undefined)).status).toBe(200);
  });
});

describe('RedisHealth', () => {
  let client: RedisClient;
  beforeAll(async () => {
    client = await connectRedis(own.url);
  });
  afterAll(async () => {
    if (frozen) thaw();
    await client?.close().catch(() => {});
  });

  it('drops a connection Redis stopped answering, failing the commands in flight, and reconnects once it answers', async () => {
    const health = new RedisHealth(client, { interval_ms: 50, timeout_ms: 300 });
    expect(await health.probe()).toBe('ok');
    freeze();
    let failed: unknown;
    try {
      const hanging = client.get('anything').catch((err: unknown) => (failed = err));
      expect(await health.probe()).toBe('stalled');
      expect(health.writable).toBe(false);
      expect(health.stalls).toBe(1);
      await hanging;
      expect(failed).toBeInstanceOf(Error);
      // Reconnecting: nothing hangs meanwhile.
      const t = performance.now();
      await expect(client.get('anything')).rejects.toThrow();
      expect(performance.now() - t).toBeLessThan(100);
    } finally {
      thaw();
    }
    await eventually('a probe answered once Redis runs again', async () => (await health.probe()) === 'ok', 10_000);
    expect(health.writable).toBe(true);
    expect(await client.set('after', '1')).toBe('OK');
  });

  it('drops a new connection whose handshake the hung Redis never answers: a MULTI queued on it fails within the deadline, never waits for the stall', async () => {
    const health = new RedisHealth(client, { interval_ms: 50, timeout_ms: 300 });
    expect(await health.probe()).toBe('ok');
    freeze();
    const ticking = setInterval(() => void health.probe(), 50); // as start() probes
    try {
      // The first miss drops the connection; the new one reaches the kernel and waits on its handshake.
      await eventually('the hung connection dropped', async () => health.stalls >= 1, 3_000);
      await new Promise((r) => setTimeout(r, 50));
      const t = performance.now();
      // node-redis fails single commands fast while it connects, but queues a MULTI (as a contact's index is written).
      const outcome = await Promise.race([
        client.multi().set('queued', '1').exec().then(() => 'answered', () => 'failed'),
        new Promise((r) => setTimeout(() => r('still waiting'), 3_000)),
      ]);
      expect(outcome).toBe('failed');
      expect(performance.now() - t).toBeLessThan(1_000);
    } finally {
      clearInterval(ticking);
      thaw();
    }
    await eventually('a probe answered once Redis runs again', async () => (await health.probe()) === 'ok', 10_000);
    expect(await client.set('after', '1')).toBe('OK');
  });
});

describe('REDIS_PROBE_TIMEOUT_MS', () => {
  it('a gateway given a longer deadline rides out a freeze shorter than it: the purchase waits and is approved, a quote after /readyz answered 503 too', async () => {
    const patient = await startTestGateway({ redis_url: own.url, ledger_writer: false, redis_probe_timeout_ms: 6_000 });
    try {
      expect((await call(patient, 'POST', '/v1/purchases', biz.terminal_key, purchaseBody(`fz-${++seq}`))).status).toBe(201);
      const body = purchaseBody(`fz-${++seq}`);
      freeze();
      let answered: Promise<Awaited<ReturnType<typeof call>>>;
      let quoted: Promise<Awaited<ReturnType<typeof call>>>;
      const t = performance.now();
      try {
        answered = call(patient, 'POST', '/v1/purchases', biz.terminal_key, body);
        // /readyz keeps its own deadline (1.5 s), and what it did not hear is not told to the POS
        // path: a quote after it waits for Redis as the purchase does.
        const ready = await call(patient, 'GET', '/readyz', undefined);
        expect(ready.status).toBe(503);
        expect(ready.body.redis).toBe('down');
        quoted = call(patient, 'POST', '/v1/purchases/quote', biz.terminal_key, { cim: { type: 'card', value: contact.card }, amount: 1000, currency: 'EUR' });
        // Past the default deadline (1 s) and the 2 s a default gateway answers 503 within.
        await new Promise((r) => setTimeout(r, 2_500 - (performance.now() - t)));
      } finally {
        thaw();
      }
      const r = await answered;
      expect(r.status, r.text).toBe(201);
      const q = await quoted;
      expect(q.status, q.text).toBe(200);
    } finally {
      await patient.close();
    }
  });
});
