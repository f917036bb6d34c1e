// `npm start`: the gateway with dev Redis/PostgreSQL, demo data, and stable local secrets.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './services.mjs';
import { gateway_node_flags } from './node-flags.mjs';
import { fail, runTs } from './run.mjs';

const dataDir = path.join(ROOT, '.data', 'dev');

/** A secret from env, else from .data/dev/<file>, else freshly generated and saved there. */
function localSecret(envName, file, generate) {
  if (process.env[envName]) return process.env[envName];
  const p = path.join(dataDir, file);
  // Persisted so keys (and anything signed with them) survive restarts of the dev gateway.
  if (fs.existsSync(p)) return fs.readFileSync(p, 'utf8').trim();
  const value = generate();
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(p, `${value}\n`, { mode: 0o600 });
  return value;
}

try {
  // The banner shows the platform key only where this made it (or kept it) for a local start: an
  // operator's own PLATFORM_API_KEY is not printed at every start (an operator probe).
  const platform_key_shown = process.env.PLATFORM_API_KEY ? '0' : '1';
  const env = {
    PLATFORM_API_KEY: localSecret('PLATFORM_API_KEY', 'platform_api_key', () => `pk_${crypto.randomBytes(24).toString('base64url')}`),
    POCKETGATE_SHOW_PLATFORM_KEY: platform_key_shown,
    CIM_HMAC_KEY: localSecret('CIM_HMAC_KEY', 'cim_hmac_key', () => crypto.randomBytes(32).toString('hex')),
    POCKETGATE_SEED_DEMO: '1',
    POCKETGATE_DATA_DIR: dataDir,
  };
  // The gateway serves through a Redis outage (OPERATIONS.md): started on a frozen one, it answers 503 until Redis does.
  await runTs(path.join(ROOT, 'gateway', 'main.ts'), process.argv.slice(2), env, { node_args: gateway_node_flags, redis_outage_ok: true });
} catch (err) {
  fail(err);
}
