// A process run to its end, as the tests that start one of our entry points (or npm) need it:
// everything it wrote and how it ended, and a watchdog so that a child that hangs fails its test
// instead of outliving it.

import { spawn } from 'node:child_process';
import { join } from 'node:path';

const checkout_root = join(import.meta.dirname, '..');

export interface ChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ChildOptions {
  /** Set in the child's environment over this process's. */
  readonly env?: Readonly<Record<string, string>>;
  /** SIGKILL after this long (default: no watchdog; the test's own timeout then ends it). */
  readonly kill_after_ms?: number;
}

/** `command args` in the checkout, to its end ('close': its output read to the last byte). */
export function runChild(command: string, args: readonly string[], options: ChildOptions = {}): Promise<ChildRun> {
  const child = spawn(command, args, { cwd: checkout_root, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
  child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
  const watchdog = options.kill_after_ms === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.kill_after_ms);
  return new Promise((resolve, reject) => {
    child.on('error', (err) => {
      clearTimeout(watchdog);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `node --import tsx <file>` (a path from the checkout's root), as `npm run` starts our entry points. */
export function runTs(file: string, args: readonly string[] = [], options: ChildOptions = {}): Promise<ChildRun> {
  return runChild(process.execPath, ['--import', 'tsx', file, ...args], options);
}
