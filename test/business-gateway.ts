// For the test files whose whole set-up is one in-process gateway (default config) and one
// business on it: started before the file's tests, closed after them.

import { afterAll, beforeAll } from 'vitest';
import { createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';

/** Hands the gateway and its business to `use` once both are made: `businessGatewayForFile((made) => ({ gw, biz } = made))`. */
export function businessGatewayForFile(use: (made: { gw: TestGateway; biz: BusinessFixture }) => void): void {
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    gw = await startTestGateway();
    use({ gw, biz: await createBusiness(gw) });
  });
  afterAll(async () => {
    await gw?.close();
  });
}
