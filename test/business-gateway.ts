// For the test files whose whole set-up is one in-process gateway (default config) and one
// business on it (with an offer, for some): started before the file's tests, closed after them.

import { afterAll, beforeAll, expect } from 'vitest';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';

/**
 * Hands the gateway and its business to `use` once both are made (and `offer`, a POST /v1/offers
 * body, created): `businessGatewayForFile((made) => ({ gw, biz } = made))`.
 */
export function businessGatewayForFile(use: (made: { gw: TestGateway; biz: BusinessFixture }) => void, offer?: object): void {
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    gw = await startTestGateway();
    const biz = await createBusiness(gw);
    if (offer !== undefined) expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, offer)).status).toBe(201);
    use({ gw, biz });
  });
  afterAll(async () => {
    await gw?.close();
  });
}
