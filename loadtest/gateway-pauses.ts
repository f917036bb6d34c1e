// The gateway's own pauses over a run, read from its /metrics (prom-client's default metrics):
// how late its event loop ran, and the garbage collector's pauses by kind. What a latency
// percentile cannot say by itself: whether a slow request waited in the gateway or elsewhere
// (Redis, PostgreSQL, the kernel's scheduler on a shared machine).

/** prom-client's event-loop monitor fires every 10 ms and records the whole interval. */
const loop_resolution_ms = 10;

export interface GcPauses {
  readonly count: number;
  readonly total_ms: number;
}

export interface Pauses {
  /** How late the event loop ran, beyond the monitor's own interval, over the run. */
  readonly loop_delay_p99_ms: number;
  readonly loop_delay_max_ms: number;
  /** GC pauses during the run by kind (minor: scavenges; major: mark-compact; incremental; weakcb). */
  readonly gc: Readonly<Record<string, GcPauses>>;
}

export interface Reading {
  readonly loop_p99_s: number;
  readonly loop_max_s: number;
  readonly gc: Map<string, GcPauses>;
}

/** One read of /metrics; the event-loop figures are since the previous read (prom-client resets them). */
export async function readPauses(gateway_url: string): Promise<Reading> {
  return parsePauses(await (await fetch(`${gateway_url}/metrics`)).text());
}

/** The figures of one /metrics text (Prometheus text format). */
export function parsePauses(text: string): Reading {
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const gc = new Map<string, GcPauses>();
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} (\S+)$/gm)) {
    const entry = gc.get(m[2]!) ?? { count: 0, total_ms: 0 };
    gc.set(m[2]!, m[1] === 'sum' ? { ...entry, total_ms: Number(m[3]) * 1000 } : { ...entry, count: Number(m[3]) });
  }
  return { loop_p99_s: value('nodejs_eventloop_lag_p99_seconds'), loop_max_s: value('nodejs_eventloop_lag_max_seconds'), gc };
}

/** What happened between two readings (`before` taken just before the run, `after` just after). */
export function pausesBetween(before: Reading, after: Reading): Pauses {
  const gc: Record<string, GcPauses> = {};
  for (const [kind, a] of after.gc) {
    const b = before.gc.get(kind) ?? { count: 0, total_ms: 0 };
    if (a.count > b.count) gc[kind] = { count: a.count - b.count, total_ms: Math.round((a.total_ms - b.total_ms) * 10) / 10 };
  }
  const late = (s: number) => Math.max(0, Math.round((s * 1000 - loop_resolution_ms) * 10) / 10);
  return { loop_delay_p99_ms: late(after.loop_p99_s), loop_delay_max_ms: late(after.loop_max_s), gc };
}

/** 'minor 70 × 7.9 ms, major 3 × 12.1 ms' */
export function formatGc(gc: Readonly<Record<string, GcPauses>>): string {
  const parts = Object.entries(gc).map(([kind, p]) => `${kind} ${p.count} × ${(p.total_ms / p.count).toFixed(1)} ms`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}
