// The CIM index in Redis: CIM token → contact id, for every business at once.
//
// One string key per CIM cost about 110 bytes of Redis memory each (key, value object, main
// dictionary entry and slot), four per contact. Instead the entries live in a fixed number of
// small hashes, `i:<bucket>`, the bucket chosen by the token's first 32 bits; Redis keeps a
// small hash as one listpack, where an entry is its field and value plus 2 bytes each. Both are
// raw bytes: the field is the token's next 80 bits, the value the contact id's 12 random bytes:
// about 29 bytes per CIM, bucket overhead included (12-byte fields cost 31, a contact 8 more).
// With the bucket (12 bits at the default 4,096) about 92 bits name a CIM: among 100 million
// CIMs in one Redis, the chance that any two share an entry is about 10^16 / 2^93, 10^-12.
//
// Buckets stay listpacks while they hold at most `hash-max-listpack-entries` fields (Redis
// default 512): the bucket count is chosen for the population (README, CIM_INDEX_BUCKETS). A
// bucket that outgrows it becomes an ordinary hash table, which answers the same, at about 75
// bytes per CIM. The bucket count decides where every entry lives, so it is fixed for the life of
// the data, as the shard count is.

import { RESP_TYPES } from 'redis';
import { contactIdBytes, contactIdFromBytes } from '../../core/ids.ts';
import type { RedisClient } from '../stores.ts';
import { cimBucketKey } from './keys.ts';

/** Bytes of the token naming an entry within its bucket. */
const field_bytes = 10;
/** The CIM index tokens are 22 characters of base64url: 16 bytes of HMAC. */
const token_length = 22;

export const cim_index_buckets_max = 1 << 24;

/** What a MULTI or a pipeline offers that the index writes with. */
interface Commands {
  hSet(key: string, field: Buffer, value: Buffer): unknown;
  hSet(key: string, fields_and_values: Buffer[]): unknown;
  hDel(key: string, field: Buffer): unknown;
}

export interface CimIndexEntry {
  readonly key: string;
  readonly field: Buffer;
}

export class CimIndex {
  /** The same connection, answering bulk strings as Buffers: values are raw bytes, not UTF-8. */
  private readonly binary;

  constructor(
    redis: RedisClient,
    readonly bucket_count: number,
  ) {
    if (!Number.isInteger(bucket_count) || bucket_count < 1 || bucket_count > cim_index_buckets_max) {
      throw new Error(`the CIM index needs 1 to ${cim_index_buckets_max} buckets, not ${bucket_count}`);
    }
    this.binary = redis.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  }

  /** Where a token's entry lives: its bucket's key and its field there. */
  entry(token: string): CimIndexEntry {
    const bytes = token.length === token_length ? Buffer.from(token, 'base64url') : undefined;
    if (bytes === undefined || bytes.length < 4 + field_bytes) throw new Error(`not a CIM token: ${JSON.stringify(token)}`);
    return { key: cimBucketKey(bytes.readUInt32BE(0) % this.bucket_count), field: bytes.subarray(4, 4 + field_bytes) };
  }

  /** The contact the token names, or null. */
  async get(token: string): Promise<string | null> {
    const value = await this.bytes(token);
    return value === null ? null : contactIdFromBytes(value);
  }

  /** The entry's bytes as they are (a contact id's, or another mark: detail-hints.ts), or null. */
  async bytes(token: string): Promise<Buffer | null> {
    const { key, field } = this.entry(token);
    return (await this.binary.hGet(key, field)) as unknown as Buffer | null;
  }

  /** Token names contact now (replacing what it named before). */
  async put(token: string, contact_id: string): Promise<void> {
    const { key, field } = this.entry(token);
    await this.binary.hSet(key, field, contactIdBytes(contact_id));
  }

  /** Queue "token names contact" on a MULTI or pipeline (replacing what it named before). */
  set(commands: Commands, token: string, contact_id: string): void {
    const { key, field } = this.entry(token);
    commands.hSet(key, field, contactIdBytes(contact_id));
  }

  /**
   * Queue "token names contact" for many tokens: one HSET per bucket, since the client's cost
   * is mostly per command (an import batch of 1,000 contacts meets a bucket about twice).
   */
  setAll(commands: Commands, entries: Iterable<{ readonly token: string; readonly contact_id: string }>): void {
    const by_key = new Map<string, Buffer[]>();
    let last_id = '';
    let last_bytes: Buffer = Buffer.alloc(0);
    for (const { token, contact_id } of entries) {
      const { key, field } = this.entry(token);
      // A contact's entries come one after another: its id is packed once (one Buffer fewer each).
      if (contact_id !== last_id) {
        last_bytes = contactIdBytes(contact_id);
        last_id = contact_id;
      }
      const pairs = by_key.get(key);
      if (pairs === undefined) by_key.set(key, [field, last_bytes]);
      else pairs.push(field, last_bytes);
    }
    for (const [key, pairs] of by_key) commands.hSet(key, pairs);
  }

  /** Queue "token names nobody" on a MULTI or pipeline. */
  delete(commands: Commands, token: string): void {
    const { key, field } = this.entry(token);
    commands.hDel(key, field);
  }
}
