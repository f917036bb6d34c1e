// The processes the fault suite kills and freezes: the gateway (gateway/main.ts) and the
// standalone ledger writer (processor/ledger/writer-main.ts), each a child run through tsx, as
// `npm start` and `npm run ledger-writer` run them.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { gateway_node_flags } from '../../scripts/node-flags.mjs';
import { sleep } from './exec.ts';

export const repo_root = join(import.meta.dirname, '..', '..');

/** Every child started and not yet seen to exit: what an interrupted suite must still stop. */
export const live_children = new Set<Child>();

export class Child {
  private child: ChildProcess | undefined;
  private tail = '';

  constructor(
    readonly name: string,
    private readonly file: string,
    private readonly env: Record<string, string>,
    /** Node's flags before the file: the gateway's are those `npm start` gives it. */
    private readonly node_args: readonly string[] = [],
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** The last 4,000 characters it wrote, to say why it failed. */
  output(): string {
    return this.tail;
  }

  spawn(): void {
    const child = spawn(process.execPath, [...this.node_args, '--import', 'tsx', join(repo_root, this.file)], {
      cwd: repo_root,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => (this.tail = (this.tail + String(d)).slice(-4_000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (err) => keep(Buffer.from(`\nspawn failed: ${err.message}\n`)));
    child.on('exit', () => live_children.delete(this));
    live_children.add(this);
    this.child = child;
  }

  /** Sends `signal` (SIGKILL: waits for the exit, at most 10 s). */
  async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    if (signal === 'SIGKILL') await Promise.race([exited, sleep(10_000)]);
  }

  /** SIGTERM, SIGKILL after 10 s; a stopped (SIGSTOP) child is continued first so it can go. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** The gateway on `port`, in-process ledger writer unless `ledger_writer` is false. */
export function gatewayChild(env: Record<string, string>, port: number, iso_port: number, ledger_writer: boolean): Child {
  return new Child('gateway', 'gateway/main.ts', { ...env, PORT: String(port), ISO8583_PORT: String(iso_port), LEDGER_WRITER: ledger_writer ? 'on' : 'off', HOST: '127.0.0.1', LOG_LEVEL: 'warn' }, gateway_node_flags);
}

export function writerChild(env: Record<string, string>): Child {
  return new Child('ledger writer', 'processor/ledger/writer-main.ts', { ...env, LOG_LEVEL: 'warn' });
}

/** Spawns the gateway and waits (up to 60 s) for /readyz 200. */
export async function startGateway(gateway: Child, base_url: string): Promise<void> {
  gateway.spawn();
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!gateway.running) throw new Error(`the gateway exited at start:\n${gateway.output()}`);
    const ok = await fetch(`${base_url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) {
      await gateway.signal('SIGKILL');
      throw new Error(`the gateway did not answer /readyz within 60 s:\n${gateway.output()}`);
    }
    await sleep(100);
  }
}
