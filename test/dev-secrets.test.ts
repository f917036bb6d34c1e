// `npm run rebuild` / `npm run reconcile` in the environment `npm start` ran in: the CIM HMAC key
// start.mjs kept under .data/dev/ (when none is given) is theirs too, whether the stores were
// started locally or given by REDIS_URL and DATABASE_URL.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { devSecrets } from '../scripts/run.mjs';

const saved = { ...process.env };
beforeEach(() => {
  delete process.env.CIM_HMAC_KEY;
  process.env.REDIS_URL = 'redis://127.0.0.1:1';
  process.env.DATABASE_URL = 'postgres://x@127.0.0.1:1/x';
});
afterEach(() => {
  process.env = { ...saved };
});

const dirs: string[] = [];
const devDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'pocketgate-dev-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('devSecrets', () => {
  it('reads the key npm start kept, with the stores given too', () => {
    const dir = devDir();
    writeFileSync(join(dir, 'cim_hmac_key'), 'kept-by-npm-start\n');
    expect(devSecrets('dev', dir)).toEqual({ CIM_HMAC_KEY: 'kept-by-npm-start' });
  });

  it('never second-guesses a given key, nor reads the dev key for another profile', () => {
    const dir = devDir();
    writeFileSync(join(dir, 'cim_hmac_key'), 'kept-by-npm-start\n');
    expect(devSecrets('bench', dir)).toEqual({});
    process.env.CIM_HMAC_KEY = 'given';
    expect(devSecrets('dev', dir)).toEqual({});
  });

  it('gives nothing when npm start never ran here', () => {
    expect(devSecrets('dev', devDir())).toEqual({});
  });
});
