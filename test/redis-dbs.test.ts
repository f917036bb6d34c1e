// The Redis databases test files hold for themselves (redis_dbs): each held by one file, none the
// shared database 0 nor a script spec's, all within what the test Redis has; and no file names a
// database by its number, which is how two files came to share one (ledger-helpers.ts).

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript (the scripts run before npm ci, with node: builtins only)
import { redis_databases } from '../scripts/services.mjs';
import { connectTestRedis, redis_dbs, root, spec_redis_dbs } from './ledger-helpers.ts';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name.startsWith('.')) return [];
    const path = join(dir, e.name);
    return e.isDirectory() ? sources(path) : e.name.endsWith('.ts') ? [path] : [];
  });
}

describe('test Redis databases', () => {
  it('one file each, none 0 nor a spec’s, each within the databases the test Redis has', async () => {
    const held = Object.values(redis_dbs);
    expect(new Set(held).size).toBe(held.length);
    for (const db of held) {
      expect(db).toBeGreaterThan(0);
      expect(spec_redis_dbs).not.toContain(db);
      expect(db).toBeLessThan(redis_databases);
    }
    const redis = await connectTestRedis(Math.max(...held));
    try {
      expect(await redis.ping()).toBe('PONG');
    } finally {
      await redis.quit();
    }
  });

  it('no file names a database by its number (but 0, the shared one, and the specs’ own)', () => {
    const by_number = /\b(?:redisUrl|connectTestRedis)\((\d+)\)/g;
    const named: string[] = [];
    for (const file of ['core', 'processor', 'adapters', 'gateway', 'loadtest', 'test'].flatMap((d) => sources(join(root, d)))) {
      for (const m of readFileSync(file, 'utf8').matchAll(by_number)) if (m[1] !== '0') named.push(`${relative(root, file)}: ${m[0]}`);
    }
    expect(named).toEqual([]);
  });
});
