// The business network in Redis: what the POS path reads to know who is calling (API key hashes,
// businesses, merchants, venues, terminals, ISO 8583 acquirer links). PostgreSQL holds the
// network; the admin API writes each change there first and then here, and
// processor/network-load.ts copies all of it (a new Redis, an upgrade). One small hash per thing,
// each read with single-key commands, so the layout serves a Redis Cluster as is (none of these
// keys is in a contact shard, and no script touches them):
//
//   n:k:<sha256 of key>   hash  b business id, k 'admin'|'terminal', t terminal id (terminal keys)
//   n:b:<business id>     hash  name, cur currency, res reward resolution, at created (RFC 3339),
//                               ak the admin key's hash, u '1' while Redis holds none of the
//                               business's contacts (the network copied by a gateway's start onto
//                               a Redis that lost its data): its POS calls answer 503 until rebuild
//   n:m:<merchant id>     hash  b, code (DE42), fee contribution fee in basis points, settle
//   n:v:<venue id>        hash  b, m merchant id ('' at the business's own venues), tz
//   n:t:<terminal id>     hash  b, v venue id, m merchant id (''), code (DE41), kh its key's hash
//   n:tc:<business id>    hash  '["<merchant code>","<terminal code>"]' → terminal id (ISO 8583)
//   n:a:<DE32, 11 digits> zset  business ids linked to the acquirer, scored by link time (ms)
//   n:loaded              string  the counts of the network's last copy from PostgreSQL (by
//                                 rebuild: once everything it loads is in Redis), or
//                                 `rebuilding:<time>` while a rebuild loads a Redis that lost its
//                                 data (left by one killed): the POS path waits meanwhile
//
// A key entry names what it opens, and that thing names its current key (ak, kh): a key works
// only while both agree, so changing a terminal's kh revokes its old key in one single-key write,
// whatever stale entry is left behind.
//
// Pure: names and the mapping between records and hash fields; no I/O.

import type { Resolution } from '../core/offer.ts';

/** Every key of the business network starts with this (rebuild tells them from a contact's data by it). */
export const network_prefix = 'n:';
export const network_loaded_key = 'n:loaded';
/** network_loaded_key's value while a rebuild loads Redis (then `rebuilding:<ISO time>`). */
export const rebuilding_prefix = 'rebuilding:';

/** Whether network_loaded_key's value `v` says the POS path may serve: a copy's counts, not absent nor a rebuild's mark. */
export function networkLoaded(v: string | null): boolean {
  return v !== null && !v.startsWith(rebuilding_prefix);
}

export const keyEntryKey = (key_hash: string) => `n:k:${key_hash}`;
/** businessKey's field whose '1' says Redis holds none of the business's contacts (until rebuild). */
export const business_unbuilt_field = 'u';
export const businessKey = (id: string) => `n:b:${id}`;
export const merchantKey = (id: string) => `n:m:${id}`;
export const venueKey = (id: string) => `n:v:${id}`;
export const terminalKey = (id: string) => `n:t:${id}`;
export const terminalCodesKey = (business_id: string) => `n:tc:${business_id}`;
export const acquirerKey = (acquirer_id: string) => `n:a:${paddedAcquirer(acquirer_id)}`;

/** DE32 as links store it: zero-padded to 11 digits, as in DE90. */
export function paddedAcquirer(acquirer_id: string): string {
  return acquirer_id.padStart(11, '0');
}

/** The field of the business's DE42/DE41 index: JSON, so no code can run into the other. */
export function terminalCodeField(merchant_code: string, terminal_code: string): string {
  return JSON.stringify([merchant_code, terminal_code]);
}

export interface KeyEntry {
  readonly business_id: string;
  readonly kind: 'admin' | 'terminal';
  readonly terminal_id: string | null;
}

export interface BusinessRecord {
  readonly id: string;
  readonly name: string;
  readonly currency: string;
  readonly reward_resolution: Resolution;
  readonly created_at: string;
  readonly admin_key_hash: string;
  /** Its contacts not in this Redis (field u): read, never written with the rest (businessFields). */
  readonly unbuilt?: boolean;
}

export interface MerchantRecord {
  readonly id: string;
  readonly business_id: string;
  readonly code: string;
  readonly fee_bp: number;
  readonly settle_on: 'award' | 'spend';
}

export interface VenueRecord {
  readonly id: string;
  readonly business_id: string;
  readonly merchant_id: string | null;
  readonly timezone: string;
}

export interface TerminalRecord {
  readonly id: string;
  readonly business_id: string;
  readonly venue_id: string;
  readonly merchant_id: string | null;
  readonly code: string;
  readonly key_hash: string;
}

type Fields = Record<string, string>;

const resolutions: ReadonlySet<string> = new Set(['all', 'best', 'best_per_scheme']);

export function keyEntryFields(e: KeyEntry): Fields {
  return e.kind === 'terminal' ? { b: e.business_id, k: 'terminal', t: e.terminal_id ?? '' } : { b: e.business_id, k: 'admin' };
}

/** undefined for a missing hash (HGETALL answers {}) or one this code did not write. */
export function keyEntryOf(f: Fields): KeyEntry | undefined {
  if (!f.b) return undefined;
  if (f.k === 'admin') return { business_id: f.b, kind: 'admin', terminal_id: null };
  if (f.k === 'terminal' && f.t) return { business_id: f.b, kind: 'terminal', terminal_id: f.t };
  return undefined;
}

export function businessFields(b: BusinessRecord): Fields {
  return { name: b.name, cur: b.currency, res: b.reward_resolution, at: b.created_at, ak: b.admin_key_hash };
}

export function businessOf(id: string, f: Fields): BusinessRecord | undefined {
  if (f.name === undefined || !f.cur || !f.res || !resolutions.has(f.res) || !f.at || f.ak === undefined) return undefined;
  return { id, name: f.name, currency: f.cur, reward_resolution: f.res as Resolution, created_at: f.at, admin_key_hash: f.ak, ...(f.u === '1' ? { unbuilt: true } : {}) };
}

export function merchantFields(m: MerchantRecord): Fields {
  return { b: m.business_id, code: m.code, fee: String(m.fee_bp), settle: m.settle_on };
}

export function merchantOf(id: string, f: Fields): MerchantRecord | undefined {
  const fee = Number(f.fee);
  if (!f.b || !f.code || f.fee === undefined || !Number.isInteger(fee) || (f.settle !== 'award' && f.settle !== 'spend')) return undefined;
  return { id, business_id: f.b, code: f.code, fee_bp: fee, settle_on: f.settle };
}

export function venueFields(v: VenueRecord): Fields {
  return { b: v.business_id, m: v.merchant_id ?? '', tz: v.timezone };
}

export function venueOf(id: string, f: Fields): VenueRecord | undefined {
  if (!f.b || f.m === undefined || !f.tz) return undefined;
  return { id, business_id: f.b, merchant_id: f.m === '' ? null : f.m, timezone: f.tz };
}

export function terminalFields(t: TerminalRecord): Fields {
  return { b: t.business_id, v: t.venue_id, m: t.merchant_id ?? '', code: t.code, kh: t.key_hash };
}

export function terminalOf(id: string, f: Fields): TerminalRecord | undefined {
  if (!f.b || !f.v || f.m === undefined || !f.code || f.kh === undefined) return undefined;
  return { id, business_id: f.b, venue_id: f.v, merchant_id: f.m === '' ? null : f.m, code: f.code, key_hash: f.kh };
}
