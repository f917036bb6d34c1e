// The business network: businesses, merchants, venues, terminals, their API keys and ISO 8583
// acquirer links. PostgreSQL holds it; Redis holds what the POS path reads (network-layout.ts),
// written after PostgreSQL commits, so the POS path never waits for PostgreSQL, even in a gateway
// started while PostgreSQL is down. Each process caches what it read for a few seconds.

import { createHash } from 'node:crypto';
import { newApiKey, newId } from '../core/ids.ts';
import { PocketgateError } from '../core/errors.ts';
import { percentToBasisPoints } from '../core/money.ts';
import type { Resolution } from '../core/offer.ts';
import type { BusinessRecord } from './network-layout.ts';
import { keyEntryKey, merchantKey, network_loaded_key, networkLoaded, paddedAcquirer, terminalKey } from './network-layout.ts';
import { acquirer_businesses_max, readAcquirerBusinesses, readBusiness, readKeyEntry, readTerminal, readTerminalIdsByCode, type TerminalView } from './network-redis.ts';
import { syncBusiness, syncLink, syncLockedTerminal, syncMerchant, syncTerminal, syncVenue } from './network-sync.ts';
import { keys_revoked_channel } from './hot/keys.ts';
import { closeRedis, listen, type RedisClient, type Sql, type Stores } from './stores.ts';
import { CachedLookup } from './ttl-cache.ts';
import type postgres from 'postgres';

export interface Business {
  readonly id: string;
  readonly name: string;
  readonly currency: string;
  readonly reward_resolution: Resolution;
  readonly created_at: string;
}

/**
 * Businesses read from Redis whose contacts it does not hold (lost with its data, until `npm run
 * rebuild`): the records' `u`, kept beside the objects, not in them, so that no answer shows it.
 */
const unbuilt_businesses = new WeakSet<Business>();

/**
 * Refuses what needs the business's contacts while Redis holds none of them (a gateway started on
 * a Redis that lost its data copied the network, not the contacts): 503, which a till retries, not
 * the contact_not_found its reference would keep for good, and nothing written that would stop
 * `npm run rebuild` from loading that Redis (a black-box probe, 2026-12-05).
 */
export function requireBuilt(business: Business): void {
  if (unbuilt_businesses.has(business)) throw new PocketgateError('unavailable', 'Redis holds none of this business’s contacts (it lost its data): npm run rebuild loads them; try again then');
}

export interface Terminal {
  readonly id: string;
  readonly code: string;
  readonly business_id: string;
  readonly venue_id: string;
  readonly merchant_id: string | null;
  /** The merchant's code (DE42): pools named after it redeem only here. '' at the business's own venues. */
  readonly merchant_code: string;
  /** Contribution fee in basis points, and whether it is charged on awards or on spends here. */
  readonly fee_bp: number;
  readonly settle_on: 'award' | 'spend';
  readonly timezone: string;
  /**
   * 'admin' when a business admin key sends the call on this terminal's behalf (the
   * `Pocketgate-Terminal` header), 'processor' on a payment processor's own terminal (its
   * callbacks): the transaction is the terminal's all the same, and the ledger keeps who made it.
   * Absent for the terminal's own calls.
   */
  readonly made_by?: 'admin' | 'processor';
  /**
   * The terminal code a payment processor's callback named for the transaction it makes on this
   * (its own) terminal: shown with the transaction (GET /v1/transactions/{id}, webhooks), kept in
   * its journal entry. Absent for every other call.
   */
  readonly reported_code?: string | undefined;
}

export type Principal =
  | { readonly kind: 'platform' }
  | { readonly kind: 'admin'; readonly business: Business }
  | { readonly kind: 'terminal'; readonly business: Business; readonly terminal: Terminal };

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * How long a process trusts what it read of the network: a key revoked, or a terminal made, on
 * another gateway takes effect here within this. Short, because a miss costs one to three Redis
 * round trips, not a PostgreSQL query.
 */
export const network_cache_ttl_ms = 5_000;
const cache_options = { ttl_ms: network_cache_ttl_ms, found_max: 100_000, missing_max: 10_000 };

export interface IsoTerminal {
  readonly business: Business;
  readonly terminal: Terminal;
}

function businessFrom(r: BusinessRecord): Business {
  const business: Business = { id: r.id, name: r.name, currency: r.currency, reward_resolution: r.reward_resolution, created_at: r.created_at };
  if (r.unbuilt === true) unbuilt_businesses.add(business);
  return business;
}

