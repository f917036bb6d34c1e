// For the test files whose whole set-up is one in-process gateway, and for most, one business on
// it (with an offer, for some): started before the file's tests, closed after them.

import { afterAll, beforeAll, expect } from 'vitest';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';

/**
 * Hands the gateway to `use` once it has started (startTestGateway's arguments after `use`):
 * `gatewayForFile((made) => (gw = made))`. A promise `use` returns (more set-up) is awaited.
 */
export function gatewayForFile(use: (gw: TestGateway) => unknown, ...start: Parameters<typeof startTestGateway>): void {
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    gw = await startTestGateway(...start);
    await use(gw);
  });
  afterAll(async () => {
    await gw?.close();
  });
}

/**
 * Hands the gateway and its business to `use` once both are made (and `offer`, a POST /v1/offers
 * body, created): `businessGatewayForFile((made) => ({ gw, biz } = made))`.
 */
export function businessGatewayForFile(use: (made: { gw: TestGateway; biz: BusinessFixture }) => void, offer?: object): void {
  gatewayForFile(async (gw) => {
    const biz = await createBusiness(gw);
    if (offer !== undefined) expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, offer)).status).toBe(201);
    use({ gw, biz });
  });
}
