// The load test's HTML report: one self-contained file (inline SVG, no script, no CDN), readable
// offline. Per target, throughput and latency percentiles over time, one line per run.

import { median } from './measure.ts';
import type { TargetRow } from './targets.ts';

interface Second {
  readonly t: number;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
}
interface RunLike {
  readonly target: string;
  readonly round: number;
  readonly rate: number | null;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly per_second: readonly Second[];
  readonly cpu_us_per_request?: { server: number; redis: number; postgres: number | null };
  readonly ledger_behind?: { readonly max_behind_s: number; readonly series: readonly (readonly [number, number, number])[] };
}
interface ReportLike {
  readonly date: string;
  readonly command: string;
  readonly machine: Record<string, unknown>;
  readonly settings: Record<string, unknown>;
  readonly seed_ms: number;
  readonly memory: {
    per_contact_bytes: number;
    sample_after_runs: Record<string, { keys: number; mean_bytes: number }>;
    keys_per_contact: string;
    per_transaction: { bytes: number; purchases: number; delta_bytes: number; rps: number; elapsed_s: number; catchup_s: number; recorded: number; by_family?: { family: string; keys: number; bytes: number }[]; warmup?: { purchases: number; contacts: number; bytes_per_contact: number; by_family: { family: string; bytes: number }[] } } | null;
  };
  readonly summary: Record<string, unknown>;
  readonly targets: readonly TargetRow[];
  readonly ledger_behind_method?: string;
  readonly ledger: Record<string, unknown>;
  readonly runs: readonly RunLike[];
}

const esc = (s: unknown) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

