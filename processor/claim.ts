// Reference claims: a terminal's reference names one request, whichever contact (and so shard)
// that request touches. Taken before the shard script; the script's own record then decides
// between a replay and a first run.

import { PocketgateError } from '../core/errors.ts';
import { claimKey } from './hot/keys.ts';
import type { Stores } from './stores.ts';

/** Claim `reference` for this request (or find it claimed by this same request). */
export async function claimReference(stores: Stores, terminal_id: string, reference: string, hash: string, contact_id: string): Promise<void> {
  const prior = (await stores.redis.sendCommand([
    'SET', claimKey(terminal_id, reference), `${hash}|${contact_id}`, 'NX', 'GET', 'EX', String(stores.config.reply_ttl_seconds),
  ])) as string | null;
  if (prior === null) return;
  // A reversal of this reference arrived first (the late-original race of card networks).
  if (prior.startsWith('!')) throw new PocketgateError('already_reversed', `reference ${reference} was reversed before it arrived`);
  if (prior.slice(0, prior.indexOf('|')) !== hash) throw new PocketgateError('idempotency_conflict', `reference ${reference} was used for a different request`);
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
