// Identifiers and the codes handed to contacts. Ids are opaque to clients: a prefix naming the
// kind (as Stripe's are) and 96 random bits in base32, lower case, no look-alike letters.
// Transaction ids put the time first (as a ULID does): 10 characters of milliseconds, then 80
// random bits, so that they sort by when they were made and the ledger's inserts append to its
// index instead of landing on a random page of it (the ISO 8583 approval code is the last six
// characters: random ones).

import { randomBytes } from 'node:crypto';
import { luhnCheckDigit } from './luhn.ts';

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32

function base32(bytes: Buffer): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

/** The bytes base32() was given, or undefined when `text` is not what base32() makes of any. */
function unbase32(text: string): Buffer | undefined {
  const out = Buffer.allocUnsafe(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const v = alphabet.indexOf(text[i]!);
    if (v < 0) return undefined;
    buffer = ((buffer << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out[n++] = (buffer >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  // The padding bits of the last character are zero in every id we make: anything else would
  // decode to the same bytes as another text, and so not come back as itself.
  if (n !== out.length || (buffer & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

export type IdKind = 'bus' | 'mer' | 'ven' | 'ter' | 'con' | 'off' | 'sch' | 'txn' | 'lnk' | 'key' | 'prc' | 'whk' | 'rfs';

// Ids are made on the hot path: draw random bytes a pool at a time rather than a syscall each.
const pool_bytes = 4_096;
let pool = randomBytes(pool_bytes);
let pool_offset = 0;

function poolBytes(n: number): Buffer {
  if (pool_offset + n > pool_bytes) {
    pool = randomBytes(pool_bytes);
    pool_offset = 0;
  }
  const bytes = pool.subarray(pool_offset, pool_offset + n);
  pool_offset += n;
  return bytes;
}

export function newId(kind: IdKind, now_ms = Date.now()): string {
  // Ledger rows (transactions, refusals) are inserted in id order: time first, so they append.
  if (kind === 'txn' || kind === 'rfs') return `${kind}_${base32Time(now_ms)}${base32(poolBytes(10))}`;
  return `${kind}_${base32(poolBytes(12))}`;
}

/**
 * Milliseconds since 1970 as 10 base32 characters (50 bits, enough until the year 37,000), most
 * significant first: the alphabet is in ASCII order, so the text sorts as the number does.
 */
export function base32Time(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = alphabet[ms % 32]! + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

/** The milliseconds of 10 time characters (base32Time's inverse). */
export function base32TimeMs(chars: string): number {
  let ms = 0;
  for (let i = 0; i < 10; i++) ms = ms * 32 + alphabet.indexOf(chars[i]!);
  return ms;
}

const contact_id_bytes = 12;
const contact_id_length = 'con_'.length + 20;

/**
 * A contact id as its 12 random bytes: how the CIM index stores it, 12 bytes instead of 24
 * characters in every one of a contact's index entries. Only ids newId('con') makes fit.
 */
export function contactIdBytes(contact_id: string): Buffer {
  const bytes = contact_id.length === contact_id_length && contact_id.startsWith('con_') ? unbase32(contact_id.slice(4)) : undefined;
  if (bytes === undefined || bytes.length !== contact_id_bytes) throw new Error(`not a contact id: ${JSON.stringify(contact_id)}`);
  return bytes;
}

/** The contact id contactIdBytes() was given. */
export function contactIdFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== contact_id_bytes) throw new Error(`a contact id is ${contact_id_bytes} bytes, not ${bytes.length}`);
  return `con_${base32(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length))}`;
}

/** A secret key: shown once, stored as a SHA-256 hash. 192 random bits. */
export function newApiKey(kind: 'admin' | 'terminal'): string {
  return `${kind === 'admin' ? 'sk' : 'tk'}_${base32(randomBytes(24))}`;
}

/** A short code a person can read out at the till: 10 characters of base32, upper case. */
export function newContactCode(): string {
  return base32(poolBytes(7)).slice(0, 10).toUpperCase();
}

export function newReferralCode(): string {
  return `R${base32(poolBytes(6)).slice(0, 8).toUpperCase()}`;
}

/** One pooled random byte, as a number: a Buffer view per byte made most of an import's garbage. */
function poolByte(): number {
  if (pool_offset >= pool_bytes) {
    pool = randomBytes(pool_bytes);
    pool_offset = 0;
  }
  return pool[pool_offset++]!;
}

/** A uniformly random decimal digit (never 0 when `nonzero`), from pooled random bytes. */
function randomDigit(nonzero: boolean): number {
  for (;;) {
    const byte = poolByte();
    // Only bytes below 250 map evenly onto 10 digits (or 9, below 243).
    if (nonzero ? byte < 243 : byte < 250) return nonzero ? 1 + (byte % 9) : byte % 10;
  }
}

/** 16 digits, Luhn-valid; the first digit is never 0 so no POS strips it. */
export function newWalletCode(): string {
  const codes = new Array<number>(15);
  codes[0] = 48 + randomDigit(true);
  for (let i = 1; i < 15; i++) codes[i] = 48 + randomDigit(false);
  const partial = String.fromCharCode(...codes);
  return partial + luhnCheckDigit(partial);
}

/** Which shard a contact's keys live on: FNV-1a of its id. Stable for the life of the data. */
export function shardOf(contact_id: string, shard_count: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < contact_id.length; i++) {
    h ^= contact_id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shard_count;
}
