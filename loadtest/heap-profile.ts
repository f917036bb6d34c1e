// Where a process allocates: V8's sampling heap profiler over the inspector protocol, counting
// objects the collector has since freed too (most of a request's allocations die young, and
// `node --heap-prof` would show only the survivors). The .heapprofile opens in Chrome DevTools
// (Memory tab) as allocations by function.

import WebSocket from 'ws';
import { areaOf } from './cpu-profile.ts';

export interface HeapProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly HeapProfileNode[];
}

export interface HeapProfile {
  readonly head: HeapProfileNode;
}

/** The node flag that lets `startHeapSampling` reach the process (loopback only). */
export function inspectFlag(port: number): string {
  return `--inspect=127.0.0.1:${port}`;
}

/** How long one inspector call may take: stopping a long sampling session serialises its profile. */
const call_timeout_ms = 60_000;

/**
 * A sampling session on the process listening at `inspect_port`: `stop()` ends it with the
 * profile, `close()` ends it without (call one of them, whatever happens between). A call the
 * process does not answer, or a socket that closes, fails instead of waiting for ever.
 */
export async function startHeapSampling(inspect_port: number, sampling_interval_bytes = 16_384): Promise<{ stop(): Promise<HeapProfile>; close(): void }> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspect_port}/json/list`, { signal: AbortSignal.timeout(5_000) })).json()) as { webSocketDebuggerUrl: string }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error(`no inspector target on port ${inspect_port}`);
  const socket = new WebSocket(url, { maxPayload: 512 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  let next_id = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const failAll = (err: Error) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  socket.on('error', (err) => failAll(err));
  socket.on('close', () => failAll(new Error('the inspector connection closed')));
  socket.on('message', (data) => {
    const m = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    const w = m.id === undefined ? undefined : waiting.get(m.id);
    if (w === undefined) return;
    waiting.delete(m.id!);
    if (m.error !== undefined) w.reject(new Error(m.error.message));
    else w.resolve(m.result);
  });
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next_id++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`inspector: ${method} not answered within ${call_timeout_ms} ms`));
      }, call_timeout_ms);
      const settle = <T>(f: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        f(v);
      };
      waiting.set(id, { resolve: settle(resolve), reject: settle(reject) });
      socket.send(JSON.stringify({ id, method, params }));
    });
  const close = () => socket.close();
  try {
    await call('HeapProfiler.enable');
    await call('HeapProfiler.startSampling', { samplingInterval: sampling_interval_bytes, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  } catch (err) {
    close();
    throw err;
  }
  return {
    async stop() {
      try {
        const { profile } = (await call('HeapProfiler.stopSampling')) as { profile: HeapProfile };
        return profile;
      } finally {
        close();
      }
    },
    close,
  };
}

/** Bytes allocated where `name` says, and their share of all. */
export interface HeapShare {
  readonly name: string;
  readonly kb: number;
  readonly percent: number;
}

export interface HeapSummary {
  readonly total_bytes: number;
  /** Bytes allocated by each function itself, largest first. */
  readonly functions: readonly HeapShare[];
  /** By the innermost frame of our own code (core, processor, adapters, gateway) on the stack. */
  readonly ours: readonly HeapShare[];
}

/** Bytes by function and by our own caller. */
export function summariseHeapProfile(profile: HeapProfile, top = 30): HeapSummary {
  const functions = new Map<string, number>();
  const ours = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapProfileNode, own: string | undefined) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const area = areaOf(url, functionName);
    const name = `${functionName || '(anonymous)'} ${area}${url === '' ? '' : `:${lineNumber + 1}`}`;
    const mine = /^(core|processor|adapters|gateway)\//.test(area) ? name : own;
    if (node.selfSize > 0) {
      total += node.selfSize;
      functions.set(name, (functions.get(name) ?? 0) + node.selfSize);
      const key = mine ?? '(none of ours on the stack)';
      ours.set(key, (ours.get(key) ?? 0) + node.selfSize);
    }
    for (const c of node.children) walk(c, mine);
  };
  walk(profile.head, undefined);
  const shares = (m: Map<string, number>): HeapShare[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, bytes]) => ({ name, kb: Math.round(bytes / 1024), percent: total === 0 ? 0 : Math.round((bytes / total) * 1000) / 10 }));
  return { total_bytes: total, functions: shares(functions), ours: shares(ours) };
}

export function formatHeapShares(title: string, shares: readonly HeapShare[]): string {
  return [title, ...shares.map((s) => `${s.percent.toFixed(1).padStart(5)}%  ${String(s.kb).padStart(8)} KB  ${s.name}`)].join('\n');
}
