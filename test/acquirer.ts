// An acquirer's side of the gateway tests: an acquirer id (DE32) of this run's own, linked to a
// business so that its messages reach that business.

import { expect } from 'vitest';
import type { Gateway } from '../gateway/gateway.ts';
import { call, createBusiness, type BusinessFixture } from './helpers.ts';

/** Random per run: links are global to the gateway's database, and another file may link its own. */
export function randomAcquirerId(): string {
  return String(1_000_000 + Math.floor(Math.random() * 8_999_999));
}

export async function linkAcquirer(gw: Gateway, biz: BusinessFixture, acquirer: string): Promise<void> {
  expect((await call(gw, 'POST', '/v1/iso8583/links', biz.admin_key, { acquirer_id: acquirer })).status).toBe(201);
}

/** A business that `acquirer` is linked to, with a 10% spend offer: what the ISO 8583 contract tests transact with. */
export async function acquiredBusiness(gw: Gateway, acquirer: string): Promise<BusinessFixture> {
  const biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
  await linkAcquirer(gw, biz, acquirer);
  return biz;
}
