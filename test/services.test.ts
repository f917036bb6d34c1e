// Where `npm start` and `npm test` keep PostgreSQL's files: never by opening folders outside the
// project to other users (run as root, the scripts once added o+x to every folder above).

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript (the scripts run before npm ci, with node: builtins only)
import { ensureDependencies, pgBaseDir, runningPostgresPort, runningRedisPort } from '../scripts/services.mjs';
import { runChild } from './child-run.ts';
import { connects, freePort } from './ports.ts';

const repo_root = join(import.meta.dirname, '..');

const modes = (m: Record<string, number>) => (dir: string) => ({ mode: m[dir] ?? 0o755 });

describe('pgBaseDir', () => {
  it('is the checkout’s .data/<profile> when every folder above can be passed, or when not root', () => {
    expect(pgBaseDir('/work/main', 'test', true, modes({}))).toBe('/work/main/.data/test');
    expect(pgBaseDir('/root/main', 'test', false, modes({ '/root': 0o700 }))).toBe('/root/main/.data/test');
  });

  it('is a folder of its own under /var/tmp, named after the checkout, when a folder above is closed', () => {
    const a = pgBaseDir('/root/projects/main', 'dev', true, modes({ '/root': 0o700 }));
    expect(a).toMatch(/^\/var\/tmp\/pocketgate-main-[0-9a-f]{12}\/dev$/);
    // Stable for one checkout, different for another of the same name.
    expect(pgBaseDir('/root/projects/main', 'dev', true, modes({ '/root': 0o700 }))).toBe(a);
    expect(pgBaseDir('/root/other/main', 'dev', true, modes({ '/root': 0o700 }))).not.toBe(a);
    expect(pgBaseDir('/root/projects/main', 'test', true, modes({ '/root/projects/main': 0o750 }))).toMatch(/\/test$/);
  });
});

