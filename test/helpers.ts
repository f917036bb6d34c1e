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

/**
 * For tests about input and rules, not outages, that make thousands of calls and take any 503 for
 * a finding: the stores' probes give up after 10 s instead of 1, so that a machine the full suite
 * stalls for a second does not make a healthy store look down (CI at 5648b7b: PostgreSQL's probe;
 * at 273156a: Redis's, a PUT /v1/tiers answered 503 in test/fuzz.test.ts).
 */
export const patient_probes = { postgres_probe_timeout_ms: 10_000, redis_probe_timeout_ms: 10_000 } as const satisfies Partial<GatewayConfig>;

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
  // This fixture's own number, taken before any await: read after, two made at once (Promise.all)
  // both read the later one, and in the same millisecond got one merchant code (a CI run: B's
  // processor naming A's code found B's merchant, contact_not_found for not_found).
  const seq = ++fixture_seq;
  const b = await call(gw, 'POST', '/v1/businesses', platform_key, { name: `Test business ${seq}`, currency: options.currency ?? 'EUR', ...(options.reward_resolution ? { reward_resolution: options.reward_resolution } : {}) });
  if (b.status !== 201) throw new Error(`create business: ${b.status} ${b.text}`);
  const admin_key = b.body.admin_key as string;
  // The number, then a separator, so that 1 then 12345 and 11 then 2345 differ too.
  const merchant_code = `M${seq}X${Date.now() % 100000}`.slice(0, 15);
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

/** The console's live feed (`GET /v1/feed`) as a test reads it. */
export interface Feed {
  readonly response: Response;
  /** Reads on until `seen` holds of all read since the ready event; fails if the feed ends, or `timeout_ms` passes, first. */
  until(seen: (text: string) => boolean, timeout_ms?: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * `GET /v1/feed` with `admin_key`, once its `ready` event has come and its reader has had time to
 * take the journal's end (what is journaled after it returns is in the feed).
 */
export async function openFeed(gw: Gateway, admin_key: string): Promise<Feed> {
  const response = await gw.app.request('/v1/feed', { headers: { authorization: `Bearer ${admin_key}` } });
  if (response.status !== 200) throw new Error(`GET /v1/feed: ${response.status} ${await response.text()}`);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const ready = decoder.decode((await reader.read()).value);
  if (!ready.includes('event: ready')) throw new Error(`GET /v1/feed began without its ready event: ${ready}`);
  await new Promise((r) => setTimeout(r, 300));
  let text = '';
  const until = async (seen: (text: string) => boolean, timeout_ms = 5_000) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not seen in the feed in ${timeout_ms} ms: ${text}`)), timeout_ms)));
    try {
      while (!seen(text)) {
        const chunk = await Promise.race([reader.read(), late]);
        if (chunk.done) throw new Error(`the feed ended: ${text}`);
        text += decoder.decode(chunk.value);
      }
      return text;
    } finally {
      clearTimeout(timer);
    }
  };
  return { response, until, close: () => reader.cancel() };
}

/**
 * Closes each of `open` in turn, at a test file's end: connections before the gateway they reach.
 * One never opened (undefined: its beforeAll failed first) is passed over.
 */
export async function closeAll(...open: readonly ({ close(): unknown } | undefined)[]): Promise<void> {
  for (const o of open) await o?.close();
}
