// Tests of what a process reads of its environment: each test sets the variables it needs over
// the environment the run started with, and the next test starts from that again.

import { afterEach } from 'vitest';

/** Registers the restore after each test; returns the setter (a variable given undefined is unset). */
export function envForEachTest(base: Readonly<Record<string, string>> = {}): (env: Record<string, string | undefined>) => void {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });
  return (env) => {
    process.env = { ...saved, ...base, ...env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  };
}

/** What every process needs set, as dummies nothing connects to. */
export const store_env = { REDIS_URL: 'redis://127.0.0.1:1', DATABASE_URL: 'postgres://x@127.0.0.1:1/x', CIM_HMAC_KEY: 'k' } as const;
