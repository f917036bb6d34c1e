// Hints of the contacts' details on file, for the POS path while PostgreSQL cannot answer.
//
// A contact's email and phone are its details, not CIMs (README, Contacts): a call naming a
// contact by an email or phone no CIM has finds the one contact with it on file, which PostgreSQL
// alone knew, so such a call was 503 while PostgreSQL was down, where OPERATIONS.md has the POS
// path go on approving with Redis alone (a black-box probe, 2026-12-06). Each detail is hinted in
// the CIM index under a token of its own (core/cim.ts detailToken): the one contact that has it,
// or '*' where several have it or a change left it unsure (hot/detail-hint.lua). PostgreSQL stays
// the answer while it answers; the hint is read only when it cannot, and only a hint naming one
// contact is taken. A detail that is also the contact's own CIM is not hinted: the CIM finds the
// contact first.
//
// A hint must never name a contact PostgreSQL would not: that would buy or pay for another
// customer. So a contact is named only where PostgreSQL, asked after the contact's row is
// committed, has the detail on file for that contact alone: a contact that has it without a hint
// (made before hints, or whose hint a crash lost) is found there, and the hint becomes '*'
// (review of 2026-12-06: named on the hint alone, the second contact of a household whose first
// had no hint was named, and bought for while PostgreSQL was down). Concurrent adds meet in the
// script, where two names make '*'; a detail a contact stops having is made '*' before the change
// commits. Every failure leaves a hint absent or '*': 503 while PostgreSQL is down, as before.

import { cimToken, detailToken } from '../core/cim.ts';
import { contactIdBytes, contactIdFromBytes } from '../core/ids.ts';
import type { CimIndex } from './hot/cim-index.ts';
import type { RedisClient, Sql } from './stores.ts';

export type DetailType = 'email' | 'phone';
const detail_types: readonly DetailType[] = ['email', 'phone'];

/** A contact's details on file, and the tokens of its own CIMs. */
export interface ContactDetails {
  readonly id: string;
  readonly email: string | null;
  readonly phone: string | null;
  readonly cim_tokens: readonly string[];
}

/** A contact's details as rebuild reads them (`shared`: another contact has the same on file). */
export interface RebuiltDetails extends ContactDetails {
  readonly business_id: string;
  readonly shared: { readonly email: boolean; readonly phone: boolean };
}

/** Hint writes in flight at once (an import batch's contacts, each with up to two details). */
const hint_writes_in_flight_max = 256;

/** Who has a detail on file, as PostgreSQL says. */
interface Holders {
  readonly n: number;
  readonly one: string;
}

export class DetailHints {
  constructor(
    private readonly redis: RedisClient,
    private readonly cim_hmac_key: string,
    private readonly index: CimIndex,
  ) {}

  /** The hint's token of a detail: core/cim.ts detailToken under this gateway's key. */
  token(business_id: string, type: DetailType, value: string): string {
    return detailToken(this.cim_hmac_key, business_id, type, value);
  }

  /** Whether `value` is one of the contact's own CIMs of that type: then it needs no hint. */
  ownCim(business_id: string, type: DetailType, value: string, cim_tokens: readonly string[]): boolean {
    return cim_tokens.includes(cimToken(this.cim_hmac_key, business_id, type, value));
  }

  /**
   * The contacts' details hinted, once PostgreSQL has their rows (made, imported, PATCHed): each
   * named where PostgreSQL has it on file for that contact alone, '*' where several have it,
   * nothing where the contact no longer has it.
   */
  async add(sql: Sql, business_id: string, contacts: readonly ContactDetails[]): Promise<void> {
    const writes: (() => Promise<null>)[] = [];
    for (const type of detail_types) {
      const wanted = contacts.filter((c) => c[type] !== null && !this.ownCim(business_id, type, c[type]!, c.cim_tokens));
      if (wanted.length === 0) continue;
      const holders = await holdersOf(sql, business_id, type, [...new Set(wanted.map((c) => c[type]!))]);
      for (const c of wanted) {
        const h = holders.get(c[type]!);
        if (h === undefined || (h.n === 1 && h.one !== c.id)) continue;
        const mode = h.n === 1 ? 'add' : 'several';
        writes.push(() => this.write(business_id, type, c[type]!, c.id, mode));
      }
    }
    await inTurns(writes);
  }

  /** A detail a contact is about to stop having on file (a PATCH, before its commit): '*'. */
  leaving(business_id: string, type: DetailType, value: string): Promise<null> {
    return this.write(business_id, type, value, null, 'several');
  }

  /**
   * A contact's hints as `npm run rebuild` makes them (`shared`: another contact of the business
   * has that detail on file too, as its read of PostgreSQL says), through the script, so that a
   * '*' live traffic wrote meanwhile stays. Returns how many.
   */
  async rebuilt(contacts: readonly RebuiltDetails[]): Promise<number> {
    const writes: (() => Promise<null>)[] = [];
    for (const c of contacts) {
      for (const type of detail_types) {
        const value = c[type];
        if (value === null || this.ownCim(c.business_id, type, value, c.cim_tokens)) continue;
        writes.push(() => this.write(c.business_id, type, value, c.id, c.shared[type] ? 'several' : 'add'));
      }
    }
    await inTurns(writes);
    return writes.length;
  }

  /** The one contact a detail's hint names, or null ('*': several have it, or unsure; none hinted). */
  async contactOf(business_id: string, type: DetailType, value: string): Promise<string | null> {
    const bytes = await this.index.bytes(this.token(business_id, type, value));
    // A contact id is 12 bytes (core/ids.ts contactIdBytes); '*' is one.
    return bytes === null || bytes.length === 1 ? null : contactIdFromBytes(bytes);
  }

  private write(business_id: string, type: DetailType, value: string, contact_id: string | null, mode: 'add' | 'several'): Promise<null> {
    const { key, field } = this.index.entry(this.token(business_id, type, value));
    return this.redis.detailHintScript({ key, field, contact: contact_id === null ? Buffer.alloc(0) : contactIdBytes(contact_id), mode });
  }
}

/** For each of `values`, how many contacts of the business have it on file, and one of them. */
async function holdersOf(sql: Sql, business_id: string, type: DetailType, values: readonly string[]): Promise<Map<string, Holders>> {
  const column = sql(type);
  const rows = await sql<{ value: string; n: number; one: string }[]>`
    select ${column} as value, count(*)::int as n, min(id) as one from contacts
    where business_id = ${business_id} and ${column} = any(${values as string[]}) group by ${column}`;
  return new Map(rows.map((r) => [r.value, { n: r.n, one: r.one }]));
}

/** Runs `writes`, at most hint_writes_in_flight_max at once. */
async function inTurns(writes: readonly (() => Promise<null>)[]): Promise<void> {
  for (let i = 0; i < writes.length; i += hint_writes_in_flight_max) {
    await Promise.all(writes.slice(i, i + hint_writes_in_flight_max).map((w) => w()));
  }
}
