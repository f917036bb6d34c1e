// Usage: node scripts/run.mjs <file.ts> [args...]
// Runs a TypeScript entry point with dependencies installed and dev Redis/PostgreSQL up,
// so `npm run bench` etc. work on a fresh clone with no manual setup.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, ensureDependencies, ensureServices, redisCommand, runSql } from './services.mjs';

/**
 * Prepare deps + the profile's services (dev by default), then run `node --import tsx file args`;
 * never returns. `fresh` empties the services first, only when this checkout started them.
 */
export async function runTs(file, args = [], extraEnv = {}, { profile = 'dev', fresh = false, node_args = [], redis_outage_ok = false } = {}) {
  await ensureDependencies();
  // A command's usage needs no store: none is started for it (`npm run rebuild -- --help`).
  if (args.includes('--help')) await runChild(process.execPath, [...node_args, '--import', 'tsx', file, ...args], extraEnv);
  const given = Boolean(process.env.REDIS_URL) || Boolean(process.env.DATABASE_URL);
  const urls = await ensureServices({ profile, redis_outage_ok });
  if (fresh && !given) {
    const reply = await redisCommand(urls.REDIS_URL, 'FLUSHALL');
    if (reply !== '+OK') throw new Error(`FLUSHALL on ${urls.REDIS_URL} failed: ${reply}`);
    runSql(urls.DATABASE_URL, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
  }
  await runChild(process.execPath, [...node_args, '--import', 'tsx', file, ...args], { ...urls, ...devSecrets(profile), ...extraEnv });
}

/**
 * The secret `npm start` keeps under .data/dev/ when CIM_HMAC_KEY is not given (with local
 * services or given ones alike: start.mjs), so that `npm run rebuild` and `npm run reconcile`
 * in the same environment name the CIMs and references the gateway named. A given CIM_HMAC_KEY
 * is never second-guessed.
 */
export function devSecrets(profile, data_dir = path.join(ROOT, '.data', 'dev')) {
  if (profile !== 'dev' || process.env.CIM_HMAC_KEY) return {};
  const file = path.join(data_dir, 'cim_hmac_key');
  return fs.existsSync(file) ? { CIM_HMAC_KEY: fs.readFileSync(file, 'utf8').trim() } : {};
}

/**
 * The exit code of a command this wrapper could not run (dependencies, services, the child not
 * started): 1 by default; `--fail-exit <code>` for a command whose 1 means something else
 * (`npm run reconcile`: 1 is "mismatches found", 2 "could not run", OPERATIONS.md).
 */
let fail_exit = 1;

/** Spawn with inherited stdio, forward termination signals, and exit with the child's code. */
export function runChild(cmd, args, env) {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  // Forwarded so `kill <this pid>` (e.g. from a supervisor) reaches the real process. On
  // Ctrl-C the child also gets SIGINT straight from the terminal, so it may see it twice.
  const forward = (sig) => child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, forward);
  child.on('error', (err) => {
    console.error(`[pocketgate] could not start ${cmd}: ${err.message}`);
    process.exit(fail_exit);
  });
  return new Promise(() => {
    child.on('exit', (code, signal) => process.exit(signal ? 128 + (constants.signals[signal] ?? 0) : code ?? 1));
  });
}

/** Shared by the CLI wrappers: our errors carry their own context (log tails), so skip the stack unless DEBUG is set. */
export function fail(err) {
  console.error(`[pocketgate] ${(process.env.DEBUG ? err?.stack : err?.message) ?? err}`);
  process.exit(fail_exit);
}

// Only act as a CLI when invoked directly, not when start.mjs imports runTs.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  let profile = 'dev';
  let fresh = false;
  while (argv[0]?.startsWith('--')) {
    const flag = argv.shift();
    if (flag === '--profile') profile = argv.shift() ?? profile;
    else if (flag === '--fresh') fresh = true;
    else if (flag === '--fail-exit') fail_exit = Number(argv.shift());
    else break;
  }
  const [file, ...args] = argv;
  if (!file) {
    console.error('usage: node scripts/run.mjs [--profile dev|bench] [--fresh] [--fail-exit <code>] <file.ts> [args...]');
    process.exit(2);
  }
  runTs(path.resolve(file), args, {}, { profile, fresh }).catch(fail);
}
