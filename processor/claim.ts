// Reference claims: a terminal's reference names one request, whichever contact (and so shard)
// that request touches. Taken before the shard script; the script's own record then decides
// between a replay and a first run. Where they live: hot/references.ts.

import { PocketgateError } from '../core/errors.ts';
import { contactIdBytes, contactIdFromBytes } from '../core/ids.ts';
import type { ReferenceSlot } from './hot/references.ts';
import { journalClaimRefusal } from './refusals.ts';
import type { Stores } from './stores.ts';

/**
 * Characters of the request hash a claim keeps: 60 bits, to tell another body under one
 * reference (a retry with another body passing for the first: one chance in 10^18). A claim is
 * '<hash><contact id's 12 bytes>' (22 bytes), fixed widths, no separator: every byte is paid per
 * transaction in the hot window. Claims written before the contact was kept as bytes hold its
 * id's 20 base32 characters instead (30 bytes); they are read as such until their window ends.
 */
const claim_hash_length = 10;
const packed_length = claim_hash_length + 12;

/** What of a request's hash its claim keeps (and its ledger transaction, so that `rebuild` can claim it again). */
export function claimHash(hash: string): string {
  return hash.slice(0, claim_hash_length);
}

/** A claim's value: the request's claim hash, then its contact's id as bytes (as `rebuild` writes it again too). */
export function claimValue(claim_hash: string, contact_id: string): Buffer {
  const hash = Buffer.from(claim_hash, 'latin1');
  return contact_id === '' ? hash : Buffer.concat([hash, contactIdBytes(contact_id)]);
}

/** The contact a claim binds its reference to ('' for none), from either form (see above). */
function claimContact(claim: Buffer): string {
  if (claim.length === claim_hash_length) return '';
  if (claim.length === packed_length) return contactIdFromBytes(claim.subarray(claim_hash_length));
  return `con_${claim.toString('latin1', claim_hash_length)}`;
}

/** Whether `claim` was made by a request with this claim hash (a reversal's mark never is). */
function claimedWith(claim: Buffer, claim_hash: string): boolean {
  return claim.length >= claim_hash_length && claim.toString('latin1', 0, claim_hash_length) === claim_hash;
}

const reversed_mark = 0x21; // '!': a reversal that came before its original (claimForReversal)
/** A reversal's mark: '!' and the reversal's claim hash (claim.lua writes the late original's hash after it). */
const mark_length = 1 + claim_hash_length;

function runClaim(stores: Pick<Stores, 'redis'>, slot: ReferenceSlot, value: Buffer, mode: 'claim' | 'read'): Promise<Buffer | null> {
  return stores.redis.claimScript({ slot, value, mode });
}

const no_value = Buffer.alloc(0);

/** A request taking its reference: its business, the reference's slot and the request's hash. */
export interface Claimant {
  readonly business_id: string;
  readonly slot: ReferenceSlot;
  readonly hash: string;
}

/**
 * Claim the reference for this request (or find it claimed by this same request). Returns the
 * contact the reference is bound to: `contact_id`, or the one this same request named when it
 * came first, which differs only if what names the contact moved meanwhile (an OTP code used up
 * and issued again to another contact).
 */
export async function claimReference(stores: Pick<Stores, 'redis' | 'config'>, claimant: Claimant, contact_id: string): Promise<string> {
  return (await claim(stores, claimant, contact_id)).contact_id;
}

/** claimReference, telling too whether this same request had claimed it before (a repeat: a replay, or a copy in flight). */
export function claimReferenceAgain(stores: Pick<Stores, 'redis' | 'config'>, claimant: Claimant, contact_id: string): Promise<{ contact_id: string; repeat: boolean }> {
  return claim(stores, claimant, contact_id);
}

/**
 * Claim the reference for a request refused before it names a contact (a refund or reversal
 * whose original is not there), so that its repeat is refused again and another body is 409.
 * Whether this same request claimed it before: a repeat, to be answered as replayed.
 */
export async function claimRefused(stores: Pick<Stores, 'redis' | 'config'>, claimant: Claimant): Promise<boolean> {
  return (await claim(stores, claimant, '')).repeat;
}

async function claim(stores: Pick<Stores, 'redis' | 'config'>, claimant: Claimant, contact_id: string): Promise<{ contact_id: string; repeat: boolean }> {
  const { slot } = claimant;
  const claim_hash = claimHash(claimant.hash);
  const prior = await runClaim(stores, slot, claimValue(claim_hash, contact_id), 'claim');
  if (prior === null) return { contact_id, repeat: false };
  // A reversal of this reference arrived first (the late-original race of card networks).
  if (prior[0] === reversed_mark) throw await lateOriginal(stores, claimant, prior);
  if (!claimedWith(prior, claim_hash)) throw referenceConflict(slot.reference);
  return { contact_id: claimContact(prior), repeat: true };
}

