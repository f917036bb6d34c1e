// The deployment files the README points to ("`docker-compose.yml` describes the same system for
// deployment"): the image holds what the gateway reads at run time, and a standalone ledger writer
// gets the gateways' settings. The image's tree is made as the Dockerfile's COPY lines say (no
// Docker needed), with this checkout's node_modules, and the gateway started from it.

import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startGatewayProcess } from './gateway-process.ts';

const root = join(import.meta.dirname, '..');

/** The sources of the Dockerfile's `COPY <src> <dest>` lines (one source each, as it writes them). */
function dockerfileCopies(): string[] {
  return readFileSync(join(root, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('COPY '))
    .flatMap((line) => line.slice('COPY '.length).trim().split(/\s+/).slice(0, -1));
}

/** The `environment:` keys of one service of docker-compose.yml (two-space YAML, as written there). */
function composeEnvironment(service: string): string[] {
  const lines = readFileSync(join(root, 'docker-compose.yml'), 'utf8').split('\n');
  const start = lines.indexOf(`  ${service}:`);
  const keys: string[] = [];
  let inEnv = false;
  for (const line of lines.slice(start + 1)) {
    if (/^ {2}\S/.test(line) || /^\S/.test(line)) break;
    if (/^ {4}\S/.test(line)) inEnv = line.trim() === 'environment:';
    else if (inEnv && /^ {6}[A-Z_]+:/.test(line)) keys.push(line.trim().split(':')[0]!);
  }
  return keys;
}

describe('Dockerfile and docker-compose.yml', () => {
  it('the image holds every file the gateway reads: started from it, it serves /console and is ready', async () => {
    const tree = mkdtempSync(join(tmpdir(), 'pocketgate-image-'));
    try {
      for (const src of dockerfileCopies()) cpSync(join(root, src), join(tree, src), { recursive: true });
      symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'));
      const gateway = await startGatewayProcess({ NODE_ENV: 'production', LEDGER_WRITER: 'off', WEBHOOK_WORKER: 'off' }, 50_000, false, tree);
      try {
        const console_page = await fetch(`http://127.0.0.1:${gateway.port}/console`);
        expect(console_page.status).toBe(200);
        expect((await fetch(`http://127.0.0.1:${gateway.port}/readyz`)).status).toBe(200);
      } finally {
        gateway.kill();
      }
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  }, 60_000);

  it('a separate ledger writer gets CIM_HMAC_KEY, without which it neither expires awards nor makes referral awards', () => {
    expect(composeEnvironment('gateway')).toContain('CIM_HMAC_KEY');
    expect(composeEnvironment('ledger-writer')).toContain('CIM_HMAC_KEY');
  });
});
