// Offers: the business's offers, each activated or deactivated with PATCH /v1/offers/{id}.

import { api, apiJson, readWhileShown } from './api.js';
import { h, replace, table } from './dom.js';

function awardText(offer, money) {
  if (offer.award?.percent !== undefined) return `${offer.award.percent}%${offer.max_award ? ` (at most ${money(offer.max_award)})` : ''}`;
  if (offer.award?.fixed !== undefined) return money(offer.award.fixed);
  return JSON.stringify(offer.award);
}

/**
 * The redrawn table's button of the offer just toggled gets the focus back: the one pressed went
 * with the old table, and focus fell to <body>, a keyboard user sent back to the top of the page
 * (a black-box probe of the console). Not when the focus has gone somewhere else meanwhile.
 */
function refocus(list, offer_id) {
  if (document.activeElement !== null && document.activeElement !== document.body) return;
  for (const button of list.querySelectorAll('button[data-offer]')) if (button.dataset.offer === offer_id) button.focus();
}

export function render(container, ctx) {
  const list = h('div', { id: 'offers-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const status = h('p', { role: 'status', id: 'offers-status', class: 'muted' });
  replace(container, h('h1', {}, 'Offers'), h('section', { class: 'card' }, status, list));
  // The same error is not said again at each try.
  const failed = (err) => {
    if (list.textContent !== err.message) replace(list, h('p', { class: 'error', role: 'alert' }, err.message));
  };
  const load = () => readWhileShown(list, () => apiJson('GET', '/v1/offers').then((r) => draw(r.data)), failed);
  const toggle = async (offer) => {
    const r = await api('PATCH', `/v1/offers/${encodeURIComponent(offer.id)}`, { active: !offer.active });
    status.textContent = r.ok ? `${offer.name} is now ${r.body.active ? 'active' : 'inactive'}.` : `Not changed: ${r.body?.detail ?? r.status}`;
    await load();
    refocus(list, offer.id);
  };
  const draw = (offers) => replace(list, table(`${offers.length} offers`, ['Name', 'Goal', 'Kind', 'Award', 'Scheme', 'Status', 'Action'], offers.map((o) => [
    o.name, o.goal, o.kind, awardText(o, ctx.money), o.scheme_id ?? 'all contacts',
    h('span', { class: o.active ? 'ok' : 'muted' }, o.active ? 'active' : 'inactive'),
    h('button', { type: 'button', class: 'secondary', 'data-offer': o.id, 'aria-label': `${o.active ? 'Deactivate' : 'Activate'} ${o.name}`, onclick: () => toggle(o).catch((err) => (status.textContent = err.message)) }, o.active ? 'Deactivate' : 'Activate'),
  ])));
  load();
}