// A second Redis on the same data folder (another port, same AOF) corrupts the first one's file:
// `npm start` run with POCKETGATE_REDIS_PORT, then `npm run reconcile` of the same checkout
// without it, once started one (2026-12-02).
describe('a checkout’s server already running from its data folder', () => {
  it('is found by its pidfile only while that pid is a live redis-server, and its port read back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-redis-pid-'));
    const port = await freePort();
    execFileSync('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'yes', '--pidfile', join(dir, 'redis.pid')]);
    try {
      await until(() => runningRedisPort(dir) === port);
      expect(runningRedisPort(dir)).toBe(port);
    } finally {
      execFileSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
    }
    writeFileSync(join(dir, 'redis.pid'), `${process.pid}\n`); // a pid taken by another process since
    expect(runningRedisPort(dir)).toBeNull();
    expect(runningRedisPort(join(dir, 'none'))).toBeNull();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads PostgreSQL’s port from postmaster.pid while its pid is a live postgres', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-postmaster-pid-'));
    writeFileSync(join(dir, 'postmaster.pid'), `${process.pid}\n${dir}\n1764700000\n15448\n/tmp\n127.0.0.1\n`);
    expect(runningPostgresPort(dir, () => '/usr/lib/postgresql/15/bin/postgres -D x')).toBe(15448);
    expect(runningPostgresPort(dir, () => 'node something')).toBeNull();
    expect(runningPostgresPort(dir, () => null)).toBeNull();
    expect(runningPostgresPort(join(dir, 'none'))).toBeNull();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to start a second Redis on the same folder on another port, and reuses the one on its own port', async () => {
    // A checkout of its own: services.mjs finds its root above its own folder.
    const root = mkdtempSync(join(tmpdir(), 'pg-second-server-'));
    mkdirSync(join(root, 'scripts'));
    copyFileSync(join(repo_root, 'scripts', 'services.mjs'), join(root, 'scripts', 'services.mjs'));
    const [first, second] = [await freePort(), await freePort()];
    const services = JSON.stringify(join(root, 'scripts', 'services.mjs'));
    const ensure = (port: number) => runNode(`const s = await import(${services}); const r = await s.ensureServices({ profile: 'test' }); console.log(r.REDIS_URL);`, port);
    try {
      expect(await ensure(first)).toMatchObject({ code: 0, stdout: `redis://127.0.0.1:${first}\n` });
      const refused = await ensure(second);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(`already runs from the same data folder on port ${first}, not ${second}: run this command with POCKETGATE_REDIS_PORT=${first}`);
      expect(await connects(second)).toBe(false);
      // Through the commands' wrapper: a command it could not set up exits 1, or --fail-exit's
      // code (npm run reconcile's 2, "could not run": its 1 says mismatches were found).
      copyFileSync(join(repo_root, 'scripts', 'run.mjs'), join(root, 'scripts', 'run.mjs'));
      writeFileSync(join(root, 'package-lock.json'), '{}');
      mkdirSync(join(root, 'node_modules'));
      writeFileSync(join(root, 'node_modules', '.package-lock.json'), '{}'); // installed after the lockfile: nothing to install
      const wrapped = (...flags: string[]) => runChild(process.execPath, [join(root, 'scripts', 'run.mjs'), '--profile', 'test', ...flags, 'none.ts'], { env: { REDIS_URL: '', POCKETGATE_REDIS_PORT: String(second), DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused' }, kill_after_ms: 30_000 });
      for (const [flags, code] of [[[], 1], [['--fail-exit', '2'], 2]] as const) {
        const r = await wrapped(...flags);
        expect(r.stderr).toContain(`already runs from the same data folder on port ${first}`);
        expect(r.code, r.stderr).toBe(code);
      }
      const scripts = JSON.parse(readFileSync(join(repo_root, 'package.json'), 'utf8')).scripts as Record<string, string>;
      // And npm run rebuild's: its 1 says it refused a Redis holding data (a probe found a frozen
      // Redis exiting 1 too, which a script could not tell from that refusal).
      for (const command of ['reconcile', 'rebuild']) expect(scripts[command]).toMatch(/^node scripts\/run\.mjs (.* )?--fail-exit 2 /);
      // Its own Redis frozen: said so, not "something that is not a password-less Redis" (a probe).
      const redis_pid = Number(readFileSync(join(root, '.data', 'test', 'redis', 'redis.pid'), 'utf8').trim());
      process.kill(redis_pid, 'SIGSTOP');
      try {
        const frozen = await ensure(first);
        expect(frozen.code).not.toBe(0);
        expect(frozen.stderr).toContain(`this checkout's Redis on port ${first} answered no PING within 10 s (frozen or hung?)`);
        // `npm start`, whose gateway serves through a Redis outage (503 until it answers), goes on
        // without it after a few seconds, as with PostgreSQL: it exited, its ports never open (a probe).
        const started_ms = Date.now();
        const serving = await runNode(`const s = await import(${services}); const r = await s.ensureServices({ profile: 'test', redis_outage_ok: true }); console.log(r.REDIS_URL);`, first);
        expect(serving, serving.stderr).toMatchObject({ code: 0, stdout: `redis://127.0.0.1:${first}\n` });
        expect(serving.stderr).toContain(`this checkout's Redis on port ${first} is running but does not answer: going on without it`);
        expect(Date.now() - started_ms).toBeLessThan(10_000);
      } finally {
        process.kill(redis_pid, 'SIGCONT');
      }
      expect(await ensure(first)).toMatchObject({ code: 0, stdout: `redis://127.0.0.1:${first}\n` });
    } finally {
      await runNode(`const s = await import(${services}); await s.stopServices({ profile: 'test' });`, first);
      // Without the refusal a second one runs too, and the pidfile names only one of them.
      for (const port of [first, second]) spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
    }
    expect(await connects(first)).toBe(false);
    rmSync(root, { recursive: true, force: true });
  }, 90_000);
});

