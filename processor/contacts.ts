// Contacts: PostgreSQL holds them (the source of truth, and where `cim_taken` is decided by a
// unique token); Redis holds what the hot path reads: the CIM index and the contact hash
// (business, balances, profile fields).

import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { cimToken, normaliseCim, type CimType, type NormalisedCim } from '../core/cim.ts';
import { PocketgateError, type ErrorCode, type FieldError } from '../core/errors.ts';
import { newContactCode, newId, newReferralCode, newWalletCode, shardOf } from '../core/ids.ts';
import { contact_cims_max, contactCreateSchema, parseJsonText, parseWith, type ContactCreate, type ContactPatch } from '../core/schemas.ts';
import { CimIndex } from './hot/cim-index.ts';
import { counted_rate_limits, guessCountersOf, type GuessCounters, type GuessOutcome, type Presenter } from './hot/guess.ts';
import type { GuessKind } from '../core/guesses.ts';
import { contactKey, lotsKey } from './hot/keys.ts';
import { iso, isUniqueViolation, type Business } from './network.ts';
import { default_config, type Stores } from './stores.ts';
import { birthdayPurchases, type BirthdayPurchases } from './ledger/birthday-purchases.ts';
import { waitForShard } from './ledger/caught-up.ts';
import { oweCopy, payCopy } from './copies-owed.ts';
import { requireWritableNow } from './redis-health.ts';
import { posDetailRead } from './ledger-reads.ts';
import { DetailHints, type ContactDetails, type DetailType } from './detail-hints.ts';
import type { TransactionSql } from 'postgres';

export interface ContactView {
  readonly id: string;
  readonly code: string;
  readonly referral_code: string;
  readonly wallet_code: string;
  readonly tier: string | null;
  readonly tags: readonly string[];
  readonly cims: readonly { type: string; masked: string }[];
  readonly first_name: string | null;
  readonly last_name: string | null;
  readonly email: string | null;
  readonly phone: string | null;
  readonly birth_date: string | null;
  readonly spend_blocked: boolean;
  readonly referred_by: string | null;
  readonly created_at: string;
}

interface PreparedCim {
  readonly type: CimType;
  readonly token: string;
  readonly masked: string;
  /** A card's token as a wallet code's, when it has a wallet code's 16 digits (asWalletCode). */
  readonly as_wallet_code?: string;
}

interface PreparedContact {
  id: string;
  code: string;
  referral_code: string;
  wallet_code: string;
  readonly input: ContactCreate;
  readonly cims: PreparedCim[]; // the contact's own CIMs (cards, phones, …)
  readonly email: string | null; // normalised as their CIMs are
  readonly phone: string | null;
  referred_by: string | null;
}

/** A line of an import, prepared. */
type ImportLine = { line: number; contact: PreparedContact };

/** What the hot path reads of a contact, in its hash. */
interface HotContact {
  readonly id: string;
  readonly tags: readonly string[];
  readonly birth_date: string | null;
  readonly referred_by: string | null;
  readonly spend_blocked: boolean;
}

export interface ImportResult {
  imported: number;
  failed: number;
  errors: { line: number; code: ErrorCode; message: string }[];
}

const import_batch_size = 1_000;
const import_batches_in_flight_max = 3;
const import_errors_max = 10_000; // the report stays bounded however bad the file is
const import_line_bytes_max = 64 * 1024;

/** `errors` sorted by line, the first import_errors_max of them. */
function inLineOrder(errors: ImportResult['errors']): ImportResult['errors'] {
  return errors.sort((a, b) => a.line - b.line).slice(0, import_errors_max);
}

/** What identify() found, and when the code's guess is settled (counted if wrong, released if right). */
export interface Identified {
  readonly contact_id: string | null;
  readonly guess_settled: Promise<void>;
}

const no_guess_to_settle: Promise<void> = Promise.resolve();
/** A guess's reservation asked again while 'busy' (1, 2, 4 … ms apart, at most the max): about 1.5 s in all. */
const guess_busy_attempts_max = 30;
const guess_busy_wait_ms_max = 64;

const never_expires_ms = 9_999_999_999_999;
const resolved_entries_max = 200_000; // about 30 MB of V8 heap at most
/** Reads of a contact's purchases for a new birth date, at most, while it keeps buying (setBirthDate). */
const birth_date_reads_max = 5;
/** How long a new birth date waits for the ledger to hold the contact's purchases (the writer's lag is milliseconds). */
const birth_date_ledger_wait_ms = 2_000;

export class Contacts {
  /** CIM token → contact id, for the CIM types whose mapping never changes (oldest evicted first). */
  private readonly resolved = new Map<string, string>();

  /** The tier a contact holds now (set by the processor, which knows the business's tiers). */
  tierOf: (business: Business, contact_id: string) => Promise<string | null> = async () => null;

  /** Called with the contacts each create or import batch made (sign-up awards). */
  onCreated: (business: Business, contact_ids: readonly string[]) => Promise<void> = async () => {};

  private readonly index: CimIndex;
  private readonly hints: DetailHints;

  constructor(private readonly stores: Stores) {
    this.index = new CimIndex(stores.redis, stores.config.cim_index_buckets ?? default_config.cim_index_buckets!);
    this.hints = new DetailHints(stores.redis, stores.config.cim_hmac_key, this.index);
  }

  shardOf(contact_id: string): number {
    return shardOf(contact_id, this.stores.config.shard_count);
  }

  token(business_id: string, cim: NormalisedCim): string {
    return cim.token ?? cimToken(this.stores.config.cim_hmac_key, business_id, cim.type, cim.value);
  }

  /**
   * A CIM from a request hashed at once: its token stands for its value from here on, so a card
   * number goes no further than this call (a callback's, spec/EVENTS.md).
   */
  tokenised(business_id: string, type: string, value: unknown, path: string): NormalisedCim {
    const cim = this.normalise(type, value, path);
    const token = this.token(business_id, cim);
    // An email or phone keeps its value (no card number, and what finds a contact by the details on
    // file, as a POS call's does: a callbacks probe found a callback's email answered
    // contact_not_found where the same purchase over HTTP found its contact).
    return { type: cim.type, value: cim.type === 'email' || cim.type === 'phone' ? cim.value : token, masked: cim.masked, token };
  }