/** The prefix of the codes of processors' terminals: longer than any code the API takes (8), so never one of those. */
export const processor_terminal_code_prefix = 'processor:';

/**
 * A processor's own terminal (EVENTS.md: every callback transaction is booked on it) takes no key
 * and no call on its behalf: its references are the processor's transaction ids, and a POS call
 * under one would hold it, refusing the processor's event later (a black-box probe made a POS
 * key for one with rotate-key).
 */
export function refuseProcessorTerminal(terminal: { readonly id: string; readonly code: string }, path: string): void {
  if (!terminal.code.startsWith(processor_terminal_code_prefix)) return;
  const message = `terminal ${terminal.id} is processor ${terminal.code.slice(processor_terminal_code_prefix.length)}'s own: its transactions come by callback`;
  throw new PocketgateError('validation_failed', message, [{ path, message: 'must name a terminal of a venue, not a processor’s' }]);
}

export function terminalFrom({ terminal, venue, merchant }: TerminalView): Terminal {
  return {
    id: terminal.id,
    code: terminal.code,
    business_id: terminal.business_id,
    venue_id: terminal.venue_id,
    merchant_id: terminal.merchant_id,
    merchant_code: merchant?.code ?? '',
    fee_bp: merchant?.fee_bp ?? 0,
    settle_on: merchant?.settle_on ?? 'award',
    timezone: venue.timezone,
  };
}

/**
 * A terminal this call made (or finished) whose key another call with the same code replaced
 * before it reached Redis: that call answers the terminal and its key; for this one the code is
 * taken, as for a call that came after.
 */
function codeTaken(code: string): PocketgateError {
  const detail = `terminal code ${code} is already used at this merchant`;
  return new PocketgateError('validation_failed', detail, [{ path: 'code', message: detail }]);
}

export class Network {
  /** By key hash. Unknown keys are remembered apart (bounded), so a flood of made-up keys costs one Redis read each and never a PostgreSQL query. */
  private readonly principals = new CachedLookup<Principal>((hash) => this.readPrincipal(hash), cache_options);
  // A miss where Redis holds no network at all is 503, as a key's (absent()): a processor's
  // callback, verified by PostgreSQL's secret, got 401 `signature_invalid` from an emptied Redis
  // (a black-box probe, 2026-12-06), which tells the processor never to retry.
  private readonly businesses = new CachedLookup<Business>(async (id) => {
    const r = await readBusiness(this.stores.redis, id);
    return r === undefined ? this.absent() : businessFrom(r);
  }, cache_options);
  private readonly iso_terminals = new CachedLookup<IsoTerminal>((route) => this.readIsoTerminal(route), cache_options);
  /** By id, whatever the business (the caller checks whose): admin calls acting as one, processors' bookings. */
  private readonly terminals = new CachedLookup<Terminal>(async (id) => {
    const view = await readTerminal(this.stores.redis, id);
    return view === undefined ? this.absent() : terminalFrom(view);
  }, cache_options);

  /**
   * Why look-ups are refused for now (503 `unavailable`), while a gateway starts: until it has
   * read Redis and copied the network into it, an empty copy would answer a 401 or 404 (and cache
   * the miss) to a key or terminal that exists. Undefined once the gateway serves.
   */
  private not_ready: string | undefined;

  /**
   * `merchantMade`: the business's rewards snapshot made again (Offers.changed): a merchant's code
   * may be the name of a pool, which then redeems only at that merchant.
   */
  constructor(
    private readonly stores: Stores,
    private readonly merchantMade: (business_id: string) => Promise<void>,
  ) {}

  private subscriber: RedisClient | undefined;
  /** Told the hash of each key revoked, here or elsewhere (the terminal channel closes its sockets). */
  private readonly revoked_listeners = new Set<(hash: string) => void>();

  /** `listener` is told each key hash revoked; the function answered stops it. */
  onKeyRevoked(listener: (hash: string) => void): () => void {
    this.revoked_listeners.add(listener);
    return () => this.revoked_listeners.delete(listener);
  }

  private revoked(hash: string): void {
    this.principals.delete(hash);
    for (const listener of this.revoked_listeners) listener(hash);
  }

