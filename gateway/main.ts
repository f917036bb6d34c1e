// `npm start` runs this: the gateway from the environment, the demo business on an empty
// database when asked, and a graceful stop on SIGTERM/SIGINT.

import { configFromEnv } from './config.ts';
import { startGateway } from './gateway.ts';
import { seedDemo } from './seed.ts';

const config = configFromEnv();
const gateway = await startGateway(config);
const base_url = `http://localhost:${gateway.port}`;
gateway.logger.info({ port: gateway.port, ledger_writer: config.ledger_writer }, 'gateway listening');

if (process.env.POCKETGATE_SEED_DEMO === '1') {
  await seedDemo(gateway, base_url, config.platform_api_key, process.env.POCKETGATE_DATA_DIR);
}

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  gateway.logger.info({ signal }, 'stopping: finishing requests in flight');
  const timer = setTimeout(() => process.exit(1), 15_000);
  timer.unref();
  await gateway.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
