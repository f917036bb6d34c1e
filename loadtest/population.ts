// The seeded population of a load test: contacts with two CIMs and a profile, baskets drawn from
// a catalogue, a programme of offers with varied goals, and the HTTP calls that set them up.

import { luhnCheckDigit } from '../core/luhn.ts';

export function card(i: number): string {
  const partial = `53${String(i).padStart(13, '0')}`;
  return partial + luhnCheckDigit(partial);
}
export const phone = (i: number) => `+4470${String(i).padStart(8, '0')}`;

/** A catalogue for baskets: SKUs with family, brand and type, and a shelf price. */
export const families = ['grocery', 'dairy', 'bakery', 'drinks', 'snacks', 'household', 'beauty', 'produce'];
export const brands = ['acme', 'north', 'sunny', 'bluebird', 'oak', 'zenith'];
const types = ['food', 'non-food'];
export const catalogue = Array.from({ length: 400 }, (_, i) => ({
  sku: `SKU${String(i).padStart(5, '0')}`,
  family: families[i % families.length]!,
  brand: brands[(i * 7) % brands.length]!,
  type: types[i % 5 === 0 ? 1 : 0]!,
  price: 49 + ((i * 7919) % 1500),
}));

/** The body every request to floor-server.ts sends (its server makes each reference its own). */
export const floor_body = JSON.stringify({ reference: 'r-floor', amount: 2500, currency: 'EUR', cim: { type: 'loyalty_id', value: 'L-0000001234' }, items: [{ sku: 'sku-1', quantity: 1, amount: 2500 }] });

/** 1 to 6 lines, quantities 1 to 3: the amount is the sum of the lines, as the schema demands. */
export function basket(): { items: string; amount: number } {
  const lines = 1 + ((Math.random() * 6) | 0);
  let amount = 0;
  const parts: string[] = [];
  for (let l = 0; l < lines; l++) {
    const p = catalogue[(Math.random() * catalogue.length) | 0]!;
    const q = 1 + ((Math.random() * 3) | 0);
    const a = p.price * q;
    amount += a;
    parts.push(`{"sku":"${p.sku}","family":"${p.family}","brand":"${p.brand}","type":"${p.type}","quantity":${q},"amount":${a}}`);
  }
  return { items: `[${parts.join(',')}]`, amount };
}

/** Lines drawn as `basket` draws them, until the amount is at least `min_amount`. */
export function basketOfAtLeast(min_amount: number): { items: string; amount: number } {
  let amount = 0;
  const parts: string[] = [];
  while (amount < min_amount) {
    const b = basket();
    amount += b.amount;
    parts.push(b.items.slice(1, -1));
  }
  return { items: `[${parts.join(',')}]`, amount };
}

/**
 * A purchase as the load test sends it: a random one of the first `contacts` seeded contacts by
 * card, a basket from the catalogue. `clearedEvent` is the same sale as a processor reports it.
 */
export function purchaseBody(reference: string, contacts: number): string {
  const b = basket();
  return `{"reference":"${reference}","cim":{"type":"card","value":"${card((Math.random() * contacts) | 0)}"},"amount":${b.amount},"currency":"EUR","items":${b.items}}`;
}

/** A `transaction.cleared` event (spec/EVENTS.md) of a seeded contact's card at `merchant_code`. */
export function clearedEvent(event_id: string, transaction_id: string, contacts: number, merchant_code: string, created_at: string): string {
  const b = basket();
  const data = `{"transaction_id":"${transaction_id}","card":{"number":"${card((Math.random() * contacts) | 0)}"},"amount":${b.amount},"currency":"EUR","merchant_code":"${merchant_code}","items":${b.items}}`;
  return `{"id":"${event_id}","type":"transaction.cleared","created_at":"${created_at}","data":${data}}`;
}

/** The offers of the seeded business: varied goals and conditions, as a real programme has. */
export function offerDefinitions(n: number): unknown[] {
  const base: unknown[] = [
    { name: '5% cashback', goal: 'spend', award: { percent: 5 } },
    // Into the open balance at once: spends have money to spend.
    { name: '2% to spend now', goal: 'spend', award: { percent: 2 }, instant_redeem: true },
  ];
  const templates: ((k: number) => unknown)[] = [
    (k) => ({ name: `family ${families[k % families.length]} 3%`, goal: 'product', award: { percent: 3 }, conditions: { products: { families: [families[k % families.length]] } } }),
    (k) => ({ name: `brand ${brands[k % brands.length]} 1€ off`, goal: 'product', kind: 'instant_discount', award: { fixed: 100 }, conditions: { products: { brands: [brands[k % brands.length]] }, min_amount: 2000 } }),
    (k) => ({ name: `skus ${k}`, goal: 'product', award: { percent: 10 }, conditions: { products: { skus: catalogue.slice((k * 13) % 380, ((k * 13) % 380) + 20).map((p) => p.sku) } }, max_award: 500 }),
    (k) => ({ name: `happy hour ${k}`, goal: 'happy_hour', award: { percent: 4 }, conditions: { time_from: `${String(k % 24).padStart(2, '0')}:00`, time_to: `${String((k % 24) + 1).padStart(2, '0')}:00` } }),
    (k) => ({ name: `big basket ${k}`, goal: 'spend', award: { fixed: 200 }, conditions: { min_amount: 5000 + 1000 * (k % 5) }, limits: { per_contact: { count: 1, period: 'day' } } }),
    () => ({ name: 'students 5%', goal: 'spend', award: { percent: 5 }, conditions: { tags: ['student'] } }),
    () => ({ name: 'birthday 5€', goal: 'birthday', award: { fixed: 500 } }),
    () => ({ name: 'first purchase 2€', goal: 'first_purchase', award: { fixed: 200 } }),
    (k) => ({ name: `weekend ${k}`, goal: 'spend', award: { percent: 1 }, conditions: { days_of_week: [6, 7] } }),
    (k) => ({ name: `budgeted ${k}`, goal: 'spend', award: { percent: 1 }, limits: { budget: 1_000_000_000 } }),
  ];
  const out = base.slice(0, n);
  for (let k = 0; out.length < n; k++) out.push(templates[k % templates.length]!(k));
  return out;
}

export async function api(base: string, key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const json = (await res.json()) as Record<string, any>;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Contacts as NDJSON, generated as the import reads them (a stream, never one big string). */
export async function importContacts(base: string, key: string, n: number, onProgress: (lines: number) => void) {
  const encoder = new TextEncoder();
  const chunk_lines = 500;
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i >= n) return controller.close();
      const end = Math.min(n, i + chunk_lines);
      let text = '';
      for (; i < end; i++) {
        const birth = `${1950 + (i % 55)}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`;
        const tags = i % 10 === 0 ? '["student"]' : i % 20 === 1 ? '["staff"]' : '[]';
        text += `{"cims":[{"type":"card","value":"${card(i)}"},{"type":"phone","value":"${phone(i)}"}],"phone":"${phone(i)}","birth_date":"${birth}","tags":${tags}}\n`;
      }
      controller.enqueue(encoder.encode(text));
      onProgress(i);
    },
  });
  const res = await fetch(base + '/v1/contacts/import', {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
    body: stream,
    duplex: 'half',
  } as RequestInit);
  const json = (await res.json()) as { imported: number; failed: number; errors: unknown[] };
  if (res.status >= 300 || json.imported !== n) throw new Error(`import: ${res.status} ${JSON.stringify(json).slice(0, 500)}`);
  return json;
}

