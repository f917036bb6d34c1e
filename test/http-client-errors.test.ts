// Requests node's HTTP parser refuses before the app sees them (headers over its limit, a request
// line or header that is not HTTP, a broken chunked body) are answered as every error is:
// problem+json with its status and a code (API.md, Conventions), then the connection is closed.

import { request } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { call, createBusiness, testCard, type TestGateway } from './helpers.ts';
import { gatewayForFile } from './business-gateway.ts';

let gw: TestGateway;
gatewayForFile((made) => (gw = made), {}, true, false);

/** What the server writes back to `bytes` before it closes the connection. */
function rawExchange(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(gw.port, '127.0.0.1', () => socket.write(bytes));
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error('no close within 5 s')));
  });
}

function parse(answer: string): { status: number; headers: string; body: any } {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body: JSON.parse(body) };
}

describe('requests the HTTP parser refuses', () => {
  const cases: [string, string, number][] = [
    // Found by test/fuzz.test.ts: a key of 9,000 characters sent twice in one Authorization.
    ['headers over 16 KiB', `GET /v1/merchants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'k'.repeat(20_000)}\r\n\r\n`, 431],
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400],
    ['a header line without a colon', 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 400],
    ['a chunk size that is not hex', 'POST /v1/purchases HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n', 400],
    ['Content-Length beside Transfer-Encoding', 'POST /v1/purchases HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ];
  for (const [what, bytes, status] of cases) {
    it(`${what}: ${status} problem+json, then closed`, async () => {
      const answer = await rawExchange(bytes);
      const r = parse(answer);
      expect(r.status, answer.slice(0, 300)).toBe(status);
      expect(r.headers).toContain('content-type: application/problem+json');
      expect(r.headers).toContain('connection: close');
      expect(r.body).toMatchObject({ status, code: 'validation_failed' });
      for (const field of ['type', 'title', 'detail']) expect(typeof r.body[field]).toBe('string');
    });
  }

  it('a HEAD whose headers are over the limit: 431 with the headers alone (found by test/fuzz.test.ts)', async () => {
    const answer = await rawExchange(`HEAD /v1/merchants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'k'.repeat(20_000)}\r\n\r\n`);
    expect(answer.split('\r\n\r\n')[1]).toBe('');
    expect(answer.toLowerCase()).toContain('content-type: application/problem+json');
    // node's own client reads it as an answer, not a malformed stream
    const status = await new Promise<number | string>((resolve) => {
      const q = request({ port: gw.port, host: '127.0.0.1', method: 'HEAD', path: '/v1/merchants', headers: { authorization: `Bearer ${'k'.repeat(18_000)}` } }, (res) => resolve(res.statusCode ?? 0));
      q.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      q.end();
    });
    expect(status).toBe(431);
  });

  // Parsed by node, refused before the app: HTTP/1.1 without Host (node), a target or Host
  // that makes no URL (@hono/node-server's RequestError). Found by test/fuzz.test.ts (raw HTTP).
  const unroutable: [string, string][] = [
    ['HTTP/1.1 without Host', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'],
    ['the target *', 'GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ['a backslash in the path', 'GET /v1\\merchants HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ['a Host that is no host', 'GET /healthz HTTP/1.1\r\nHost: a/b@c\r\nConnection: close\r\n\r\n'],
    ['an absolute URL that is no URL', 'GET http://[x/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ];
  for (const [what, bytes] of unroutable) {
    it(`${what}: 400 problem+json`, async () => {
      const answer = await rawExchange(bytes);
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      expect(Number(head.split(' ')[1]), answer.slice(0, 300)).toBe(400);
      expect(head.toLowerCase()).toContain('content-type: application/problem+json');
      expect(JSON.parse(body)).toMatchObject({ status: 400, code: 'validation_failed' });
    });
  }

  it('the server goes on serving', async () => {
    const answer = await rawExchange('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(answer.startsWith('HTTP/1.1 200')).toBe(true);
    // HTTP/1.0 needs no Host (an old health checker's request), as before.
    expect((await rawExchange('GET /healthz HTTP/1.0\r\n\r\n')).startsWith('HTTP/1.1 200')).toBe(true);
  });
});

describe('a body that stops arriving', () => {
  // Found by test/fuzz.test.ts (raw HTTP): the route was reading the body when the client's
  // bytes stopped being HTTP (or it hung up); the read's 'aborted' reached the error handler as
  // a 500, logged as an error ('request failed') and counted as one, for what the client did.
  const chunked = (key: string, path: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: ${path.endsWith('/import') ? 'application/x-ndjson' : 'application/json'}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"nam\r\n`;

  it('is the client\'s: no error logged, no 500 counted, on a JSON route, an import and a callback', async () => {
    const biz = await createBusiness(gw);
    for (const [path, key] of [['/v1/merchants', biz.admin_key], ['/v1/contacts/import', biz.admin_key], ['/v1/callbacks/prc_x', 'none']] as const) {
      for (const end of ['zz\r\n', '']) {
        const logged = gw.logs.length;
        const closed = await new Promise<boolean>((resolve) => {
          const socket = connect(gw.port, '127.0.0.1', () => socket.write(chunked(key, path)));
          // The route is reading the body: then bytes that are not a chunk, or a hang-up.
          setTimeout(() => (end === '' ? socket.destroy() : socket.write(end)), 100);
          const deadline = setTimeout(() => (resolve(false), socket.destroy()), 2_000);
          socket.on('close', () => (clearTimeout(deadline), resolve(true)));
          socket.resume(); // read what comes (else the close is never seen)
          socket.on('error', () => {});
        });
        expect(closed, `${path} ${JSON.stringify(end)}: closed within 2 s`).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 100));
        const errors = gw.logs.slice(logged).filter((l) => /"level":(50|60)/.test(l));
        expect(errors, `${path} ${JSON.stringify(end)}`).toEqual([]);
      }
    }
    const metrics = await (await gw.app.request('/metrics')).text();
    expect(metrics).not.toMatch(/status="5\d\d"/);
  });
});

describe('bytes that are not HTTP after a whole request on the same connection', () => {
  // Found by test/http-fuzz.test.ts (a Content-Length 3 bytes short of an import's body): the
  // request before the garbage was read whole and ran (a purchase approved, contacts imported),
  // but the 400 for the garbage was written in front of its answer and the socket destroyed, so
  // the client read "400 not HTTP" for a request that changed state.
  it('the whole request is answered first, then 400 problem+json and closed', async () => {
    const biz = await createBusiness(gw);
    const card = testCard(61_000_001);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    const body = JSON.stringify({ reference: 'pipelined-1', cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' });
    const purchase = `POST /v1/purchases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${biz.terminal_key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const answer = await rawExchange(`${purchase}"]}\n`);
    expect(answer.slice(0, 300)).toMatch(/^HTTP\/1\.1 201 /);
    const second = answer.slice(answer.indexOf('HTTP/1.1', 10));
    expect(second.slice(0, 300)).toMatch(/^HTTP\/1\.1 400 /);
    expect(second.toLowerCase()).toContain('content-type: application/problem+json');
  });

  it('every whole request pipelined before them is answered, in order, then the 400', async () => {
    const biz = await createBusiness(gw);
    const card = testCard(61_000_002);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    const purchase = (n: number) => {
      const body = JSON.stringify({ reference: `pipelined-many-${n}`, cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' });
      return `POST /v1/purchases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${biz.terminal_key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    };
    const answer = await rawExchange(`${[1, 2, 3, 4].map(purchase).join('')}"]}\n`);
    const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    expect(statuses, answer.slice(-300)).toEqual([201, 201, 201, 201, 400]);
  });
});
