// The console's dashboard in Chromium while its gateway cannot reach Redis (a TCP proxy between
// them is closed, as test/postgres-down.test.ts does PostgreSQL's): the feed's status says it
// waits, not "Live" (a console probe, 2026-12-06), and the POS calls refused meanwhile, 503s,
// count as the declines they are once Redis is back (they were all lost).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { StoreCut } from './store-cut.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { unique } from './contract-util.ts';

const redis = new StoreCut(new URL(process.env.REDIS_URL!));
let gw: TestGateway;
let browser: Browser;
let biz: BusinessFixture;
let card: string;

beforeAll(async () => {
  await redis.open();
  gw = await startTestGateway({ redis_url: redis.url() }, true);
  biz = await createBusiness(gw);
  card = testCard(917_301);
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await gw?.close();
  await redis.cut();
});

const purchase = (reference: string) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' });

describe('the dashboard with Redis unreachable', () => {
  it('says its feed waits while Redis is cut, counts the refusals meanwhile as declines, and is live again after', async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'en-US', timezoneId: 'Europe/Lisbon' });
    context.setDefaultTimeout(10_000);
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(`http://127.0.0.1:${gw.port}/console`);
      await page.getByLabel('Admin key').fill(biz.admin_key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const status = page.locator('#feed-status');
      await expect.poll(() => status.textContent()).toContain('Live: new transactions');
      // The terminal's key known to the gateway (its look-ups are kept 5 s): its refusals are the business's.
      expect((await purchase(unique('before-'))).status).toBe(201);
      await redis.cut();
      const refused = await Promise.all(Array.from({ length: 5 }, () => purchase(unique('cut-'))));
      expect(refused.map((r) => r.status)).toEqual([503, 503, 503, 503, 503]);
      await expect.poll(() => status.textContent(), { timeout: 15_000 }).toContain('The live feed is waiting');
      await redis.open();
      await expect.poll(() => status.textContent(), { timeout: 15_000 }).toContain('Live: new transactions');
      // The refusals, counted while Redis could not take them, are added under their own seconds.
      const declined = async () => (await call(gw, 'GET', '/v1/stats', biz.admin_key)).body.per_second.reduce((n: number, s: { declined: number }) => n + s.declined, 0);
      await expect.poll(declined, { timeout: 10_000 }).toBe(5);
      // And a purchase now comes through the feed.
      const made = await purchase(unique('after-'));
      expect(made.status, made.text).toBe(201);
      await page.getByRole('row').filter({ hasText: made.body.id }).waitFor({ timeout: 15_000 });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
