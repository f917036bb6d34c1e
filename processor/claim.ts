// Reference claims: a terminal's reference names one request, whichever contact (and so shard)
// that request touches. Taken before the shard script; the script's own record then decides
// between a replay and a first run. Where they live: hot/references.ts.

import { PocketgateError } from '../core/errors.ts';
import type { ReferenceSlot } from './hot/references.ts';
import type { Stores } from './stores.ts';

/**
 * Characters of the request hash a claim keeps: 60 bits, to tell another body under one
 * reference (a retry with another body passing for the first: one chance in 10^18). A claim is
 * '<hash><contact id without con_>', fixed widths, no separator: every byte is paid per
 * transaction in the hot window.
 */
const claim_hash_length = 10;

/** What of a request's hash its claim keeps (and its ledger transaction, so that `rebuild` can claim it again). */
export function claimHash(hash: string): string {
  return hash.slice(0, claim_hash_length);
}

/** The contact id as a claim stores it: without its 'con_' prefix ('' for none). */
function packContact(contact_id: string): string {
  return contact_id.startsWith('con_') ? contact_id.slice(4) : contact_id;
}

/** A claim's value: the request's claim hash, then its contact (as `rebuild` writes it again too). */
export function claimValue(claim_hash: string, contact_id: string): string {
  return claim_hash + packContact(contact_id);
}

function unpackContact(packed: string): string {
  return packed === '' ? '' : `con_${packed}`;
}

function runClaim(stores: Stores, slot: ReferenceSlot, value: string, mode: 'claim' | 'read'): Promise<string | null> {
  return stores.redis.claimScript({ slot, value, mode });
}

/**
 * Claim the reference for this request (or find it claimed by this same request). Returns the
 * contact the reference is bound to: `contact_id`, or the one this same request named when it
 * came first, which differs only if what names the contact moved meanwhile (an OTP code used up
 * and issued again to another contact).
 */
export async function claimReference(stores: Stores, slot: ReferenceSlot, reference: string, hash: string, contact_id: string): Promise<string> {
  const prior = await runClaim(stores, slot, claimValue(claimHash(hash), contact_id), 'claim');
  if (prior === null) return contact_id;
  // A reversal of this reference arrived first (the late-original race of card networks).
  if (prior.startsWith('!')) throw new PocketgateError('already_reversed', `reference ${reference} was reversed before it arrived`);
  if (!prior.startsWith(claimHash(hash))) throw new PocketgateError('idempotency_conflict', `reference ${reference} was used for a different request`);
  return unpackContact(prior.slice(claim_hash_length));
}

/** The contact a claim binds the reference to, if it is claimed by a request with `hash`. */
export async function claimedBy(stores: Stores, slot: ReferenceSlot, hash: string): Promise<string | undefined> {
  const claim = await runClaim(stores, slot, '', 'read');
  if (claim === null || !claim.startsWith(claimHash(hash))) return undefined;
  return unpackContact(claim.slice(claim_hash_length));
}

export interface Original {
  readonly contact_id: string;
}

/**
 * The contact of the transaction a terminal made under the reference within the hot window;
 * undefined if it never arrived or is older (the ledger has it then).
 */
export async function findOriginal(stores: Stores, slot: ReferenceSlot): Promise<Original | undefined> {
  const claim = await runClaim(stores, slot, '', 'read');
  if (claim === null || claim.startsWith('!')) return undefined;
  return { contact_id: unpackContact(claim.slice(claim_hash_length)) };
}

/**
 * Remember that the reference was reversed before it arrived, so that it is refused if it comes:
 * 'remembered' (now or by this same reversal before), 'reversed' (by another reversal already),
 * or 'arrived' (the original came meanwhile: reverse it for real).
 */
export async function claimForReversal(stores: Stores, slot: ReferenceSlot, reversal_hash: string): Promise<'remembered' | 'reversed' | 'arrived'> {
  const mark = `!${claimHash(reversal_hash)}`;
  const prior = await runClaim(stores, slot, mark, 'claim');
  if (prior === null || prior === mark) return 'remembered';
  return prior.startsWith('!') ? 'reversed' : 'arrived';
}
