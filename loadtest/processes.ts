// Child processes for benchmarks: started the same way, awaited until they answer, stopped.

import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { join } from 'node:path';
import { gateway_node_flags } from '../scripts/node-flags.mjs';

export const repo_root = join(import.meta.dirname, '..');

export interface Child {
  readonly process: ChildProcess;
  readonly url: string;
  /** The last 4,000 characters it wrote (stdout and stderr), to say why it failed. */
  output(): string;
  stop(): Promise<void>;
}

export interface ChildOptions {
  /** Polled until it answers 200. */
  readonly ready_path?: string;
  /** Before the entry point: `--cpu-prof`, say. */
  readonly node_args?: readonly string[];
  /** Another checkout to run `file` from (a baseline to compare with); this one by default. */
  readonly root?: string;
}

export async function startChild(file: string, port: number, env: Record<string, string>, options: ChildOptions = {}): Promise<Child> {
  const { ready_path = '/healthz', node_args = [], root = repo_root } = options;
  // The gateway runs with the flags `npm start` gives it: what is measured is what runs.
  const flags = file === 'gateway/main.ts' ? [...gateway_node_flags, ...node_args] : node_args;
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', join(root, file)], {
    cwd: root,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output = (output + String(d)).slice(-4_000)));
  child.stderr?.on('data', (d) => (output = (output + String(d)).slice(-4_000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${file} exited with ${child.exitCode}:\n${output}`);
    const ok = await fetch(url + ready_path).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${file} did not answer ${ready_path} within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    process: child,
    url,
    output: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

/**
 * Until the returned function is called: on SIGINT, SIGTERM or SIGHUP (npm run forwards them) stop
 * `children` (each is killed outright 10 s after SIGTERM), then exit 128 + the signal's number. A
 * benchmark stopped by hand leaves no gateway behind.
 */
export function stopOnSignals(children: readonly Child[]): () => void {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const handler = (signal: NodeJS.Signals) => {
    process.stderr.write(`${signal}: stopping ${children.length} child process(es)\n`);
    void Promise.all(children.map((c) => c.stop())).finally(() => process.exit(128 + (constants.signals[signal] ?? 0)));
  };
  for (const s of signals) process.once(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
