// Bootstraps everything `npm start` / `npm test` need on a bare Debian + Node 20 box:
// npm dependencies, Redis and PostgreSQL (installed via apt if missing), each
// running from a per-profile data dir under .data/ on its own port so dev and test
// never share state and never collide with a system-wide Redis/PostgreSQL.
//
// This file runs before `npm ci`, so it may only use node: builtins.

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const PORTS = {
  dev: { redis: 16379, pg: 15432 },
  test: { redis: 16380, pg: 15433 },
  // Benchmarks get stores of their own, emptied before each run: data left by earlier runs (a
  // reference is kept 35 days) would make Redis rewrite a growing AOF in the middle of a run.
  bench: { redis: 16381, pg: 15434 },
};
const PG_OS_USER = 'postgres'; // PostgreSQL refuses to run as root, so root hands it to this user.
const DB_USER = 'pocketgate';
const DB_NAME = 'pocketgate';
const isRoot = process.getuid?.() === 0;

const log = (msg) => console.error(`[pocketgate] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Run a command synchronously; throw with its output when it fails or times out. */
function run(cmd, args, { timeoutMs = 60_000, stdio = 'pipe', allowFail = false, ...opts } = {}) {
  const res = spawnSync(cmd, args, { stdio, timeout: timeoutMs, encoding: 'utf8', ...opts });
  const failed = res.error || res.status !== 0;
  if (failed && !allowFail) {
    const why = res.error?.code === 'ETIMEDOUT' ? `timed out after ${timeoutMs / 1000}s` : res.error?.message ?? `exit code ${res.status}`;
    const output = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim();
    throw new Error(`\`${[cmd, ...args].join(' ')}\` failed (${why})${output ? `:\n${output}` : ''}`);
  }
  return res;
}

const onPath = (bin) => run('sh', ['-c', `command -v "${bin}"`], { allowFail: true }).stdout?.trim() || null;
const tail = (file, lines = 30) => {
  try { return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'); } catch { return '(no log file)'; }
};

async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
}

// ---------------------------------------------------------------- npm deps

/**
 * `npm ci` in `root` when its node_modules is missing or older than its lockfile. Answers what it
 * did: 'current', 'installed', or 'linked': node_modules is a link to another checkout's, which
 * is left alone (npm ci there emptied the other checkout's node_modules under whatever ran in it:
 * a fresh clone's lockfile is always newer than the marker it links to; 2026-12-07).
 */
export async function ensureDependencies(root = ROOT) {
  const modules = path.join(root, 'node_modules');
  const marker = path.join(modules, '.package-lock.json');
  const lockfile = path.join(root, 'package-lock.json');
  // npm rewrites node_modules/.package-lock.json on every install, so an older
  // marker means someone pulled a lockfile change since the last install.
  const stale = !fs.existsSync(marker) || fs.statSync(lockfile).mtimeMs > fs.statSync(marker).mtimeMs;
  if (!stale) return 'current';
  if (fs.lstatSync(modules, { throwIfNoEntry: false })?.isSymbolicLink()) {
    log(`node_modules links to ${fs.readlinkSync(modules)}: not reinstalled here (npm ci in that checkout, if it needs one)`);
    return 'linked';
  }
  log('installing npm dependencies (npm ci)');
  run('npm', ['ci'], { cwd: root, stdio: 'inherit', timeoutMs: 15 * 60_000 });
  return 'installed';
}

// ---------------------------------------------------------------- binaries

/** Directory holding initdb/pg_ctl/postgres (Debian keeps them off PATH), or null. */
export function findPgBinDir() {
  const hasAll = (dir) => ['initdb', 'pg_ctl', 'postgres'].every((b) => fs.existsSync(path.join(dir, b)));
  const onPathCtl = onPath('pg_ctl');
  if (onPathCtl) {
    // Resolve symlinks so sibling tools (psql, pg_isready) come from the same version.
    const dir = path.dirname(fs.realpathSync(onPathCtl));
    if (hasAll(dir)) return dir;
  }
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => /^\d+(\.\d+)?$/.test(v)) : [];
  versions.sort((a, b) => parseFloat(b) - parseFloat(a));
  return versions.map((v) => path.join(base, v, 'bin')).find(hasAll) ?? null;
}

