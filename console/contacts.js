// Contact look-up by any CIM. The CIM goes in a POST body (POST /v1/contacts/lookup): a card
// number never goes in a URL. Then the contact's wallet (balances, commerce lots by pool and
// expiry), its statement of the last 90 days and its latest transactions, from the public API.

import { api, apiJson } from './api.js';
import { field, h, replace, table } from './dom.js';
import { formatTime } from './format.js';

const cim_types = [
  ['card', 'Card number'], ['phone', 'Phone'], ['email', 'Email'], ['loyalty_id', 'Loyalty id'],
  ['gift_pass', 'Gift pass'], ['wallet_code', 'Wallet code'], ['contact_code', 'Contact code'],
];
const statement_days = 90;
const latest_max = 10;
/**
 * When the 90 days hold more lines than a statement answers (has_more: it stops at its first
 * 10,000), the latest are read from shorter periods back from now, widened until they hold
 * latest_max lines, each read page after page to its end, at most pages_max pages.
 */
const latest_windows_ms = [3_600_000, 86_400_000, 7 * 86_400_000, statement_days * 86_400_000];
const pages_max = 20;

export function cimTypeSelect(id) {
  return h('select', { id, name: 'cim-type' }, cim_types.map(([value, text]) => h('option', { value }, text)));
}

