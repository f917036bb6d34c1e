// Settlements per merchant for a period (GET /v1/settlements): the days are the viewer's own,
// from the start of the first to the end of the last.

import { apiJson, apiListAll, readWhileShown } from './api.js';
import { field, h, replace, table } from './dom.js';
import { dateInputValue, dayStart } from './format.js';

export function render(container, ctx) {
  const today = new Date();
  const from = h('input', { type: 'date', id: 'settle-from', required: true, value: dateInputValue(new Date(today.getFullYear(), today.getMonth(), 1)) });
  const to = h('input', { type: 'date', id: 'settle-to', required: true, value: dateInputValue(today) });
  const merchant = h('select', { id: 'settle-merchant' }, h('option', { value: '' }, 'All merchants'));
  const result = h('div', { id: 'settlements-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'card', 'aria-label': 'Settlement period' },
    h('div', { class: 'row' }, field('From (first day)', from), field('To (last day)', to), field('Merchant', merchant), h('button', { type: 'submit' }, 'Show settlements')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    show(ctx, from.value, to.value, merchant.value, result).catch((err) => replace(result, h('p', { class: 'error', role: 'alert' }, err.message)));
  });
  const failed = h('p', { class: 'error', role: 'alert', id: 'settle-merchants-error', hidden: true });
  replace(container, h('h1', {}, 'Settlements'), form, failed, result);
  listMerchants(merchant, failed);
}

/** The merchant choices; a failure to read them is said (it was swallowed: the list held "All merchants" alone). */
function listMerchants(merchant, failed) {
  const read = () => apiListAll('/v1/merchants').then((merchants) => {
    failed.hidden = true;
    // One option at a time: a spread of every merchant could pass the engine's bound on arguments.
    merchants.forEach((m) => merchant.append(h('option', { value: m.id }, `${m.name} (${m.code})`)));
  });
  readWhileShown(merchant, read, (err) => {
    // Set only when it changes: a role=alert told the same failure at every try says it again.
    const text = `Merchants could not be listed: ${err.message}`;
    if (failed.textContent !== text) failed.textContent = text;
    failed.hidden = false;
  });
}

async function show(ctx, from, to, merchant_id, result) {
  const end = new Date(dayStart(to));
  end.setDate(end.getDate() + 1);
  const query = new URLSearchParams({ from: dayStart(from), to: end.toISOString(), ...(merchant_id ? { merchant_id } : {}) });
  const s = await apiJson('GET', `/v1/settlements?${query}`);
  const m = ctx.money;
  replace(result, h('section', { class: 'card' }, table(`${from} to ${to}`,
    ['Merchant', 'Code', { text: 'Fee', num: true }, { text: 'Awards funded', num: true }, { text: 'Contribution fees', num: true }, { text: 'Spends accepted', num: true }, { text: 'Discounts given', num: true }, { text: 'Net', num: true }, 'Owed by'],
    s.merchants.map((x) => [x.name, x.code, { text: `${x.contribution_fee_percent}% on ${x.settle_on}`, num: true }, { text: m(x.awards_funded), num: true }, { text: m(x.contribution_fees), num: true },
      { text: m(x.spends_accepted), num: true }, { text: m(x.discounts_given), num: true }, { text: m(x.net_amount), num: true }, x.owed_by ?? 'nobody']))));
}