  /** Normalise a CIM from a request, or throw validation_failed naming `path`. */
  normalise(type: string, value: unknown, path: string): NormalisedCim {
    const r = normaliseCim(type, value);
    if ('error' in r) throw new PocketgateError('validation_failed', `${path}: ${r.error}`, [{ path, message: r.error }]);
    return r;
  }

  /**
   * The contact a CIM names in this business, through the Redis index. Cards, phones, emails,
   * loyalty ids and gift passes never move to another contact once assigned (nothing in the API
   * removes one), so what Redis answered is kept in process; wallet and contact codes rotate, so
   * they are asked every time.
   */
  async resolve(business_id: string, cim: NormalisedCim): Promise<string | null> {
    const token = this.token(business_id, cim);
    const cacheable = cim.type !== 'wallet_code' && cim.type !== 'contact_code';
    if (cacheable) {
      const cached = this.resolved.get(token);
      if (cached !== undefined) return cached;
    }
    const contact_id = await this.index.get(token);
    if (contact_id === null) return this.byDetailAtPos(business_id, cim);
    if (cacheable) {
      if (this.resolved.size >= resolved_entries_max) this.resolved.delete(this.resolved.keys().next().value!);
      this.resolved.set(token, contact_id);
    }
    return contact_id;
  }

  /**
   * The contact a CIM presented at a terminal names. Wallet and contact codes are secrets that
   * act for the contact (a wallet code pays), so presenting one is a guess, counted against the
   * terminal and source (core/guesses.ts): throws rate_limited past a limit, or when the code
   * is wrong past the soft one. The guess is reserved with the lookup (one wait for Redis), then
   * counted if the code was wrong or released if right, not waited for: `guess_settled` resolves
   * then; await it with the request's next round trip, if any. It never rejects. Other CIMs
   * identify and authorise nothing: as resolve().
   * `presenter` null: a caller authenticated by its signature (a payment processor's callback),
   * whose codes are not guesses, nor refused as such (EVENTS.md: it is answered 200, never 429).
   */
  async identify(business_id: string, cim: NormalisedCim, presenter: Presenter | null, now_ms: number, kind: GuessKind = 'code'): Promise<Identified> {
    if ((cim.type !== 'wallet_code' && cim.type !== 'contact_code') || presenter === null) return { contact_id: await this.resolve(business_id, cim), guess_settled: no_guess_to_settle };
    const counters = guessCountersOf(business_id, kind, presenter, now_ms);
    const [reserved, contact_id] = await Promise.all([this.reserveGuess(counters), this.resolve(business_id, cim)]);
    if (reserved.outcome === 'rate_limited') throw new PocketgateError('rate_limited', 'too many wrong codes from this terminal or address; try again later');
    if (reserved.outcome === 'busy') throw new PocketgateError('rate_limited', 'too many codes are being checked at once at this terminal or address; try again');
    const guess_settled = this.settle(counters, contact_id === null ? 'wrong' : 'right');
    if (contact_id === null && reserved.outcome === 'reserved' && reserved.soft) {
      const refusal = new PocketgateError('rate_limited', 'too many wrong codes from this terminal in this minute; try again in a minute');
      counted_rate_limits.add(refusal); // settled 'wrong' above
      throw refusal;
    }
    return { contact_id, guess_settled };
  }

  /**
   * The guess reserved (guess.lua). 'busy' says only guesses being looked up fill a limit now;
   * they settle within a round trip or two, so it asks again, backing off, a bounded number of
   * times: a till's burst of right codes is served, not refused, and never counted.
   */
  private async reserveGuess(counters: GuessCounters): Promise<GuessOutcome> {
    for (let attempt = 0; ; attempt++) {
      const r = await this.stores.redis.guessScript({ mode: 'reserve', counters });
      if (r.outcome !== 'busy' || attempt + 1 >= guess_busy_attempts_max) return r;
      await sleep(Math.min(guess_busy_wait_ms_max, 2 ** attempt));
    }
  }

  /** A guess's reservation settled: released if right, counted if wrong. If that fails it stays held until its window ends: never fewer than the wrong ones. */
  private settle(counters: GuessCounters, mode: 'right' | 'wrong'): Promise<void> {
    return this.stores.redis.guessScript({ mode, counters }).then(
      () => undefined,
      () => undefined,
    );
  }

  private prepare(business: Business, input: ContactCreate, line_path = ''): PreparedContact {
    const cims: PreparedCim[] = [];
    const seen = new Set<string>();
    input.cims.forEach((c, i) => {
      const n = this.normalise(c.type, c.value, `${line_path}cims.${i}.value`);
      const token = this.token(business.id, n);
      if (seen.has(token)) return; // the same CIM twice on one contact is one CIM
      seen.add(token);
      cims.push({ type: n.type, token, masked: n.masked, ...this.asWalletCode(business.id, n) });
    });
    // Stored normalised, as the contract says phones are (E.164) and as a CIM of the same value
    // would be: a phone reads the same however it was typed, emails compare in one case.
    const email = input.email === undefined ? null : this.normalise('email', input.email, `${line_path}email`).value;
    const phone = input.phone === undefined ? null : this.normalise('phone', input.phone, `${line_path}phone`).value;
    return { id: newId('con'), code: newContactCode(), referral_code: newReferralCode(), wallet_code: newWalletCode(), input, cims, email, phone, referred_by: null };
  }

  /**
   * A card of 16 digits as a wallet code's token. ISO 8583's DE2 carries either, untyped: a card
   * that was another contact's wallet code took that contact's card-network messages (a balance
   * inquiry answered the card holder's wallet, a spend by the wallet code became the card
   * holder's purchase: a contacts probe, 2026-12-07), so such a card is cim_taken.
   */
  private asWalletCode(business_id: string, cim: NormalisedCim): { as_wallet_code?: string } {
    if (cim.type !== 'card' || cim.token !== undefined || cim.value.length !== 16) return {};
    return { as_wallet_code: cimToken(this.stores.config.cim_hmac_key, business_id, 'wallet_code', cim.value) };
  }

