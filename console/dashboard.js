// The live dashboard: traffic of the last minute (polled), the ledger's lag, awards and spends
// since the viewer's midnight, and the latest transactions, which the live feed prepends as they
// happen and the ledger's list fills in where the feed was not there (reconnecting, hidden). At
// most `rows_max` rows are kept.

import { api, apiJson, retry_ms } from './api.js';
import { followShared } from './feed.js';
import { trafficChart, trafficUnavailable } from './chart.js';
import { h, replace, table } from './dom.js';
import { formatTime, startOfToday } from './format.js';

const poll_ms = 2_000;
const rows_max = 50;
/** How far the ledger (GET /v1/transactions) may be behind the POS path, and then some. */
const ledger_behind_ms = 3_000;

function tile(label, id) {
  return h('div', { class: 'tile' }, h('div', { class: 'label', id: `${id}-label` }, label), h('div', { class: 'value', id, 'aria-labelledby': `${id}-label ${id}` }, '…'));
}

function transactionRow(t, ctx) {
  return [formatTime(t.created_at), t.kind, { text: ctx.money(t.amount), num: true }, { text: t.awarded ? ctx.money(t.awarded) : '', num: true }, t.reference ?? '', t.made_by, t.contact_id ?? '', t.id];
}

const headers = ['Time', 'Kind', { text: 'Amount', num: true }, { text: 'Awarded', num: true }, 'Reference', 'Made by', 'Contact', 'Transaction'];

export function render(container, ctx) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('role', 'img');
  const status = h('p', { class: 'muted', id: 'feed-status', role: 'status' }, 'Connecting to the live feed…');
  // The list's own failure, apart from the feed's status: a 503 from the ledger is no news of the
  // feed, which may be live all the while (until 2026-12-05 it took the status line's place).
  const error = h('p', { class: 'error', id: 'latest-error', role: 'alert', hidden: true });
  const list = h('div', { id: 'latest' });
  replace(container,
    h('h1', {}, 'Dashboard'),
    h('div', { class: 'tiles' },
      tile('Approvals per second (last 10 s)', 'approvals-rate'), tile('Declines per second (last 10 s)', 'declines-rate'),
      tile('Latency p50', 'latency-p50'), tile('Latency p99', 'latency-p99'), tile('Ledger lag (entries)', 'ledger-lag'),
      tile('Awards today', 'awards-today'), tile('Spends today', 'spends-today')),
    h('section', { class: 'card chart', 'aria-labelledby': 'traffic-title' },
      h('h2', { id: 'traffic-title' }, 'POS traffic, last minute: approvals and declines each second'),
      svg,
      h('div', { class: 'legend' }, h('span', {}, h('span', { class: 'swatch approved' }), 'Approved'), h('span', {}, h('span', { class: 'swatch declined' }), 'Declined'))),
    h('section', { class: 'card', 'aria-labelledby': 'latest-title' }, h('h2', { id: 'latest-title' }, 'Latest transactions'), status, error, list));

  const rows = latestRows();
  const draw = () => replace(list, table('Newest first; new ones appear as they happen', headers, rows.all.map((t) => transactionRow(t, ctx))));
  const stop = new AbortController();
  const reread = latestReader(stop.signal, {
    rows: (ts) => {
      rows.merge(ts);
      draw();
    },
    failed: (message) => {
      error.hidden = message === undefined;
      // Set only when it changes: a role=alert told the same failure at every retry says it again.
      if (error.textContent !== (message ?? '')) error.textContent = message ?? '';
    },
  });
  reread.now();

  // A hidden tab lets go of its feed and its polls: a browser holds 6 connections per host, and
  // each dashboard's feed keeps one; the seventh tab's calls waited for ever, the whole console's
  // with it (a black-box probe). Shown again, it reads what it missed meanwhile.
  let shown;
  const show = () => {
    shown = new AbortController();
    // The feed's own state, and a store the figures found unreachable: a feed open on a gateway
    // whose Redis is down brings nothing, and said "Live" all the while (a console probe).
    let said = 'Connecting to the live feed…'; // not what the hidden tab said: a follower may hear nothing until the feed's next event
    let down = null;
    const render = () => {
      status.textContent = down === null ? said : `The live feed is waiting: ${down}. New transactions appear once it is back.`;
    };
    render();
    poll(ctx, svg, shown.signal, (reason) => {
      down = reason;
      render();
    });
    let readies = 0;
    followShared(shown.signal, (text) => {
      said = text;
      render();
    }, {
      transaction: (t) => {
        rows.merge([t]);
        draw();
      },
      // What came while the feed was closed or reconnecting, or was dropped for a slow tab, is not
      // in the feed: only the ledger's list has it.
      ready: () => readies++ > 0 && reread.soon(),
      missed: () => reread.soon(),
    });
  };
  const hide = () => {
    shown?.abort();
    shown = undefined;
    status.textContent = 'Paused while this tab is hidden.';
  };
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') return hide();
    if (shown !== undefined) return;
    show();
    // Not left to the feed's ready (its first is no cue): the feed may not open (429, down).
    reread.soon();
  }, { signal: stop.signal });
  if (document.visibilityState === 'hidden') hide();
  else show();
  return () => {
    stop.abort();
    shown?.abort();
  };
}

