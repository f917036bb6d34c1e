// Commands the fault suite runs (initdb, pg_ctl, createdb), asynchronously: the load generator
// shares this process, and a synchronous pg_ctl would freeze its clocks and inflate the
// latencies it measures.

import { spawn } from 'node:child_process';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface RunOptions {
  readonly timeout_ms?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface RunResult {
  readonly code: number | null;
  readonly output: string;
}

/** Runs a command to its end (killed past timeout_ms); never throws on a non-zero exit. */
export function runCommand(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { timeout_ms = 60_000, env = process.env, cwd = '/' } = options;
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer) => (output = (output + String(d)).slice(-8_000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      output += `\n(killed after ${timeout_ms} ms)`;
      child.kill('SIGKILL');
    }, timeout_ms);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, output: `${output}\n${err.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** As runCommand, but a non-zero exit throws with the command's output. */
export async function mustRun(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const r = await runCommand(cmd, args, options);
  if (r.code !== 0) throw new Error(`\`${[cmd, ...args].join(' ')}\` exited with ${r.code}:\n${r.output.trim()}`);
  return r.output;
}

/** Polls `check` every `every_ms` until it holds; false once `timeout_ms` has passed. */
export async function waitUntil(check: () => Promise<boolean>, timeout_ms: number, every_ms = 100): Promise<boolean> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(every_ms);
  }
}