  /**
   * Listen for keys revoked by other processes: each forgets the key at once, where its cache kept
   * it up to network_cache_ttl_ms (a rotated terminal key took transactions on another gateway
   * for 5 s: a black-box probe with two gateways). After a reconnect, when a message may have been
   * missed, every key is read again.
   */
  async subscribe(): Promise<void> {
    this.subscriber = await listen(this.stores.redis, keys_revoked_channel, (hash) => this.revoked(hash), () => this.principals.clear());
  }

  async close(): Promise<void> {
    if (this.subscriber !== undefined) await closeRedis(this.subscriber);
  }

  /** Refuses every look-up with 503 `unavailable` (`why`) until the function answered is called. */
  refuseUntilReady(why: string): () => void {
    this.not_ready = why;
    return () => (this.not_ready = undefined);
  }

  get ready(): boolean {
    return this.not_ready === undefined;
  }

  /** While refused, the refusal (a rejected promise: the look-ups below stay plain functions, no async frame per request). */
  private notReady(): Promise<never> | undefined {
    return this.not_ready === undefined ? undefined : Promise.reject(new PocketgateError('unavailable', this.not_ready));
  }

  /** The principal a key names, or undefined. Platform keys are compared by hash too. */
  async authenticate(key: string, platform_key_hash: string | undefined): Promise<Principal | undefined> {
    // The platform key too: what it creates is written to Redis, which the start has not read yet.
    const refused = this.notReady();
    if (refused !== undefined) return refused;
    const hash = hashKey(key);
    if (platform_key_hash !== undefined && hash === platform_key_hash) return { kind: 'platform' };
    return this.principals.get(hash);
  }

  /**
   * What Redis does not hold, when it holds no network at all (emptied, or a new instance, until
   * `npm run rebuild` loads it): 503 `unavailable`, as /readyz says `loading`, not a 401 or an
   * ISO 8583 03 that a till takes for its key or link revoked. Until 2026-12-04 such a Redis
   * answered every key 401 (a black-box probe). Otherwise undefined: truly unknown.
   */
  private async absent(): Promise<undefined> {
    if (networkLoaded(await this.stores.redis.get(network_loaded_key))) return undefined;
    throw new PocketgateError('unavailable', 'Redis holds no business network (emptied, or a new instance): npm run rebuild loads it');
  }

  /** A key works while its entry names a business or terminal that names the key back (network-layout.ts). */
  private async readPrincipal(hash: string): Promise<Principal | undefined> {
    const entry = await readKeyEntry(this.stores.redis, hash);
    if (entry === undefined) return this.absent();
    if (entry.kind === 'admin') {
      const r = await readBusiness(this.stores.redis, entry.business_id);
      return r === undefined || r.admin_key_hash !== hash ? undefined : { kind: 'admin', business: businessFrom(r) };
    }
    const [view, business] = await Promise.all([readTerminal(this.stores.redis, entry.terminal_id!), this.business(entry.business_id)]);
    if (view === undefined || business === undefined || view.terminal.key_hash !== hash || view.terminal.business_id !== business.id) return undefined;
    requireBuilt(business); // thrown, not kept: the key works again once rebuild has loaded its contacts
    return { kind: 'terminal', business, terminal: terminalFrom(view) };
  }

  /**
   * One of the business's terminals as the POS path sees it (from Redis), or undefined: another
   * business's terminal is not told apart from one that does not exist.
   */
  async terminal(business: Business, terminal_id: string): Promise<Terminal | undefined> {
    const terminal = await this.terminalById(terminal_id);
    return terminal === undefined || terminal.business_id !== business.id ? undefined : terminal;
  }

  /** A terminal by id, of any business: only for what has already found whose it is (a processor's booking). */
  terminalById(terminal_id: string): Promise<Terminal | undefined> {
    return this.notReady() ?? this.terminals.get(terminal_id);
  }

  /** Read afresh next time: it was just written to Redis by this process. */
  forgetTerminal(terminal_id: string): void {
    this.terminals.delete(terminal_id);
  }

  business(id: string): Promise<Business | undefined> {
    return this.notReady() ?? this.businesses.get(id);
  }

  /**
   * The business and terminal an ISO 8583 message names: DE32 (acquirer link), DE42 (merchant
   * code; blank for the business's own venues) and DE41 (terminal code).
   */
  isoTerminal(acquirer_id: string, merchant_code: string, terminal_code: string): Promise<IsoTerminal | undefined> {
    return this.notReady() ?? this.iso_terminals.get(JSON.stringify([paddedAcquirer(acquirer_id), merchant_code, terminal_code]));
  }