// OPERATIONS.md: "even a gateway started during the outage serves terminals". A PostgreSQL that
// runs but does not answer (frozen) made `npm start` wait 15 s and exit (a black-box probe,
// 2026-12-05); the gateway itself serves without it and migrates once it answers.
describe('a checkout’s PostgreSQL running but not answering', () => {
  it('is waited on a few seconds, then gone on without, with a warning; one not running is started', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pg-frozen-'));
    mkdirSync(join(root, 'scripts'));
    copyFileSync(join(repo_root, 'scripts', 'services.mjs'), join(root, 'scripts', 'services.mjs'));
    const port = await freePort();
    const services = JSON.stringify(join(root, 'scripts', 'services.mjs'));
    const env = { REDIS_URL: 'redis://127.0.0.1:1', DATABASE_URL: '', POCKETGATE_PG_PORT: String(port) };
    const ensure = () => runChild(process.execPath, ['--input-type=module', '-e', `const s = await import(${services}); const r = await s.ensureServices({ profile: 'test' }); console.log(r.DATABASE_URL);`], { env, kill_after_ms: 120_000 });
    const url = `postgres://pocketgate@127.0.0.1:${port}/pocketgate\n`;
    let postmaster: number | undefined;
    try {
      expect(await ensure()).toMatchObject({ code: 0, stdout: url });
      const data_dir = execFileSync(process.execPath, ['--input-type=module', '-e', `const s = await import(${services}); console.log(s.pgBaseDir(${JSON.stringify(root)}, 'test'))`]).toString().trim();
      postmaster = Number(readFileSync(join(data_dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
      spawnSync('pkill', ['-STOP', '-P', String(postmaster)]);
      process.kill(postmaster, 'SIGSTOP');
      const started_ms = Date.now();
      const frozen = await ensure();
      expect(frozen, frozen.stderr).toMatchObject({ code: 0, stdout: url });
      expect(frozen.stderr).toContain(`PostgreSQL on port ${port} is running but does not answer: going on without it`);
      expect(Date.now() - started_ms).toBeLessThan(14_000);
    } finally {
      if (postmaster !== undefined) {
        process.kill(postmaster, 'SIGCONT');
        spawnSync('pkill', ['-CONT', '-P', String(postmaster)]);
      }
      await runChild(process.execPath, ['--input-type=module', '-e', `const s = await import(${services}); await s.stopServices({ profile: 'test' });`], { env, kill_after_ms: 60_000 });
    }
    expect(await connects(port)).toBe(false);
    rmSync(root, { recursive: true, force: true });
  }, 180_000);
});

/** `code` as a module, with Redis this checkout's own on `redis_port` (REDIS_URL empty) and PostgreSQL given (left alone). */
function runNode(code: string, redis_port: number) {
  const env = { REDIS_URL: '', POCKETGATE_REDIS_PORT: String(redis_port), DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused' };
  return runChild(process.execPath, ['--input-type=module', '-e', code], { env, kill_after_ms: 30_000 });
}



async function until(check: () => boolean, timeout_ms = 5_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('ensureDependencies', () => {
  it('leaves a node_modules that links to another checkout alone, stale or not (npm ci through it emptied the other checkout\'s, 2026-12-07); a current one too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pocketgate-deps-'));
    try {
      const other = join(dir, 'other', 'node_modules');
      mkdirSync(other, { recursive: true });
      const clone = join(dir, 'clone');
      mkdirSync(clone);
      writeFileSync(join(clone, 'package-lock.json'), '{}');
      symlinkSync(other, join(clone, 'node_modules'));
      // No marker at all in the linked folder: stale, and still not reinstalled.
      expect(await ensureDependencies(clone)).toBe('linked');
      writeFileSync(join(other, '.package-lock.json'), '{}');
      utimesSync(join(clone, 'package-lock.json'), new Date(0), new Date(0));
      expect(await ensureDependencies(clone)).toBe('current');
      utimesSync(join(clone, 'package-lock.json'), new Date(), new Date(Date.now() + 60_000));
      expect(await ensureDependencies(clone)).toBe('linked');
      expect(readFileSync(join(other, '.package-lock.json'), 'utf8')).toBe('{}');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
