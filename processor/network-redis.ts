// Reading and writing the business network's Redis hashes (layout in network-layout.ts). Every
// command names one key; commands issued together are pipelined by node-redis, never a MULTI
// (whose keys would have to share a Cluster slot).

import {
  acquirerKey,
  businessFields,
  businessKey,
  businessOf,
  keyEntryFields,
  keyEntryKey,
  keyEntryOf,
  merchantFields,
  merchantKey,
  merchantOf,
  terminalCodeField,
  terminalCodesKey,
  terminalFields,
  terminalKey,
  terminalOf,
  venueFields,
  venueKey,
  venueOf,
  type BusinessRecord,
  type KeyEntry,
  type MerchantRecord,
  type TerminalRecord,
  type VenueRecord,
} from './network-layout.ts';
import type { RedisClient } from './stores.ts';

/**
 * Businesses one acquirer may be linked to, and so the most an ISO 8583 routing considers, earliest
 * link first: a bounded read (its terminal look-ups, one per business, go out in one pipeline, and
 * only when a route is not cached). A bank acquires for many businesses: a link past the bound is
 * refused (Network.linkAcquirer), never made to route nothing.
 */
export const acquirer_businesses_max = 1_000;

/** A terminal as the POS path uses it: its own record with its venue's and merchant's. */
export interface TerminalView {
  readonly terminal: TerminalRecord;
  readonly venue: VenueRecord;
  readonly merchant: MerchantRecord | undefined;
}

export async function readKeyEntry(redis: RedisClient, key_hash: string): Promise<KeyEntry | undefined> {
  return keyEntryOf(await redis.hGetAll(keyEntryKey(key_hash)));
}

export async function readBusiness(redis: RedisClient, id: string): Promise<BusinessRecord | undefined> {
  return businessOf(id, await redis.hGetAll(businessKey(id)));
}

/** The terminal with its venue and merchant, or undefined when any of them is missing or not the business's. */
export async function readTerminal(redis: RedisClient, id: string): Promise<TerminalView | undefined> {
  const terminal = terminalOf(id, await redis.hGetAll(terminalKey(id)));
  if (terminal === undefined) return undefined;
  const [venue_fields, merchant_fields] = await Promise.all([
    redis.hGetAll(venueKey(terminal.venue_id)),
    terminal.merchant_id === null ? Promise.resolve(undefined) : redis.hGetAll(merchantKey(terminal.merchant_id)),
  ]);
  const venue = venueOf(terminal.venue_id, venue_fields);
  const merchant = merchant_fields === undefined ? undefined : merchantOf(terminal.merchant_id!, merchant_fields);
  if (venue === undefined || venue.business_id !== terminal.business_id) return undefined;
  if (terminal.merchant_id !== null && (merchant === undefined || merchant.business_id !== terminal.business_id)) return undefined;
  return { terminal, venue, merchant };
}

/** The businesses linked to the acquirer, earliest link first. */
export async function readAcquirerBusinesses(redis: RedisClient, acquirer_id: string): Promise<string[]> {
  return redis.zRange(acquirerKey(acquirer_id), 0, acquirer_businesses_max - 1);
}

/** For each business, its terminal with these codes (null where it has none), in one pipeline. */
export async function readTerminalIdsByCode(redis: RedisClient, business_ids: readonly string[], merchant_code: string, terminal_code: string): Promise<(string | null)[]> {
  const field = terminalCodeField(merchant_code, terminal_code);
  return Promise.all(business_ids.map(async (b) => (await redis.hGet(terminalCodesKey(b), field)) ?? null));
}

export async function writeBusiness(redis: RedisClient, b: BusinessRecord): Promise<void> {
  // The key entry first: the key works once the business names it. ('' : a business without one.)
  if (b.admin_key_hash !== '') await redis.hSet(keyEntryKey(b.admin_key_hash), keyEntryFields({ business_id: b.id, kind: 'admin', terminal_id: null }));
  await redis.hSet(businessKey(b.id), businessFields(b));
}

export async function writeMerchant(redis: RedisClient, m: MerchantRecord): Promise<void> {
  await redis.hSet(merchantKey(m.id), merchantFields(m));
}

export async function writeVenue(redis: RedisClient, v: VenueRecord): Promise<void> {
  await redis.hSet(venueKey(v.id), venueFields(v));
}

/**
 * The terminal, its key entry and its DE42/DE41 index field. `old_key_hash`, when the terminal's
 * key changed, is deleted after the terminal names the new one (it no longer works either way).
 */
export async function writeTerminal(redis: RedisClient, t: TerminalRecord, merchant_code: string, old_key_hash?: string): Promise<void> {
  if (t.key_hash !== '') await redis.hSet(keyEntryKey(t.key_hash), keyEntryFields({ business_id: t.business_id, kind: 'terminal', terminal_id: t.id }));
  await Promise.all([redis.hSet(terminalKey(t.id), terminalFields(t)), redis.hSet(terminalCodesKey(t.business_id), terminalCodeField(merchant_code, t.code), t.id)]);
  if (old_key_hash !== undefined && old_key_hash !== t.key_hash) await redis.del(keyEntryKey(old_key_hash));
}

export async function writeLink(redis: RedisClient, acquirer_id: string, business_id: string, linked_ms: number): Promise<void> {
  await redis.zAdd(acquirerKey(acquirer_id), { score: linked_ms, value: business_id });
}
