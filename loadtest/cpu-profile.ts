// Reading a V8 CPU profile (`node --cpu-prof`): where the time went, by function and by the
// package or file the function is in. The .cpuprofile itself opens as a flame graph in Chrome
// DevTools (Performance tab) or https://www.speedscope.app.

export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
    readonly children?: readonly number[];
  }[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface Share {
  readonly name: string;
  readonly ms: number;
  /** Of the profile's busy time (all but idle). */
  readonly percent: number;
}

export interface ProfileSummary {
  readonly wall_ms: number;
  readonly busy_ms: number;
  readonly idle_ms: number;
  /** Self time by function, largest first. */
  readonly functions: readonly Share[];
  /** Self time by area: a package, one of our folders, node's internals, GC. */
  readonly areas: readonly Share[];
  /** Time in each area including what it called (a function counted once per sample). */
  readonly inclusive: readonly Share[];
}

/** Where a function lives: `node_modules/<pkg>`, our `core/…` file, `node:<module>`, or a V8 pseudo-frame. */
export function areaOf(url: string, function_name: string): string {
  if (url === '') return function_name.startsWith('(') ? function_name : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/').slice(0, 2).join('/')}`;
  const m = /\/(core|processor|adapters|gateway|loadtest)\/(.*)$/.exec(url);
  if (m !== null) return `${m[1]}/${m[2]}`;
  return url;
}

export function summariseProfile(profile: CpuProfile, top = 30): ProfileSummary {
  const by_id = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self_by_node = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    // The delta before a sample is the time it stands for (as DevTools counts it).
    self_by_node.set(id, (self_by_node.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idle_us = 0;
  let total_us = 0;
  for (const [id, us] of self_by_node) {
    const node = by_id.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    total_us += us;
    if (functionName === '(idle)') {
      idle_us += us;
      continue;
    }
    const area = areaOf(url, functionName);
    const fname = `${functionName || '(anonymous)'} ${area}${url === '' ? '' : `:${lineNumber + 1}`}`;
    functions.set(fname, (functions.get(fname) ?? 0) + us);
    areas.set(area, (areas.get(area) ?? 0) + us);
    // Inclusive: every area on the stack once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = by_id.get(at)!.callFrame;
      const a = areaOf(f.url, f.functionName);
      if (a.startsWith('(') || seen.has(a)) continue;
      seen.add(a);
      inclusive.set(a, (inclusive.get(a) ?? 0) + us);
    }
  }
  const busy_us = total_us - idle_us;
  const shares = (m: Map<string, number>): Share[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, percent: busy_us === 0 ? 0 : Math.round((us / busy_us) * 1000) / 10 }));
  return {
    wall_ms: Math.round((profile.endTime - profile.startTime) / 1000),
    busy_ms: Math.round(busy_us / 1000),
    idle_ms: Math.round(idle_us / 1000),
    functions: shares(functions),
    areas: shares(areas),
    inclusive: shares(inclusive),
  };
}

export function formatShares(title: string, shares: readonly Share[]): string {
  const lines = shares.map((s) => `${s.percent.toFixed(1).padStart(5)}%  ${s.ms.toFixed(0).padStart(7)} ms  ${s.name}`);
  return [title, ...lines].join('\n');
}