  /** cim_taken when a card among `cims` is a contact's wallet code (asWalletCode). */
  private async refuseWalletCodeCards(cims: readonly PreparedCim[]): Promise<void> {
    const tokens = cims.flatMap((c) => c.as_wallet_code ?? []);
    if ((await this.takenTokens(tokens)).size > 0) throw new PocketgateError('cim_taken', 'a card of this contact is the wallet code of a contact');
  }

  private issuedCims(business_id: string, c: PreparedContact): PreparedCim[] {
    return [
      { type: 'wallet_code', token: cimToken(this.stores.config.cim_hmac_key, business_id, 'wallet_code', c.wallet_code), masked: `************${c.wallet_code.slice(-4)}` },
      { type: 'contact_code', token: cimToken(this.stores.config.cim_hmac_key, business_id, 'contact_code', c.code), masked: c.code },
    ];
  }

  async create(business: Business, input: ContactCreate): Promise<ContactView> {
    const prepared = this.prepare(business, input);
    if (input.referred_by !== undefined) {
      const referrers = await this.referrers(business.id, [input.referred_by]);
      const referrer = referrers.get(input.referred_by);
      if (referrer === undefined) throw new PocketgateError('validation_failed', 'referred_by: unknown referral code', [{ path: 'referred_by', message: 'unknown referral code' }]);
      prepared.referred_by = referrer;
    }
    // Refused at once while Redis takes no write (503, nothing changed), as a patch of what the POS
    // path reads is: committed to PostgreSQL first, it stood without its Redis copy, and the retry
    // the 503 asks for made a second contact when no CIM tied the two (a black-box probe, 2026-12-05).
    await requireWritableNow(this.stores);
    await this.refuseWalletCodeCards(prepared.cims);
    const id = await this.insertOne(business, prepared);
    return this.view(business, id) as Promise<ContactView>;
  }

  private async referrers(business_id: string, codes: string[]): Promise<Map<string, string>> {
    const rows = await this.stores.sql<{ id: string; referral_code: string }[]>`
      select id, referral_code from contacts where business_id = ${business_id} and referral_code = any(${codes})`;
    return new Map(rows.map((r) => [r.referral_code, r.id]));
  }

