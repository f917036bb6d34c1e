// Connect/drop cycles on the HTTP port: bodies cut off mid-way (callback, POS, import), a feed's
// headers never finished, a WebSocket upgrade dropped. Prints the gateway's open descriptors, heap
// and handles before, right after, and 15 s later (gateway started as loadtest/soak.ts says).
// SOAK_PID, SOAK_ADMIN, SOAK_TERMINAL, SOAK_PROCESSOR, SOAK_N (cycles, default 200), SOAK_PORT.
import net from 'node:net';
import fs from 'node:fs';
const port = Number(process.env.SOAK_PORT ?? 19030);
const pid = Number(process.env.SOAK_PID);
const admin = process.env.SOAK_ADMIN!;
const terminal = process.env.SOAK_TERMINAL!;
const processor = process.env.SOAK_PROCESSOR ?? 'prc_nope';
const n = Number(process.env.SOAK_N ?? 200);

async function probe(label: string) {
  const f = '/tmp/pocketgate-soak-probe.json';
  const before = fs.statSync(f).mtimeMs;
  process.kill(pid, 'SIGUSR2');
  while (fs.statSync(f).mtimeMs === before) await new Promise((r) => setTimeout(r, 50));
  const p = JSON.parse(fs.readFileSync(f, 'utf8'));
  console.log(label, 'fds', fs.readdirSync(`/proc/${pid}/fd`).length, 'heapMB', (p.heapUsed / 2 ** 20).toFixed(1), JSON.stringify(p.resources));
}

function cut(head: string, body: string): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(head + body);
      setTimeout(() => { s.destroy(); resolve(); }, 20);
    });
    s.on('error', () => resolve());
  });
}

await probe('before');
const partial = 'x'.repeat(30_000);
for (let i = 0; i < n; i++) {
  await Promise.all([
    cut(`POST /v1/callbacks/${processor} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nPocketgate-Signature: t=1,v1=00\r\nContent-Length: 1000000\r\n\r\n`, `{"events":[${partial}`),
    cut(`POST /v1/purchases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${terminal}\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n`, `{"reference":"${partial.slice(0, 20_000)}`),
    cut(`POST /v1/contacts/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n`, `4000\r\n${'{"birth_date":"x"}\n'.repeat(100)}`),
    cut(`GET /v1/feed HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\n`, ''),
    cut(`GET /v1/terminal HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${terminal}\r\n\r\n`, ''),
  ]);
}
await probe('after');
await new Promise((r) => setTimeout(r, 15_000));
await probe('after+15s');
