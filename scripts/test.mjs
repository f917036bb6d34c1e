// `npm test` (extra args go to vitest, e.g. `npm test -- core/`): runs vitest against the
// test-profile Redis/PostgreSQL, which are wiped first so every run starts from a clean slate.

import { ensureDependencies, ensureServices, redisCommand, runSql } from './services.mjs';
import { fail, runChild } from './run.mjs';

try {
  // Remember what the caller supplied: we must never wipe a Redis/DB we were merely pointed at.
  const givenRedis = Boolean(process.env.REDIS_URL);
  const givenDb = Boolean(process.env.DATABASE_URL);

  await ensureDependencies();
  const urls = await ensureServices({ profile: 'test' });

  if (!givenRedis) {
    const reply = await redisCommand(urls.REDIS_URL, 'FLUSHALL');
    if (reply !== '+OK') throw new Error(`FLUSHALL on ${urls.REDIS_URL} failed: ${reply}`);
  }
  if (!givenDb) runSql(urls.DATABASE_URL, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;');

  await runChild('npx', ['vitest', 'run', ...process.argv.slice(2)], {
    ...urls,
    PLATFORM_API_KEY: process.env.PLATFORM_API_KEY || 'pk_test_platform_key',
    CIM_HMAC_KEY: process.env.CIM_HMAC_KEY || 'test-hmac-key',
    NODE_ENV: 'test',
  });
} catch (err) {
  fail(err);
}
