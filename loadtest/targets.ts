// The performance issue's targets, judged from one run's figures (each measured side by side in
// that run): a row per target with its figure, its limit and met / not met, or "not measured" when
// the run did not measure it (a scenario left out, `npm run bench`, a step turned off).

export const limits = {
  /** Throughput of a purchase, spend, redemption or ISO 0200 over the empty Hono route's. */
  throughput_ratio: 0.3,
  /** Age of the oldest journal entry not yet in the ledger during the max-rate run, s. */
  ledger_behind_s: 2,
  /** From the end of the max-rate run until the ledger holds everything, s. */
  ledger_catchup_s: 1,
  /** CPU of gateway + Redis + PostgreSQL per purchase, µs. */
  cpu_per_purchase_us: 250,
  /** p99 at half the purchase's own maximum rate, ms. */
  p99_ms: 10,
  redis_bytes_per_contact: 300,
  redis_bytes_per_transaction: 120,
} as const;

export interface Figures {
  readonly empty_rps?: number;
  /**
   * The floor of a POS transaction's shape, measured beside the rest in the same run
   * (floor-server.ts `/two` with its ledger drain): its throughput at the maximum rate, its CPU per
   * request (server + Redis + PostgreSQL) at the purchase's maximum rate (at its own, every
   * process is busier and shares each wakeup among more requests), its p99 at half the
   * purchase's own maximum rate.
   * What a target cannot go past whatever the code around the shape: printed beside each.
   */
  readonly floor?: { readonly rps: number; readonly cpu_us: number | null; readonly p99_ms_at_half_own_max: number | null };
  readonly purchase_rps?: number;
  readonly spend_rps?: number;
  readonly redemption_rps?: number;
  /** ISO 8583 0200 purchases, against the same empty route. */
  readonly iso_rps?: number;
  /** `run`: which run(s) were sampled ("purchase long, 60 s"). */
  readonly ledger_behind?: { readonly max_s: number; readonly samples: number; readonly interval_ms: number; readonly run: string };
  readonly ledger_catchup?: { readonly seconds: number; readonly entries_at_stop: number; readonly lost: number; readonly doubled: number; readonly iso_missing?: number; readonly after: string };
  /** null postgres: PostgreSQL is not on this machine (its CPU cannot be read). */
  readonly cpu_per_purchase_us?: { readonly gateway: number; readonly redis: number; readonly postgres: number | null; readonly runs: number };
  /** `tail`: what the run's slowest requests may have waited for (tail-watch.ts briefTailCauses). */
  readonly half_own_max?: { readonly rate: number; readonly achieved_rps: number; readonly p99_ms: number; readonly empty_p99_ms: number | null; readonly tail?: string };
  readonly sync?: { readonly async_rps: number; readonly sync_rps: number; readonly async_p99_ms: number; readonly sync_p99_ms: number };
  readonly redis_bytes_per_contact?: { readonly bytes: number; readonly contacts: number };
  readonly redis_bytes_per_transaction?: {
    readonly bytes: number;
    readonly purchases: number;
    readonly delta_bytes: number;
    readonly rps: number;
    readonly elapsed_s: number;
    /** One purchase by each contact before the first reading: what it left per contact. */
    readonly warmup?: { readonly contacts: number; readonly bytes_per_contact: number };
  };
}

export type Result = 'met' | 'not met' | 'not measured';

export interface TargetRow {
  /** The issue's target number, with what it is about: "1 purchase", "5 per transaction". */
  readonly id: string;
  readonly target: string;
  readonly figure: string;
  readonly limit: string;
  /** null: not measured by this run. */
  readonly met: boolean | null;
  readonly result: Result;
}

const int = (x: number) => Math.round(x).toLocaleString('en-US');
const fix = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const ms = (x: number) => (Number.isFinite(x) ? String(Math.round(x * 100) / 100) : '-');

function row(id: string, target: string, limit: string, measured: { figure: string; met: boolean } | undefined, not_measured: string): TargetRow {
  if (measured === undefined) return { id, target, figure: not_measured, limit, met: null, result: 'not measured' };
  return { id, target, figure: measured.figure, limit, met: measured.met, result: measured.met ? 'met' : 'not met' };
}