  /**
   * Insert one contact, regenerating issued codes on the (rare) collision; cim_taken otherwise,
   * unless the CIMs are those of a contact an earlier call left out of Redis: that one is finished
   * and its id answered. Answers the contact's id.
   */
  private async insertOne(business: Business, c: PreparedContact): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.insertBatch(business, [c]);
        return c.id;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        const constraint = (err as { constraint_name?: string }).constraint_name ?? '';
        if (constraint === 'contact_cims_pkey') {
          const taken = await this.takenTokens(c.cims.map((x) => x.token));
          const [unindexed] = taken.size > 0 ? await this.unindexedOwners(business.id, [c]) : [];
          if (unindexed !== undefined) {
            await this.finishUnindexed(business, [unindexed]);
            return unindexed;
          }
          if (taken.size > 0 || attempt >= 3) throw new PocketgateError('cim_taken', 'a CIM of this contact already identifies another contact');
        } else if (attempt >= 3) {
          throw err;
        }
        c.id = newId('con');
        c.code = newContactCode();
        c.referral_code = newReferralCode();
        c.wallet_code = newWalletCode();
      }
    }
  }

  private async takenTokens(tokens: string[]): Promise<Set<string>> {
    if (tokens.length === 0) return new Set();
    const rows = await this.stores.sql<{ token: string }[]>`select token from contact_cims where token = any(${tokens})`;
    return new Set(rows.map((r) => r.token));
  }

  /** All or nothing: one PostgreSQL statement, then the Redis index in one pipeline. */
  private async insertBatch(business: Business, batch: PreparedContact[]): Promise<void> {
    const { sql } = this.stores;
    // The batch as one JSON document that PostgreSQL takes apart: a batch is thousands of
    // values, which postgres.js would otherwise serialise one by one. Short names, no nulls
    // (an absent key reads as null), the business once and each contact's CIMs inside it: the
    // document is about half what one row object per table was, and making it, sending it and
    // parsing it was a good part of the import's time on both sides. One statement inserts both
    // tables (all or nothing without a transaction's round trips; the CIMs' foreign key is
    // checked at its end, when the contacts are there); it never changes, so it is prepared once.
    // A contact's CIMs are listed by created_at: each a microsecond after the one before it, they
    // list in the order they were given (the tie-break, their token, is a keyed hash).
    const cims: { token: string; contact_id: string }[] = [];
    const doc = batch.map((c) => {
      const own = [...c.cims, ...this.issuedCims(business.id, c)];
      for (const x of own) cims.push({ token: x.token, contact_id: c.id });
      return {
        id: c.id,
        c: c.code,
        r: c.referral_code,
        w: c.wallet_code,
        fn: c.input.first_name,
        ln: c.input.last_name,
        e: c.email ?? undefined,
        p: c.phone ?? undefined,
        d: c.input.birth_date,
        t: c.input.tags,
        rb: c.referred_by ?? undefined,
        sb: c.input.spend_blocked,
        x: own.map((x) => [x.token, x.type, x.masked]),
      };
    });
    await this.insertAndIndex(business, batch, doc, cims);
    await this.onCreated(business, batch.map((c) => c.id));
  }

  private async insertAndIndex(business: Business, batch: PreparedContact[], doc: unknown[], cims: { token: string; contact_id: string }[]): Promise<void> {
    const { sql } = this.stores;
    await sql`
      with x as materialized (
        select * from jsonb_to_recordset(${JSON.stringify(doc)}::text::jsonb)
          as x(id text, c text, r text, w text, fn text, ln text, e text, p text, d date, t text[], rb text, sb boolean, x jsonb)
      ), contact as (
        insert into contacts (id, business_id, code, referral_code, wallet_code, first_name, last_name, email, phone, birth_date, tags, referred_by, spend_blocked)
        select id, ${business.id}, c, r, w, fn, ln, e, p, d, t, rb, coalesce(sb, false) from x
      )
      insert into contact_cims (token, business_id, contact_id, type, masked, created_at)
      select cim->>0, ${business.id}, x.id, cim->>1, cim->>2, now() + n * interval '1 microsecond'
      from x, jsonb_array_elements(x.x) with ordinality as own(cim, n)`;
    // PostgreSQL first: if we crash here (or Redis refuses), the same call again finishes the
    // contact (finishUnindexed); the reverse order could leave Redis naming a contact that does not exist.
    const hot = batch.map((c) => ({ id: c.id, tags: c.input.tags, birth_date: c.input.birth_date ?? null, referred_by: c.referred_by, spend_blocked: c.input.spend_blocked === true }));
    // The hints before the index: a failure before the index leaves the contact unindexed, which
    // the same call again finishes (finishUnindexed), hints included.
    await this.hints.add(sql, business.id, batch.map((c) => ({ id: c.id, email: c.email, phone: c.phone, cim_tokens: c.cims.map((x) => x.token) })));
    await this.indexContacts(business.id, hot, cims);
  }

  /** The contacts' hashes (their business first of all: a contact without it does not exist for the hot path) and CIMs, in one pipeline. */
  private async indexContacts(business_id: string, contacts: readonly HotContact[], cims: readonly { token: string; contact_id: string }[]): Promise<void> {
    const multi = this.stores.redis.multi();
    for (const c of contacts) {
      const fields: Record<string, string> = { b: business_id };
      if (c.tags.length > 0) fields.t = JSON.stringify(c.tags);
      if (c.birth_date !== null) fields.d = c.birth_date;
      if (c.referred_by !== null) fields.rf = c.referred_by;
      if (c.spend_blocked) fields.x = '1';
      multi.hSet(contactKey(this.shardOf(c.id), c.id), fields);
    }
    this.index.setAll(multi, [...cims]);
    await multi.execAsPipeline();
  }

  /**
   * For each list of a request's own CIMs: the contact of this business that has exactly those
   * CIMs and that Redis never indexed (its hash names no business: a create or import whose
   * PostgreSQL insert committed and whose Redis pipeline never ran, answered 503 or cut by a
   * crash), or undefined. A list without CIMs names nobody.
   */
  private async unindexedOwners(business_id: string, contacts: readonly PreparedContact[]): Promise<(string | undefined)[]> {
    const lists = contacts.map((c) => c.cims);
    const tokens = lists.flatMap((l) => l.map((c) => c.token));
    if (tokens.length === 0) return lists.map(() => undefined);
    const rows = await this.stores.sql<{ contact_id: string; token: string }[]>`
      select contact_id, token from contact_cims
      where business_id = ${business_id} and type not in ('wallet_code', 'contact_code')
        and contact_id in (select contact_id from contact_cims where business_id = ${business_id} and token = any(${tokens}))`;
    const owner = new Map(rows.map((r) => [r.token, r.contact_id]));
    const held = new Map<string, number>();
    for (const r of rows) held.set(r.contact_id, (held.get(r.contact_id) ?? 0) + 1);
    const candidates = lists.map((l) => {
      const id = l.length === 0 ? undefined : owner.get(l[0]!.token);
      if (id === undefined) return undefined;
      return held.get(id) === l.length && l.every((c) => owner.get(c.token) === id) ? id : undefined;
    });
    const [indexed, sent_again] = await Promise.all([
      Promise.all(candidates.map((id) => (id === undefined ? null : this.stores.redis.hGet(contactKey(this.shardOf(id), id), 'b')))),
      this.sameContacts(business_id, contacts, candidates),
    ]);
    return candidates.map((id, i) => (id !== undefined && (indexed[i] === null || indexed[i] === undefined) && sent_again[i] ? id : undefined));
  }

  /**
   * Whether each candidate holds what its contact's request sent (names, email, phone, birth
   * date, tags, referrer): a call sent again finishes its own contact; another caller's, which
   * another gateway may be indexing at this moment (nothing there tells it from one a cut call
   * left), is cim_taken. Two gateways' answers were 201 with one contact for two callers (an
   * import's line and a create with the same email: test/races-pos-admin.test.ts).
   */
  private async sameContacts(business_id: string, contacts: readonly PreparedContact[], candidates: readonly (string | undefined)[]): Promise<boolean[]> {
    const ids = candidates.filter((id): id is string => id !== undefined);
    if (ids.length === 0) return candidates.map(() => false);
    const rows = await this.stores.sql<{ id: string; fields: string }[]>`
      select id, json_build_array(first_name, last_name, email, phone, to_char(birth_date, 'YYYY-MM-DD'), coalesce(tags, '{}'), referred_by, spend_blocked)::text as fields
      from contacts where business_id = ${business_id} and id = any(${ids})`;
    const stored = new Map(rows.map((r) => [r.id, r.fields]));
    return contacts.map((c, i) => {
      const id = candidates[i];
      if (id === undefined) return false;
      const sent = [c.input.first_name ?? null, c.input.last_name ?? null, c.email, c.phone, c.input.birth_date ?? null, c.input.tags ?? [], c.referred_by, c.input.spend_blocked === true];
      const fields = stored.get(id);
      return fields !== undefined && isDeepStrictEqual(JSON.parse(fields), sent);
    });
  }

  /** Contacts PostgreSQL holds and Redis never had, indexed as their create would have, and their sign-up awards made (a reference of its own: made once). */
  private async finishUnindexed(business: Business, contact_ids: readonly string[]): Promise<void> {
    const { sql } = this.stores;
    const contacts = await sql<(HotContact & { email: string | null; phone: string | null })[]>`
      select id, tags, to_char(birth_date, 'YYYY-MM-DD') as birth_date, referred_by, spend_blocked, email, phone
      from contacts where business_id = ${business.id} and id = any(${contact_ids})`;
    const cims = await sql<{ token: string; contact_id: string }[]>`
      select token, contact_id from contact_cims where business_id = ${business.id} and contact_id = any(${contact_ids})`;
    const tokens = (id: string) => cims.filter((x) => x.contact_id === id).map((x) => x.token);
    await this.hints.add(sql, business.id, contacts.map((c) => ({ id: c.id, email: c.email, phone: c.phone, cim_tokens: tokens(c.id) })));
    await this.indexContacts(business.id, contacts, cims);
    await this.onCreated(business, contacts.map((c) => c.id));
  }

  async addCim(business: Business, contact_id: string, type: string, value: string): Promise<{ type: string; masked: string }> {
    await this.mustExist(business, contact_id);
    const n = this.normalise(type, value, 'value');
    const token = this.token(business.id, n);
    await this.refuseWalletCodeCards([{ type: n.type, token, masked: n.masked, ...this.asWalletCode(business.id, n) }]);
    try {
      await this.stores.sql.begin(async (tx) => {
        // A contact holds as many CIMs as a create may give it: added one by one they had no bound
        // (25 taken: a contacts probe, 2026-12-06). Counted under the contact's row lock, so that
        // adds raced do not all find room; after the insert, so that a CIM another contact holds
        // is 409 cim_taken first, and the contact's own again (a unique violation too) no more.
        await tx`select 1 from contacts where id = ${contact_id} for update`;
        await tx`insert into contact_cims (token, business_id, contact_id, type, masked)
          values (${token}, ${business.id}, ${contact_id}, ${n.type}, ${n.masked})`;
        const [held] = await tx<{ n: number }[]>`
          select count(*)::int as n from contact_cims where contact_id = ${contact_id} and type not in ('wallet_code', 'contact_code')`;
        if (held !== undefined && held.n > contact_cims_max) {
          throw new PocketgateError('validation_failed', `a contact holds at most ${contact_cims_max} CIMs`, [{ path: '', message: `this contact holds ${held.n - 1} CIMs already` }]);
        }
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const [row] = await this.stores.sql<{ contact_id: string }[]>`select contact_id from contact_cims where token = ${token}`;
      if (row?.contact_id !== contact_id) throw new PocketgateError('cim_taken', 'this CIM already identifies another contact');
      // Adding a contact's own CIM again changes nothing, but for the index: the call that
      // inserted it may have been cut before Redis had it (503, a crash), and this is its retry.
    }
    await this.index.put(token, contact_id);
    return { type: n.type, masked: n.masked };
  }

  private async mustExist(business: Business, contact_id: string): Promise<void> {
    const [row] = await this.stores.sql`select 1 from contacts where id = ${contact_id} and business_id = ${business.id}`;
    if (row === undefined) throw new PocketgateError('not_found', `contact ${contact_id} not found`);
  }

  /**
   * The one contact whose email or phone on file (its details, not a CIM) is this one: a support
   * agent types the email the contact's page shows, and a POS integrator that created a contact
   * with `{email}` or `{phone}` then names it by that CIM type (API.md lists both fields and both
   * types). Null when none has it, or several do (a household may share one): a CIM tells them apart.
   */
  private async contactWithDetail(business_id: string, cim: NormalisedCim & { type: 'email' | 'phone' }): Promise<string | null> {
    const column = this.stores.sql(cim.type);
    const rows = await this.stores.sql<{ id: string }[]>`select id from contacts where business_id = ${business_id} and ${column} = ${cim.value} limit 2`;
    return rows.length === 1 ? rows[0]!.id : null;
  }

  /**
   * contactWithDetail for a call whose email or phone no CIM names (resolve: the POS path's, the
   * back office's look-up): a read of PostgreSQL on that miss
   * alone (a CIM found never pays it), answered in time whatever PostgreSQL does
   * (ledger-reads.ts): 503 while it cannot be read, so that the refusal a terminal's reference
   * would keep (contact_not_found) is never one PostgreSQL's outage made. Not cached: a PATCH
   * changes the details.
   */
  private byDetailAtPos(business_id: string, cim: NormalisedCim): Promise<string | null> {
    if (cim.type !== 'email' && cim.type !== 'phone') return Promise.resolve(null);
    const detail = { ...cim, type: cim.type };
    return posDetailRead(this.stores)(() => this.contactWithDetail(business_id, detail)).catch(() => this.byDetailHint(business_id, detail.type, detail.value));
  }

  /**
   * byDetailAtPos while PostgreSQL cannot answer: the contact the detail's hint names
   * (detail-hints.ts); none named (several have it, or no hint was made: a contact made before
   * hints, a Redis rebuilt by an older release), 503 as before, never a contact_not_found that
   * the outage made.
   */
  private async byDetailHint(business_id: string, type: DetailType, value: string): Promise<string> {
    const hinted = await this.hints.contactOf(business_id, type, value);
    if (hinted === null) throw new PocketgateError('unavailable', 'no CIM names this contact, and the details on file cannot be read now; try again');
    return hinted;
  }

  async view(business: Business, contact_id: string): Promise<ContactView | undefined> {
    const { sql, redis } = this.stores;
    const [row] = await sql<(Omit<ContactView, 'cims' | 'tier' | 'created_at' | 'birth_date'> & { created_at: Date; birth_date: string | null })[]>`
      select id, code, referral_code, wallet_code, first_name, last_name, email, phone,
             to_char(birth_date, 'YYYY-MM-DD') as birth_date, tags, spend_blocked,
             (select r.referral_code from contacts r where r.id = c.referred_by) as referred_by, created_at
      from contacts c where id = ${contact_id} and business_id = ${business.id}`;
    if (row === undefined) return undefined;
    const cims = await sql<{ type: string; masked: string }[]>`
      select type, masked from contact_cims where contact_id = ${contact_id} and type not in ('wallet_code', 'contact_code') order by created_at, token`;
    const tier = await this.tierOf(business, contact_id);
    return { ...row, tier, cims: cims.map((c) => ({ type: c.type, masked: c.masked })), created_at: iso(row.created_at) };
  }

  async patch(business: Business, contact_id: string, patch: ContactPatch): Promise<ContactView> {
    const { sql, redis } = this.stores;
    const columns: Record<string, unknown> = {};
    for (const k of ['first_name', 'last_name', 'email', 'phone', 'birth_date', 'tags', 'spend_blocked'] as const) {
      if (patch[k] !== undefined) columns[k] = patch[k];
    }
    if (typeof patch.email === 'string') columns.email = this.normalise('email', patch.email, 'email').value;
    if (typeof patch.phone === 'string') columns.phone = this.normalise('phone', patch.phone, 'phone').value;
    const hot = patch.tags !== undefined || patch.birth_date !== undefined || patch.spend_blocked !== undefined;
    // What the POS path reads (the details' hints too: leaving) is refused at once while Redis takes
    // no write (503, nothing changed), rather than committed where only GET shows it; a copy that
    // fails all the same is owed.
    if (hot || patch.email !== undefined || patch.phone !== undefined) await requireWritableNow(this.stores);
    if (patch.birth_date !== undefined && patch.birth_date !== null) await this.ledgerHasPurchasesOf(business, contact_id);
    let details: ContactDetails | undefined;
    const owed = await sql.begin(async (tx) => {
      details = patch.email !== undefined || patch.phone !== undefined ? await this.detailsOf(tx, business, contact_id) : undefined;
      if (details !== undefined) await this.leaving(business.id, details, columns);
      const [row] = await tx`update contacts set ${Object.keys(columns).length > 0 ? tx(columns) : tx`id = id`}, updated_at = now()
        where id = ${contact_id} and business_id = ${business.id} returning id`;
      if (row === undefined) throw new PocketgateError('not_found', `contact ${contact_id} not found`);
      return hot ? oweCopy(tx, 'contact', contact_id) : undefined;
    });
    if (details !== undefined) await this.hints.add(sql, business.id, [changedDetails(details, columns)]);
    if (owed !== undefined) {
      await this.syncHotFields(contact_id);
      await payCopy(sql, 'contact', contact_id, owed);
    }
    return (await this.view(business, contact_id))!;
  }

  /** The contact's details on file and its CIMs' tokens, its row locked for the PATCH (none: not found). */
  private async detailsOf(tx: TransactionSql, business: Business, contact_id: string): Promise<ContactDetails | undefined> {
    const [row] = await tx<{ email: string | null; phone: string | null }[]>`
      select email, phone from contacts where id = ${contact_id} and business_id = ${business.id} for update`;
    if (row === undefined) return undefined;
    const cims = await tx<{ token: string }[]>`select token from contact_cims where contact_id = ${contact_id}`;
    return { id: contact_id, email: row.email, phone: row.phone, cim_tokens: cims.map((c) => c.token) };
  }

  /**
   * The details a PATCH changes, made '*' under the row's lock before it commits (detail-hints.ts):
   * whatever then fails, no hint names the contact for a detail it may no longer have. The new
   * ones are hinted once committed (Contacts.patch).
   */
  private async leaving(business_id: string, before: ContactDetails, columns: Record<string, unknown>): Promise<void> {
    for (const type of ['email', 'phone'] as const) {
      const old = before[type];
      if (changes(before, columns, type) && old !== null) await this.hints.leaving(business_id, type, old);
    }
  }

  /**
   * Waits until the ledger holds every purchase the contact's shard journaled, as a new birth
   * date's purchases are read from it (setBirthDate), before the PATCH changes anything and
   * without the row's lock: one refused for the wait (503) changes nothing, and one that waits
   * holds no connection (until a review of 2026-12-04, the 503 came after PostgreSQL had the new
   * date, which the hot path never got). A contact with no purchase has none to wait for.
   */
  private async ledgerHasPurchasesOf(business: Business, contact_id: string): Promise<void> {
    const { redis, config } = this.stores;
    await this.mustExist(business, contact_id);
    const shard = this.shardOf(contact_id);
    if ((await redis.hGet(contactKey(shard, contact_id), 'fp')) === null) return;
    if (await waitForShard(redis, config.shard_count, shard, birth_date_ledger_wait_ms)) return;
    throw new PocketgateError('unavailable', 'the ledger is behind on this contact’s purchases, which a birth date is set with: try again shortly');
  }

  /**
   * The fields the hot path reads, copied to the contact's hash as PostgreSQL holds them, under the
   * row's lock: two PATCHes at once (on one gateway or two) may reach Redis in the other order
   * than they committed, and a copy of each call's own values would leave Redis with the one
   * PostgreSQL replaced (a contact shown spend_blocked that spends).
   */
  async syncHotFields(contact_id: string): Promise<void> {
    const { sql, redis } = this.stores;
    await sql.begin(async (tx) => {
      const [c] = await tx<{ tags: string[]; birth_date: string | null; spend_blocked: boolean }[]>`
        select tags, to_char(birth_date, 'YYYY-MM-DD') as birth_date, spend_blocked from contacts where id = ${contact_id} for update`;
      if (c === undefined) return;
      const shard = this.shardOf(contact_id);
      const key = contactKey(shard, contact_id);
      const multi = redis.multi();
      c.tags.length > 0 ? multi.hSet(key, 't', JSON.stringify(c.tags)) : multi.hDel(key, 't');
      c.spend_blocked ? multi.hSet(key, 'x', '1') : multi.hDel(key, 'x');
      await multi.exec();
      if (((await redis.hGet(key, 'd')) ?? null) !== c.birth_date) await this.setBirthDate(tx, shard, contact_id, c.birth_date);
    });
  }

  /**
   * A new birth date, with the contact's purchases on that birthday (hot/birth-date.lua): read from
   * the ledger once it holds every purchase the shard journaled, and written only if none came
   * since; a contact buying all the while is read again, a few times at most (then 503: the retry
   * of the PATCH sets it, as PostgreSQL already holds it). A contact with no purchase (or all
   * reversed) has none to read.
   */
  private async setBirthDate(tx: TransactionSql, shard: number, contact_id: string, birth_date: string | null): Promise<void> {
    const { redis, config, clock } = this.stores;
    for (let read = 1; read <= birth_date_reads_max; read++) {
      const [purchases, reversals] = (await redis.hmGet(contactKey(shard, contact_id), ['fp', 'rv'])).map((v) => v ?? '') as [string, string];
      let times: BirthdayPurchases = { times: [], expire_at_ms: 0 };
      if (birth_date !== null && purchases !== '') {
        if (!(await waitForShard(redis, config.shard_count, shard, birth_date_ledger_wait_ms))) break;
        // On the row lock's own connection: a PATCH waiting for a second one of the pool could wait on
        // every other PATCH doing the same.
        times = await birthdayPurchases(tx, contact_id, birth_date, clock.now());
      }
      const set = await redis.birthDateScript({ shard, contact_id, birth_date, purchases, reversals, times: times.times, times_kept_ms: Math.max(1, times.expire_at_ms - clock.now()) });
      if (set === 'ok') return;
    }
    throw new PocketgateError('unavailable', 'the birth date could not be set with the purchases made on it: try again');
  }

  /** Balances; with `detail`, the commerce lots summed by pool and by expiry too. */
  async wallet(business: Business, contact_id: string, detail = false) {
    const shard = this.shardOf(contact_id);
    const [[open, commerce, owner], lots] = await Promise.all([
      this.stores.redis.hmGet(contactKey(shard, contact_id), ['o', 'm', 'b']),
      detail ? this.stores.redis.hGetAll(lotsKey(shard, contact_id)) : Promise.resolve({} as Record<string, string>),
    ]);
    if (owner !== business.id) throw new PocketgateError('not_found', `contact ${contact_id} not found`);
    const pools = new Map<string, number>();
    const expiring = new Map<number, number>();
    const now_ms = this.stores.clock.now();
    for (const [field, value] of Object.entries(lots)) {
      const bar = field.indexOf('|');
      const expiry_ms = Number(field.slice(0, bar));
      const pool = field.slice(bar + 1);
      const amount = Number(value);
      if (expiry_ms <= now_ms) continue; // expired, waiting for the sweeper
      if (pool !== '') pools.set(pool, (pools.get(pool) ?? 0) + amount);
      if (expiry_ms < never_expires_ms) expiring.set(expiry_ms, (expiring.get(expiry_ms) ?? 0) + amount);
    }
    return {
      contact_id,
      currency: business.currency,
      open: Number(open ?? 0),
      commerce: Number(commerce ?? 0),
      pools: [...pools].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([pool, amount]) => ({ pool, amount })),
      expiring: [...expiring].sort((a, b) => a[0] - b[0]).map(([ms, amount]) => ({ amount, expires_at: iso(new Date(ms)) })),
    };
  }

  /** A new wallet code; the old one stops working at once (wallet codes are never cached). */
  async rotateWalletCode(business: Business, contact_id: string): Promise<{ wallet_code: string }> {
    const { sql, redis, config } = this.stores;
    for (let attempt = 0; ; attempt++) {
      const wallet_code = newWalletCode();
      const token = cimToken(config.cim_hmac_key, business.id, 'wallet_code', wallet_code);
      try {
        await sql.begin(async (tx) => {
          const [row] = await tx<{ wallet_code: string }[]>`
            select wallet_code from contacts where id = ${contact_id} and business_id = ${business.id} for update`;
          if (row === undefined) throw new PocketgateError('not_found', `contact ${contact_id} not found`);
          await tx`update contacts set wallet_code = ${wallet_code}, updated_at = now() where id = ${contact_id}`;
          await tx`delete from contact_cims where contact_id = ${contact_id} and type = 'wallet_code'`;
          await tx`insert into contact_cims (token, business_id, contact_id, type, masked)
            values (${token}, ${business.id}, ${contact_id}, 'wallet_code', ${`************${wallet_code.slice(-4)}`})`;
          // One MULTI: no moment when both codes, or neither, name the contact. Under the row's
          // lock, so that rotations at once (on two gateways) reach Redis in the order they
          // commit: after it, a later rotation's MULTI could run first and this one then set a
          // code already replaced. Before the commit, as a terminal key's rotation: should the
          // commit fail, the old code is refused and the new one never shown (fail closed).
          const multi = redis.multi();
          this.index.delete(multi, cimToken(config.cim_hmac_key, business.id, 'wallet_code', row.wallet_code));
          this.index.set(multi, token, contact_id);
          await multi.exec();
        });
        return { wallet_code };
      } catch (err) {
        if (!isUniqueViolation(err) || attempt >= 3) throw err;
      }
    }
  }

  /** Streams NDJSON lines into batches; a bad line is reported and the rest goes on. */
  async import(business: Business, lines: AsyncIterable<string | PocketgateError>): Promise<ImportResult> {
    const result: ImportResult = { imported: 0, failed: 0, errors: [] };
    // The first import_errors_max failed lines, in line order: a batch's CIM conflicts come when
    // it is flushed, after its later lines' parse errors, so up to twice as many are kept, the
    // latest lines dropped past that (kept to the cap, the parse errors after a conflict took the
    // report's places: a contacts probe, 2026-12-06).
    const fail = (line: number, code: ErrorCode, message: string) => {
      result.failed++;
      result.errors.push({ line, code, message });
      if (result.errors.length > 2 * import_errors_max) result.errors = inLineOrder(result.errors);
    };
    // As create: nothing is committed while Redis takes no write (503). Checked once, before the
    // first line: a check before each batch slowed a large file by a round trip a batch, and Redis
    // failing mid-file is what the next call finishes (finishLinesCut).
    await requireWritableNow(this.stores);
    let batch: ImportLine[] = [];
    let line_no = 0;
    const in_flight = new ImportBatches();
    const flush = (b: ImportLine[]) => in_flight.add(new Set(b.flatMap((x) => x.contact.cims.map((c) => c.token))), () => this.importBatch(business, b, result, fail));
    try {
      for await (const line of lines) {
        line_no++;
        // A line the body reader refused (not UTF-8, too long) fails alone, as any bad line.
        if (line instanceof PocketgateError) {
          fail(line_no, line.code, line.message);
          continue;
        }
        if (line.trim().length === 0) continue; // blank lines carry nothing: not counted as failures
        try {
          if (line.length > import_line_bytes_max) throw new PocketgateError('validation_failed', `line longer than ${import_line_bytes_max} bytes`);
          batch.push({ line: line_no, contact: this.prepare(business, parseWith(contactCreateSchema, parseJsonText(line))) });
        } catch (err) {
          if (!(err instanceof PocketgateError)) throw err;
          fail(line_no, err.code, err.message);
        }
        if (batch.length >= import_batch_size) {
          await flush(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await flush(batch);
      await in_flight.all();
    } finally {
      // On a failure, let the batches still running finish before the error goes up.
      await in_flight.settled();
    }
    // Batches finish in any order: the report back in line order.
    result.errors = inLineOrder(result.errors);
    return result;
  }

  private async importBatch(business: Business, batch: ImportLine[], result: ImportResult, fail: (line: number, code: ErrorCode, message: string) => void) {
    // Referral codes and CIM conflicts are settled for the whole batch in two queries, so the
    // batch insert below almost never meets a conflict; when it does (a race), go line by line.
    const codes = [...new Set(batch.flatMap((b) => (b.contact.input.referred_by === undefined ? [] : [b.contact.input.referred_by])))];
    const referrers = codes.length > 0 ? await this.referrers(business.id, codes) : new Map<string, string>();
    const taken = await this.takenTokens(batch.flatMap((b) => b.contact.cims.flatMap((c) => (c.as_wallet_code === undefined ? [c.token] : [c.token, c.as_wallet_code]))));
    const unfinished = await this.finishLinesCut(business, batch, taken, result);
    const seen = new Set<string>();
    const ok: { line: number; contact: PreparedContact }[] = [];
    for (const b of batch) {
      if (unfinished.has(b)) continue;
      const code = b.contact.input.referred_by;
      if (code !== undefined) {
        const referrer = referrers.get(code);
        if (referrer === undefined) {
          fail(b.line, 'validation_failed', 'referred_by: unknown referral code');
          continue;
        }
        b.contact.referred_by = referrer;
      }
      if (b.contact.cims.some((c) => taken.has(c.token) || seen.has(c.token))) {
        fail(b.line, 'cim_taken', 'a CIM of this contact already identifies another contact');
        continue;
      }
      if (b.contact.cims.some((c) => c.as_wallet_code !== undefined && taken.has(c.as_wallet_code))) {
        fail(b.line, 'cim_taken', 'a card of this contact is the wallet code of a contact');
        continue;
      }
      for (const c of b.contact.cims) seen.add(c.token);
      ok.push(b);
    }
    if (ok.length === 0) return;
    try {
      await this.insertBatch(business, ok.map((b) => b.contact));
      result.imported += ok.length;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      for (const b of ok) {
        try {
          await this.insertOne(business, b.contact);
          result.imported++;
        } catch (e) {
          if (!(e instanceof PocketgateError)) throw e;
          fail(b.line, e.code, e.message);
        }
      }
    }
  }

  /**
   * The lines of a batch whose CIMs are taken by a contact an earlier import of the same file left
   * out of Redis (cut between PostgreSQL and Redis: 503, a crash): that contact is finished and the
   * line counted imported, once per contact. Answers those lines.
   */
  private async finishLinesCut(business: Business, batch: readonly { line: number; contact: PreparedContact }[], taken: ReadonlySet<string>, result: ImportResult): Promise<Set<unknown>> {
    const clashing = batch.filter((b) => b.contact.cims.some((c) => taken.has(c.token)));
    if (clashing.length === 0) return new Set();
    const owners = await this.unindexedOwners(business.id, clashing.map((b) => b.contact));
    const finished = new Map<string, unknown>();
    clashing.forEach((b, i) => {
      const owner = owners[i];
      if (owner !== undefined && !finished.has(owner)) finished.set(owner, b);
    });
    if (finished.size === 0) return new Set();
    await this.finishUnindexed(business, [...finished.keys()]);
    result.imported += finished.size;
    return new Set(finished.values());
  }
}

export type { FieldError };

/** Whether a PATCH's columns change the contact's `type` on file. */
function changes(before: ContactDetails, columns: Record<string, unknown>, type: DetailType): boolean {
  return type in columns && columns[type] !== before[type];
}

/** A contact's details a PATCH's columns changed (the others null: nothing to hint again). */
function changedDetails(before: ContactDetails, columns: Record<string, unknown>): ContactDetails {
  const changed = (type: DetailType): string | null => (changes(before, columns, type) ? ((columns[type] as string | null) ?? null) : null);
  return { ...before, email: changed('email'), phone: changed('phone') };
}

/**
 * An import's batches in flight: a few at once, since each mostly waits for PostgreSQL's and
 * Redis's fsyncs; bounded, so memory stays a few batches whatever the file's size. Concurrent
 * batches meeting on one CIM are settled by its unique token (whichever commits second goes line
 * by line and reports its line as cim_taken); a batch naming a CIM that one in flight names waits
 * for those in flight: racing, the later line could commit first and the earlier be refused
 * cim_taken (a contacts probe, 2026-12-06: a duplicate across a batch's boundary).
 */
class ImportBatches {
  private readonly running: Promise<void>[] = [];
  /** The CIM tokens of each batch in `running`, in the same order. */
  private readonly tokens: Set<string>[] = [];

  async add(tokens: Set<string>, start: () => Promise<void>): Promise<void> {
    if (this.tokens.some((earlier) => [...tokens].some((t) => earlier.has(t)))) {
      await this.all();
      this.running.length = 0;
      this.tokens.length = 0;
    }
    const running = start();
    // Awaited later; marked handled now so that a batch failing while the next is parsed is not
    // an unhandled rejection (which would end the process).
    running.catch(() => {});
    this.running.push(running);
    this.tokens.push(tokens);
    if (this.running.length >= import_batches_in_flight_max) {
      this.tokens.shift();
      await this.running.shift();
    }
  }

  async all(): Promise<void> {
    await Promise.all(this.running);
  }

  async settled(): Promise<void> {
    await Promise.allSettled(this.running);
  }
}
