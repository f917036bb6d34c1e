// Helpers shared by the contract tests (test/contract-*.test.ts): assertions on the contract's
// problem+json shape and small readers of what the stores hold.

import { expect } from 'vitest';
import type { Gateway } from '../gateway/gateway.ts';
import { call, createBusiness, type ApiResponse, type BusinessFixture } from './helpers.ts';

export const rfc3339_utc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** `res` is an RFC 9457 problem with this status and contract code. */
export function expectProblem(res: ApiResponse, status: number, code: string): void {
  const context = `${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, context).toBe(status);
  expect(res.headers.get('content-type') ?? '', context).toMatch(/^application\/problem\+json/);
  expect(typeof res.body, context).toBe('object');
  expect(res.body.code, context).toBe(code);
  expect(res.body.status, context).toBe(status);
  expect(typeof res.body.type, context).toBe('string');
  expect(typeof res.body.title, context).toBe('string');
  expect(typeof res.body.detail, context).toBe('string');
}

/** A 400 validation_failed problem whose `errors` list names `path` (or any path if omitted). */
export function expectValidation(res: ApiResponse, path?: string | RegExp): void {
  expectProblem(res, 400, 'validation_failed');
  expect(Array.isArray(res.body.errors), res.text).toBe(true);
  expect(res.body.errors.length, res.text).toBeGreaterThan(0);
  for (const e of res.body.errors) {
    expect(typeof e.path, res.text).toBe('string');
    expect(typeof e.message, res.text).toBe('string');
  }
  if (path !== undefined) {
    const paths = res.body.errors.map((e: { path: string }) => e.path) as string[];
    expect(
      paths.some((p) => (typeof path === 'string' ? p === path : path.test(p))),
      `errors ${JSON.stringify(res.body.errors)} name ${String(path)}`,
    ).toBe(true);
  }
}

/** Any refusal: a 4xx problem+json, never a 5xx. */
export function expectRefused(res: ApiResponse): void {
  const context = `${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, context).toBeGreaterThanOrEqual(400);
  expect(res.status, context).toBeLessThan(500);
  expect(res.headers.get('content-type') ?? '', context).toMatch(/^application\/problem\+json/);
  for (const field of ['type', 'title', 'detail', 'code']) expect(typeof res.body[field], `${field} in ${context}`).toBe('string');
  expect(res.body.status, context).toBe(res.status);
}

/** The contact's wallet as GET /v1/contacts/{id}/wallet answers it. */
export async function walletOf(gw: Gateway, admin_key: string, contact_id: string): Promise<{ currency: string; open: number; commerce: number }> {
  const w = await call(gw, 'GET', `/v1/contacts/${contact_id}/wallet`, admin_key);
  expect(w.status, w.text).toBe(200);
  return w.body;
}

/** Rows a business has in one of the network/contact tables (the tests' "nothing changed" check). */
export async function countRows(gw: Gateway, table: 'merchants' | 'venues' | 'terminals' | 'contacts' | 'offers' | 'ledger_transactions' | 'contact_cims', business_id: string): Promise<number> {
  const sql = gw.processor.stores.sql;
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(table)} where business_id = ${business_id}`;
  return row!.n;
}

let unique_seq = 0;
/** A string unique to this process and run, for references, codes and emails. */
export function unique(prefix: string): string {
  unique_seq++;
  return `${prefix}${process.pid.toString(36)}${Date.now().toString(36)}${unique_seq}`;
}

/** A business with its offers, and one contact of it holding a card (the purchase contracts' fixture). */
export interface Shop {
  readonly biz: BusinessFixture;
  readonly card: string;
  readonly contact_id: string;
  /** The offers' ids, in the order given. */
  readonly offers: string[];
}

/** A fresh business with these offers and one contact holding `card`. */
export async function shop(gw: Gateway, card: string, offers: readonly Record<string, unknown>[], reward_resolution?: string): Promise<Shop> {
  const biz = await createBusiness(gw, reward_resolution === undefined ? {} : { reward_resolution });
  const ids: string[] = [];
  for (const offer of offers) {
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, offer);
    expect(o.status, o.text).toBe(201);
    ids.push(o.body.id);
  }
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  return { biz, card, contact_id: c.body.id, offers: ids };
}
