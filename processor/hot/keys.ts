// Redis key layout. Every key a shard script touches carries the contact's shard hash tag
// `{s<n>}`, so each script touches one Redis Cluster slot; the CIM index and reference claims
// are read with single-key commands and need no tag.
//
// Names are short on purpose: with millions of contacts, every byte of key name is paid for
// once per key in Redis memory.

export function shardTag(shard: number): string {
  return `{s${shard}}`;
}

/** Contact hash: business, balances and the profile fields offers read. */
export function contactKey(shard: number, contact_id: string): string {
  return `c:{s${shard}}:${contact_id}`;
}

/** CIM index: HMAC token → contact id. */
export function cimKey(token: string): string {
  return `i:${token}`;
}

/** Reference claim: terminal + reference → hash of the request, checked before the shard script. */
export function claimKey(terminal_id: string, reference: string): string {
  return `r:${terminal_id}:${reference}`;
}

/** Idempotency record on the contact's shard: hash, status and the reply sent. */
export function replyKey(shard: number, terminal_id: string, reference: string): string {
  return `d:{s${shard}}:${terminal_id}:${reference}`;
}

/** Transaction id → name of its reply key, to read back transactions not yet in the ledger. */
export function transactionKey(shard: number, transaction_id: string): string {
  return `x:{s${shard}}:${transaction_id}`;
}

/** The shard's journal stream, drained into PostgreSQL by the ledger writer. */
export function journalKey(shard: number): string {
  return `j:{s${shard}}`;
}

export const journal_group = 'ledger';

/** Pub/sub channel announcing that a business's offers changed. */
export const offers_channel = 'pg:offers';