  /**
   * Several businesses may link one acquirer (a bank acquires for many). The message goes to the
   * earliest link whose business has a terminal with these DE42/DE41 codes: a later link never
   * takes traffic an earlier business's terminal serves, so linking someone's DE32 takes nothing.
   */
  private async readIsoTerminal(route: string): Promise<IsoTerminal | undefined> {
    const [acquirer_id, merchant_code, terminal_code] = JSON.parse(route) as [string, string, string];
    const { redis } = this.stores;
    const business_ids = await readAcquirerBusinesses(redis, acquirer_id);
    if (business_ids.length === 0) return this.absent();
    const terminal_ids = await readTerminalIdsByCode(redis, business_ids, merchant_code, terminal_code);
    const i = terminal_ids.findIndex((id) => id !== null);
    if (i < 0) return this.absent();
    const [view, business] = await Promise.all([readTerminal(redis, terminal_ids[i]!), this.business(business_ids[i]!)]);
    if (view === undefined || business === undefined || view.terminal.business_id !== business.id) return undefined;
    if ((view.merchant?.code ?? '') !== merchant_code || view.terminal.code !== terminal_code) return undefined;
    requireBuilt(business);
    return { business, terminal: terminalFrom(view) };
  }

  /**
   * Links DE32 to this business. Idempotent: linking it again answers the same link. Whether
   * another business linked it too is never told (see readIsoTerminal for who gets its traffic),
   * but for a link past the bound of businesses per acquirer (acquirer_businesses_max), refused.
   */
  async linkAcquirer(business: Business, acquirer_id: string) {
    const { sql, redis } = this.stores;
    const padded = paddedAcquirer(acquirer_id);
    const link = await sql.begin(async (tx) => {
      // One link at a time per acquirer, so that its count never passes the bound.
      await tx`select pg_advisory_xact_lock(hashtext('iso8583_links:' || ${padded}))`;
      const [linked] = await tx<{ id: string; created_at: Date }[]>`
        select id, created_at from iso8583_links where business_id = ${business.id} and acquirer_id = ${padded}`;
      if (linked !== undefined) return linked;
      const [counted] = await tx<{ n: number }[]>`select count(*)::int4 as n from iso8583_links where acquirer_id = ${padded}`;
      if (counted!.n >= acquirer_businesses_max) {
        const message = `this acquirer is linked to ${acquirer_businesses_max} businesses, the most its messages are routed among`;
        throw new PocketgateError('validation_failed', `acquirer_id: ${message}`, [{ path: 'acquirer_id', message }]);
      }
      const [made] = await tx<{ id: string; created_at: Date }[]>`
        insert into iso8583_links (id, acquirer_id, business_id) values (${newId('lnk')}, ${padded}, ${business.id}) returning id, created_at`;
      return made!;
    });
    await syncLink(sql, redis, business.id, padded);
    this.iso_terminals.clear();
    return { id: link!.id, acquirer_id, business_id: business.id, created_at: iso(link!.created_at) };
  }

  async createBusiness(input: { name: string; currency: string; reward_resolution: Resolution }): Promise<Business & { admin_key: string }> {
    const id = newId('bus');
    const admin_key = newApiKey('admin');
    const { sql, redis } = this.stores;
    const [row] = await sql.begin(async (tx) => {
      const rows = await tx<Business[]>`
        insert into businesses (id, name, currency, reward_resolution)
        values (${id}, ${input.name}, ${input.currency}, ${input.reward_resolution})
        returning id, name, currency, reward_resolution, created_at`;
      await tx`insert into api_keys (hash, business_id, kind) values (${hashKey(admin_key)}, ${id}, 'admin')`;
      // Every business starts with an `auto` scheme: offers in it are for every contact.
      await tx`insert into schemes (id, business_id, name, signup) values (${newId('sch')}, ${id}, 'Everyone', 'auto')`;
      return rows;
    });
    // Should this fail (503), a retry makes another business; this one stays inert, its key never shown.
    await syncBusiness(sql, redis, id);
    return { ...row!, created_at: iso(row!.created_at), admin_key };
  }

