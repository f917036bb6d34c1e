// The console's contact page pages a long statement by `from` = the page's last line's second
// (statements take whole seconds), so the next page starts again with every line of that second.
// When that second holds more lines than the "Latest transactions" keep (10), lines of it shown on
// the page before came back as new ones: the latest listed lines of the page before, out of
// order, in place of later ones. The ledger's rows are written straight into PostgreSQL.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { newId } from '../core/ids.ts';
import { launchChromium } from './browser.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let browser: Browser;
let page: Page;
let biz: BusinessFixture;
const card = testCard(917_556);
let contact_id: string;
const ids: string[] = [];
const page_errors: string[] = [];

/** Purchases of the contact at `times_ms` (in the shard's order), each awarding 1 into commerce. */
async function ledgerRows(times_ms: readonly number[]): Promise<void> {
  const { sql } = gw.processor.stores;
  const transactions = [];
  const postings = [];
  for (const [seq, at_ms] of times_ms.entries()) {
    const id = newId('txn');
    ids.push(id);
    transactions.push({ id, business_id: biz.business_id, kind: 'purchase', currency: 'EUR', amount: 100, shard: 0, journal_id: `${at_ms}-${seq}`, terminal_id: biz.terminal_id, reference: id, contact_id, created_at: new Date(at_ms) });
    postings.push({ transaction_id: id, n: 1, amount: 1, debit_account: `${biz.business_id}:rewards:EUR`, credit_account: `${contact_id}:commerce:EUR` });
  }
  for (let i = 0; i < transactions.length; i += 2_000) {
    await sql`insert into ledger_transactions ${sql(transactions.slice(i, i + 2_000))}`;
    await sql`insert into ledger_postings ${sql(postings.slice(i, i + 2_000))}`;
  }
}

beforeAll(async () => {
  gw = await startTestGateway({}, true);
  biz = await createBusiness(gw);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Busy', last_name: 'Second', cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  contact_id = c.body.id;
  // Within the last hour: 9,985 lines four a second, then 17 in one second (the statement's
  // first page of 10,000 ends at its 15th), then one a second later.
  const second_ms = Math.floor(Date.now() / 1_000) * 1_000 - 5 * 60_000;
  const times: number[] = [];
  for (let i = 0; i < 9_985; i++) times.push(second_ms - 50 * 60_000 + Math.floor(i / 4) * 1_000);
  for (let i = 0; i < 17; i++) times.push(second_ms + i);
  times.push(second_ms + 1_000);
  await ledgerRows(times);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'en-US', timezoneId: 'UTC' });
  context.setDefaultTimeout(20_000);
  page = await context.newPage();
  page.on('pageerror', (err) => page_errors.push(err.message));
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await gw?.close();
});

describe('the console’s contact page, a statement page ending inside a busy second', () => {
  it('lists the ten latest transactions, each once, newest first', async () => {
    const s = await call(gw, 'GET', `/v1/contacts/${contact_id}/statement?from=${new Date(Date.now() - 3_600_000).toISOString()}`, biz.admin_key);
    expect(s.status, s.text).toBe(200);
    expect(s.body.has_more).toBe(true);

    await page.goto(`http://127.0.0.1:${gw.port}/console`);
    await page.getByLabel('Admin key').fill(biz.admin_key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Contacts' }).click();
    await page.getByLabel('Identify by').selectOption({ label: 'Card number' });
    await page.getByLabel('Value').fill(card);
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByRole('heading', { name: 'Latest transactions' }).waitFor();
    const latest = page.getByRole('table', { name: /newest first/ }).locator('tbody tr');
    const shown = await latest.evaluateAll((rows) => rows.map((r) => r.lastElementChild?.textContent ?? ''));
    expect(shown).toEqual(ids.slice(-10).reverse());
    expect(page_errors).toEqual([]);
  }, 120_000);
});
