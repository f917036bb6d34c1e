// gateway/main.ts (what `npm start` runs) in a child process of a test's own, or `npm start`
// itself: for tests of the process itself (its start during an outage, its stop on SIGTERM).

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { join } from 'node:path';

export interface GatewayProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Its HTTP port, once it logged that it listens. */
  readonly port: number;
  /** The gateway's own process id, as it logged it (under `npm start`, not the child's). */
  readonly gateway_pid: number;
  /** Its exit code (null: killed by a signal). */
  readonly exited: Promise<number | null>;
  /** What it wrote so far, stdout and stderr. */
  output(): string;
  /** SIGKILL unless it has exited, and the watchdog off: call in `finally`. */
  kill(): void;
}

/**
 * Starts it with `env` over the test's environment (PORT 0 and ISO8583_PORT 0 unless given); killed
 * after `watchdog_ms` whatever happens. `npm`: through `npm start`, as an operator (or a harness)
 * runs it, npm and scripts/start.mjs between the test and the gateway. `cwd`: another tree to run it
 * from (the files a Docker image holds), the checkout by default.
 */
export async function startGatewayProcess(env: Record<string, string>, watchdog_ms = 50_000, npm = false, cwd = join(import.meta.dirname, '..')): Promise<GatewayProcess> {
  const [command, args] = npm ? ['npm', ['start']] : [process.execPath, ['--import', 'tsx', 'gateway/main.ts']];
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, PORT: '0', ISO8583_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let gateway_pid: number | undefined;
  // Under `npm start` the gateway is a grandchild: killed by its own pid, as the child is.
  const killAll = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (gateway_pid === undefined || gateway_pid === child.pid) return;
    try {
      process.kill(gateway_pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const watchdog = setTimeout(killAll, watchdog_ms);
  const kill = () => {
    clearTimeout(watchdog);
    killAll();
  };
  let output = '';
  child.stderr.on('data', (d: Buffer) => (output += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        output += String(d);
        const m = /"pid":(\d+)[^\n]*"port":(\d+)[^\n]*gateway listening/.exec(output);
        if (m === null) return;
        gateway_pid = Number(m[1]);
        resolve(Number(m[2]));
      });
      void exited.then((code) => reject(new Error(`gateway exited ${code} before listening: ${output.slice(-2_000)}`)));
    });
    return { child, port, gateway_pid: gateway_pid!, exited, output: () => output, kill };
  } catch (err) {
    kill();
    throw err;
  }
}