/** A PostgreSQL client tool from the server's bin dir, falling back to PATH. */
const pgTool = (binDir, name) => (fs.existsSync(path.join(binDir, name)) ? path.join(binDir, name) : name);

function aptInstall(packages, instead = 'or set REDIS_URL and DATABASE_URL') {
  log(`installing ${packages.join(' ')} with apt-get (not found on this machine; may take a minute)`);
  const sudo = !isRoot && onPath('sudo');
  const apt = (...args) =>
    // `sudo env ...` because sudo resets the environment by default.
    run(sudo ? 'sudo' : 'apt-get', [...(sudo ? ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'] : []), ...args], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeoutMs: 15 * 60_000,
      stdio: 'inherit',
      allowFail: true,
    });
  if (apt('install', '-y', ...packages).status === 0) return;
  // Fresh Debian images ship without package lists, so the first install fails.
  apt('update');
  if (apt('install', '-y', ...packages).status !== 0) {
    throw new Error(`could not install ${packages.join(' ')}; install them manually (apt-get install -y ${packages.join(' ')}) ${instead}`);
  }
}

function ensureBinaries({ redis, pg }) {
  const missing = [];
  if (redis && !onPath('redis-server')) missing.push('redis-server');
  if (pg && !findPgBinDir()) missing.push('postgresql');
  if (missing.length) aptInstall(missing);
}

/**
 * Debian's Chromium, which the console's browser tests and `npm run screenshots` drive through
 * playwright-core (Playwright's own browser download does not work everywhere this runs): its
 * path, installed with apt-get when missing, as Redis and PostgreSQL are.
 */
export function ensureChromium() {
  const found = onPath('chromium');
  if (found) return found;
  aptInstall(['chromium'], 'to run the console’s browser tests');
  const installed = onPath('chromium');
  if (!installed) throw new Error('apt-get installed chromium but it is not on PATH');
  return installed;
}

// ---------------------------------------------------------------- redis

/** Send one command over a raw RESP socket; resolves with the first reply line (e.g. "+PONG"). */
export function redisCommand(url, ...args) {
  const { hostname, port } = new URL(url);
  const payload = `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: hostname, port: Number(port) || 6379 });
    let buf = '';
    sock.setTimeout(2000, () => sock.destroy(new Error('redis did not answer within 2s')));
    sock.on('connect', () => sock.write(payload));
    sock.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\r\n');
      if (nl >= 0) { sock.destroy(); resolve(buf.slice(0, nl)); }
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error('connection closed without a reply')));
  });
}

const redisAlive = (url) => redisCommand(url, 'PING').then((r) => r === '+PONG', () => false);

/** The command line of a live process, or null when there is none with that pid. */
function cmdlineOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return null;
  }
}

/**
 * The port of the Redis this checkout started from `dir` and that still runs (its pidfile names a
 * live redis-server), or null. A pidfile left by a Redis that is gone, or whose pid another
 * process has since taken, names none.
 */
export function runningRedisPort(dir, cmdline = cmdlineOf) {
  let pid;
  try {
    pid = Number(fs.readFileSync(path.join(dir, 'redis.pid'), 'utf8').trim());
  } catch {
    return null;
  }
  // redis-server sets its title to `redis-server <host>:<port>`.
  const m = Number.isSafeInteger(pid) && pid > 0 ? /redis-server \S*:(\d+)/.exec(cmdline(pid) ?? '') : null;
  return m === null ? null : Number(m[1]);
}

/** The port of the PostgreSQL running from `dataDir` (its postmaster.pid names a live postgres), or null. */
export function runningPostgresPort(dataDir, cmdline = cmdlineOf) {
  let lines;
  try {
    lines = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return null;
  }
  // postmaster.pid: the pid on line 1, the port on line 4.
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isSafeInteger(pid) || pid <= 0 || !Number.isSafeInteger(port)) return null;
  return /postgres/.test(cmdline(pid) ?? '') ? port : null;
}

/**
 * Refuses to start a second server on a data folder one already runs from, on another port: two
 * Redis appending to one AOF would corrupt it (PostgreSQL refuses by itself, with its lock file,
 * but says nothing of the port). Happens when `npm start` runs with POCKETGATE_*_PORT and another
 * command of the same checkout (`npm run reconcile`, say) runs without it.
 */
function refuseSecondServer(what, running_port, port, variable) {
  if (running_port === null || running_port === port) return;
  throw new Error(`this checkout's ${what} already runs from the same data folder on port ${running_port}, not ${port}: run this command with ${variable}=${running_port} (as the command that started it), or stop that one first`);
}

/**
 * The databases our Redis servers have (Redis's default is 16): the test files that need one of
 * their own number up to 22 (test/ledger-helpers.ts redis_dbs).
 */
export const redis_databases = 32;

const hasDatabases = (url) => redisCommand(url, 'SELECT', String(redis_databases - 1)).then((r) => r === '+OK', () => false);

/** How long this checkout's own Redis, found running, is given to answer before `npm start` goes on without it. */
const redis_running_wait_ms = 6_000;

async function ensureRedis(profile, port, outage_ok) {
  const url = `redis://127.0.0.1:${port}`;
  const dir = path.join(ROOT, '.data', profile, 'redis');
  if (await portOpen(port)) {
    // Reuse whatever Redis is there (ours from an earlier run); it may still be loading its AOF.
    const ours = runningRedisPort(dir) === port;
    try {
      await waitFor(() => redisAlive(url), ours && outage_ok ? redis_running_wait_ms : 10_000, `Redis on port ${port}`);
    } catch {
      // Running but not answering (frozen, hung): a Redis outage, through which the gateway starts,
      // answers POS calls 503 and serves once Redis answers (OPERATIONS.md), as with PostgreSQL
      // below. `npm start` exited here, the ports never opened, until 2026-12-06 (a probe).
      if (ours && outage_ok) {
        log(`this checkout's Redis on port ${port} is running but does not answer: going on without it (POS calls are 503 until it does)`);
        return url;
      }
      // Said to be that, for a command that needs it: it was called "something that is not a
      // password-less Redis" (a store-failure probe, 2026-12-06).
      if (ours) throw new Error(`this checkout's Redis on port ${port} answered no PING within 10 s (frozen or hung?): nothing was run`);
      throw new Error(`port ${port} is taken by something that is not a password-less Redis; set POCKETGATE_REDIS_PORT or REDIS_URL`);
    }
    // The tests' own, started before it had redis_databases (a setting Redis takes only at its
    // start): started again. Another profile's is left running (a gateway may be using it).
    if (profile !== 'test' || !ours || (await hasDatabases(url))) return url;
    await stopRedis(profile, port);
  }
  refuseSecondServer('Redis', runningRedisPort(dir), port, 'POCKETGATE_REDIS_PORT');
  fs.mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, 'redis.log');
  // AOF with fsync=always and no RDB snapshots: ledger data must survive a crash.
  run('redis-server', [
    '--bind', '127.0.0.1', '--port', String(port), '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--databases', String(redis_databases),
    '--daemonize', 'yes', '--pidfile', path.join(dir, 'redis.pid'), '--logfile', logFile,
  ], { timeoutMs: 10_000 });
  try {
    await waitFor(() => redisAlive(url), 10_000, `Redis on port ${port}`);
  } catch (err) {
    throw new Error(`${err.message}\n--- ${logFile} ---\n${tail(logFile)}`);
  }
  return url;
}

