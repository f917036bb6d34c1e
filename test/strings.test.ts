// Every text from outside, as bytes, through Redis, PostgreSQL and back: a string the gateway
// takes in (or reads from a webhook endpoint's answer) must never make a PostgreSQL statement
// fail, nor a 5xx, nor stall what else the statement carried.

import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { createContacts } from './ledger-helpers.ts';

let gw: TestGateway;
let seed = 47_000_000;
const servers: Server[] = [];

beforeAll(async () => {
  // Retries far off: each delivery gets one attempt while a test runs.
  gw = await startTestGateway({ webhooks: { retry_base_ms: 600_000, allow_private: true, worker: true } });
});
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  await gw?.close();
});

/** An endpoint answering every request `status` with these bytes. */
async function endpoint(status: number, body: Buffer): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(status, { 'content-type': 'text/plain' }).end(body));
  });
  servers.push(server);
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  return `http://127.0.0.1:${port}/hook`;
}

describe("a webhook endpoint's answer kept as last_error (EVENTS.md: deliveries, last_status_code, last_error)", () => {
  const answers: [string, Buffer][] = [
    ['plain text', Buffer.from('receiver says no', 'utf8')],
    ['a NUL byte', Buffer.from('refused\u0000here', 'utf8')],
    // 199 characters then an emoji: the first 200 UTF-16 units end inside its surrogate pair.
    ['an emoji across the 200th character', Buffer.from(`${'x'.repeat(199)}\u{1F600} and more`, 'utf8')],
  ];
  for (const [what, bytes] of answers) {
    it(`holding ${what} is recorded, and so is the healthy endpoint's success beside it`, async () => {
      const biz = await createBusiness(gw);
      const [contact] = await createContacts(gw, biz, [testCard(++seed)]);
      const bad = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: await endpoint(500, bytes), events: ['transaction.approved'] });
      const good = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: await endpoint(200, Buffer.from('ok')), events: ['transaction.approved'] });
      expect([bad.status, good.status]).toEqual([201, 201]);
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `s-${seed}`, cim: { type: 'card', value: contact!.card }, amount: 1000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
      const first = async (id: string) => (await call(gw, 'GET', `/v1/webhooks/${id}/deliveries`, biz.admin_key)).body.data[0];
      const failed = await eventually(
        'the failed attempt recorded',
        async () => {
          const d = await first(bad.body.id);
          return d?.last_status_code === 500 ? d : undefined;
        },
        8_000,
      );
      expect(failed).toMatchObject({ status: 'pending', attempts: 1 });
      expect(failed.last_error).toMatch(/^HTTP 500: /);
      expect(failed.last_error).not.toContain('\u0000');
      expect(failed.last_error.isWellFormed()).toBe(true);
      await eventually('the healthy delivery recorded as succeeded', async () => (await first(good.body.id))?.status === 'succeeded', 8_000);
      expect(gw.logs.join('')).not.toContain('recording attempts failed');
    }, 30_000);
  }
});
