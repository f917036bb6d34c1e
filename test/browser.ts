// Headless Chromium for the console's browser tests and screenshots: Debian's chromium (installed
// with apt-get when missing, scripts/services.mjs) driven by playwright-core, which gives it a
// new empty profile each launch. The flags keep it from reaching out on its own (updates, sync,
// Google's hosts): the tests assert that nothing leaves the gateway's origin.

import { chromium, type Browser } from 'playwright-core';
// @ts-expect-error: plain JavaScript (the scripts run before npm ci, with node: builtins only)
import { ensureChromium } from '../scripts/services.mjs';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: (ensureChromium as () => string)(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions'],
  });
}
