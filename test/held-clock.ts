// For test files that hold the gateway's clock at instants of their choosing (a birthday, a tier
// period's first minutes): one in-process gateway for the file, its clock back to the real one
// after each test so that no test inherits another's day.

import { afterAll, afterEach, beforeAll } from 'vitest';
import { startTestGateway, type TestGateway } from './helpers.ts';

/** Hands the gateway to `use` once started; closes it after the file's tests. */
export function heldClockGatewayForFile(use: (gw: TestGateway) => void): void {
  let gw: TestGateway | undefined;
  const real_now = Date.now;
  beforeAll(async () => {
    gw = await startTestGateway();
    use(gw);
  });
  afterAll(async () => {
    await gw?.close();
  });
  afterEach(() => {
    if (gw !== undefined) gw.processor.stores.clock.now = real_now;
  });
}

/** The gateway's clock stands at `iso` until held elsewhere or the test ends. */
export function holdClock(gw: TestGateway, iso: string): void {
  const ms = Date.parse(iso);
  gw.processor.stores.clock.now = () => ms;
}
