// The console's contact page for a contact whose 90 days hold more lines than one statement
// answers (10,000, then `has_more`): its "Latest transactions" are the latest, not the last lines
// of the statement's first page, and the statement says it stops short (the review "bigcontact":
// it listed lines weeks old as the latest, and a table that ended with no word of it). The
// ledger's rows are written straight into PostgreSQL, as the writer writes them, so that the file
// stays fast.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { newId } from '../core/ids.ts';
import { launchChromium } from './browser.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let browser: Browser;
let page: Page;
let biz: BusinessFixture;
const card = testCard(917_555);
let contact_id: string;
const recent: string[] = [];
const page_errors: string[] = [];

/** `count` purchases of the contact, each awarding 1 into commerce, from `first_ms` a second apart. */
async function ledgerRows(count: number, first_ms: number): Promise<string[]> {
  const { sql } = gw.processor.stores;
  const ids: string[] = [];
  const transactions = [];
  const postings = [];
  for (let i = 0; i < count; i++) {
    const at_ms = first_ms + i * 1_000;
    const id = newId('txn');
    ids.push(id);
    transactions.push({ id, business_id: biz.business_id, kind: 'purchase', currency: 'EUR', amount: 100, shard: 0, journal_id: `${at_ms}-0`, terminal_id: biz.terminal_id, reference: id, contact_id, created_at: new Date(at_ms) });
    postings.push({ transaction_id: id, n: 1, amount: 1, debit_account: `${biz.business_id}:rewards:EUR`, credit_account: `${contact_id}:commerce:EUR` });
  }
  for (let i = 0; i < count; i += 2_000) {
    await sql`insert into ledger_transactions ${sql(transactions.slice(i, i + 2_000))}`;
    await sql`insert into ledger_postings ${sql(postings.slice(i, i + 2_000))}`;
  }
  return ids;
}

beforeAll(async () => {
  gw = await startTestGateway({}, true);
  biz = await createBusiness(gw);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Long', last_name: 'Story', cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  contact_id = c.body.id;
  const now_ms = Date.now();
  // 10,050 lines a month ago, then 12 in the last quarter of an hour.
  await ledgerRows(10_050, now_ms - 30 * 86_400_000);
  recent.push(...(await ledgerRows(12, now_ms - 15 * 60_000)));
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

describe('the console’s contact page, more lines in 90 days than a statement answers', () => {
  it('lists the latest transactions and says the statement stops short', async () => {
    const s = await call(gw, 'GET', `/v1/contacts/${contact_id}/statement?from=${new Date(Date.now() - 90 * 86_400_000).toISOString()}`, biz.admin_key);
    expect(s.status, s.text).toBe(200);
    expect(s.body.has_more).toBe(true);
    expect(s.body.closing.commerce).toBe(10_062);

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
    // The ten latest, newest first: the last ten of the twelve recent ones.
    expect(shown).toEqual(recent.slice(-10).reverse());
    expect(await page.locator('#statement-more').textContent()).toContain('first 10000 lines');
    expect(page_errors).toEqual([]);
  }, 120_000);
});
