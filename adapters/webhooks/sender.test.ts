// One attempt against a real HTTP receiver on loopback (allow_private): EVENTS.md's "a 2xx answer
// within 10 s is a success. Anything else is retried", with the deadline shortened.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendWebhook } from './sender.ts';

let server: http.Server;
let base: string;

beforeAll(async () => {
  // /<status>/<delay ms>: answers that status after that delay.
  server = http.createServer((req, res) => {
    const [, status, delay_ms] = (req.url ?? '').split('/');
    req.resume();
    setTimeout(() => res.writeHead(Number(status)).end('answer'), Number(delay_ms));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const send = (path: string, timeout_ms: number) => sendWebhook(`${base}${path}`, '{}', { 'content-type': 'application/json' }, { timeout_ms, allow_private: true });

describe('sendWebhook', () => {
  it('a 2xx within the deadline is a success', async () => {
    expect(await send('/204/0', 2_000)).toEqual({ ok: true, status_code: 204, error: null, aborted: false });
  });

  it('a 2xx after the deadline is a failure, not a success', async () => {
    const r = await send('/200/600', 150);
    expect(r).toMatchObject({ ok: false, status_code: null, error: 'no answer within 150 ms' });
  });

  it('a non-2xx within the deadline is a failure with its status and text', async () => {
    expect(await send('/503/0', 2_000)).toMatchObject({ ok: false, status_code: 503, error: 'HTTP 503: answer' });
    expect(await send('/302/0', 2_000)).toMatchObject({ ok: false, status_code: 302 });
  });

  it('a loopback address without allow_private is refused before any connection', async () => {
    const r = await sendWebhook(`${base}/200/0`, '{}', {}, { timeout_ms: 1_000, allow_private: false });
    expect(r).toMatchObject({ ok: false, status_code: null, error: '127.0.0.1 is not a public address' });
  });
});