/** Throughput over the empty route's, against the ratio limit (undefined: not measured). */
function ratio(f: Figures, rps: number | undefined): { figure: string; met: boolean } | undefined {
  const L = limits;
  return rps === undefined || f.empty_rps === undefined || f.empty_rps <= 0
    ? undefined
    : { figure: `${fix(rps / f.empty_rps)} (${int(rps)} / ${int(f.empty_rps)} req/s)${f.floor === undefined ? '' : `; the floor of the shape in this run: ${fix(f.floor.rps / f.empty_rps)}`}`, met: rps / f.empty_rps >= L.throughput_ratio };
}

/** 1 ledger behind, 1 ledger catch-up. */
function ledgerRows(f: Figures, not_measured: string): TargetRow[] {
  const L = limits;
  const rows: TargetRow[] = [];
  const b = f.ledger_behind;
  rows.push(
    row(
      '1 ledger behind',
      `ledger behind (age of the oldest journal entry not in it), max, during max-rate purchases${b === undefined ? '' : ` (${b.run})`}`,
      `≤ ${L.ledger_behind_s} s`,
      b === undefined || b.samples === 0 ? undefined : { figure: `${fix(b.max_s)} s (max of ${b.samples} samples, every ${b.interval_ms} ms)`, met: b.max_s <= L.ledger_behind_s },
      not_measured,
    ),
  );
  const c = f.ledger_catchup;
  rows.push(
    row(
      '1 ledger catch-up',
      `ledger caught up after the load stopped${c === undefined ? '' : ` (${c.after})`}, none lost or doubled`,
      `≤ ${L.ledger_catchup_s} s, 0 lost, 0 doubled`,
      c === undefined
        ? undefined
        : {
            figure: `${fix(c.seconds)} s (${int(c.entries_at_stop)} entries behind at stop); lost ${c.lost}, doubled ${c.doubled}${c.iso_missing === undefined ? '' : `, ISO missing ${c.iso_missing}`}`,
            met: c.seconds <= L.ledger_catchup_s && c.lost === 0 && c.doubled === 0 && (c.iso_missing ?? 0) <= 0,
          },
      not_measured,
    ),
  );
  return rows;
}

/** 2 CPU: unmeasured without PostgreSQL's CPU, but the figure still says the rest. */
function cpuRow(f: Figures, not_measured: string): TargetRow {
  const L = limits;
  const cpu = f.cpu_per_purchase_us;
  return row(
    '2 CPU',
    'CPU per purchase: gateway + Redis + PostgreSQL',
    `≤ ${L.cpu_per_purchase_us} µs`,
    cpu === undefined || cpu.postgres === null
      ? undefined
      : {
          figure: `${int(cpu.gateway + cpu.redis + cpu.postgres)} µs (gateway ${int(cpu.gateway)} + Redis ${int(cpu.redis)} + PostgreSQL ${int(cpu.postgres)}; median of ${cpu.runs} max-rate run${cpu.runs === 1 ? '' : 's'})${f.floor?.cpu_us == null ? '' : `; the floor of the shape in this run, paced at the purchase's max rate: ${int(f.floor.cpu_us)} µs`}`,
          met: cpu.gateway + cpu.redis + cpu.postgres <= L.cpu_per_purchase_us,
        },
    cpu !== undefined && cpu.postgres === null ? `gateway ${int(cpu.gateway)} + Redis ${int(cpu.redis)} µs; PostgreSQL's CPU not readable (not on this machine)` : not_measured,
  );
}

