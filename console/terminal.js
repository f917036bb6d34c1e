// The virtual terminal: POS calls made with the admin key for one of the business's terminals
// (header Pocketgate-Terminal), so the transactions are that terminal's, made_by "admin". Each
// reply is shown as the API gave it; the wallet of the contact it names is read again after.

import { api, apiJson, apiListAll, readWhileShown } from './api.js';
import { cimTypeSelect } from './contacts.js';
import { field, h, replace } from './dom.js';
import { amountPlaceholder, parseAmount } from './format.js';

const newReference = (prefix) => `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;

function reference(prefix, id) {
  const input = h('input', { id, name: 'reference', required: true, maxlength: 64, autocomplete: 'off', value: newReference(prefix) });
  input.renew = () => (input.value = newReference(prefix));
  return input;
}

const no_reply = 'Replies appear here.';
const terminals_failed = 'Could not list the terminals: ';

// The placeholder in the business's own minor units: "0.00" told a JPY till to type 12.5, then refused it.
const amountInput = (state, id, required = true) => h('input', { id, inputmode: 'decimal', autocomplete: 'off', required, placeholder: amountPlaceholder(state.ctx.business.minor_units) });

export function render(container, ctx) {
  const state = { terminal: h('select', { id: 'vt-terminal', name: 'terminal', required: true }), ctx, replies_shown: 0 };
  state.reply = h('pre', { class: 'reply', id: 'vt-reply', 'aria-live': 'polite', tabindex: '0' }, no_reply);
  state.wallet = h('div', { id: 'vt-wallet', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'The wallet of the contact a reply names appears here.'));
  replace(container,
    h('h1', {}, 'Virtual terminal'),
    h('div', { class: 'card' }, h('div', { class: 'row' }, field('Terminal', state.terminal))),
    h('div', { class: 'grid' },
      h('div', {}, purchaseForm(state), spendForm(state), redemptionForm(state), refundForm(state), reversalForm(state)),
      h('div', {},
        h('section', { class: 'card', 'aria-labelledby': 'vt-reply-title' }, h('h2', { id: 'vt-reply-title' }, 'Reply'), state.reply),
        h('section', { class: 'card', 'aria-labelledby': 'vt-wallet-title' }, h('h2', { id: 'vt-wallet-title' }, 'Wallet'), state.wallet))));
  listTerminals(state);
}

/** Fills the terminal list (readWhileShown: read again while it fails); its failure is told in the reply. */
function listTerminals(state) {
  const read = () => loadTerminals(state.terminal).then(() => {
    // The failure told in the reply is over; anything else there (a reply, a hint) stays.
    if (state.reply.textContent.startsWith(terminals_failed)) state.reply.textContent = no_reply;
  });
  readWhileShown(state.terminal, read, (err) => {
    const text = `${terminals_failed}${err.message}`;
    // Over the placeholder or an earlier failure only (a hint shown since stays), and only when it
    // changes: the reply is aria-live, and the same failure need not be said again every retry.
    const shown = state.reply.textContent;
    if (shown !== text && (shown === no_reply || shown.startsWith(terminals_failed))) state.reply.textContent = text;
  });
}

async function loadTerminals(select) {
  const [terminals, venues, merchants] = await Promise.all(['terminals', 'venues', 'merchants'].map((l) => apiListAll(`/v1/${l}`)));
  const venue = new Map(venues.map((v) => [v.id, v]));
  const merchant = new Map(merchants.map((m) => [m.id, m]));
  // Each option reads its terminal's code alone (DE41, as API.md names it), so a terminal is
  // chosen by its code or its id; its venue and merchant label the group it is in. Until
  // 2026-12-04 an option read "CODE · venue · merchant", which no code matched (a black-box probe).
  const groups = new Map();
  // A processor's own terminal (code processor:<id>) takes no call on its behalf: its transactions come by callback.
  for (const t of terminals.filter((t) => !t.code.startsWith('processor:'))) {
    const v = venue.get(t.venue_id);
    const m = t.merchant_id === null ? undefined : merchant.get(t.merchant_id);
    const label = `${v?.name ?? t.venue_id}${m ? ` · ${m.name}` : ' · own venue'}`;
    if (!groups.has(t.venue_id)) groups.set(t.venue_id, h('optgroup', { label }));
    groups.get(t.venue_id).append(h('option', { value: t.id }, t.code));
  }
  replace(select, [...groups.values()]);
}

/** A POS call for the chosen terminal; shows the reply as given, then the contact's wallet. */
async function send(state, path, body, ref) {
  state.reply.textContent = `POST ${path}…`;
  const r = await api('POST', path, body, { 'pocketgate-terminal': state.terminal.value });
  state.reply.textContent = `${r.status}${r.replayed ? ' (replayed)' : ''}\n${typeof r.body === 'string' ? r.body : JSON.stringify(r.body, null, 2)}`;
  // The reply shown now is this one: a wallet read for an earlier reply, answered later, must not
  // show that contact's wallet beside it (a black-box probe, 2026-12-07).
  const shown = ++state.replies_shown;
  // Brought into sight when it is not: on a narrow screen the reply comes after every form, some
  // 3,400 px down, and a purchase seemed to do nothing (a black-box probe, 2026-12-05).
  state.reply.scrollIntoView({ block: 'nearest' });
  // A refusal is kept under its reference as an approval is (idempotent, refusals included): the
  // corrected call needs a new one, or it is 409. A 5xx, a 429 or no answer keeps the reference,
  // so that sending again is the same transaction, never a second one.
  if (path !== '/v1/purchases/quote' && r.status < 500 && r.status !== 429) ref?.renew();
  const contact_id = r.body?.contact_id;
  // A reply that names no contact (a refusal: otp_invalid, contact_not_found) shows no wallet:
  // the last one's, left beside it, read as the refused contact's (a black-box probe, 2026-12-07).
  if (typeof contact_id !== 'string') {
    replace(state.wallet, h('p', { class: 'muted' }, 'This reply names no contact, so no wallet is shown.'));
    return;
  }
  // The wallet is read after the reply, by an admin call of its own (PostgreSQL's): its failure is
  // told beside the reply, never over it: an approval shown as a failure would be made again.
  await showWallet(state, contact_id, shown).catch((err) => {
    if (shown === state.replies_shown) replace(state.wallet, h('p', { class: 'error', role: 'alert' }, `The wallet could not be read: ${err.message}`));
  });
}

/** The wallet of the reply shown `shown`th, unless another reply is shown by the time it is read. */
async function showWallet(state, contact_id, shown) {
  const w = await apiJson('GET', `/v1/contacts/${encodeURIComponent(contact_id)}/wallet`);
  if (shown !== state.replies_shown) return;
  const money = state.ctx.money;
  replace(state.wallet, h('dl', { class: 'facts' },
    h('dt', {}, 'Contact'), h('dd', {}, contact_id),
    h('dt', {}, 'Open balance'), h('dd', { id: 'vt-wallet-open' }, money(w.open)),
    h('dt', {}, 'Commerce balance'), h('dd', { id: 'vt-wallet-commerce' }, money(w.commerce))));
}

/** Reads an amount field in major units; throws with a message naming the field. */
function amountOf(state, input, label, optional = false) {
  if (optional && input.value.trim() === '') return undefined;
  const minor = parseAmount(input.value, state.ctx.business.minor_units);
  if (minor === null) throw new Error(`${label}: enter an amount such as ${(1312 / 10 ** state.ctx.business.minor_units).toFixed(state.ctx.business.minor_units)}`);
  return minor;
}

function form(state, legend, id, controls, buttons, build) {
  const f = h('form', { id, 'aria-label': legend }, h('fieldset', {}, h('legend', {}, legend), controls, h('div', { class: 'row' }, buttons)));
  f.addEventListener('submit', (event) => {
    event.preventDefault();
    const path = event.submitter?.dataset.path ?? buttons[0].dataset.path;
    // The terminal list is outside this form, so its `required` does not stop the submit: without
    // a terminal the call would go with an empty Pocketgate-Terminal and come back 404.
    if (state.terminal.value === '') {
      state.reply.textContent = 'Choose a terminal first: the business’s terminals could not be listed, or it has none.';
      return;
    }
    let call;
    try {
      call = build(path);
    } catch (err) {
      state.reply.textContent = err.message;
      return;
    }
    send(state, path, call.body, call.ref).catch((err) => (state.reply.textContent = `The call failed: ${err.message}`));
  });
  return f;
}

const submit = (text, path, cls) => h('button', { type: 'submit', 'data-path': path, class: cls }, text);

function basketRow(state, rows, add) {
  const sku = h('input', { autocomplete: 'off', required: true });
  const quantity = h('input', { type: 'number', min: 1, value: 1, required: true });
  const amount = amountInput(state, undefined);
  // What product offers match besides the SKU (API.md items: family, brand, type): without them a
  // family's or a brand's offer could not be tried here (a black-box probe, 2026-12-07).
  const [family, brand, type] = [0, 1, 2].map(() => h('input', { autocomplete: 'off' }));
  const row = h('div', { class: 'row basket-item' }, field('SKU', sku), field('Family (optional)', family), field('Brand (optional)', brand), field('Item type (optional)', type),
    field('Quantity', quantity), field('Item amount', amount));
  // The focus goes to the item after it, or before it, else to the add button: it went with the
  // row, to <body>, a keyboard user sent back to the top of the page (a black-box probe, 2026-12-05).
  const remove = () => {
    const near = row.nextElementSibling ?? row.previousElementSibling;
    row.remove();
    (near?.querySelector('button') ?? add).focus();
  };
  row.append(h('button', { type: 'button', class: 'secondary', 'aria-label': 'Remove this item', onclick: remove }, 'Remove'));
  row.item = { sku, family, brand, type, quantity, amount };
  rows.append(row);
}

/** A basket row's item as the API takes it: family, brand and type only when given. */
function basketItem(state, item) {
  const out = { sku: item.sku.value };
  for (const name of ['family', 'brand', 'type']) {
    const value = item[name].value.trim();
    if (value !== '') out[name] = value;
  }
  return Object.assign(out, { quantity: Number(item.quantity.value), amount: amountOf(state, item.amount, 'Item amount') });
}

function purchaseForm(state) {
  const ref = reference('vt-p', 'vt-purchase-reference');
  const type = cimTypeSelect('vt-purchase-cim-type');
  const value = h('input', { id: 'vt-purchase-cim-value', required: true, autocomplete: 'off' });
  const amount = amountInput(state, 'vt-purchase-amount', false);
  const rows = h('div', { class: 'basket' });
  const add = h('button', { type: 'button', class: 'secondary', onclick: () => basketRow(state, rows, add) }, 'Add basket item');
  const pay = amountInput(state, 'vt-purchase-pay', false);
  const method = h('select', { id: 'vt-purchase-pay-method' }, h('option', { value: 'otp' }, 'One-time code (OTP)'), h('option', { value: 'wallet_code' }, 'Wallet code'));
  const code = h('input', { id: 'vt-purchase-pay-code', autocomplete: 'off' });
  const controls = [
    h('div', { class: 'row' }, field('Reference', ref), field('CIM type', type), field('CIM value', value)),
    h('div', { class: 'row' }, field('Amount (blank: the basket’s total)', amount), add),
    rows,
    h('div', { class: 'row' }, field('Pay from wallet (optional)', pay), field('Paid by', method), field('OTP or wallet code', code)),
  ];
  return form(state, 'Purchase', 'vt-purchase', controls, [submit('Purchase', '/v1/purchases'), submit('Quote', '/v1/purchases/quote', 'secondary')], () => {
    const items = [...rows.children].map((r) => basketItem(state, r.item));
    const total = amountOf(state, amount, 'Amount', items.length > 0) ?? items.reduce((n, i) => n + i.amount, 0);
    const paid = amountOf(state, pay, 'Pay from wallet', true);
    const body = { reference: ref.value, cim: { type: type.value, value: value.value.trim() }, amount: total, currency: state.ctx.business.currency };
    if (items.length > 0) body.items = items;
    if (paid !== undefined) body.pay = { amount: paid, [method.value]: code.value.trim() };
    return { body, ref };
  });
}

function spendForm(state) {
  const ref = reference('vt-s', 'vt-spend-reference');
  const amount = amountInput(state, 'vt-spend-amount');
  const method = h('select', { id: 'vt-spend-method' }, h('option', { value: 'otp' }, 'One-time code (OTP)'), h('option', { value: 'wallet_code' }, 'Wallet code'));
  const code = h('input', { id: 'vt-spend-code', required: true, autocomplete: 'off' });
  const controls = h('div', { class: 'row' }, field('Reference', ref), field('Amount', amount), field('Authorised by', method), field('OTP or wallet code', code));
  return form(state, 'Spend', 'vt-spend', controls, [submit('Spend', '/v1/spends')], () => ({
    body: { reference: ref.value, amount: amountOf(state, amount, 'Amount'), currency: state.ctx.business.currency, [method.value]: code.value.trim() },
    ref,
  }));
}

function redemptionForm(state) {
  const ref = reference('vt-r', 'vt-redemption-reference');
  const type = cimTypeSelect('vt-redemption-cim-type');
  const value = h('input', { id: 'vt-redemption-cim-value', required: true, autocomplete: 'off' });
  const amount = amountInput(state, 'vt-redemption-amount', false);
  const controls = h('div', { class: 'row' }, field('Reference', ref), field('CIM type', type), field('CIM value', value), field('Amount (blank: all eligible)', amount));
  return form(state, 'Redemption', 'vt-redemption', controls, [submit('Redeem', '/v1/redemptions')], () => {
    const body = { reference: ref.value, cim: { type: type.value, value: value.value.trim() } };
    const minor = amountOf(state, amount, 'Amount', true);
    if (minor !== undefined) body.amount = minor;
    return { body, ref };
  });
}

function refundForm(state) {
  const ref = reference('vt-f', 'vt-refund-reference');
  const original = h('input', { id: 'vt-refund-original', required: true, autocomplete: 'off' });
  const amount = amountInput(state, 'vt-refund-amount', false);
  const controls = h('div', { class: 'row' }, field('Reference', ref), field('Original reference', original), field('Amount (blank: all)', amount));
  return form(state, 'Refund', 'vt-refund', controls, [submit('Refund', '/v1/refunds')], () => {
    const body = { reference: ref.value, original_reference: original.value.trim() };
    const minor = amountOf(state, amount, 'Amount', true);
    if (minor !== undefined) body.amount = minor;
    return { body, ref };
  });
}

function reversalForm(state) {
  const ref = reference('vt-v', 'vt-reversal-reference');
  const original = h('input', { id: 'vt-reversal-original', required: true, autocomplete: 'off' });
  const controls = h('div', { class: 'row' }, field('Reference', ref), field('Original reference', original));
  return form(state, 'Reversal', 'vt-reversal', controls, [submit('Reverse', '/v1/reversals')], () => ({ body: { reference: ref.value, original_reference: original.value.trim() }, ref }));
}