async function stopRedis(profile, port) {
  const pidFile = path.join(ROOT, '.data', profile, 'redis', 'redis.pid');
  // Only stop a Redis we started (it wrote our pidfile); a reused one belongs to someone else.
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
  // SIGTERM makes Redis flush the AOF before exiting; wait so a restart does not race it.
  await waitFor(async () => !(await redisAlive(`redis://127.0.0.1:${port}`)), 10_000, `Redis on port ${port} to stop`);
  fs.rmSync(pidFile, { force: true });
}

// ---------------------------------------------------------------- postgres

function portOpen(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.setTimeout(1000, () => { sock.destroy(); resolve(false); });
    sock.on('connect', () => { sock.destroy(); resolve(true); });
    sock.on('error', () => resolve(false));
  });
}

/** Run a server-side PostgreSQL tool as the OS user that owns the cluster. */
function runAsPgUser(cmd, args, opts = {}) {
  // cwd "/" because the postgres user may not be allowed into the caller's cwd.
  opts = { cwd: '/', ...opts };
  if (!isRoot) return run(cmd, args, opts);
  if (onPath('runuser')) return run('runuser', ['-u', PG_OS_USER, '--', cmd, ...args], opts);
  const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
  return run('su', [PG_OS_USER, '-s', '/bin/sh', '-c', [cmd, ...args].map(q).join(' ')], opts);
}

