// Requests that offer an upgrade the gateway does not speak (curl --http2 and Java's HttpClient
// offer h2c on http://) are plain HTTP requests: RFC 9110 §7.8 lets a server ignore Upgrade, and
// API.md's answers do not depend on it. Node hands every request with an Upgrade header to the
// server's 'upgrade' listener (the terminal channel's), so these were answered 404 not_found,
// /healthz and POST /v1/purchases included.

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { TerminalClient } from './ws-client.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let card: string;

beforeAll(async () => {
  gw = await startTestGateway({ ledger_writer: false }, true);
  biz = await createBusiness(gw);
  card = testCard(15_700_001);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
});
afterAll(async () => {
  await gw?.close();
});

interface RawAnswer {
  readonly status: number;
  readonly headers: string;
  readonly body: string;
}

/** Send `requests` (raw HTTP/1.1, each after the answer to the one before) on one connection; status 0: the connection was closed before its answer. */
async function raw(requests: string[]): Promise<RawAnswer[]> {
  const socket = connect(gw.port, '127.0.0.1');
  let buffer = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (buffer += d.toString('latin1')));
  socket.once('close', () => (closed = true));
  const answers: RawAnswer[] = [];
  try {
    for (const request of requests) {
      if (closed) {
        answers.push({ status: 0, headers: '', body: 'closed' });
        continue;
      }
      socket.write(request);
      const answer = await new Promise<RawAnswer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer; read: ${buffer}`)), 5_000);
        const check = () => {
          const end = buffer.indexOf('\r\n\r\n');
          const length = /content-length: (\d+)/i.exec(buffer.slice(0, end));
          if (end < 0 || length === null || buffer.length < end + 4 + Number(length[1])) return;
          clearTimeout(timer);
          socket.off('data', check);
          const headers = buffer.slice(0, end);
          const body = buffer.slice(end + 4, end + 4 + Number(length[1]));
          buffer = buffer.slice(end + 4 + Number(length[1]));
          resolve({ status: Number(headers.split(' ')[1]), headers, body });
        };
        socket.on('data', check);
        socket.once('close', () => resolve({ status: 0, headers: '', body: 'closed' }));
        check();
      });
      answers.push(answer);
    }
    return answers;
  } finally {
    socket.destroy();
  }
}

const h2c = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';

describe('an upgrade offered that is not a WebSocket to /v1/terminal', () => {
  it('is ignored: the request is served as HTTP, its body read, the connection kept', async () => {
    const body = JSON.stringify({ reference: 'h2c-1', cim: { type: 'card', value: card }, amount: 2500, currency: 'EUR' });
    const [health, purchase, again, quote] = await raw([
      `GET /healthz HTTP/1.1\r\nHost: x\r\n${h2c}\r\n`,
      `POST /v1/purchases HTTP/1.1\r\nHost: x\r\n${h2c}Authorization: Bearer ${biz.terminal_key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      `POST /v1/purchases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${biz.terminal_key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      `POST /v1/purchases/quote HTTP/1.1\r\nHost: x\r\n${h2c}Authorization: Bearer ${biz.terminal_key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    ]);
    expect([health!.status, purchase!.status, again!.status, quote!.status], health!.body).toEqual([200, 201, 201, 200]);
    expect(JSON.parse(purchase!.body)).toMatchObject({ status: 'approved', amount_due: 2500 });
    expect([again!.status, /idempotent-replayed: true/i.test(again!.headers)]).toEqual([201, true]);
    expect(quote!.status, quote!.body).toBe(200);
  });

  it('pipelined behind an answer still in flight, is answered after it, as are the requests after it', async () => {
    const socket = connect(gw.port, '127.0.0.1');
    let read = '';
    socket.on('data', (d: Buffer) => (read += d.toString('latin1')));
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    // One write: the first request's answer (an admin read: it awaits its stores) is still being
    // made when node's parser meets the offer and hands the socket to 'upgrade'.
    socket.write(
      `GET /v1/tiers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${biz.admin_key}\r\n\r\n` +
        `GET /healthz HTTP/1.1\r\nHost: x\r\n${h2c}\r\n` +
        'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const statuses = () => [...read.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    const deadline = Date.now() + 5_000;
    while (statuses().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    expect(statuses(), read).toEqual([200, 200, 200]);
  });

  it('a WebSocket upgrade pipelined behind an answer still in flight: that answer first, then 101', async () => {
    const socket = connect(gw.port, '127.0.0.1');
    let read = '';
    socket.on('data', (d: Buffer) => (read += d.toString('latin1')));
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      `GET /v1/tiers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${biz.admin_key}\r\n\r\n` +
        `GET /v1/terminal HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${biz.terminal_key}\r\n\r\n`,
    );
    const statuses = () => [...read.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    const deadline = Date.now() + 5_000;
    while (statuses().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    expect(statuses(), read).toEqual([200, 101]);
  });

  it('a WebSocket upgrade to /v1/terminal still opens the channel', async () => {
    const t = await TerminalClient.open(gw.port, biz.terminal_key);
    const r = await t.request('q', 'purchase.quote', { cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    expect(r.status).toBe(200);
    await t.close();
  });
});
