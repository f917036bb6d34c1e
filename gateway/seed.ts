// The demo business that `npm start` seeds on an empty database, through the public API, and
// the ready-to-paste commands it prints. Its keys are kept in the local data directory (a dev
// convenience: the database holds only their hashes) so a restart can print them again.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { luhnCheckDigit } from '../core/luhn.ts';
import type { Gateway } from './gateway.ts';

export interface Demo {
  business_id: string;
  admin_key: string;
  terminal_key: string;
  email: string;
}

export function demoCard(i: number): string {
  const partial = `400000${String(i).padStart(9, '0')}`;
  return partial + luhnCheckDigit(partial);
}

async function call(gateway: Gateway, key: string, method: string, path: string, body?: unknown, content_type = 'application/json') {
  const res = await gateway.app.request(path, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': content_type },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`seed: ${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/**
 * The demo's keys, for the next start's banner. The folder may not exist: `npm start` with
 * REDIS_URL and DATABASE_URL given starts no local services, which is what made it before.
 */
export function saveDemo(data_dir: string, demo: Demo): void {
  mkdirSync(data_dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(data_dir, 'demo.json'), JSON.stringify(demo), { mode: 0o600 });
}

/** Any constant: it names the advisory lock under which one start checks for and seeds the demo. */
const demo_lock_id = 7_283_402_114;

/**
 * Seeds the demo on an empty database, once however many gateways start at once (an operator
 * probe: two started together seeded two), and prints the banner: `shown_key` the platform key
 * where `npm start` made it (an operator's own is not printed), the demo's keys only where the
 * demo business is this database's (demo.json is the folder's: another database's were shown).
 */
export async function seedDemo(gateway: Gateway, base_url: string, platform_key: string | undefined, data_dir: string | undefined, shown_key: string | undefined): Promise<void> {
  const file = data_dir === undefined ? undefined : join(data_dir, 'demo.json');
  const { sql } = gateway.processor.stores;
  // The lock a transaction's: released with it whatever happens (a session lock on a reserved
  // connection needed its unlock, and postgres.js's reserve() has waited for ever: porsager/postgres#1195).
  // The demo is made through the API, on the pool's other connections, while it is held.
  let demo = await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${demo_lock_id})`;
    const [{ n }] = (await tx`select count(*)::int as n from businesses`) as unknown as [{ n: number }];
    return n === 0 && platform_key !== undefined ? createDemo(gateway, platform_key, data_dir) : undefined;
  });
  if (demo === undefined && file !== undefined && existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Demo;
    const [mine] = await sql`select 1 from businesses where id = ${saved.business_id}`;
    if (mine !== undefined) demo = saved;
  }
  printBanner(gateway, base_url, shown_key, demo);
}

async function createDemo(gateway: Gateway, platform_key: string, data_dir: string | undefined): Promise<Demo> {
  const business = await call(gateway, platform_key, 'POST', '/v1/businesses', { name: 'Demo Coffee Co', currency: 'EUR' });
  const admin_key = business.admin_key as string;
  const merchant = await call(gateway, admin_key, 'POST', '/v1/merchants', { name: 'Demo Bakery', code: 'BAKERY001', contribution_fee_percent: 10 });
  const venue = await call(gateway, admin_key, 'POST', '/v1/venues', { name: 'Bakery on Main St', merchant_id: merchant.id, timezone: 'Europe/Lisbon' });
  const terminal = await call(gateway, admin_key, 'POST', '/v1/terminals', { venue_id: venue.id, code: 'TERM0001' });
  const demo = { business_id: business.id as string, admin_key, terminal_key: terminal.api_key as string, email: 'demo1@example.com' };
  // Saved before the long part (the contacts' import): a first start stopped during it still
  // shows the keys on the next start, which finds the business there and seeds nothing.
  if (data_dir !== undefined) saveDemo(data_dir, demo);
  const lines: string[] = [];
  for (let i = 1; i <= 1_000; i++) {
    lines.push(JSON.stringify({ first_name: `Demo${i}`, last_name: 'Customer', email: `demo${i}@example.com`, cims: [{ type: 'card', value: demoCard(i) }, { type: 'email', value: `demo${i}@example.com` }] }));
  }
  const imported = await call(gateway, admin_key, 'POST', '/v1/contacts/import', lines.join('\n'), 'application/x-ndjson');
  await call(gateway, admin_key, 'POST', '/v1/offers', { name: '5% cashback', goal: 'spend', kind: 'cashback', award: { percent: 5 } });
  gateway.logger.info({ business_id: demo.business_id, contacts: imported.imported }, 'demo business seeded');
  return demo;
}

function printBanner(gateway: Gateway, base_url: string, platform_key: string | undefined, demo: Demo | undefined): void {
  const lines = [
    '',
    `Pocketgate is up at ${base_url}`,
    `  API docs       ${base_url}/docs`,
    `  OpenAPI        ${base_url}/openapi.json`,
    `  Console        ${base_url}/console`,
    `  Health         ${base_url}/healthz   ${base_url}/readyz   ${base_url}/metrics`,
    ...(gateway.iso8583_port > 0 ? [`  ISO 8583       TCP port ${gateway.iso8583_port} (link an acquirer: POST /v1/iso8583/links)`] : []),
  ];
  if (platform_key !== undefined) lines.push(`  Platform key   ${platform_key}`);
  if (demo !== undefined) {
    lines.push(
      `  Demo business  ${demo.business_id} (EUR, 1,000 contacts with cards, 5% cashback)`,
      // Never in the console's URL: it asks for the key, and keeps it in the tab's session storage.
      `  Admin key      ${demo.admin_key}   (the API's, and the console's sign-in at ${base_url}/console)`,
      `  Terminal key   ${demo.terminal_key}`,
      '',
      // The CIM below is the contact's email: a card number is never printed, even a demo one.
      'Try a purchase of 25.00 EUR by the first demo contact (each run uses a new reference):',
      '',
      `curl -s -X POST ${base_url}/v1/purchases \\`,
      `  -H 'Authorization: Bearer ${demo.terminal_key}' -H 'Content-Type: application/json' \\`,
      `  -d '{"reference":"demo-'$(date +%s%N)'","cim":{"type":"email","value":"${demo.email}"},"amount":2500,"currency":"EUR"}'`,
      '',
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