interface Series {
  readonly name: string;
  readonly color: string;
  readonly dash?: string;
  readonly points: readonly [number, number][];
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function lineChart(title: string, y_label: string, series: readonly Series[], width = 540, height = 240): string {
  const m = { l: 56, r: 12, t: 26, b: 34 };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((y) => Number.isFinite(y));
  const x_max = Math.max(1, ...xs);
  const y_max = niceMax(Math.max(0, ...ys));
  const X = (x: number) => m.l + (x / x_max) * w;
  const Y = (y: number) => m.t + h - (Math.min(y, y_max) / y_max) * h;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<text x="${m.l}" y="15" font-size="13" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const y = (y_max * i) / 4;
    parts.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${Y(y)}" y2="${Y(y)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 4}" y="${Y(y) + 4}" text-anchor="end">${y >= 100 ? Math.round(y) : Number(y.toFixed(2))}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const x = (x_max * i) / 5;
    parts.push(`<text x="${X(x)}" y="${m.t + h + 14}" text-anchor="middle">${Math.round(x)}</text>`);
  }
  parts.push(`<text x="${m.l + w / 2}" y="${height - 4}" text-anchor="middle">seconds</text>`);
  parts.push(`<text x="12" y="${m.t + h / 2}" text-anchor="middle" transform="rotate(-90 12 ${m.t + h / 2})">${esc(y_label)}</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
  }
  // Legend, top right.
  series.forEach((s, i) => {
    const y = m.t + 10 + i * 13;
    parts.push(`<line x1="${m.l + w - 110}" x2="${m.l + w - 92}" y1="${y - 4}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    parts.push(`<text x="${m.l + w - 88}" y="${y}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function barChart(title: string, bars: readonly { name: string; value: number; color: string }[], width = 540, height = 240): string {
  const m = { l: 130, r: 60, t: 26, b: 10 };
  const w = width - m.l - m.r;
  const bh = Math.min(22, (height - m.t - m.b) / Math.max(1, bars.length) - 4);
  const max = niceMax(Math.max(1, ...bars.map((b) => b.value)));
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`, `<text x="4" y="15" font-size="13" font-weight="bold">${esc(title)}</text>`];
  bars.forEach((b, i) => {
    const y = m.t + i * (bh + 4);
    parts.push(`<text x="${m.l - 4}" y="${y + bh / 2 + 4}" text-anchor="end">${esc(b.name)}</text>`);
    parts.push(`<rect x="${m.l}" y="${y}" width="${((b.value / max) * w).toFixed(1)}" height="${bh}" fill="${b.color}"/>`);
    parts.push(`<text x="${m.l + (b.value / max) * w + 4}" y="${y + bh / 2 + 4}">${Math.round(b.value)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}


/** A target's charts over time: throughput, latency percentiles, and the ledger's lag when sampled. */
function overTime(t: string, runs: readonly RunLike[]): string {
  const label = (r: RunLike) => (r.round > 0 ? `round ${r.round}` : r.rate !== null ? `${r.rate}/s` : 'run');
  const rps = lineChart(`${t}: throughput`, 'req/s', runs.map((r, i) => ({ name: label(r), color: palette[i % palette.length]!, points: r.per_second.map((s) => [s.t, s.rps] as [number, number]) })));
  const latency = lineChart(
    `${t}: latency percentiles per second`,
    'ms',
    runs.flatMap((r, i) => [
      { name: `${label(r)} p50`, color: palette[i % palette.length]!, dash: '4 3', points: r.per_second.map((s) => [s.t, s.p50_ms] as [number, number]) },
      { name: `${label(r)} p99`, color: palette[i % palette.length]!, points: r.per_second.map((s) => [s.t, s.p99_ms] as [number, number]) },
    ]),
  );
  const lagged = runs.filter((r) => r.ledger_behind !== undefined && r.ledger_behind.series.length > 0);
  const behind =
    lagged.length === 0
      ? ''
      : lineChart(
          `${t}: ledger seconds behind (every 250 ms)`,
          's',
          lagged.map((r, i) => ({ name: label(r), color: palette[i % palette.length]!, points: r.ledger_behind!.series.map((x) => [x[0], x[1]] as [number, number]) })),
        );
  return `<h3>${esc(t)}</h3><div class="charts">${rps}${latency}${behind}</div>`;
}

/** A target's row of the summary table: medians over its runs (`rs`), `empty` the empty route's req/s. */
function summaryRow(t: string, rs: readonly RunLike[], empty: number): string {
  const rps = median(rs.map((r) => r.rps));
  const f = (x: number) => (Number.isFinite(x) ? String(Math.round(x * 100) / 100) : '-');
  const cpu = rs.filter((r) => r.cpu_us_per_request !== undefined).map((r) => r.cpu_us_per_request!);
  const pg = cpu.some((c) => c.postgres === null) ? '-' : f(median(cpu.map((c) => c.postgres!)));
  const cpu_cell = cpu.length === 0 ? '-' : `${f(median(cpu.map((c) => c.server)))}+${f(median(cpu.map((c) => c.redis)))}+${pg}`;
  const behind = rs.some((r) => r.ledger_behind !== undefined) ? f(Math.max(...rs.map((r) => r.ledger_behind?.max_behind_s ?? 0))) : '-';
  return `<tr><td>${esc(t)}${rs[0]!.rate !== null ? ` (${rs[0]!.rate}/s)` : ''}</td><td>${rs.length}</td><td>${Math.round(rps)}</td><td>${empty > 0 ? Math.round((100 * rps) / empty) + '%' : '-'}</td><td>${f(median(rs.map((r) => r.p50_ms)))}</td><td>${f(median(rs.map((r) => r.p90_ms)))}</td><td>${f(median(rs.map((r) => r.p99_ms)))}</td><td>${rs.reduce((s, r) => s + r.ok, 0)}</td><td>${rs.reduce((s, r) => s + r.non2xx + r.errors + r.timeouts, 0)}</td><td>${cpu_cell}</td><td>${behind}</td></tr>`;
}

export function renderHtml(report: ReportLike): string {
  const targets = [...new Set(report.runs.map((r) => r.target))];
  const sections = targets.map((t) => overTime(t, report.runs.filter((r) => r.target === t)));
  const max_rate = targets.filter((t) => report.runs.some((r) => r.target === t && r.round > 0));
  const bars = barChart(
    'median req/s at max rate',
    max_rate.map((t, i) => ({ name: t, value: median(report.runs.filter((r) => r.target === t && r.round > 0).map((r) => r.rps)), color: palette[i % palette.length]! })),
  );
  const p99s = barChart(
    'median p99 ms at max rate',
    max_rate.map((t, i) => ({ name: t, value: median(report.runs.filter((r) => r.target === t && r.round > 0).map((r) => r.p99_ms)), color: palette[i % palette.length]! })),
  );
  const empty = median(report.runs.filter((r) => r.target === 'empty' && r.round > 0).map((r) => r.rps));
  const rows = targets.map((t) => summaryRow(t, report.runs.filter((r) => r.target === t), empty)).join('');
  const target_rows = report.targets
    .map((t) => `<tr class="${t.met === null ? 'unmeasured' : t.met ? 'met' : 'unmet'}"><td>${esc(t.id)}</td><td>${esc(t.target)}</td><td>${esc(t.figure)}</td><td>${esc(t.limit)}</td><td>${esc(t.result)}</td></tr>`)
    .join('');
  const pt = report.memory.per_transaction;
  const memory_rows = Object.entries(report.memory.sample_after_runs).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v.keys}</td><td>${v.mean_bytes}</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pocketgate load test ${esc(report.date)}</title>
<style>
body{font-family:sans-serif;margin:20px;color:#222;max-width:1160px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}td:not(:first-child){text-align:right}
tr.met td:last-child{color:#2a7a2a;font-weight:bold}tr.unmet td:last-child{color:#b00;font-weight:bold}tr.unmeasured td:last-child{color:#777}
.charts{display:flex;flex-wrap:wrap;gap:12px}h3{margin:18px 0 4px}code{background:#f4f4f4;padding:1px 4px}
.targets td{text-align:left!important}
</style></head><body>
<h1>Pocketgate load test</h1>
<p>${esc(report.date)} — <code>${esc(report.command)}</code><br>
machine: ${esc(JSON.stringify(report.machine))}<br>settings: ${esc(JSON.stringify(report.settings))}</p>
<h2>Targets</h2><table class="targets"><tr><th>#</th><th>target</th><th>figure</th><th>limit</th><th>result</th></tr>${target_rows}</table>
${report.ledger_behind_method === undefined ? '' : `<p>Ledger behind: ${esc(report.ledger_behind_method)}.</p>`}
<h2>Summary (medians over rounds)</h2>
<table><tr><th>target</th><th>runs</th><th>req/s</th><th>vs empty</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>2xx</th><th>non-2xx / errors</th><th>CPU µs/req server+Redis+PG</th><th>ledger behind max s</th></tr>${rows}</table>
<div class="charts">${bars}${p99s}</div>
<h2>Ledger</h2><table class="targets">${Object.entries(report.ledger).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(typeof v === 'object' ? JSON.stringify(v) : v)}</td></tr>`).join('')}</table>
<h2>Redis memory</h2><p>${report.memory.per_contact_bytes} bytes per contact after seeding (${esc(report.memory.keys_per_contact)}); seeding took ${(report.seed_ms / 1000).toFixed(1)} s.</p>
${pt === null ? '' : `<p>${pt.bytes} bytes per transaction still in Redis once the ledger recorded it: used_memory +${(pt.delta_bytes / 2 ** 20).toFixed(1)} MiB over ${pt.purchases} purchases (${pt.rps} purchases/s for ${pt.elapsed_s} s; the ledger caught up ${pt.catchup_s} s after and gained ${pt.recorded} transactions).${pt.by_family === undefined ? '' : ` By family of key (MEMORY USAGE of every key, bytes per transaction): ${pt.by_family.map((f) => `${esc(f.family)} ${f.bytes}`).join(', ')}.`}${pt.warmup === undefined ? '' : ` Before them, a warm-up purchase by each of the ${pt.warmup.contacts} contacts (${pt.warmup.purchases} approved) left ${pt.warmup.bytes_per_contact} bytes per contact: ${pt.warmup.by_family.map((f) => `${esc(f.family)} ${f.bytes}`).join(', ')}.`}</p>`}
<table><tr><th>keys (sampled after the runs)</th><th>sampled</th><th>mean MEMORY USAGE, bytes</th></tr>${memory_rows}</table>
<h2>Over time</h2>
${sections.join('\n')}
</body></html>
`;
}
