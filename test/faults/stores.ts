// The fault suite's own Redis and PostgreSQL, in a temporary folder on ports of its own: it kills
// and stops them, so they can never be the stores REDIS_URL and DATABASE_URL name. Configured as
// scripts/services.mjs configures the project's (Redis: AOF, appendfsync always, no snapshots;
// PostgreSQL: initdb with trust on loopback, fsync on), run as the `postgres` user when root.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error: plain JavaScript (the scripts run before npm ci, with node: builtins only)
import { findPgBinDir } from '../../scripts/services.mjs';
import { mustRun, runCommand, sleep, waitUntil, type RunResult } from './exec.ts';

const db_user = 'pocketgate';
const db_name = 'pocketgate';
const pg_os_user = 'postgres';
const is_root = process.getuid?.() === 0;

export interface SuitePorts {
  readonly redis: number;
  readonly postgres: number;
  readonly gateway: number;
  readonly iso8583: number;
}

/** A redis-server child: SIGKILLed and started again on the same AOF by the Redis scenario. */
export class FaultRedis {
  private child: ChildProcess | undefined;
  readonly url: string;

  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    const args = ['--bind', '127.0.0.1', '--port', String(this.port), '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--logfile', join(this.dir, 'redis.log')];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    child.on('error', () => {}); // a missing binary shows as the PING below never answering
    this.child = child;
    const up = await waitUntil(async () => (await this.cli('PING')).output.includes('PONG'), 30_000, 100);
    if (!up) throw new Error(`redis-server on port ${this.port} did not answer within 30 s (log: ${join(this.dir, 'redis.log')})`);
  }

  /** SIGKILL: no AOF rewrite, no shutdown save; what is fsynced is all that survives. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  /** A command through redis-cli (bounded): works whatever state our own client is in. */
  cli(...args: string[]): Promise<RunResult> {
    return runCommand('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), ...args], { timeout_ms: 5_000 });
  }

  stop(): Promise<void> {
    return this.kill9();
  }
}

/** A PostgreSQL cluster of the suite's own: stopped and started by the outage scenario. */
export class FaultPostgres {
  readonly url: string;
  private readonly bin: string;
  private readonly data: string;
  private readonly log: string;

  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {
    const bin = findPgBinDir() as string | null;
    if (bin === null) throw new Error('PostgreSQL binaries not found (npm test installs them; or apt-get install postgresql)');
    this.bin = bin;
    this.data = join(dir, 'data');
    this.log = join(dir, 'pg.log');
    this.url = `postgres://${db_user}@127.0.0.1:${port}/${db_name}`;
  }

  private asPgUser(tool: string, args: readonly string[], timeout_ms: number): Promise<string> {
    const cmd = join(this.bin, tool);
    return is_root ? mustRun('runuser', ['-u', pg_os_user, '--', cmd, ...args], { timeout_ms }) : mustRun(cmd, args, { timeout_ms });
  }

  async init(): Promise<void> {
    if (is_root) {
      // PostgreSQL refuses to run as root; its folder (ours, in the temp dir) is handed to postgres.
      await mustRun('chown', ['-R', `${pg_os_user}:`, this.dir]);
    }
    await this.asPgUser('initdb', ['-D', this.data, '-A', 'trust', '-U', db_user, '--encoding=UTF8', '--no-locale'], 120_000);
    await this.start();
    await mustRun(join(this.bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(this.port), '-U', db_user, db_name], { timeout_ms: 30_000 });
  }

  async start(): Promise<void> {
    // Socket in the cluster's own folder: never /tmp's, shared with other clusters.
    const opts = `-k '${this.dir}' -h 127.0.0.1 -p ${this.port} -c fsync=on -c max_connections=100`;
    await this.asPgUser('pg_ctl', ['-D', this.data, '-l', this.log, '-o', opts, '-w', '-t', '60', 'start'], 90_000);
  }

  /** A fast shutdown: every backend is disconnected, as an operator's restart does. */
  async stop(): Promise<void> {
    await this.asPgUser('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', '-t', '60', 'stop'], 90_000);
  }

  /** Stops it whatever state it is in (immediate: nothing of it is kept). */
  async destroy(): Promise<void> {
    await runCommand(is_root ? 'runuser' : join(this.bin, 'pg_ctl'), [...(is_root ? ['-u', pg_os_user, '--', join(this.bin, 'pg_ctl')] : []), '-D', this.data, '-m', 'immediate', '-w', '-t', '30', 'stop'], { timeout_ms: 45_000 });
  }
}

export interface SuiteStores {
  readonly redis: FaultRedis;
  readonly postgres: FaultPostgres;
  readonly dir: string;
  /** Stops both and removes their folder. */
  destroy(): Promise<void>;
}

/** Stores started and not yet destroyed: what an interrupted suite must still stop. */
export const live_stores = new Set<SuiteStores>();

/** Both stores, fresh, in a new temporary folder; whatever started is stopped if the rest fails. */
export async function startSuiteStores(ports: SuitePorts): Promise<SuiteStores> {
  const dir = mkdtempSync(join(tmpdir(), 'pocketgate-faults-'));
  // The postgres user must pass through the folder to reach its own cluster inside.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'redis'));
  mkdirSync(join(dir, 'pg'), { mode: 0o700 });
  const redis = new FaultRedis(ports.redis, join(dir, 'redis'));
  const postgres = new FaultPostgres(ports.postgres, join(dir, 'pg'));
  const destroy = async () => {
    live_stores.delete(stores);
    await redis.stop();
    await postgres.destroy();
    // A moment for the postmaster's children to let go of their files.
    await sleep(100);
    rmSync(dir, { recursive: true, force: true });
  };
  const stores: SuiteStores = { redis, postgres, dir, destroy };
  live_stores.add(stores);
  try {
    await Promise.all([redis.start(), postgres.init()]);
  } catch (err) {
    await destroy();
    throw err;
  }
  return stores;
}
