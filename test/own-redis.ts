// A Redis server of a test's own, on a free port, for tests that make Redis refuse, fill up or
// serve another process: what they do to it must not reach the shared test Redis.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectRedis, type RedisClient } from '../processor/stores.ts';
import { console_stats_prefix } from '../processor/hot/keys.ts';
import { probe_key } from '../processor/redis-health.ts';

export interface OwnRedis {
  readonly url: string;
  /** A client of the test's own on it. */
  readonly client: RedisClient;
  /** The server's process (to freeze it: SIGSTOP, SIGCONT). */
  readonly pid: number;
  stop(): Promise<void>;
}

export interface PersistentRedis extends OwnRedis {
  /** SHUTDOWN (its AOF written), then the same server again on the same folder and port. */
  restart(): Promise<RedisClient>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Starts `redis-server` without persistence and connects to it (up to 5 s). */
export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  return connectTo(server, port);
}

/** Starts `redis-server` with an AOF (appendfsync always) in a folder of its own. */
export async function startPersistentRedis(): Promise<PersistentRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pocketgate-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
  let own = await connectTo(spawn('redis-server', args, { stdio: 'ignore' }), port);
  return {
    get url() {
      return own.url;
    },
    get client() {
      return own.client;
    },
    get pid() {
      return own.pid;
    },
    restart: async () => {
      await own.client.sendCommand(['SHUTDOWN']).catch(() => {});
      await own.client.close().catch(() => {});
      own = await connectTo(spawn('redis-server', args, { stdio: 'ignore' }), port);
      return own.client;
    },
    stop: async () => {
      await own.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function connectTo(server: ChildProcess, port: number): Promise<OwnRedis> {
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    try {
      const client = await connectRedis(url);
      return {
        url,
        client,
        pid: server.pid!,
        stop: async () => {
          await client.close().catch(() => {});
          server.kill('SIGKILL');
        },
      };
    } catch (err) {
      if (attempt >= 50) {
        server.kill('SIGKILL');
        throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Every key of a Redis with its serialised value (DUMP): for a test that checks something changed
 * nothing at all, on a Redis of its own that nothing else writes to (the console's traffic counts
 * aside: a gateway writes those once a second, whatever the test does).
 */
export async function snapshotRedis(client: RedisClient): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const keys of client.scanIterator({ COUNT: 1000 })) {
    for (const key of keys) {
      if (key.startsWith(console_stats_prefix)) continue; // the console's traffic counts: a gateway adds them every second
      if (key === probe_key) continue; // the gateway's readiness probe: a timestamp, every 250 ms
      const dump = (await client.sendCommand(['DUMP', key], { typeMapping: { 36: Buffer } })) as Buffer | null;
      if (dump !== null) out.set(key, dump.toString('base64'));
    }
  }
  return out;
}