/** 3 p99, 4 sync. */
function latencyRows(f: Figures, not_measured: string): TargetRow[] {
  const L = limits;
  const rows: TargetRow[] = [];
  const h = f.half_own_max;
  rows.push(
    row(
      '3 p99',
      `purchase p99 at half its own max rate${h === undefined ? '' : ` (${int(h.rate)} req/s)`}, the empty route's beside it`,
      `≤ ${L.p99_ms} ms`,
      h === undefined ? undefined : { figure: `${ms(h.p99_ms)} ms (achieved ${int(h.achieved_rps)} req/s); empty route at that rate: ${h.empty_p99_ms === null ? '-' : `${ms(h.empty_p99_ms)} ms`}${f.floor?.p99_ms_at_half_own_max == null ? '' : `; the floor of the shape: ${ms(f.floor.p99_ms_at_half_own_max)} ms`}${h.tail === undefined ? '' : `; in that run: ${h.tail}`}`, met: h.p99_ms <= L.p99_ms },
      not_measured,
    ),
  );
  const s = f.sync;
  rows.push(
    row(
      '4 sync',
      'async / DURABILITY=sync throughput, and async p99 lower',
      'async p99 < sync p99',
      s === undefined
        ? undefined
        : { figure: `×${fix(s.sync_rps > 0 ? s.async_rps / s.sync_rps : NaN)} (${int(s.async_rps)} / ${int(s.sync_rps)} req/s); p99 ${ms(s.async_p99_ms)} vs ${ms(s.sync_p99_ms)} ms`, met: s.async_p99_ms < s.sync_p99_ms },
      not_measured,
    ),
  );
  return rows;
}

/** 5 per contact, 5 per transaction. */
function memoryRows(f: Figures, not_measured: string): TargetRow[] {
  const L = limits;
  const rows: TargetRow[] = [];
  const m = f.redis_bytes_per_contact;
  rows.push(
    row(
      '5 per contact',
      'Redis memory per contact, after seeding',
      `≤ ${L.redis_bytes_per_contact} bytes`,
      m === undefined ? undefined : { figure: `${int(m.bytes)} bytes (${int(m.contacts)} contacts)`, met: m.bytes <= L.redis_bytes_per_contact },
      not_measured,
    ),
  );
  const t = f.redis_bytes_per_transaction;
  rows.push(
    row(
      '5 per transaction',
      'Redis memory per purchase, once the ledger has recorded it',
      `≤ ${L.redis_bytes_per_transaction} bytes`,
      t === undefined
        ? undefined
        : {
            figure: `${int(t.bytes)} bytes (used_memory +${fix(t.delta_bytes / 2 ** 20, 1)} MiB / ${int(t.purchases)} purchases; ${int(t.rps)} purchases/s, ${fix(t.elapsed_s, 0)} s${warmupText(t.warmup)})`,
            met: t.bytes <= L.redis_bytes_per_transaction,
          },
      not_measured,
    ),
  );
  return rows;
}

function warmupText(w: { readonly contacts: number; readonly bytes_per_contact: number } | undefined): string {
  return w === undefined ? '' : `; after a purchase by each of the ${int(w.contacts)} contacts, which left ${int(w.bytes_per_contact)} bytes per contact`;
}

/** Every target, in the issue's order. `not_measured` is the figure of the ones this run did not measure. */
export function judgeTargets(f: Figures, not_measured = 'not measured'): TargetRow[] {
  const L = limits;
  return [
    row('1 purchase', 'purchase throughput / empty route', `≥ ${fix(L.throughput_ratio)}`, ratio(f, f.purchase_rps), not_measured),
    ...ledgerRows(f, not_measured),
    row('1 spend', 'spend throughput / empty route', `≥ ${fix(L.throughput_ratio)}`, ratio(f, f.spend_rps), not_measured),
    row('1 redemption', 'redemption throughput / empty route', `≥ ${fix(L.throughput_ratio)}`, ratio(f, f.redemption_rps), not_measured),
    row('1 ISO 0200', 'ISO 8583 0200 purchase throughput / empty route', `≥ ${fix(L.throughput_ratio)}`, ratio(f, f.iso_rps), not_measured),
    cpuRow(f, not_measured),
    ...latencyRows(f, not_measured),
    ...memoryRows(f, not_measured),
  ];
}

/** The targets as a Markdown table (console output, pasted into the README as it is). */
export function formatTargets(rows: readonly TargetRow[]): string {
  const head = ['#', 'target', 'figure', 'limit', 'result'];
  const cells = rows.map((r) => [r.id, r.target, r.figure, r.limit, r.result]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

/** met / not met / not measured counts, for a one-line verdict. */
export function tally(rows: readonly TargetRow[]): Record<Result, number> {
  const out: Record<Result, number> = { met: 0, 'not met': 0, 'not measured': 0 };
  for (const r of rows) out[r.result]++;
  return out;
}
