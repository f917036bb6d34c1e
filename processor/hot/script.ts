// A Lua script run with EVALSHA, loaded on first NOSCRIPT (after a Redis restart or failover).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisClient } from '../stores.ts';

export class Script {
  readonly source: string;
  readonly sha: string;

  /** The files are concatenated: shard scripts start with lib.lua, their shared functions. */
  constructor(...files: string[]) {
    this.source = files.map((f) => readFileSync(join(import.meta.dirname, f), 'utf8')).join('\n');
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  async run<T>(redis: RedisClient, keys: readonly string[], args: readonly (string | Buffer)[]): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return (await redis.sendCommand(['EVALSHA', this.sha, ...tail])) as T;
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      // EVAL both runs and caches the script, so later calls find it by SHA again.
      return (await redis.sendCommand(['EVAL', this.source, ...tail])) as T;
    }
  }
}
