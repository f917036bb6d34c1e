// Offers: the business's offers, each activated or deactivated with PATCH /v1/offers/{id}.

import { api, apiJson } from './api.js';
import { h, replace, table } from './dom.js';

function awardText(offer, money) {
  if (offer.award?.percent !== undefined) return `${offer.award.percent}%${offer.max_award ? ` (at most ${money(offer.max_award)})` : ''}`;
  if (offer.award?.fixed !== undefined) return money(offer.award.fixed);
  return JSON.stringify(offer.award);
}

export function render(container, ctx) {
  const list = h('div', { id: 'offers-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const status = h('p', { role: 'status', id: 'offers-status', class: 'muted' });
  replace(container, h('h1', {}, 'Offers'), h('section', { class: 'card' }, status, list));
  const load = () => apiJson('GET', '/v1/offers').then((r) => draw(r.data), (err) => replace(list, h('p', { class: 'error', role: 'alert' }, err.message)));
  const toggle = async (offer) => {
    const r = await api('PATCH', `/v1/offers/${encodeURIComponent(offer.id)}`, { active: !offer.active });
    status.textContent = r.ok ? `${offer.name} is now ${r.body.active ? 'active' : 'inactive'}.` : `Not changed: ${r.body?.detail ?? r.status}`;
    await load();
  };
  const draw = (offers) => replace(list, table(`${offers.length} offers`, ['Name', 'Goal', 'Kind', 'Award', 'Scheme', 'Status', 'Action'], offers.map((o) => [
    o.name, o.goal, o.kind, awardText(o, ctx.money), o.scheme_id ?? 'all contacts',
    h('span', { class: o.active ? 'ok' : 'muted' }, o.active ? 'active' : 'inactive'),
    h('button', { type: 'button', class: 'secondary', 'aria-label': `${o.active ? 'Deactivate' : 'Activate'} ${o.name}`, onclick: () => toggle(o).catch((err) => (status.textContent = err.message)) }, o.active ? 'Deactivate' : 'Activate'),
  ])));
  load();
}
