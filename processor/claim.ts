// Reference claims: a terminal's reference names one request, whichever contact (and so shard)
// that request touches. Taken before the shard script; the script's own record then decides
// between a replay and a first run.

import { PocketgateError } from '../core/errors.ts';
import { claimKey } from './hot/keys.ts';
import type { Stores } from './stores.ts';

/**
 * Claim `reference` for this request (or find it claimed by this same request). Returns the
 * contact the reference is bound to: `contact_id`, or the one this same request named when it
 * came first, which differs only if what names the contact moved meanwhile (an OTP code used up
 * and issued again to another contact).
 */
export async function claimReference(stores: Stores, terminal_id: string, reference: string, hash: string, contact_id: string): Promise<string> {
  const prior = (await stores.redis.sendCommand([
    'SET', claimKey(terminal_id, reference), `${hash}|${contact_id}`, 'NX', 'GET', 'EX', String(stores.config.reply_ttl_seconds),
  ])) as string | null;
  if (prior === null) return contact_id;
  // A reversal of this reference arrived first (the late-original race of card networks).
  if (prior.startsWith('!')) throw new PocketgateError('already_reversed', `reference ${reference} was reversed before it arrived`);
  const bar = prior.indexOf('|');
  if (prior.slice(0, bar) !== hash) throw new PocketgateError('idempotency_conflict', `reference ${reference} was used for a different request`);
  return prior.slice(bar + 1);
}

export interface Original {
  readonly contact_id: string;
}

/**
 * The contact of the transaction a terminal made under `reference`; undefined if it never
 * arrived (or is older than the reply TTL).
 */
export async function findOriginal(stores: Stores, terminal_id: string, reference: string): Promise<Original | undefined> {
  const claim = await stores.redis.get(claimKey(terminal_id, reference));
  if (claim === null || claim.startsWith('!')) return undefined;
  return { contact_id: claim.slice(claim.indexOf('|') + 1) };
}

/**
 * Remember that `reference` was reversed before it arrived, so that it is refused if it comes:
 * 'remembered' (now or by this same reversal before), 'reversed' (by another reversal already),
 * or 'arrived' (the original came meanwhile: reverse it for real).
 */
export async function claimForReversal(stores: Stores, terminal_id: string, reference: string, reversal_hash: string): Promise<'remembered' | 'reversed' | 'arrived'> {
  const prior = (await stores.redis.sendCommand([
    'SET', claimKey(terminal_id, reference), `!${reversal_hash}`, 'NX', 'GET', 'EX', String(stores.config.reply_ttl_seconds),
  ])) as string | null;
  if (prior === null || prior === `!${reversal_hash}`) return 'remembered';
  return prior.startsWith('!') ? 'reversed' : 'arrived';
}