/**
 * Where PostgreSQL's files of a profile live: under the checkout's .data/, unless we are root and
 * some folder above it is closed to other users (a checkout under a mode-700 /root, say), which
 * the `postgres` user PostgreSQL runs as could not pass. Then in a folder of its own under
 * /var/tmp, named after the checkout: permissions outside the project are never changed.
 * `stat` is fs.statSync, given so that the choice can be tested.
 */
export function pgBaseDir(root, profile, as_root = isRoot, stat = fs.statSync) {
  const inside = path.join(root, '.data', profile);
  if (!as_root) return inside;
  for (let dir = root; ; dir = path.dirname(dir)) {
    if (!(stat(dir).mode & 0o001)) {
      const name = `${path.basename(root).replace(/[^A-Za-z0-9_.-]/g, '_')}-${crypto.createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
      return path.join('/var/tmp', `pocketgate-${name}`, profile);
    }
    if (dir === path.dirname(dir)) return inside;
  }
}

/** As root: make sure the postgres OS user exists and owns its files (pgBaseDir made sure it can reach them). */
function preparePgOwnership(ownedPaths) {
  if (!isRoot) return;
  if (run('id', ['-u', PG_OS_USER], { allowFail: true }).status !== 0) {
    log(`creating system user "${PG_OS_USER}" to run PostgreSQL (it refuses to run as root)`);
    run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', PG_OS_USER]);
  }
  const uid = Number(run('id', ['-u', PG_OS_USER]).stdout.trim());
  for (const p of ownedPaths) {
    // Recursive chown only when needed: the data dir can get big.
    if (fs.statSync(p).uid !== uid) run('chown', ['-R', `${PG_OS_USER}:`, p]);
  }
}

/** How long a PostgreSQL found running is given to answer before the caller goes on without it. */
const pg_running_wait_ms = 6_000;

async function ensurePostgres(profile, port) {
  const binDir = findPgBinDir();
  const base = pgBaseDir(ROOT, profile);
  const dataDir = path.join(base, 'pg');
  const logFile = path.join(base, 'pg.log');
  const url = `postgres://${DB_USER}@127.0.0.1:${port}/${DB_NAME}`;
  const pgReady = () => run(pgTool(binDir, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', DB_USER, '-d', 'postgres'], { allowFail: true, timeoutMs: 5000 }).status === 0;
  const withLog = (err) => new Error(`${err.message}\n--- ${logFile} ---\n${tail(logFile)}`);

  const running = await portOpen(port);
  if (!running) {
    refuseSecondServer('PostgreSQL', runningPostgresPort(dataDir), port, 'POCKETGATE_PG_PORT');
    // Unix socket paths are capped at 107 bytes; deep checkouts fall back to /tmp.
    let sockDir = path.join(base, 'pg-run');
    if (sockDir.length > 90) sockDir = '/tmp';
    // The folders above the data dir are ours and open to pass through; the data dir itself is
    // PostgreSQL's alone.
    fs.mkdirSync(base, { recursive: true, mode: 0o755 });
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (sockDir !== '/tmp') fs.mkdirSync(sockDir, { recursive: true });
    if (!fs.existsSync(logFile)) fs.writeFileSync(logFile, '');
    if (!base.startsWith(ROOT)) log(`PostgreSQL's data is kept in ${base}: the "${PG_OS_USER}" user cannot reach ${ROOT} (a folder above it is closed to other users)`);
    preparePgOwnership([dataDir, logFile, ...(sockDir !== '/tmp' ? [sockDir] : [])]);

    if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
      log(`initialising PostgreSQL cluster in ${dataDir}`);
      // trust auth on 127.0.0.1 only: this is a local throwaway cluster, no passwords to manage.
      runAsPgUser(path.join(binDir, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', DB_USER, '--encoding=UTF8', '--no-locale'], { timeoutMs: 120_000 });
    }
    // pg_ctl hands -o to a shell, hence the quoting of the socket dir.
    const serverOpts = `-k '${sockDir}' -h 127.0.0.1 -p ${port} -c fsync=on`;
    try {
      runAsPgUser(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-l', logFile, '-o', serverOpts, '-w', '-t', '30', 'start'], { timeoutMs: 45_000 });
    } catch (err) {
      throw withLog(err);
    }
  }
  try {
    await waitFor(pgReady, running ? pg_running_wait_ms : 15_000, `PostgreSQL on port ${port} to accept connections`);
  } catch (err) {
    if (!running) throw withLog(err);
    // Running but not answering (frozen, overloaded): a PostgreSQL outage, through which the
    // gateway starts and serves terminals (OPERATIONS.md; gateway/prepare.ts migrates once it
    // answers). `npm start` exited here until 2026-12-05 (a black-box probe).
    log(`PostgreSQL on port ${port} is running but does not answer: going on without it (the POS path needs only Redis)`);
    return url;
  }
  // Look before creating so the server log is not filled with "already exists" errors.
  const admin = `postgres://${DB_USER}@127.0.0.1:${port}/postgres`;
  const exists = run(pgTool(binDir, 'psql'), ['-X', '-tA', admin, '-c', `SELECT 1 FROM pg_database WHERE datname = '${DB_NAME}'`], { allowFail: true, timeoutMs: 15_000 });
  if (exists.status === 0 && exists.stdout.trim() === '1') return url;
  const res = run(pgTool(binDir, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', DB_USER, DB_NAME], { allowFail: true, timeoutMs: 15_000 });
  if (res.status !== 0 && !/already exists/.test(res.stderr)) {
    throw new Error(`could not create database "${DB_NAME}" on port ${port}: ${res.stderr || res.error?.message}`);
  }
  return url;
}

async function stopPostgres(profile) {
  const dataDir = path.join(pgBaseDir(ROOT, profile), 'pg');
  // No postmaster.pid means our cluster is not running (a server on the port is someone else's).
  if (!fs.existsSync(path.join(dataDir, 'postmaster.pid'))) return;
  const pgCtl = path.join(findPgBinDir(), 'pg_ctl');
  // A stale postmaster.pid (after a crash) makes `stop` fail, so ask `status` first.
  if (runAsPgUser(pgCtl, ['-D', dataDir, 'status'], { allowFail: true }).status !== 0) return;
  runAsPgUser(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', 'stop'], { timeoutMs: 45_000 });
}

/** Run SQL against a database URL with psql (stops at the first error). */
export function runSql(url, sql) {
  const binDir = findPgBinDir();
  run(binDir ? pgTool(binDir, 'psql') : 'psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url, '-c', sql], { timeoutMs: 60_000 });
}

// ---------------------------------------------------------------- public API

function portsFor(profile) {
  if (!PORTS[profile]) throw new Error(`unknown profile "${profile}" (expected dev, test or bench)`);
  return {
    redis: Number(process.env.POCKETGATE_REDIS_PORT) || PORTS[profile].redis,
    pg: Number(process.env.POCKETGATE_PG_PORT) || PORTS[profile].pg,
  };
}

/**
 * Returns { REDIS_URL, DATABASE_URL }. A URL already set in the environment is used as-is
 * and that service is left alone; otherwise a local instance is installed/started/reused.
 * `redis_outage_ok`: the caller serves through a Redis outage (the gateway), so this checkout's
 * own Redis found running but frozen is gone on without, as a PostgreSQL is for every caller.
 */
export async function ensureServices({ profile, redis_outage_ok = false }) {
  const ports = portsFor(profile);
  let { REDIS_URL, DATABASE_URL } = process.env;
  ensureBinaries({ redis: !REDIS_URL, pg: !DATABASE_URL });
  REDIS_URL ||= await ensureRedis(profile, ports.redis, redis_outage_ok);
  DATABASE_URL ||= await ensurePostgres(profile, ports.pg);
  return { REDIS_URL, DATABASE_URL };
}

/** Stops the Redis and PostgreSQL this checkout started for `profile` (no-op if not running). */
export async function stopServices({ profile }) {
  const ports = portsFor(profile);
  await stopRedis(profile, ports.redis);
  await stopPostgres(profile);
}
