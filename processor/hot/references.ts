// Where a terminal's reference is remembered in Redis during its hot window (REPLY_TTL_SECONDS).
//
// A key per reference cost about 170 bytes (the claim) plus 2,340 (the record, the whole reply
// inside) for every transaction, 35 days long. Instead each reference is an entry in two small
// hashes that Redis keeps as listpacks, where an entry costs its field and value plus a few bytes:
// - the claim, `r:{r<bucket>}:<period>`: reference → '<request hash><contact id's 12 bytes>' (or
//   '!<request hash>' for a reversal that came before its original; processor/claim.ts), taken before the shard
//   script, because another body under the same reference may name another contact on another
//   shard;
// - the record on the contact's shard, `t:{s<n>}:<period>:<bucket>`: reference → '<transaction
//   id>|<kind>|<amounts>' (or '!' for an original reversed before it arrived), which the shard
//   script reads for idempotency and refunds and reversals read for the original.
// The reply itself stays in the journal until the ledger has it, and in the ledger after.
//
// Entries are grouped by period (half the window) so that whole hashes expire: an entry is
// written in the current period's hash, looked up in the current one and the two before, and a
// hash expires one window after its period ends (a record hash a little later: record_grace_ms_max).
// A reference is so remembered for at least the
// window and at most one and a half. The field is 12 bytes of an HMAC of terminal and reference
// (the reference may be anything a terminal sends; its length must not decide memory): among the
// 10^8 references of a busy window, the chance that two share a field is about 10^16 / 2^97.

import { createHmac } from 'node:crypto';
import { hmacKey } from '../../core/cim.ts';
import { error_status, type ErrorCode } from '../../core/errors.ts';
import type { ProcessorConfig } from '../stores.ts';

/** The processor's own transactions (awards, their reversals) are made under this pseudo-terminal's references. */
export const rewards_terminal = '_rewards';

/** Periods looked up: the current one and the two before (see above). */
export const reference_periods = 3;
const field_bytes = 12;

export interface ReferenceSlot {
  /** Whose reference, which, and when it was looked up: what the slot was made from (the ledger keeps them for `rebuild`). */
  readonly terminal_id: string;
  readonly reference: string;
  readonly at_ms: number;
  /** The entry's field in every hash (raw bytes). */
  readonly field: Buffer;
  /** The claim hashes: this period's first, then the two before. */
  readonly claim_keys: readonly string[];
  /** The record hashes on `shard`: this period's first. */
  record_keys(shard: number): string[];
  /** How long a hash written now lives (ms): until one window after this period ends. */
  readonly ttl_ms: number;
  /** How long a record hash written now lives (ms): `ttl_ms` and `record_grace_ms` after it. */
  readonly record_ttl_ms: number;
}

/**
 * How long a record hash outlives its claims at most. A refund or reversal finds its original's
 * claim, then its script reads the record a few round trips later (a reversal: the offers, the
 * record, what the purchase counted), with the keys of the periods its clock read: were the
 * record's hash to expire with the claim's, one that found the claim just before the window's
 * end would find no record and refuse an original the ledger has (a reversal would even mark it
 * as never seen). Lookups go by period, so a hash past its periods is never read otherwise: the
 * grace costs memory only, a minute of records in 48 hours.
 */
export const record_grace_ms_max = 60_000;

/** How much longer than its claims a record hash (and an original's state) lives, for a window of `window_ms`. */
export function recordGraceMs(window_ms: number): number {
  return Math.min(window_ms, record_grace_ms_max);
}

type SlotConfig = Pick<ProcessorConfig, 'cim_hmac_key' | 'reply_ttl_seconds' | 'shard_count' | 'reference_buckets'>;

export const reference_buckets_default = 4_096;

