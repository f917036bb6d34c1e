// Shared by the tests that start a whole gateway: an in-process gateway on the test Redis and
// PostgreSQL that `npm test` started, a small JSON client, and a ready-made business.

import { Writable } from 'node:stream';
import pino from 'pino';
import { configFromEnv, type GatewayConfig } from '../gateway/config.ts';
import { startGateway, type Gateway, type StartOptions } from '../gateway/gateway.ts';
import { luhnCheckDigit } from '../core/luhn.ts';

export const platform_key = process.env.PLATFORM_API_KEY ?? 'pk_test_platform_key';

export interface TestGateway extends Gateway {
  /** Everything the gateway logged, for tests that check what must never be logged. */
  readonly logs: string[];
}

export async function startTestGateway(overrides: Partial<GatewayConfig> = {}, listen = false, iso8583 = false, options: Pick<StartOptions, 'terminal'> = {}): Promise<TestGateway> {
  process.env.PLATFORM_API_KEY ??= platform_key;
  process.env.CIM_HMAC_KEY ??= 'test-hmac-key';
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const config = { ...configFromEnv(), port: 0, iso8583_port: 0, ...overrides };
  const gateway = await startGateway(config, { ...options, listen, iso8583, logger: pino({ level: 'debug' }, sink), collect_default_metrics: false });
  return Object.assign(gateway, { logs });
}

export interface ApiResponse<T = any> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
  readonly text: string;
}

export async function call<T = any>(gw: Gateway, method: string, path: string, key: string | undefined, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
  const res = await gw.app.request(path, {
    method,
    headers: { ...(key === undefined ? {} : { authorization: `Bearer ${key}` }), 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

export interface BusinessFixture {
  readonly business_id: string;
  readonly admin_key: string;
  readonly merchant_id: string;
  readonly merchant_code: string;
  readonly venue_id: string;
  readonly terminal_id: string;
  readonly terminal_code: string;
  readonly terminal_key: string;
}

let fixture_seq = 0;

/** A business with a merchant, a venue and a terminal, all created through the API. */
export async function createBusiness(gw: Gateway, options: { currency?: string; reward_resolution?: string } = {}): Promise<BusinessFixture> {
  fixture_seq++;
  const b = await call(gw, 'POST', '/v1/businesses', platform_key, { name: `Test business ${fixture_seq}`, currency: options.currency ?? 'EUR', ...(options.reward_resolution ? { reward_resolution: options.reward_resolution } : {}) });
  if (b.status !== 201) throw new Error(`create business: ${b.status} ${b.text}`);
  const admin_key = b.body.admin_key as string;
  const merchant_code = `M${fixture_seq}${Date.now() % 100000}`.slice(0, 15);
  const m = await call(gw, 'POST', '/v1/merchants', admin_key, { name: 'Merchant', code: merchant_code, contribution_fee_percent: 10 });
  if (m.status !== 201) throw new Error(`create merchant: ${m.status} ${m.text}`);
  const v = await call(gw, 'POST', '/v1/venues', admin_key, { name: 'Venue', merchant_id: m.body.id });
  if (v.status !== 201) throw new Error(`create venue: ${v.status} ${v.text}`);
  const t = await call(gw, 'POST', '/v1/terminals', admin_key, { venue_id: v.body.id, code: 'T0000001' });
  if (t.status !== 201) throw new Error(`create terminal: ${t.status} ${t.text}`);
  return {
    business_id: b.body.id,
    admin_key,
    merchant_id: m.body.id,
    merchant_code,
    venue_id: v.body.id,
    terminal_id: t.body.id,
    terminal_code: 'T0000001',
    terminal_key: t.body.api_key,
  };
}

/** Wait until `check` holds, polling; fails with `what` after `timeout_ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeout_ms = 10_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const r = await check();
    if (r !== undefined && r !== false) return r;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A Luhn-valid test card number built from a seed. */
export function testCard(seed: number): string {
  const partial = `5${String(seed).padStart(14, '0')}`;
  return partial + luhnCheckDigit(partial);
}
