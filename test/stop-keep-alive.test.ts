// SIGTERM with keep-alive clients (an operator probe, 2026-12-06): the connections idle at the
// signal were closed at once, and a request a client sent on one that moment was reset unanswered
// (6 of 20 busy keep-alive connections). Now the stop answers `Connection: close` for a second
// first (gateway.drainHttp), so a client sending on its idle connection is answered and told to
// leave; then the rest close. And the log says how the stop ended.

import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startGatewayProcess } from './gateway-process.ts';

const request = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n';

describe('SIGTERM with a keep-alive connection idle at the signal', () => {
  it('a request sent on it after the signal is answered, Connection: close; the process exits 0 and says so', async () => {
    const gateway = await startGatewayProcess({ LEDGER_WRITER: 'off', POCKETGATE_SEED_DEMO: '0', WEBHOOK_WORKER: 'off' });
    try {
      const socket = connect(gateway.port, '127.0.0.1');
      let text = '';
      let closed = false;
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => (closed = true));
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      const answers = () => text.split('HTTP/1.1 ').length - 1;
      socket.write(request);
      await until(() => answers() === 1, 5_000);
      expect(text).toMatch(/^HTTP\/1\.1 200/);
      process.kill(gateway.gateway_pid, 'SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.write(request);
      await until(() => answers() === 2 || closed, 5_000);
      expect(answers(), text).toBe(2);
      const second = text.slice(text.lastIndexOf('HTTP/1.1 '));
      expect(second).toMatch(/^HTTP\/1\.1 200/);
      expect(second.toLowerCase()).toContain('connection: close');
      expect(await gateway.exited).toBe(0);
      expect(gateway.output()).toContain('stopped: every request in flight answered');
    } finally {
      gateway.kill();
    }
  });
});

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
