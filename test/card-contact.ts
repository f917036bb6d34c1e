// The contact most gateway tests transact with: one card CIM, created through the API.

import { expect } from 'vitest';
import { call, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

export interface CardContact {
  readonly id: string;
  readonly card: string;
  readonly wallet_code: string;
}

/** A contact of `biz` whose card is testCard(`seed`): seeds are per file, so cards never collide. */
export async function createCardContact(gw: TestGateway, biz: BusinessFixture, seed: number): Promise<CardContact> {
  const card = testCard(seed);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  return { id: c.body.id, card, wallet_code: c.body.wallet_code };
}
