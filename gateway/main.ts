// `npm start` runs this: the gateway from the environment, the demo business on an empty
// database when asked, and a graceful stop on SIGTERM/SIGINT.
//
// GATEWAY_PROCESSES=n (default 1) runs n gateway processes sharing the port through node:cluster;
// the first one also runs the ledger writer and seeds the demo.

import cluster from 'node:cluster';
import { installLastResort } from '../processor/last-resort.ts';
import { configFromEnv, processesConfigFromEnv } from './config.ts';
import { startGateway } from './gateway.ts';
import { seedDemo } from './seed.ts';

const { processes, first, seed_demo, data_dir } = processesConfigFromEnv();

if (processes > 1 && cluster.isPrimary) {
  const index_of = new Map<number, number>();
  const fork = (index: number) => index_of.set(cluster.fork({ GATEWAY_WORKER: String(index) }).id, index);
  for (let i = 0; i < processes; i++) fork(i);
  let stopping = false;
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    // A gateway keeps no state of its own: replace a dead one at once, in the same role (the
    // first one runs the ledger writer).
    process.stderr.write(`gateway worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    fork(index_of.get(worker.id) ?? 1);
  });
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 16_000).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const base = configFromEnv();
  const config = { ...base, ledger_writer: base.ledger_writer && first };
  const gateway = await startGateway(config);
  const base_url = `http://localhost:${gateway.port}`;
  gateway.logger.info({ port: gateway.port, ledger_writer: config.ledger_writer }, 'gateway listening');

  if (first && seed_demo) {
    // The demo needs PostgreSQL; terminals do not (OPERATIONS.md: a gateway started during an
    // outage serves them). A start that cannot seed serves anyway; the next start seeds.
    await seedDemo(gateway, base_url, config.platform_api_key, data_dir).catch((err: unknown) => {
      gateway.logger.warn({ err }, 'demo not seeded (PostgreSQL unavailable?): serving without it; the next start seeds it');
    });
  }
  // Errors nothing caught: logged, bounded, and survived when they cannot have touched the POS
  // path; the process exits on the others (processor/last-resort.ts says which and why). Only
  // now: a failure to start, above, must still stop the process.
  installLastResort(gateway.logger);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return; // Ctrl-C reaches us twice: from the terminal and forwarded by npm start
    stopping = true;
    gateway.logger.info({ signal }, 'stopping: finishing requests in flight');
    setTimeout(() => process.exit(1), 15_000).unref();
    await gateway.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
