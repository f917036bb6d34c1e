// Contact look-up by any CIM. The CIM goes in a POST body (POST /v1/contacts/lookup): a card
// number never goes in a URL. Then the contact's wallet (balances, commerce lots by pool and
// expiry), its statement of the last 90 days and its latest transactions, from the public API.

import { api, apiJson } from './api.js';
import { field, h, replace, table } from './dom.js';
import { formatTime, poolRows } from './format.js';

const cim_types = [
  ['card', 'Card number'], ['phone', 'Phone'], ['email', 'Email'], ['loyalty_id', 'Loyalty id'],
  ['gift_pass', 'Gift pass'], ['wallet_code', 'Wallet code'], ['contact_code', 'Contact code'],
];
const statement_days = 90;
/** The latest transactions shown: every one naming the contact, not only those that moved its balances. */
const latest_max = 10;

export function cimTypeSelect(id) {
  return h('select', { id, name: 'cim-type' }, cim_types.map(([value, text]) => h('option', { value }, text)));
}

export function render(container, ctx) {
  const type = cimTypeSelect('lookup-type');
  const value = h('input', { id: 'lookup-value', name: 'cim-value', required: true, autocomplete: 'off', spellcheck: 'false' });
  const result = h('div', { id: 'lookup-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'card', 'aria-label': 'Find a contact' },
    h('div', { class: 'row' }, field('CIM type', type), field('CIM value', value), h('button', { type: 'submit' }, 'Look up')));
  // Only the latest look-up shows: an earlier one answered later (its statement slower, say) showed
  // its contact under the CIM asked for since (a black-box probe, 2026-12-07).
  let latest = 0;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const asked = ++latest;
    const show = (...nodes) => {
      if (asked === latest) replace(result, ...nodes);
    };
    show(h('p', { class: 'muted' }, 'Looking up…'));
    lookup(type.value, value.value.trim(), show, ctx.money).catch((err) => show(h('p', { class: 'error', role: 'alert' }, err.message)));
  });
  replace(container, h('h1', {}, 'Contacts'), form, result);
}

/** The contact `type` and `value` name, shown by `show` (which shows only the latest look-up's). */
async function lookup(type, value, show, money) {
  const r = await api('POST', '/v1/contacts/lookup', { cim: { type, value } });
  if (!r.ok) {
    show(h('p', { class: 'error', role: 'alert' }, r.body?.code === 'contact_not_found' ? 'Contact not found (404 contact_not_found): no contact of this business has this CIM.' : `${r.body?.detail ?? r.text} (${r.status})`));
    return;
  }
  const contact = r.body;
  const from = new Date(Date.now() - statement_days * 86_400_000).toISOString();
  const [wallet, statement, latest] = await Promise.all([
    apiJson('GET', `/v1/contacts/${encodeURIComponent(contact.id)}/wallet`),
    apiJson('GET', `/v1/contacts/${encodeURIComponent(contact.id)}/statement?from=${encodeURIComponent(from)}`),
    apiJson('GET', `/v1/contacts/${encodeURIComponent(contact.id)}/transactions?limit=${latest_max}`),
  ]);
  show(contactView(contact, wallet, statement, latest.data, money));
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
        table('Commerce by pool', ['Pool', { text: 'Amount', num: true }], poolRows(wallet).map(([pool, amount]) => [pool, { text: money(amount), num: true }])),
        table('Commerce lots by expiry', ['Expires', { text: 'Amount', num: true }], lotsByExpiry(wallet).map(([at, amount]) => [at, { text: money(amount), num: true }])))),
    h('section', { class: 'card', 'aria-labelledby': 'latest-contact-title' }, h('h2', { id: 'latest-contact-title' }, 'Latest transactions'),
      table(`The last ${latest_max}, newest first`, ['Time', 'Kind', 'Reference', { text: 'Amount', num: true }, { text: 'Awarded', num: true }, { text: 'Open Δ', num: true }, { text: 'Commerce Δ', num: true }, 'Transaction'],
        latest.map((t) => [formatTime(t.created_at), t.kind, t.reference ?? '—', { text: money(t.amount), num: true }, { text: money(t.awarded), num: true }, { text: money(t.open_delta), num: true }, { text: money(t.commerce_delta), num: true }, t.id]))),
    h('section', { class: 'card', 'aria-labelledby': 'statement-title' }, h('h2', { id: 'statement-title' }, `Statement, last ${statement_days} days`),
      h('p', {}, `Opening: open ${money(statement.opening.open)}, commerce ${money(statement.opening.commerce)}. Closing: open ${money(statement.closing.open)}, commerce ${money(statement.closing.commerce)}.`),
      statement.has_more ? h('p', { class: 'muted', id: 'statement-more', role: 'note' }, `The period's first ${statement.lines.length} lines: it holds more than one statement answers (the API pages them by from and to). The closing counts them all.`) : null,
      table('From the ledger, oldest first', ['Time', 'Kind', { text: 'Open Δ', num: true }, { text: 'Commerce Δ', num: true }, { text: 'Open', num: true }, { text: 'Commerce', num: true }],
        statement.lines.map((l) => [formatTime(l.at), l.kind, { text: money(l.open_delta), num: true }, { text: money(l.commerce_delta), num: true }, { text: money(l.open_balance), num: true }, { text: money(l.commerce_balance), num: true }]))));
}