export function render(container, ctx) {
  const type = cimTypeSelect('lookup-type');
  const value = h('input', { id: 'lookup-value', name: 'cim-value', required: true, autocomplete: 'off', spellcheck: 'false' });
  const result = h('div', { id: 'lookup-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'card', 'aria-label': 'Find a contact' },
    h('div', { class: 'row' }, field('CIM type', type), field('CIM value', value), h('button', { type: 'submit' }, 'Look up')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    replace(result, h('p', { class: 'muted' }, 'Looking up…'));
    lookup(type.value, value.value.trim(), result, ctx.money).catch((err) => replace(result, h('p', { class: 'error', role: 'alert' }, err.message)));
  });
  replace(container, h('h1', {}, 'Contacts'), form, result);
}

async function lookup(type, value, result, money) {
  const r = await api('POST', '/v1/contacts/lookup', { cim: { type, value } });
  if (!r.ok) {
    replace(result, h('p', { class: 'error', role: 'alert' }, r.body?.code === 'contact_not_found' ? 'Contact not found (404 contact_not_found): no contact of this business has this CIM.' : `${r.body?.detail ?? r.text} (${r.status})`));
    return;
  }
  const contact = r.body;
  const from = new Date(Date.now() - statement_days * 86_400_000).toISOString();
  const [wallet, statement] = await Promise.all([
    apiJson('GET', `/v1/contacts/${encodeURIComponent(contact.id)}/wallet`),
    apiJson('GET', `/v1/contacts/${encodeURIComponent(contact.id)}/statement?from=${encodeURIComponent(from)}`),
  ]);
  const latest = statement.has_more ? await latestLines(contact.id) : { lines: statement.lines.slice(-latest_max), complete: true };
  replace(result, contactView(contact, wallet, statement, latest, money));
}

function statementFrom(contact_id, from_ms) {
  return apiJson('GET', `/v1/contacts/${encodeURIComponent(contact_id)}/statement?from=${encodeURIComponent(new Date(from_ms).toISOString())}`);
}

/**
 * The contact's latest latest_max statement lines, oldest first, when the 90 days' statement
 * stopped short of them: `{ lines, complete }`, complete false when the pages ran out first.
 */
async function latestLines(contact_id) {
  const now_ms = Date.now();
  let latest = { lines: [], complete: true };
  for (const window_ms of latest_windows_ms) {
    const wider = await lastLinesFrom(contact_id, now_ms - window_ms);
    // A wider window that ran out of pages may have stopped short of the narrower one's lines,
    // which are the latest for sure: those are kept, with the note that more may lie between.
    if (!wider.complete) return latest.lines.length > 0 ? { lines: latest.lines, complete: false } : wider;
    latest = wider;
    if (latest.lines.length >= latest_max) break;
  }
  return latest;
}

/**
 * The last latest_max lines from `from_ms` on: its statement's pages, each from the second of the
 * page before's last line (statements take whole seconds). Complete only if it read to the end:
 * not after pages_max pages, nor when a whole page fell in one second (from cannot page past it).
 */
async function lastLinesFrom(contact_id, from_ms) {
  let tail = [];
  let from = from_ms;
  // A page starts again at the second of the page before's last line, so its first lines came
  // before: every line seen is left out (bounded by pages_max pages).
  const seen = new Set();
  for (let page = 0; page < pages_max; page++) {
    const s = await statementFrom(contact_id, from);
    const fresh = s.lines.filter((l) => !seen.has(l.transaction_id));
    for (const l of fresh) seen.add(l.transaction_id);
    tail = [...tail, ...fresh].slice(-latest_max);
    if (!s.has_more || s.lines.length === 0) return { lines: tail, complete: true };
    const last_ms = Date.parse(s.lines[s.lines.length - 1].at);
    if (last_ms === from) break;
    from = last_ms;
  }
  return { lines: tail, complete: false };
}

/**
 * The commerce lots as rows [expires, amount]: the wallet's `expiring` ones, then those that never
 * expire, which it does not list. Lots and claw-back debt never stand together (awards settle the
 * debt before they fill a lot), so a commerce balance not below zero is the lots' whole.
 */
function lotsByExpiry(wallet) {
  const rows = wallet.expiring.map((e) => [formatTime(e.expires_at), e.amount]);
  const never = wallet.commerce - wallet.expiring.reduce((sum, e) => sum + e.amount, 0);
  return never > 0 ? [...rows, ['Never', never]] : rows;
}

function contactView(contact, wallet, statement, latest, money) {
  const newest_first = [...latest.lines].reverse();
  const name = [contact.first_name, contact.last_name].filter(Boolean).join(' ') || '(no name)';
  const facts = [
    ['Contact id', contact.id], ['Contact code', contact.code], ['Wallet code', contact.wallet_code], ['Email', contact.email ?? '—'],
    ['Phone', contact.phone ?? '—'], ['Tier', contact.tier ?? '—'], ['Tags', contact.tags.join(', ') || '—'],
    ['Identifiers', contact.cims.map((c) => `${c.type} ${c.masked}`).join(', ') || '—'], ['Spends blocked', contact.spend_blocked ? 'yes' : 'no'],
    ['Created', formatTime(contact.created_at)],
  ];
  return h('div', {},
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'contact-title' }, h('h2', { id: 'contact-title' }, name),
        h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
      h('section', { class: 'card', 'aria-labelledby': 'wallet-title', id: 'wallet' }, h('h2', { id: 'wallet-title' }, 'Wallet'),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Open balance'), h('dd', { id: 'wallet-open' }, money(wallet.open)),
          h('dt', {}, 'Commerce balance'), h('dd', { id: 'wallet-commerce' }, money(wallet.commerce))),
        table('Commerce by pool', ['Pool', { text: 'Amount', num: true }], wallet.pools.map((p) => [p.pool, { text: money(p.amount), num: true }])),
        table('Commerce lots by expiry', ['Expires', { text: 'Amount', num: true }], lotsByExpiry(wallet).map(([at, amount]) => [at, { text: money(amount), num: true }])))),
    h('section', { class: 'card', 'aria-labelledby': 'latest-contact-title' }, h('h2', { id: 'latest-contact-title' }, 'Latest transactions'),
      table(`The last ${latest_max} of the last ${statement_days} days, newest first`, ['Time', 'Kind', { text: 'Open', num: true }, { text: 'Commerce', num: true }, 'Transaction'],
        newest_first.map((l) => [formatTime(l.at), l.kind, { text: money(l.open_delta), num: true }, { text: money(l.commerce_delta), num: true }, l.transaction_id])),
      latest.complete ? null : h('p', { class: 'muted', id: 'latest-more', role: 'note' }, `Perhaps not the latest: the ledger holds more lines in this period than the console reads (${pages_max} statements, or more than one statement in a single second). The API's statement pages through them by from and to.`)),
    h('section', { class: 'card', 'aria-labelledby': 'statement-title' }, h('h2', { id: 'statement-title' }, `Statement, last ${statement_days} days`),
      h('p', {}, `Opening: open ${money(statement.opening.open)}, commerce ${money(statement.opening.commerce)}. Closing: open ${money(statement.closing.open)}, commerce ${money(statement.closing.commerce)}.`),
      statement.has_more ? h('p', { class: 'muted', id: 'statement-more', role: 'note' }, `The period's first ${statement.lines.length} lines: it holds more than one statement answers (the API pages them by from and to). The closing counts them all.`) : null,
      table('From the ledger, oldest first', ['Time', 'Kind', { text: 'Open Δ', num: true }, { text: 'Commerce Δ', num: true }, { text: 'Open', num: true }, { text: 'Commerce', num: true }],
        statement.lines.map((l) => [formatTime(l.at), l.kind, { text: money(l.open_delta), num: true }, { text: money(l.commerce_delta), num: true }, { text: money(l.open_balance), num: true }, { text: money(l.commerce_balance), num: true }]))));
}