  async createMerchant(business: Business, input: { name: string; code: string; contribution_fee_percent: number; settle_on: 'award' | 'spend' }) {
    const { sql, redis } = this.stores;
    const id = newId('mer');
    const bp = percentToBasisPoints(input.contribution_fee_percent)!;
    const view = (r: { id: string; created_at: Date }) => ({ id: r.id, name: input.name, code: input.code, contribution_fee_percent: input.contribution_fee_percent, settle_on: input.settle_on, created_at: iso(r.created_at) });
    try {
      const [row] = await sql<{ created_at: Date }[]>`
        insert into merchants (id, business_id, name, code, contribution_fee_bp, settle_on)
        values (${id}, ${business.id}, ${input.name}, ${input.code}, ${bp}, ${input.settle_on}) returning created_at`;
      // Before the merchant's copy in Redis, which a retry takes for done (below): a snapshot that
      // failed is made by the retry.
      await this.merchantMade(business.id);
      await syncMerchant(sql, redis, id);
      return view({ id, created_at: row!.created_at });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // The same call again after a 503 that came between PostgreSQL and Redis: finish that one.
      const [same] = await sql<{ id: string; created_at: Date }[]>`
        select id, created_at from merchants where business_id = ${business.id} and code = ${input.code}
          and name = ${input.name} and contribution_fee_bp = ${bp} and settle_on = ${input.settle_on}`;
      if (same === undefined || (await redis.exists(merchantKey(same.id))) > 0) throw uniqueAs(err, 'validation_failed', `merchant code ${input.code} is already used in this business`);
      await this.merchantMade(business.id);
      await syncMerchant(sql, redis, same.id);
      return view(same);
    }
  }

  async createVenue(business: Business, input: { name: string; merchant_id?: string | undefined; timezone: string }) {
    const { sql, redis } = this.stores;
    if (input.merchant_id !== undefined) {
      const [m] = await sql`select 1 from merchants where id = ${input.merchant_id} and business_id = ${business.id}`;
      if (m === undefined) throw new PocketgateError('not_found', `merchant ${input.merchant_id} not found`);
    }
    const id = newId('ven');
    const [row] = await sql<{ created_at: Date }[]>`
      insert into venues (id, business_id, merchant_id, name, timezone)
      values (${id}, ${business.id}, ${input.merchant_id ?? null}, ${input.name}, ${input.timezone}) returning created_at`;
    // Should this fail (503), a retry makes another venue; this one stays unused.
    await syncVenue(sql, redis, id);
    return { id, name: input.name, merchant_id: input.merchant_id ?? null, timezone: input.timezone, created_at: iso(row!.created_at) };
  }

