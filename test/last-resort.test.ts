// The last line of defence (processor/last-resort.ts) that gateway/main.ts and
// processor/ledger/writer-main.ts install: which uncaught errors a process survives, that their
// log is bounded, and that it still exits on an error that leaves its state unknown. The process
// behaviour runs in a child process (last-resort-child.ts): exiting is part of what is tested.

import { describe, expect, it } from 'vitest';
import { thrownByPostgresJs } from '../processor/last-resort.ts';
import { runTs } from './child-run.ts';

function withStack(message: string, frames: string[]): Error {
  const err = new Error(message);
  err.stack = [`Error: ${message}`, ...frames.map((f) => `    at ${f}`)].join('\n');
  return err;
}

describe('thrownByPostgresJs', () => {
  it('is true for an error postgres.js threw from its own callback', () => {
    // As postgres.js 3.4.9 unpatched threw it (test/pg-terminate.test.ts, patch reversed).
    expect(thrownByPostgresJs(withStack('x', ['Immediate.nextWrite (file:///srv/app/node_modules/postgres/src/connection.js:255:22)', 'process.processImmediate (node:internal/timers:483:21)']))).toBe(true);
    expect(thrownByPostgresJs(withStack('x', ['process.processTicksAndRejections (node:internal/process/task_queues:95:5)', 'Socket.closed (/srv/app/node_modules/postgres/cjs/src/connection.js:453:57)']))).toBe(true);
  });

  it('is false for anything else: our code, our callback called by postgres.js, Node alone, other packages, non-errors', () => {
    expect(thrownByPostgresJs(new Error('thrown here'))).toBe(false);
    expect(thrownByPostgresJs(withStack('x', ['parse (file:///srv/app/processor/stores.ts:97:49)', 'DataRow (file:///srv/app/node_modules/postgres/src/connection.js:510:15)']))).toBe(false);
    expect(thrownByPostgresJs(withStack('read ECONNRESET', ['TCP.onStreamRead (node:internal/stream_base_commons:218:20)']))).toBe(false);
    expect(thrownByPostgresJs(withStack('x', ['f (file:///srv/app/node_modules/postgres-array/index.js:1:1)']))).toBe(false);
    expect(thrownByPostgresJs(withStack('x', ['Socket.emit (file:///srv/app/node_modules/redis/dist/lib/client/socket.js:1:1)']))).toBe(false);
    expect(thrownByPostgresJs('a string')).toBe(false);
    expect(thrownByPostgresJs({ stack: '    at f (/srv/app/node_modules/postgres/src/connection.js:1:1)' })).toBe(false);
  });
});

interface LogLine {
  level?: number;
  msg?: string;
  step?: string;
  survived?: number;
  left_out?: number;
  kind?: string;
  err?: { message?: string };
}

describe('a process with the last line of defence', () => {
  it('survives an exception from postgres.js and unhandled rejections with a bounded log, and exits on an exception of its own', async () => {
    const { code, stdout, stderr } = await runTs('test/last-resort-child.ts', [], { kill_after_ms: 30_000 });
    const output = `exit ${code}\nstdout:\n${stdout.slice(-4_000)}\nstderr:\n${stderr.slice(-2_000)}`;
    const lines = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
    const step = (name: string) => lines.find((l) => l.step === name);

    // Alive after each error it should survive, each counted.
    expect(step('postgres.js exception survived')?.survived, output).toBe(1);
    expect(step('rejections survived')?.survived, output).toBe(101);
    expect(step('alive')?.survived, output).toBe(101);
    // The log of the survived errors is bounded: 5 lines in the window, then one line counting
    // the 96 left out.
    const survived_lines = lines.filter((l) => l.level === 50 && l.kind !== undefined);
    expect(survived_lines.length, output).toBe(5);
    expect(survived_lines[0]!.kind).toBe('uncaughtException');
    expect(survived_lines[0]!.err?.message).toBe("Cannot read properties of null (reading 'write')");
    expect(survived_lines.slice(1).every((l) => l.kind === 'unhandledRejection')).toBe(true);
    const left_out = lines.filter((l) => l.left_out !== undefined);
    expect(left_out.map((l) => l.left_out), output).toEqual([96]);

    // An exception of its own: one fatal line, then exit 1, before it could say it still runs.
    expect(code, output).toBe(1);
    expect(step('still running after our own uncaught exception'), output).toBeUndefined();
    const fatal = lines.filter((l) => l.level === 60);
    expect(fatal.length, output).toBe(1);
    expect(fatal[0]!.err?.message).toBe('an error of our own, thrown from a callback');
  });
});
