// The fixed-rate runs (`overallRate`) of the loadtest and the profile measure latency at a given
// load, so autocannon must send at that rate and count each response once. Version 9.0.0 did
// neither (patches/autocannon+9.0.0.patch, patches/README.md): these run it against a real HTTP
// server on loopback and fail without the patch.

import autocannon from 'autocannon';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = undefined;
});

/** A server answering every request after `delay_ms`, keeping each request's arrival time. */
async function serve(delay_ms: number): Promise<{ url: string; arrivals_ms: number[] }> {
  const arrivals_ms: number[] = [];
  server = createServer((_req, res) => {
    arrivals_ms.push(performance.now());
    setTimeout(() => res.end('ok'), delay_ms);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals_ms };
}

describe('autocannon at a fixed rate (overallRate)', () => {
  it('spreads the requests over each second instead of sending a second’s quota at once', async () => {
    const { url, arrivals_ms } = await serve(0);
    const rate = 200; // 4 connections × 50/s: one request every 20 ms on each
    await autocannon({ url, connections: 4, overallRate: rate, duration: 3 });
    const start_ms = arrivals_ms[0]! + 250; // past the connections' first requests
    const window_ms = 100;
    const counts = new Map<number, number>();
    for (const at of arrivals_ms) {
      if (at < start_ms || at >= start_ms + 2_000) continue;
      const w = Math.floor((at - start_ms) / window_ms);
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    const per_window = Array.from({ length: 2_000 / window_ms }, (_, w) => counts.get(w) ?? 0);
    // 20 a window when even. Unpatched, each second's 200 went out in its first milliseconds:
    // one window held them all and the other nine none.
    expect(Math.max(...per_window)).toBeLessThanOrEqual(40);
    expect(Math.min(...per_window)).toBeGreaterThanOrEqual(5);
  });

  it('records each response once when it is quicker than the interval between requests', async () => {
    const { url } = await serve(5);
    // 2 connections × 10/s: 100 ms between a connection's requests, every response about 5 ms.
    const result = await autocannon({ url, connections: 2, overallRate: 20, duration: 2 });
    // Unpatched, the expected interval was 1 ms, so each 5 ms response was also recorded as
    // 4, 3, 2 and 1 ms: the minimum read 1 ms and the median 3.
    expect(result.latency.min).toBeGreaterThanOrEqual(4);
    expect(result.latency.p50).toBeGreaterThanOrEqual(4);
  });
});