/** Where `reference` of `terminal_id` lives at `now_ms`. */
export function referenceSlot(config: SlotConfig, terminal_id: string, reference: string, now_ms: number): ReferenceSlot {
  const digest = createHmac('sha256', hmacKey(config.cim_hmac_key)).update('reference\u0000').update(terminal_id).update('\u0000').update(reference).digest();
  const window_ms = config.reply_ttl_seconds * 1000;
  const period_ms = Math.ceil(window_ms / 2);
  const period = Math.floor(now_ms / period_ms);
  const buckets = config.reference_buckets ?? reference_buckets_default;
  const claim_bucket = digest.readUInt32BE(0) % buckets;
  // Records are spread over every shard already: each shard needs a share of the buckets.
  const record_bucket = digest.readUInt32BE(0) % Math.max(1, Math.ceil(buckets / config.shard_count));
  const periods = [period, period - 1, period - 2];
  return {
    terminal_id,
    reference,
    at_ms: now_ms,
    field: digest.subarray(4, 4 + field_bytes),
    claim_keys: periods.map((p) => claimBucketKey(claim_bucket, p)),
    record_keys: (shard) => periods.map((p) => recordBucketKey(shard, record_bucket, p)),
    ttl_ms: (period + 1) * period_ms + window_ms - now_ms,
    record_ttl_ms: (period + 1) * period_ms + window_ms + recordGraceMs(window_ms) - now_ms,
  };
}

/** A reference claim hash: one bucket of one period (hash tag per bucket: its periods share a slot). */
export function claimBucketKey(bucket: number, period: number): string {
  return `r:{r${bucket}}:${period}`;
}

/** A record hash on a shard: one bucket of one period. */
export function recordBucketKey(shard: number, bucket: number, period: number): string {
  return `t:{s${shard}}:${period}:${bucket}`;
}

/** A record's value: what refunds and reversals need of a transaction. */
export interface RecordValue {
  readonly id: string;
  readonly kind: RecordKind;
  /** amount, awarded (cashback), paid from the wallet, discount */
  readonly amount: number;
  readonly awarded: number;
  readonly paid: number;
  readonly discount: number;
  /** Of a purchase's awards, what went into the open balance (instant_redeem): a reversal takes it from there first. */
  readonly to_open: number;
}

export type RecordKind = 'purchase' | 'spend' | 'redemption' | 'refund' | 'reversal' | 'award' | 'expiry';

const kind_letters: Record<string, RecordKind> = { p: 'purchase', s: 'spend', r: 'redemption', f: 'refund', v: 'reversal', a: 'award', x: 'expiry' };

/**
 * A record as the scripts write it (lib.lua's commit): '<id without txn_>|<kind letter>|amount|
 * awarded|paid|discount||to_open' (the field before to_open held a fee, read by nothing, in records
 * written before 2026-12-04, which hold no to_open);
 * undefined for '!' (reversed before it arrived) or nothing.
 */
/** The code a record of a refused request holds ('-' and the code: lib.lua refuse); undefined for any other record. */
export function refusalOf(value: string | null | undefined): ErrorCode | undefined {
  if (value === null || value === undefined || !value.startsWith('-')) return undefined;
  const code = value.slice(1);
  if (!Object.hasOwn(error_status, code)) throw new Error(`not a refusal record: ${JSON.stringify(value)}`);
  return code as ErrorCode;
}

export function parseRecord(value: string | null | undefined): RecordValue | undefined {
  if (value === null || value === undefined || value === '!' || refusalOf(value) !== undefined) return undefined;
  const [id, k, a, w, p, ds, , to_open] = value.split('|');
  const kind = kind_letters[k ?? ''];
  if (id === undefined || kind === undefined) throw new Error(`not a transaction record: ${JSON.stringify(value)}`);
  const n = (v: string | undefined) => (v === undefined || v === '' ? 0 : Number(v));
  return { id: `txn_${id}`, kind, amount: n(a), awarded: n(w), paid: n(p), discount: n(ds), to_open: n(to_open) };
}
