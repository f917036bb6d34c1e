// The console's contact page for a contact whose 90 days hold more lines than one statement
// answers (10,000, then `has_more`): its "Latest transactions" are the latest, and the statement
// says it stops short (the review "bigcontact": it listed lines weeks old as the latest, and a
// table that ended with no word of it). The page read the latest from the statement, page after
// page by `from`, which a second holding more lines than a page defeated (the reviews
// "diffreview8", then a note that they might not be the latest); since 2026-12-05 it reads them
// from GET /v1/contacts/{id}/transactions, exact whatever the statement holds. The ledger's rows
// are written straight into PostgreSQL, as the writer writes them, so that the file stays fast.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { newId } from '../core/ids.ts';
import { launchChromium } from './browser.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let browser: Browser;
let page: Page;
let biz: BusinessFixture;
const page_errors: string[] = [];

interface Contact {
  readonly id: string;
  readonly card: string;
  readonly name: string;
  /** Its ledger's transaction ids, in the shard's order. */
  readonly ids: string[];
}

async function newContact(n: number): Promise<Contact> {
  const card = testCard(917_550 + n);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Long', last_name: `Story ${n}`, cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  return { id: c.body.id, card, name: `Long Story ${n}`, ids: [] };
}

/** Purchases of the contact at `times_ms` (in the shard's order), each awarding 1 into commerce. */
async function ledgerRows(contact: Contact, times_ms: readonly number[]): Promise<void> {
  const { sql } = gw.processor.stores;
  const transactions = [];
  const postings = [];
  for (const [seq, at_ms] of times_ms.entries()) {
    const id = newId('txn');
    contact.ids.push(id);
    transactions.push({ id, business_id: biz.business_id, kind: 'purchase', currency: 'EUR', amount: 100, shard: 0, journal_id: `${at_ms}-${seq}`, terminal_id: biz.terminal_id, reference: id, contact_id: contact.id, created_at: new Date(at_ms) });
    postings.push({ transaction_id: id, n: 1, amount: 1, debit_account: `${biz.business_id}:rewards:EUR`, credit_account: `${contact.id}:commerce:EUR` });
  }
  for (let i = 0; i < transactions.length; i += 2_000) {
    await sql`insert into ledger_transactions ${sql(transactions.slice(i, i + 2_000))}`;
    await sql`insert into ledger_postings ${sql(postings.slice(i, i + 2_000))}`;
  }
}

/** The contact looked up in the console: the transaction ids its "Latest transactions" list. */
async function latestShown(contact: Contact): Promise<string[]> {
  await page.getByRole('link', { name: 'Contacts' }).click();
  await page.getByLabel('CIM type').selectOption({ label: 'Card number' });
  await page.getByLabel('Value').fill(contact.card);
  await page.getByRole('button', { name: 'Look up' }).click();
  await page.getByRole('heading', { name: contact.name }).waitFor();
  const latest = page.getByRole('table', { name: /newest first/ }).locator('tbody tr');
  return latest.evaluateAll((rows) => rows.map((r) => r.lastElementChild?.textContent ?? ''));
}

let month: Contact;
let busy: Contact;
let stuck: Contact;
let stuck_earlier: Contact;

beforeAll(async () => {
  gw = await startTestGateway({}, true);
  biz = await createBusiness(gw);
  [month, busy, stuck, stuck_earlier] = [await newContact(1), await newContact(2), await newContact(3), await newContact(4)];
  const now_ms = Date.now();
  // 10,050 lines a month ago, a second apart, then 12 in the last quarter of an hour.
  await ledgerRows(month, [...Array.from({ length: 10_050 }, (_, i) => now_ms - 30 * 86_400_000 + i * 1_000), ...Array.from({ length: 12 }, (_, i) => now_ms - 15 * 60_000 + i * 1_000)]);
  // Within the last hour: 9,985 lines four a second, then 17 in one second (the statement's first
  // page of 10,000 ends at its 15th), then one a second later.
  const second_ms = Math.floor(now_ms / 1_000) * 1_000 - 5 * 60_000;
  await ledgerRows(busy, [
    ...Array.from({ length: 9_985 }, (_, i) => second_ms - 50 * 60_000 + Math.floor(i / 4) * 1_000),
    ...Array.from({ length: 17 }, (_, i) => second_ms + i),
    second_ms + 1_000,
  ]);
  // 10,005 lines in one second (more than a statement answers: no page starts past it), then 3.
  await ledgerRows(stuck, [...Array.from({ length: 10_005 }, () => second_ms - 10 * 60_000), ...Array.from({ length: 3 }, (_, i) => second_ms + i * 1_000)]);
  // The same three hours ago, then 4 in the last quarter of an hour: the hour's window holds those 4
  // (fewer than 10), the day's stops at the busy second.
  await ledgerRows(stuck_earlier, [...Array.from({ length: 10_005 }, () => second_ms - 3 * 3_600_000), ...Array.from({ length: 4 }, (_, i) => second_ms + i * 1_000)]);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'en-US', timezoneId: 'UTC' });
  context.setDefaultTimeout(20_000);
  page = await context.newPage();
  page.on('pageerror', (err) => page_errors.push(err.message));
  await page.goto(`http://127.0.0.1:${gw.port}/console`);
  await page.getByLabel('Admin key').fill(biz.admin_key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await gw?.close();
});

describe('the console’s contact page, more lines in 90 days than a statement answers', () => {
  it('lists the latest transactions and says the statement stops short', async () => {
    const s = await call(gw, 'GET', `/v1/contacts/${month.id}/statement?from=${new Date(Date.now() - 90 * 86_400_000).toISOString()}`, biz.admin_key);
    expect(s.status, s.text).toBe(200);
    expect(s.body.has_more).toBe(true);
    expect(s.body.closing.commerce).toBe(10_062);
    // The ten latest, newest first: the last ten of the twelve recent ones.
    expect(await latestShown(month)).toEqual(month.ids.slice(-10).reverse());
    expect(await page.locator('#statement-more').textContent()).toContain('first 10000 lines');
    expect(page_errors).toEqual([]);
  }, 120_000);

  it('a statement page ending inside a busy second: the ten latest, each once, newest first', async () => {
    const s = await call(gw, 'GET', `/v1/contacts/${busy.id}/statement?from=${new Date(Date.now() - 3_600_000).toISOString()}`, biz.admin_key);
    expect(s.body.has_more).toBe(true);
    expect(await latestShown(busy)).toEqual(busy.ids.slice(-10).reverse());
    expect(page_errors).toEqual([]);
  }, 120_000);

  it('more lines in one second than a statement answers: the ten latest all the same (it listed older ones, then said it might not be the latest)', async () => {
    expect(await latestShown(stuck)).toEqual(stuck.ids.slice(-10).reverse());
    expect(await latestShown(stuck_earlier)).toEqual(stuck_earlier.ids.slice(-10).reverse());
    expect(page_errors).toEqual([]);
  }, 120_000);
});