/** The rows shown: one per transaction id, newest first by created_at, at most `rows_max`. */
function latestRows() {
  let all = [];
  return {
    get all() {
      return all;
    },
    /** Adds the transactions not shown yet; one shown already keeps its place. */
    merge(ts) {
      const seen = new Set(all.map((t) => t.id));
      const fresh = ts.filter((t) => !seen.has(t.id) && seen.add(t.id));
      // Within one second (created_at's precision), by id: a transaction's id starts with its
      // millisecond (core/ids.ts). Kept in the order shown, a reversal made in the second of its
      // purchase was listed under it (a black-box probe, 2026-12-05).
      all = [...all, ...fresh].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      all.length = Math.min(all.length, rows_max);
    },
  };
}

/**
 * Reads the latest transactions from the ledger: now(), and soon() (now and once more a little
 * later: the ledger is written behind the POS path, a transaction made just before may not be in
 * it yet). A failed read is tried again every retry_ms, while the tab is shown, until the page is
 * left: after a 503 (PostgreSQL down) the list stayed on its error until a reload.
 */
function latestReader(signal, on) {
  let reading = false;
  let again = false;
  let retry;
  let later;
  const now = async () => {
    if (signal.aborted) return;
    // One read at a time; one asked for meanwhile is made after it, so it sees what came since.
    if (reading) return void (again = true);
    reading = true;
    clearTimeout(retry);
    try {
      const r = await apiJson('GET', `/v1/transactions?limit=${rows_max}`);
      if (signal.aborted) return;
      on.failed(undefined);
      on.rows(r.data);
    } catch (err) {
      if (signal.aborted) return;
      on.failed(`Could not read the latest transactions: ${err.message}; trying again…`);
      // A hidden tab reads again when it is shown (soon()), not meanwhile.
      if (document.visibilityState !== 'hidden') retry = setTimeout(now, retry_ms);
    } finally {
      reading = false;
      if (again && !signal.aborted) {
        again = false;
        now();
      }
    }
  };
  const soon = () => {
    now();
    clearTimeout(later);
    later = setTimeout(now, ledger_behind_ms);
  };
  signal.addEventListener('abort', () => {
    clearTimeout(retry);
    clearTimeout(later);
  });
  return { now, soon };
}

/** The figures, every poll_ms; `storesDown` told what a 503 says (a store unreachable), or null once they are read again. */
async function poll(ctx, svg, signal, storesDown) {
  const set = (id, text) => {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  };
  while (!signal.aborted) {
    // Today as of each poll: a dashboard left open overnight starts again at midnight.
    const since = startOfToday();
    const r = await api('GET', `/v1/stats?since=${encodeURIComponent(since)}`).catch((err) => ({ ok: false, body: { detail: err.message } }));
    if (signal.aborted) return;
    if (r.ok) {
      const s = r.body;
      const last = s.per_second.slice(-10);
      set('approvals-rate', (last.reduce((n, p) => n + p.approved, 0) / 10).toFixed(1));
      set('declines-rate', (last.reduce((n, p) => n + p.declined, 0) / 10).toFixed(1));
      set('latency-p50', s.latency_ms.p50 === null ? '—' : `≤ ${s.latency_ms.p50} ms`);
      set('latency-p99', s.latency_ms.p99 === null ? '—' : `≤ ${s.latency_ms.p99} ms`);
      set('ledger-lag', String(s.ledger_lag));
      // Null while PostgreSQL is down: the ledger's totals cannot be read, the rest is live.
      set('awards-today', s.awards_today === null ? '— (ledger unavailable)' : ctx.money(s.awards_today));
      set('spends-today', s.spends_today === null ? '— (ledger unavailable)' : ctx.money(s.spends_today));
      trafficChart(svg, s.per_second);
      storesDown(null);
    } else {
      if (r.status === 503) storesDown(r.body?.detail ?? 'a store is unreachable');
      // The figures come in one answer: none is current now, and an old one must not pass for it.
      for (const id of ['approvals-rate', 'declines-rate', 'latency-p50', 'latency-p99', 'awards-today', 'spends-today']) set(id, '—');
      trafficUnavailable(svg);
      set('ledger-lag', `unavailable (${r.body?.detail ?? r.status})`);
    }
    await new Promise((resolve) => setTimeout(resolve, poll_ms));
  }
}
