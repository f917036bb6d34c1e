// `npm start` runs this: the gateway from the environment, the demo business on an empty
// database when asked, and a graceful stop on SIGTERM/SIGINT.
//
// GATEWAY_PROCESSES=n (default 1) runs n gateway processes sharing the port through node:cluster;
// the first one also runs the ledger writer and seeds the demo.

import cluster from 'node:cluster';
import { installLastResort } from '../processor/last-resort.ts';
import { configFromEnv, processesConfigFromEnv, type ProcessesConfig } from './config.ts';
import { startGateway, type Gateway } from './gateway.ts';
import { seedDemo } from './seed.ts';

/**
 * A start that cannot succeed (a bad setting, a port taken) says why in one line and exits 1: the
 * error's stack (a rejected top-level await) told an operator nothing more, at ten lines each.
 */
function notStarted(err: unknown): never {
  const why = err instanceof Error ? (process.env.DEBUG ? err.stack : err.message) : String(err);
  process.stderr.write(`[pocketgate] gateway not started: ${why}\n`);
  process.exit(1);
}

function processesConfig(): ProcessesConfig {
  try {
    return processesConfigFromEnv();
  } catch (err) {
    notStarted(err);
  }
}

const { processes, first, seed_demo, data_dir } = processesConfig();
/** The longest a stop waits for requests in flight before it cuts them (exit 1). */
const stop_timeout_ms = 15_000;
/** How long a stop answers `Connection: close` before it closes the connections left idle. */
const drain_grace_ms = 1_000;
/** A worker's exit once it found, serving, data made with other settings (EX_CONFIG): the primary stops, exit 1. */
const settings_refused_exit_code = 78;
/** Told by a worker to the primary once it serves (a worker that dies before is a failed start). */
const started_message = 'pocketgate:started';

if (processes > 1 && cluster.isPrimary) {
  // The settings are the workers' too: a bad one stops the start here, once, not in every worker.
  try {
    configFromEnv();
  } catch (err) {
    notStarted(err);
  }
  const index_of = new Map<number, number>();
  const serving = new Set<number>();
  const fork = (index: number) => index_of.set(cluster.fork({ GATEWAY_WORKER: String(index) }).id, index);
  // The first alone, the others once it serves: what stops a start (a port taken, data made with
  // other settings) is then said once, by one process, not once by each of them.
  fork(0);
  let others_forked = false;
  let stopping = false;
  cluster.on('message', (worker, message) => {
    if (message !== started_message) return;
    serving.add(worker.id);
    if (others_forked || stopping) return;
    others_forked = true;
    for (let i = 1; i < processes; i++) fork(i);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    // A worker that served stopped on data made with other settings (it said which): so would any.
    if (code === settings_refused_exit_code) {
      process.exitCode = 1;
      return stop();
    }
    // One that never served failed to start (a port taken: it said why): another would too, and
    // so on in a loop. The whole start fails instead.
    if (!serving.has(worker.id)) {
      // Exit 1 is a start refused, said in its own line; anything else it could not say.
      if (code !== 1) process.stderr.write(`[pocketgate] gateway worker ${worker.process.pid} failed to start (${signal ?? code}); stopping\n`);
      process.exitCode = 1;
      return stop();
    }
    // A gateway keeps no state of its own: replace a dead one at once, in the same role (the
    // first one runs the ledger writer).
    process.stderr.write(`gateway worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    fork(index_of.get(worker.id) ?? 1);
  });
  function stop() {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(), 16_000).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit();
    });
  }
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  // Stopped as it is stopped once it serves, from the very start: a signal while it waits for
  // Redis or seeds the demo was node's default (killed, exit 143, requests in flight cut).
  let gateway: Gateway | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return; // Ctrl-C reaches us twice: from the terminal and forwarded by npm start
    stopping = true;
    if (gateway === undefined) process.exit(0); // nothing serves yet
    const started_ms = Date.now();
    const logger = gateway.logger;
    logger.info({ signal, drain_grace_ms }, 'stopping: finishing requests in flight');
    setTimeout(() => {
      logger.warn({ signal, stop_timeout_ms }, 'stopped: requests still in flight were cut');
      process.exit(1);
    }, stop_timeout_ms).unref();
    // Keep-alive clients told to leave first: closed at once, a connection idle at SIGTERM could
    // take a request sent that moment and reset it unanswered (an operator probe: 6 of 20 busy
    // keep-alive connections, 2026-12-06).
    gateway.drainHttp();
    await new Promise((resolve) => setTimeout(resolve, drain_grace_ms));
    await gateway.close();
    logger.info({ signal, ms: Date.now() - started_ms }, 'stopped: every request in flight answered');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  let platform_api_key: string | undefined;
  ({ gateway, platform_api_key } = await serve().catch(notStarted));
  process.send?.(started_message);
  // Data made with other settings, found after the start (PostgreSQL back from an outage, Redis
  // laid out anew by another process). A worker tells its primary so by its exit code: replaced,
  // another would be refused too.
  void gateway.refused.then(async (err) => {
    process.stderr.write(`[pocketgate] gateway stopped: ${err.message}\n`);
    stopping = true;
    const code = cluster.isWorker ? settings_refused_exit_code : 1;
    setTimeout(() => process.exit(code), 15_000).unref();
    await gateway!.close();
    process.exit(code);
  });
  if (first && seed_demo) {
    const seeding = gateway;
    // The demo needs PostgreSQL; terminals do not (OPERATIONS.md: a gateway started during an
    // outage serves them). A start that cannot seed serves anyway; the next start seeds.
    const shown_key = process.env.POCKETGATE_SHOW_PLATFORM_KEY === '1' ? platform_api_key : undefined;
    await seedDemo(seeding, `http://localhost:${seeding.port}`, platform_api_key, data_dir, shown_key).catch((err: unknown) => {
      if (!stopping) seeding.logger.warn({ err }, 'demo not seeded (PostgreSQL unavailable?): serving without it; the next start seeds it');
    });
  }
  // Errors nothing caught: logged, bounded, and survived when they cannot have touched the POS
  // path; the process exits on the others (processor/last-resort.ts says which and why). Only
  // now: a failure to start, above, must still stop the process.
  installLastResort(gateway.logger);
}

/** This process's gateway, from the environment, listening; and the key that seeds the demo. */
async function serve(): Promise<{ gateway: Gateway; platform_api_key: string | undefined }> {
  const base = configFromEnv();
  const config = { ...base, ledger_writer: base.ledger_writer && first };
  const gateway = await startGateway(config);
  gateway.logger.info({ port: gateway.port, ledger_writer: config.ledger_writer }, 'gateway listening');
  return { gateway, platform_api_key: config.platform_api_key };
}
