// ISO 8583 load: 0200 purchases over N TCP connections, each keeping `in_flight` requests
// outstanding (as a switch multiplexes a link), for a fixed time. STANs are unique per run, so
// every message is a new transaction.

import { connectIso } from '../adapters/iso8583/client.ts';
import { createMessage } from '../adapters/iso8583/codec.ts';

export interface IsoLoadOptions {
  readonly port: number;
  readonly connections: number;
  readonly in_flight: number;
  readonly seconds: number;
  readonly acquirer_id: string;
  readonly merchant_code: string;
  readonly terminal_codes: readonly string[];
  readonly cards: readonly string[];
  /** Called for every reply: when it arrived (performance.now() ms), its latency, approved or not. */
  readonly onReply?: (at_ms: number, latency_ms: number, approved: boolean) => void;
}

export interface IsoLoadResult {
  readonly rps: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly approved: number;
  readonly declined: number;
  readonly errors: number;
}

export async function runIsoLoad(o: IsoLoadOptions): Promise<IsoLoadResult> {
  const latencies: number[] = [];
  let approved = 0;
  let declined = 0;
  let errors = 0;
  const deadline = performance.now() + o.seconds * 1000;
  // DE7 + DE11 make the reference: a fresh DE7 per run, and STANs counted per connection.
  const now = new Date();
  const de7 = `${String(now.getUTCMonth() + 1).padStart(2, '0')}${String(now.getUTCDate()).padStart(2, '0')}${String(now.getUTCHours()).padStart(2, '0')}${String(now.getUTCMinutes()).padStart(2, '0')}${String(now.getUTCSeconds()).padStart(2, '0')}`;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: o.connections }, async (_, c) => {
      const client = await connectIso(o.port, '127.0.0.1', { timeout_ms: 30_000 });
      const terminal = o.terminal_codes[c % o.terminal_codes.length]!;
      let stan = 0;
      try {
        await Promise.all(
          Array.from({ length: o.in_flight }, async () => {
            while (performance.now() < deadline && stan < 999_999) {
              stan++;
              const msg = createMessage('0200', {
                2: o.cards[(Math.random() * o.cards.length) | 0]!,
                3: '000000',
                4: String(100 + ((Math.random() * 10_000) | 0)).padStart(12, '0'),
                7: de7,
                11: String(stan).padStart(6, '0'),
                32: o.acquirer_id,
                41: terminal,
                42: o.merchant_code.padEnd(15, ' '),
                49: '978',
              });
              const t0 = performance.now();
              try {
                const reply = await client.send(msg);
                const t1 = performance.now();
                latencies.push(t1 - t0);
                const ok = reply.fields[39] === '00';
                if (ok) approved++;
                else declined++;
                o.onReply?.(t1, t1 - t0, ok);
              } catch {
                errors++;
              }
            }
          }),
        );
      } finally {
        await client.close();
      }
    }),
  );
  const elapsed_s = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0).toFixed(2));
  return { rps: Math.round(latencies.length / elapsed_s), p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), approved, declined, errors };
}
