// `npm run screenshots`: screenshots of each console page for the README, written to
// docs/screenshots/. A gateway on the test profile's stores (emptied first) gets a small business
// with some traffic through the public API, then Debian's Chromium visits each page at 1366x768,
// and the dashboard once more at a tablet's 768x1024. The test run never writes these files.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

const out_dir = join(import.meta.dirname, '..', 'docs', 'screenshots');

async function ok(gw: TestGateway, method: string, path: string, key: string, body?: unknown, headers?: Record<string, string>) {
  const r = await call(gw, method, path, key, body, headers);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

/** Contacts, offers and a minute of traffic: purchases, a few declines, a spend, a refund. */
async function traffic(gw: TestGateway, biz: BusinessFixture, cards: string[]): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const card = cards[i % cards.length]!;
    await ok(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `shot-${i}`, cim: { type: 'card', value: card }, amount: 500 + ((i * 737) % 4_000), currency: 'EUR' });
    if (i % 9 === 0) await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: `bad-${i}`, amount: 100, currency: 'EUR', otp: '000000' });
    await new Promise((resolve) => setTimeout(resolve, 120));
  }
  await ok(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: 'shot-r1', cim: { type: 'card', value: cards[0] } });
  const contact = await ok(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, { cim: { type: 'card', value: cards[0] } });
  await ok(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: 'shot-s1', amount: 150, currency: 'EUR', wallet_code: contact.wallet_code });
  await ok(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: 'shot-f1', original_reference: 'shot-3', amount: 300 });
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(out_dir, `${name}.png`), fullPage: false });
  console.log(`wrote docs/screenshots/${name}.png`);
}

/** Pages are shown with the contact's email as its CIM: no card number in a screenshot, even a test one. */
async function pages(page: Page, origin: string, biz: BusinessFixture, email: string): Promise<void> {
  await page.goto(`${origin}/console`);
  await shoot(page, 'sign-in');
  await page.getByLabel('Admin key').fill(biz.admin_key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Live: new transactions').waitFor();
  await page.waitForTimeout(2_500); // a poll of the figures
  await shoot(page, 'dashboard');
  await page.getByRole('link', { name: 'Contacts' }).click();
  await page.getByLabel('CIM type').selectOption('email');
  await page.getByLabel('Value').fill(email);
  await page.getByRole('button', { name: 'Look up' }).click();
  await page.locator('#wallet-commerce').waitFor();
  await shoot(page, 'contacts');
  await page.getByRole('link', { name: 'Virtual terminal' }).click();
  const purchase = page.getByRole('form', { name: 'Purchase' });
  await purchase.getByLabel('CIM type').selectOption('email');
  await purchase.getByLabel('Value').fill(email);
  await purchase.getByRole('button', { name: 'Add basket item' }).click();
  await purchase.getByLabel('SKU').fill('flat-white');
  await purchase.getByLabel('Item amount').fill('3.40');
  await purchase.getByRole('button', { name: 'Purchase' }).click();
  await page.locator('#vt-wallet-commerce').waitFor();
  await shoot(page, 'virtual-terminal');
  await page.getByRole('link', { name: 'Offers' }).click();
  await page.getByRole('table').waitFor();
  await shoot(page, 'offers');
  await page.getByRole('link', { name: 'Settlements' }).click();
  await page.getByRole('button', { name: 'Show settlements' }).click();
  await page.getByRole('table').waitFor();
  await shoot(page, 'settlements');
}

async function main(): Promise<void> {
  mkdirSync(out_dir, { recursive: true });
  const gw = await startTestGateway({}, true);
  const browser = await launchChromium().catch(async (err: unknown) => {
    await gw.close();
    throw err;
  });
  try {
    const origin = `http://127.0.0.1:${gw.port}`;
    const biz = await createBusiness(gw);
    await ok(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5% cashback', goal: 'spend', award: { percent: 5 }, validity_days: 90 });
    await ok(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'Pastry bonus', goal: 'product', award: { fixed: 50 }, conditions: { products: { families: ['pastry'] } }, active: false });
    const cards = Array.from({ length: 8 }, (_, i) => testCard(400_100 + i));
    for (const [i, card] of cards.entries()) {
      await ok(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: ['Ana', 'Rui', 'Inês', 'Tiago', 'Marta', 'João', 'Sofia', 'Pedro'][i], last_name: 'Silva', email: `c${i}@example.com`, cims: [{ type: 'card', value: card }, { type: 'email', value: `c${i}@example.com` }] });
    }
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'en-GB', timezoneId: 'Europe/Lisbon' });
    const page = await context.newPage();
    // The traffic goes on while the dashboard is open, so its chart and feed have something to show.
    const running = traffic(gw, biz, cards);
    await pages(page, origin, biz, 'c0@example.com');
    await running;
    const tablet = await browser.newContext({ viewport: { width: 768, height: 1024 }, locale: 'en-GB', timezoneId: 'Europe/Lisbon' });
    const tablet_page = await tablet.newPage();
    await tablet_page.goto(`${origin}/console`);
    await tablet_page.getByLabel('Admin key').fill(biz.admin_key);
    await tablet_page.getByRole('button', { name: 'Sign in' }).click();
    await tablet_page.getByText('Live: new transactions').waitFor();
    await tablet_page.waitForTimeout(2_500);
    await shoot(tablet_page, 'dashboard-tablet');
  } finally {
    await browser.close();
    await gw.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
