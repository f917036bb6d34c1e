// HTTP/1.1 requests pipelined on one keep-alive connection (adapters/http/pipelining.ts). A client
// that never reads its answers: node's server ran every request of what it had read at once and
// held each answer until the ones before it were sent: 1,000 `GET /openapi.json` (40 KiB sent, no
// key) made the gateway hold some 340 MB for as long as the client kept the connection open. And
// live feeds pipelined behind another answer kept their places after the connection closed.
// TERMINAL.md: "Nothing a client sends may crash the gateway, stall other connections or change
// state wrongly."

import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answers_unsent_max, requests_waiting_max } from '../adapters/http/pipelining.ts';
import { createBusiness, eventually, openFeed, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
const sockets: Socket[] = [];

beforeAll(async () => {
  gw = await startTestGateway({}, true, false);
  biz = await createBusiness(gw);
});
afterAll(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await gw?.close();
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A connection that is never read (its receive window closes), with what it wrote. */
async function neverReading(request: string, count: number): Promise<Socket> {
  const socket = connect(gw.port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.pause();
  socket.write(request.repeat(count));
  return socket;
}

/** How many GET /openapi.json answers the gateway has made (its metrics count each one made). */
async function openapiAnswersMade(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${gw.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('pocketgate_http_request_duration_seconds_count{route="/openapi.json"'));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('a client that pipelines requests and never reads the answers', () => {
  it('makes the gateway hold at most answers_unsent_max answers for it, and others are still served', async () => {
    const heap_before = process.memoryUsage().heapUsed;
    await neverReading('GET /openapi.json HTTP/1.1\r\nHost: gateway\r\n\r\n', 1_000);
    await sleep(1_500);
    // Some went out into the socket buffers (the kernel's, both sides); the rest must not be made.
    const made = await openapiAnswersMade();
    const document_bytes = (await (await fetch(`http://127.0.0.1:${gw.port}/openapi.json`)).text()).length;
    const in_socket_buffers_most = Math.ceil((16 << 20) / document_bytes);
    expect(made).toBeLessThanOrEqual(in_socket_buffers_most + answers_unsent_max + 1);
    expect(process.memoryUsage().heapUsed - heap_before).toBeLessThan(64 << 20);
    const start = Date.now();
    expect((await fetch(`http://127.0.0.1:${gw.port}/healthz`)).status).toBe(200);
    expect(Date.now() - start).toBeLessThan(1_000);
  });

  it('closes a connection with more than requests_waiting_max requests waiting for their turn', async () => {
    // The live feed's answer never ends: what follows it on the connection waits.
    const feed = `GET /v1/feed HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${biz.admin_key}\r\n\r\n`;
    const healthz = 'GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n';
    const socket = await neverReading(feed + healthz.repeat(answers_unsent_max + requests_waiting_max + 64), 1);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the connection was not closed')), 5_000);
      socket.once('close', () => resolve(clearTimeout(timer)));
    });
    expect(gw.logs.some((l) => l.includes('requests_waiting_max'))).toBe(true);
  });

  it('ends the live feeds pipelined on a connection when it closes: their places are free again', async () => {
    const feed = `GET /v1/feed HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${biz.admin_key}\r\n\r\n`;
    const socket = await neverReading(feed, 8);
    await sleep(500);
    socket.destroy();
    // 8 feeds per business (README): all 8 can be opened again.
    await eventually('every feed place free again', async () => {
      const opened = await Promise.allSettled(Array.from({ length: 8 }, () => openFeed(gw, biz.admin_key)));
      for (const o of opened) if (o.status === 'fulfilled') await o.value.close();
      return opened.every((o) => o.status === 'fulfilled');
    });
  });

  it('answers a client that reads every pipelined request, bodies and all, in order, past answers_unsent_max', async () => {
    const body = JSON.stringify({ cim: { type: 'email', value: 'nobody@example.com' }, amount: 100, currency: 'EUR' });
    const quote = `POST /v1/purchases/quote HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${biz.terminal_key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const healthz = 'GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n';
    const pairs = answers_unsent_max * 3;
    const socket = connect(gw.port, '127.0.0.1');
    sockets.push(socket);
    let read = '';
    socket.on('data', (d: Buffer) => (read += d.toString('latin1')));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write((healthz + quote).repeat(pairs));
    await eventually('every answer read', async () => (read.match(/HTTP\/1\.1 \d{3} /g) ?? []).length === pairs * 2);
    const statuses = (read.match(/HTTP\/1\.1 \d{3} /g) ?? []).map((l) => l.slice(9, 12));
    expect(statuses).toEqual(Array.from({ length: pairs }, () => ['200', '404']).flat());
  });
});