/**
 * The refusal of a request that finds a reversal's mark on its reference: the mark alone (11
 * bytes) when it is the first to come, which claim.lua then follows with its claim hash; with a
 * claim hash after it, this request's repeat (answered as replayed) or another body (409).
 * Journaled, as every refusal on the merits is, so that `npm run rebuild` writes its claim hash
 * after the mark again (rebuild-references.ts) and its repeat is still answered as replayed; a
 * repeat journals it again (refusals.ts journalClaimRefusal).
 */
async function lateOriginal(stores: Pick<Stores, 'redis' | 'config'>, claimant: Claimant, mark: Buffer): Promise<PocketgateError> {
  const { slot } = claimant;
  const claim_hash = claimHash(claimant.hash);
  const late = mark.toString('latin1', mark_length, mark_length + claim_hash_length);
  if (late !== '' && late !== claim_hash) return referenceConflict(slot.reference);
  const repeat = late !== '';
  await journalClaimRefusal(stores, { business_id: claimant.business_id, slot, request_hash: claim_hash, contact_id: '', repeat }, 'already_reversed');
  const err = new PocketgateError('already_reversed', `reference ${slot.reference} was reversed before it arrived`);
  err.replayed = repeat;
  return err;
}

/**
 * Write an original's claim hash after its reversal's mark, as claim.lua does when the original
 * comes, where the mark is and has none after it yet (`npm run rebuild`: the mark is rebuilt
 * first).
 */
export async function rememberLateOriginal(stores: Pick<Stores, 'redis'>, slot: ReferenceSlot, claim_hash: string): Promise<void> {
  const mark = await runClaim(stores, slot, no_value, 'read');
  if (mark === null || mark[0] !== reversed_mark || mark.length !== mark_length) return;
  await runClaim(stores, slot, claimValue(claim_hash, ''), 'claim');
}

/** The contact a claim binds the reference to, if it is claimed by a request with `hash`. */
export async function claimedBy(stores: Pick<Stores, 'redis'>, slot: ReferenceSlot, hash: string): Promise<string | undefined> {
  const holder = await referenceHolder(stores, slot, hash);
  return holder?.by === 'this' ? holder.contact_id : undefined;
}

/**
 * Who holds the reference, seen by a request of `hash`: this same request earlier (bound to the
 * contact it named, '' if none), another request, or nobody in the hot window (a reversal's mark
 * counts as nobody here: claimReference answers it).
 */
export async function referenceHolder(stores: Pick<Stores, 'redis'>, slot: ReferenceSlot, hash: string): Promise<{ readonly by: 'this'; readonly contact_id: string } | { readonly by: 'another' } | undefined> {
  const claim = await runClaim(stores, slot, no_value, 'read');
  if (claim === null || claim[0] === reversed_mark) return undefined;
  return claimedWith(claim, claimHash(hash)) ? { by: 'this', contact_id: claimContact(claim) } : { by: 'another' };
}

export function referenceConflict(reference: string): PocketgateError {
  return new PocketgateError('idempotency_conflict', `reference ${reference} was used for a different request`);
}

/**
 * Whether the reference is claimed by a request with another hash (a reversal's mark is not such
 * a claim: claimReference answers it): a read, for a request that must answer 409 before it
 * changes anything elsewhere.
 */
export async function claimedByAnother(stores: Pick<Stores, 'redis'>, slot: ReferenceSlot, hash: string): Promise<boolean> {
  return (await referenceHolder(stores, slot, hash))?.by === 'another';
}

export interface Original {
  readonly contact_id: string;
}

/**
 * The contact of the transaction a terminal made under the reference within the hot window;
 * undefined if it never arrived or is older (the ledger has it then).
 */
export async function findOriginal(stores: Pick<Stores, 'redis'>, slot: ReferenceSlot): Promise<Original | undefined> {
  const claim = await runClaim(stores, slot, no_value, 'read');
  if (claim === null || claim[0] === reversed_mark) return undefined;
  return { contact_id: claimContact(claim) };
}

/**
 * Remember that the reference was reversed before it arrived, so that it is refused if it comes:
 * 'remembered' (now, or before by this reversal or another: the original is still not there),
 * or 'arrived' (the original came meanwhile: reverse it for real).
 */
export async function claimForReversal(stores: Pick<Stores, 'redis'>, slot: ReferenceSlot, reversal_hash: string): Promise<'remembered' | 'arrived'> {
  const mark = Buffer.from(`!${claimHash(reversal_hash)}`, 'latin1');
  const prior = await runClaim(stores, slot, mark, 'claim');
  return prior === null || prior[0] === reversed_mark ? 'remembered' : 'arrived';
}
