// Hints of the contacts' details on file, for the POS path while PostgreSQL cannot answer.
//
// A contact's email and phone are its details, not CIMs (README, Contacts): a call naming a
// contact by an email or phone no CIM has finds the one contact with it on file, which PostgreSQL
// alone knew, so such a call was 503 while PostgreSQL was down, where OPERATIONS.md has the POS
// path go on approving with Redis alone (a black-box probe, 2026-12-06). Each detail is hinted in
// the CIM index under a token of its own (core/cim.ts detailToken): the contact that has it, or
// '*' once several have (hot/detail-hint.lua). PostgreSQL stays the answer while it answers; the
// hint is read only when it cannot, and only a hint naming one contact is taken. A detail that
// is also one of the contact's own CIMs is not hinted: the CIM finds the contact first.

import { cimToken, detailToken } from '../core/cim.ts';
import { contactIdBytes, contactIdFromBytes } from '../core/ids.ts';
import type { CimIndex } from './hot/cim-index.ts';
import type { RedisClient } from './stores.ts';

export type DetailType = 'email' | 'phone';

/** A contact's details on file, and the tokens of its own CIMs. */
export interface ContactDetails {
  readonly id: string;
  readonly email: string | null;
  readonly phone: string | null;
  readonly cim_tokens: readonly string[];
}

/** What a MULTI offers that rebuilt hints are written with. */
interface HintCommands {
  hSet(key: string, field: Buffer, value: Buffer): unknown;
}

/** The hint of a detail several contacts have on file (detail-hint.lua writes the same). */
const several = Buffer.from('*');

/** Hint writes in flight at once (an import batch's contacts, each with up to two details). */
const hint_writes_in_flight_max = 256;

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

  /** The contacts' details hinted (made or imported: after PostgreSQL has them). */
  async add(business_id: string, contacts: readonly ContactDetails[]): Promise<void> {
    const writes: (() => Promise<null>)[] = [];
    for (const c of contacts) {
      for (const type of ['email', 'phone'] as const) {
        const value = c[type];
        if (value !== null && !this.ownCim(business_id, type, value, c.cim_tokens)) writes.push(() => this.write(business_id, type, value, c.id, 'add'));
      }
    }
    await inTurns(writes);
  }

  /** A detail the contact no longer has on file (a PATCH changed it, after its commit). */
  async remove(business_id: string, type: DetailType, value: string, contact_id: string): Promise<void> {
    await this.write(business_id, type, value, contact_id, 'remove');
  }

  /**
   * A contact's hints as `npm run rebuild` makes them, queued on its MULTI (`shared`: another
   * contact of the business has that detail on file too). Returns how many.
   */
  rebuilt(commands: HintCommands, business_id: string, c: ContactDetails, shared: { readonly email: boolean; readonly phone: boolean }): number {
    let n = 0;
    for (const type of ['email', 'phone'] as const) {
      const value = c[type];
      if (value === null || this.ownCim(business_id, type, value, c.cim_tokens)) continue;
      const { key, field } = this.index.entry(this.token(business_id, type, value));
      commands.hSet(key, field, shared[type] ? several : contactIdBytes(c.id));
      n++;
    }
    return n;
  }

  /** The one contact a detail's hint names, or null ('*': several have it; none hinted). */
  async contactOf(business_id: string, type: DetailType, value: string): Promise<string | null> {
    const bytes = await this.index.bytes(this.token(business_id, type, value));
    // A contact id is 12 bytes (core/ids.ts contactIdBytes); '*' is one.
    return bytes === null || bytes.length === 1 ? null : contactIdFromBytes(bytes);
  }

  private write(business_id: string, type: DetailType, value: string, contact_id: string, mode: 'add' | 'remove'): Promise<null> {
    const { key, field } = this.index.entry(this.token(business_id, type, value));
    return this.redis.detailHintScript({ key, field, contact: contactIdBytes(contact_id), mode });
  }
}

/** Runs `writes`, at most hint_writes_in_flight_max at once. */
async function inTurns(writes: readonly (() => Promise<null>)[]): Promise<void> {
  for (let i = 0; i < writes.length; i += hint_writes_in_flight_max) {
    await Promise.all(writes.slice(i, i + hint_writes_in_flight_max).map((w) => w()));
  }
}
