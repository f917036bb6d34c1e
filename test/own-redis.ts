// A Redis server of a test's own, on a free port, for tests that make Redis refuse, fill up or
// serve another process: what they do to it must not reach the shared test Redis.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedis, type RedisClient } from '../processor/stores.ts';
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

// Below Linux's ephemeral range (32768–60999), where every listen(0) and outgoing connection takes
// its port: a port picked here can then only meet another pick of this function, not a gateway's
// listener or a client's socket, and a restart on the same port is not raced by them either.
const own_port_min = 20_000;
const own_port_max = 31_999;

/** A random port in [own_port_min, own_port_max] that nothing listens on now. */
async function freePort(): Promise<number> {
  for (let attempt = 1; attempt <= 100; attempt++) {
    const port = own_port_min + Math.floor(Math.random() * (own_port_max - own_port_min + 1));
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in ${own_port_min}–${own_port_max} after 100 tries`);
}

/** Starts `redis-server` without persistence and connects to it (up to 5 s). */
export async function startOwnRedis(): Promise<OwnRedis> {
  return startOnFreePort((port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
}

/** Starts `redis-server` with an AOF (appendfsync always) in a folder of its own. */
export async function startPersistentRedis(): Promise<PersistentRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'pocketgate-redis-'));
  const argsOn = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
  let own = await startOnFreePort(argsOn);
  const port = Number(new URL(own.url).port);
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
      // The same port, as the gateway under test knows only that URL; if another test's server
      // took it meanwhile, connectTo says so rather than handing back someone else's data.
      own = await connectTo(spawn('redis-server', argsOn(port), { stdio: 'ignore' }), port);
      return own.client;
    },
    stop: async () => {
      await own.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Thrown when the port a server was started on answers with another server, or ours exited: pick another. */
export class PortTaken extends Error {}

const start_attempts_max = 5;

/**
 * A port free a moment ago may be taken by another test file's server (or a gateway's listener)
 * before ours binds it: ours then exits, and a client on that port would talk to the other one.
 * So the server that answers must be the process we started, else another port.
 */
async function startOnFreePort(argsOn: (port: number) => string[]): Promise<OwnRedis> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await connectTo(spawn('redis-server', argsOn(port), { stdio: 'ignore' }), port);
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt >= start_attempts_max) throw err;
    }
  }
}

const connect_attempts_max = 50;

export async function connectTo(server: ChildProcess, port: number): Promise<OwnRedis> {
  const url = `redis://127.0.0.1:${port}`;
  // A client retries a refused connection for ever: raced against our server's exit, which is
  // what a port taken before it bound looks like when nothing answers there either.
  const exited = server.exitCode !== null || server.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => server.once('exit', () => resolve()));
  for (let attempt = 1; attempt <= connect_attempts_max; attempt++) {
    const client = createRedis(url);
    const connected = await Promise.race([client.connect().then(() => true, () => false), exited.then(() => 'exited' as const)]);
    if (connected === 'exited') {
      discard(client);
      throw new PortTaken(`redis-server on port ${port} exited (code ${server.exitCode}): port taken?`);
    }
    const pid = connected ? await client.sendCommand(['INFO', 'server']).then((info) => serverPid(String(info)), () => undefined) : undefined;
    if (pid === server.pid) return ownServer(url, client, server);
    // Another server on our port (ours has not bound it, and will exit when it tries), or ours not ready.
    discard(client);
    await new Promise((r) => setTimeout(r, 100));
  }
  server.kill('SIGKILL');
  throw new PortTaken(`port ${port}: no answer from our redis-server ${server.pid} after ${connect_attempts_max} tries`);
}

/** A client closed whatever its state (destroy throws on one that is not open). */
function discard(client: RedisClient): void {
  try {
    client.destroy();
  } catch {
    // not open: nothing to close
  }
}

function serverPid(info: string): number {
  const m = /^process_id:(\d+)/m.exec(info);
  if (!m) throw new Error('INFO server without process_id');
  return Number(m[1]);
}

function ownServer(url: string, client: RedisClient, server: ChildProcess): OwnRedis {
  return {
    url,
    client,
    pid: server.pid!,
    stop: async () => {
      await client.close().catch(() => {});
      server.kill('SIGKILL');
    },
  };
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
