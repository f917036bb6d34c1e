// Shared by the callback tests: a processor made through the API, signed callbacks posted as raw
// bytes, and events built the way spec/EVENTS.md describes them.

import { signatureHeader } from '../core/signature.ts';
import { call, type ApiResponse, type BusinessFixture, type TestGateway } from './helpers.ts';

export interface ProcessorFixture {
  readonly id: string;
  readonly secret: string;
}

export async function createProcessor(gw: TestGateway, biz: BusinessFixture, award_on?: 'clearing' | 'authorization'): Promise<ProcessorFixture> {
  const res = await call(gw, 'POST', '/v1/processors', biz.admin_key, { name: 'Acquirer', ...(award_on === undefined ? {} : { award_on }) });
  if (res.status !== 201) throw new Error(`create processor: ${res.status} ${res.text}`);
  return { id: res.body.id, secret: res.body.signing_secret };
}

export interface PostOptions {
  /** Secrets to sign with (one v1 each); default the processor's. */
  readonly secrets?: readonly string[];
  /** The signature's t (default: the gateway's clock). */
  readonly t?: number;
  /** The header as sent, instead of one computed. */
  readonly signature?: string | null;
  /** The Content-Type sent (default application/json). */
  readonly content_type?: string;
}

/** POST a callback: `body` (an object, or raw text) signed as the spec says. */
export async function postCallback(gw: TestGateway, p: ProcessorFixture, body: unknown, options: PostOptions = {}): Promise<ApiResponse> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const t = options.t ?? Math.floor(gw.processor.stores.clock.now() / 1000);
  const signature = options.signature === undefined ? signatureHeader(options.secrets ?? [p.secret], t, text) : options.signature;
  const res = await gw.app.request(`/v1/callbacks/${p.id}`, {
    method: 'POST',
    headers: { 'content-type': options.content_type ?? 'application/json', ...(signature === null ? {} : { 'pocketgate-signature': signature }) },
    body: text,
  });
  const raw = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = raw;
  }
  return { status: res.status, headers: res.headers, body: parsed as any, text: raw };
}

let event_seq = 0;

export function eventId(): string {
  event_seq++;
  return `evt_${process.pid}_${Date.now()}_${event_seq}`;
}

export function sale(type: 'transaction.authorized' | 'transaction.cleared', data: Record<string, unknown>, id = eventId()) {
  return { id, type, created_at: new Date().toISOString(), data };
}

export function refunded(data: Record<string, unknown>, id = eventId()) {
  return { id, type: 'transaction.refunded', created_at: new Date().toISOString(), data };
}

export function reversed(transaction_id: string, id = eventId()) {
  return { id, type: 'transaction.reversed', created_at: new Date().toISOString(), data: { transaction_id } };
}

export function transactionId(prefix = 'ptx'): string {
  event_seq++;
  return `${prefix}_${process.pid}_${Date.now()}_${event_seq}`;
}
