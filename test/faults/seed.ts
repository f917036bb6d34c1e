// What the fault suite's load runs against, made through the admin API of the gateway child (as
// gateway/seed.ts seeds the demo): a business, a merchant, a venue, terminals, two groups of
// contacts and two offers.
//
// Spenders (tag `spender`) buy, redeem, spend by wallet code and pay purchases from the wallet;
// a 10% instant_redeem offer for them fills their open balance. Refunders buy and have purchases
// refunded, and nothing else: a refund claws its awards back from the commerce balance, where
// they still are, so no open balance may go below zero in any scenario and any that does is a
// fault's doing.

import { luhnCheckDigit } from '../../core/luhn.ts';

export interface SeededContact {
  readonly id: string;
  readonly card: string;
  readonly wallet_code: string;
}

export interface Seeded {
  readonly business_id: string;
  readonly admin_key: string;
  readonly terminals: readonly { readonly id: string; readonly key: string }[];
  readonly spenders: readonly SeededContact[];
  readonly refunders: readonly SeededContact[];
}

export const platform_key = 'pk_faults_platform_key';

export async function api(base_url: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(base_url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function create(base_url: string, key: string, path: string, body: unknown): Promise<any> {
  const r = await api(base_url, key, 'POST', path, body);
  if (r.status !== 201) throw new Error(`seed: POST ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

function card(group: number, i: number): string {
  const partial = `52${String(group).padStart(4, '0')}${String(i).padStart(9, '0')}`;
  return partial + luhnCheckDigit(partial);
}

async function contacts(base_url: string, admin_key: string, n: number, group: number, tags: string[]): Promise<SeededContact[]> {
  const out: SeededContact[] = [];
  // Ten at a time: the machine is shared.
  for (let i = 0; i < n; i += 10) {
    const batch = Array.from({ length: Math.min(10, n - i) }, (_, j) => card(group, i + j));
    const made = await Promise.all(batch.map((c) => create(base_url, admin_key, '/v1/contacts', { tags, cims: [{ type: 'card', value: c }] })));
    made.forEach((m, j) => out.push({ id: m.id as string, card: batch[j]!, wallet_code: m.wallet_code as string }));
  }
  return out;
}

export async function seed(base_url: string, options: { terminals: number; contacts_per_group: number }): Promise<Seeded> {
  const business = await create(base_url, platform_key, '/v1/businesses', { name: 'Fault suite', currency: 'EUR' });
  const admin_key = business.admin_key as string;
  const merchant = await create(base_url, admin_key, '/v1/merchants', { name: 'Fault merchant', code: 'FAULTS01', contribution_fee_percent: 10 });
  const venue = await create(base_url, admin_key, '/v1/venues', { name: 'Fault venue', merchant_id: merchant.id });
  const terminals: { id: string; key: string }[] = [];
  for (let i = 0; i < options.terminals; i++) {
    const t = await create(base_url, admin_key, '/v1/terminals', { venue_id: venue.id, code: `FT${String(i).padStart(6, '0')}` });
    terminals.push({ id: t.id as string, key: t.api_key as string });
  }
  await create(base_url, admin_key, '/v1/offers', { name: '5% back', goal: 'spend', kind: 'cashback', award: { percent: 5 } });
  await create(base_url, admin_key, '/v1/offers', { name: '10% to spend now', goal: 'spend', kind: 'cashback', award: { percent: 10 }, instant_redeem: true, conditions: { tags: ['spender'] } });
  const spenders = await contacts(base_url, admin_key, options.contacts_per_group, 1, ['spender']);
  const refunders = await contacts(base_url, admin_key, options.contacts_per_group, 2, []);
  return { business_id: business.id as string, admin_key, terminals, spenders, refunders };
}