  async createTerminal(business: Business, input: { venue_id: string; code: string }) {
    const { sql, redis } = this.stores;
    const [venue] = await sql<{ merchant_id: string | null }[]>`
      select merchant_id from venues where id = ${input.venue_id} and business_id = ${business.id}`;
    if (venue === undefined) throw new PocketgateError('not_found', `venue ${input.venue_id} not found`);
    const id = newId('ter');
    const api_key = newApiKey('terminal');
    let created_at: Date;
    try {
      created_at = await sql.begin(async (tx) => {
        const [row] = await tx<{ created_at: Date }[]>`
          insert into terminals (id, business_id, venue_id, merchant_id, code)
          values (${id}, ${business.id}, ${input.venue_id}, ${venue.merchant_id}, ${input.code}) returning created_at`;
        await tx`insert into api_keys (hash, business_id, kind, terminal_id) values (${hashKey(api_key)}, ${business.id}, 'terminal', ${id})`;
        return row!.created_at;
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return this.finishTerminal(business, input, venue.merchant_id, err);
    }
    if ((await syncTerminal(sql, redis, id)) !== hashKey(api_key)) throw codeTaken(input.code);
    this.iso_terminals.clear();
    this.terminals.delete(id);
    return { id, code: input.code, venue_id: input.venue_id, merchant_id: venue.merchant_id, created_at: iso(created_at), api_key };
  }

  /**
   * The same terminal asked for again. If an earlier call made it in PostgreSQL but answered 503
   * before Redis had it, its key was never shown: it gets a new key and this call answers 201 as
   * the first should have. Otherwise the code is taken, as before.
   */
  private async finishTerminal(business: Business, input: { venue_id: string; code: string }, merchant_id: string | null, err: unknown) {
    const { sql, redis } = this.stores;
    const api_key = newApiKey('terminal');
    const taken = () => uniqueAs(err, 'validation_failed', `terminal code ${input.code} is already used at this merchant`);
    const found = await sql.begin(async (tx) => {
      const [t] = await tx<{ id: string; venue_id: string; created_at: Date }[]>`
        select id, venue_id, created_at from terminals
        where business_id = ${business.id} and coalesce(merchant_id, '') = ${merchant_id ?? ''} and code = ${input.code} for update`;
      if (t === undefined || t.venue_id !== input.venue_id || (await redis.exists(terminalKey(t.id))) > 0) return undefined;
      await replaceTerminalKey(tx, business.id, t.id, hashKey(api_key));
      return t;
    });
    if (found === undefined) throw taken();
    if ((await syncTerminal(sql, redis, found.id)) !== hashKey(api_key)) throw codeTaken(input.code);
    this.iso_terminals.clear();
    this.terminals.delete(found.id);
    return { id: found.id, code: input.code, venue_id: input.venue_id, merchant_id, created_at: iso(found.created_at), api_key };
  }

  /**
   * A new key for the terminal; the old one stops working at once on this gateway and within
   * network_cache_ttl_ms on the others. Under the terminal's row lock: the old key revoked in
   * Redis, the new one written to PostgreSQL, then granted in Redis, then the commit. Rotations at
   * once so end as one after the other, each answered its key in turn, the last one's standing
   * (each granted its key after its commit, and the one that found another's there answered 503:
   * a scale-out audit, 2026-12-04). A call that fails takes its key back out of Redis (it was
   * never shown) and copies the terminal again as PostgreSQL holds it: the old key, rolled back,
   * works again (it was left refused, Redis no longer PostgreSQL's copy: a review, 2026-12-04).
   */
  async rotateTerminalKey(business: Business, terminal_id: string): Promise<{ id: string; api_key: string }> {
    const { sql, redis } = this.stores;
    const api_key = newApiKey('terminal');
    const rotating = sql.begin(async (tx) => {
      // Locked first, read after (as syncTerminal): a rotation that waited reads the key the other replaced it with.
      await tx`select 1 from terminals where id = ${terminal_id} and business_id = ${business.id} for update`;
      const [t] = await tx<{ key_hash: string; code: string }[]>`
        select coalesce((select hash from api_keys where terminal_id = t.id limit 1), '') as key_hash, t.code
        from terminals t where t.id = ${terminal_id} and t.business_id = ${business.id} for update of t`;
      if (t === undefined) return undefined;
      refuseProcessorTerminal({ id: terminal_id, code: t.code }, 'id');
      if (t.key_hash !== '') await redis.del(keyEntryKey(t.key_hash));
      await replaceTerminalKey(tx, business.id, terminal_id, hashKey(api_key));
      if ((await syncLockedTerminal(tx, redis, terminal_id, t.key_hash)) !== hashKey(api_key)) throw new Error(`terminal ${terminal_id}: its new key is not the one its own transaction wrote`);
      return t.key_hash;
    });
    const old_hash = await rotating.catch(async (err: unknown) => {
      await redis.del(keyEntryKey(hashKey(api_key))).catch(() => {});
      await syncTerminal(sql, redis, terminal_id).catch(() => {});
      throw err;
    });
    if (old_hash === undefined) throw new PocketgateError('not_found', `terminal ${terminal_id} not found`);
    if (old_hash !== '') {
      this.revoked(old_hash);
      // Every other process forgets it now; if the message is lost, within its cache time.
      await redis.publish(keys_revoked_channel, old_hash).catch(() => {});
    }
    return { id: terminal_id, api_key };
  }
}

async function replaceTerminalKey(tx: Sql | postgres.TransactionSql, business_id: string, terminal_id: string, key_hash: string): Promise<void> {
  await tx`delete from api_keys where terminal_id = ${terminal_id}`;
  await tx`insert into api_keys (hash, business_id, kind, terminal_id) values (${key_hash}, ${business_id}, 'terminal', ${terminal_id})`;
}

export function iso(value: Date | string): string {
  return (typeof value === 'string' ? new Date(value) : value).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A unique violation from PostgreSQL becomes the given refusal; anything else passes through. */
export function uniqueAs(err: unknown, code: 'validation_failed' | 'cim_taken', detail: string, path = 'code'): unknown {
  if (isUniqueViolation(err)) return new PocketgateError(code, detail, code === 'validation_failed' ? [{ path, message: detail }] : undefined);
  return err;
}

export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === '23505';
}
