// Payment processors (spec/EVENTS.md, callbacks in): a business's processors, their signing
// secrets and the terminal each books on at a merchant. PostgreSQL holds them; each process
// caches what every callback reads (the processor with its live secrets, its terminals).

import { setTimeout as sleep } from 'node:timers/promises';
import { decryptSecret, encryptSecret, secretBoxKey } from '../core/secret-box.ts';
import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { ListQuery, Page, ProcessorCreate } from '../core/schemas.ts';
import { newSigningSecret, secret_rotation_grace_ms } from '../core/signature.ts';
import { iso, network_cache_ttl_ms, processor_terminal_code_prefix as terminal_code_prefix, type Business, type Network, type Terminal } from './network.ts';
import { syncTerminal, syncVenue } from './network-sync.ts';
import { CachedLookup, TtlCache } from './ttl-cache.ts';
import type { Stores } from './stores.ts';

export type AwardOn = 'clearing' | 'authorization';

export interface ProcessorView {
  readonly id: string;
  readonly name: string;
  readonly award_on: AwardOn;
  readonly created_at: string;
}

/** A processor as a callback needs it: its business and the secrets that may sign for it. */
export interface ProcessorRecord {
  readonly id: string;
  readonly business_id: string;
  readonly award_on: AwardOn;
  /** Decrypted; `expires_ms` null for the current secret. */
  readonly secrets: readonly { readonly secret: string; readonly expires_ms: number | null }[];
}

/**
 * Replaced secrets still verifying, at most: every callback tries each, so a client rotating in a
 * loop must not make verification cost without bound. A rotation past it is refused (429), not
 * made by cutting the oldest short: each keeps verifying for 24 hours (EVENTS.md; a black-box
 * probe saw the first of 11 rotations in a minute refused at once).
 */
export const retired_secrets_max = 10;

/** As the network's: a processor, merchant or terminal made through another gateway is seen here within seconds. */
const cache_options = { ttl_ms: network_cache_ttl_ms, found_max: 100_000, missing_max: 10_000 };
/** A secret rotated on another gateway verifies here after a re-read, at most once a second per processor. */
const refresh_interval_ms = 1_000;


/** A processor's terminals looked through for a purchase whose answer was lost: one a merchant, bounded. */
const processor_terminals_max = 1_000;

export class Processors {
  private readonly records = new CachedLookup<ProcessorRecord>((id) => this.load(id), cache_options);
  /** Processors read again lately (refreshed), each its read and when it reads PostgreSQL: at most once a second each. */
  private readonly reads_afresh = new TtlCache<{ readonly at_ms: number; readonly read: Promise<ProcessorRecord | undefined> }>(cache_options.missing_max, 2 * refresh_interval_ms);
  /**
   * By `<business>\u0000<processor>\u0000<merchant code>` (NUL is in no id, and no JSON string we
   * take). An unknown merchant is not kept: the business may make it the next moment, on any
   * gateway, and its next callback must find it (only signed requests get here).
   */
  private readonly terminals_at = new CachedLookup<Terminal>((key) => {
    const [business_id, processor_id, merchant_code] = key.split('\u0000') as [string, string, string];
    return this.readTerminalAt(business_id, processor_id, merchant_code);
  }, { ...cache_options, keep_missing: false });
  private readonly secret_key: Buffer;

  constructor(
    private readonly stores: Stores,
    /** Where terminals are read and cached, the processors' as the business's own. */
    private readonly network: Network,
  ) {
    this.secret_key = secretKey(stores.config.cim_hmac_key);
  }

  async create(business: Business, input: ProcessorCreate): Promise<ProcessorView & { signing_secret: string }> {
    const id = newId('prc');
    const signing_secret = newSigningSecret();
    const [row] = await this.stores.sql.begin(async (tx) => {
      const rows = await tx<{ created_at: Date }[]>`
        insert into processors (id, business_id, name, award_on) values (${id}, ${business.id}, ${input.name}, ${input.award_on}) returning created_at`;
      await tx`insert into processor_secrets (processor_id, secret) values (${id}, ${encryptSecret(this.secret_key, signing_secret)})`;
      return rows;
    });
    this.records.delete(id); // a callback may have asked for this id before it existed
    return { id, name: input.name, award_on: input.award_on, created_at: iso(row!.created_at), signing_secret };
  }

  /** One of the business's processors, never its secret; another business's: 404, as one that does not exist. */
  async read(business: Business, id: string): Promise<ProcessorView> {
    const [r] = await this.stores.sql<ProcessorRow[]>`
      select id, name, award_on, created_at from processors where id = ${id} and business_id = ${business.id}`;
    if (r === undefined) throw new PocketgateError('not_found', `processor ${id} not found`);
    return processorView(r);
  }

  /**
   * The business's processors, oldest first, a page at a time after `starting_after` (as the
   * network's lists: processor/network-list.ts); never a secret. Paged, not cut: a business may
   * make any number, and a list that stopped at a bound without saying so would hide the rest.
   */
  async list(business: Business, page: ListQuery): Promise<Page<ProcessorView>> {
    const { sql } = this.stores;
    const after = page.starting_after;
    if (after !== undefined) {
      const [found] = await sql`select 1 from processors where id = ${after} and business_id = ${business.id}`;
      if (found === undefined) throw new PocketgateError('validation_failed', `starting_after: no processor ${after} in this business`, [{ path: 'starting_after', message: "must be the id of one of the business's processors" }]);
    }
    // The cursor's time compared in PostgreSQL: microseconds, which a JavaScript Date would cut to milliseconds.
    const rows = await sql<ProcessorRow[]>`
      select id, name, award_on, created_at from processors
      where business_id = ${business.id} ${after === undefined ? sql`` : sql`and (created_at, id) > (select created_at, id from processors where id = ${after})`}
      order by created_at, id limit ${page.limit + 1}`;
    return { object: 'list', data: rows.slice(0, page.limit).map(processorView), has_more: rows.length > page.limit };
  }

  /** A new current secret; the one it replaces verifies for secret_rotation_grace_ms more. */
  async rotate(business: Business, id: string): Promise<{ signing_secret: string }> {
    const signing_secret = newSigningSecret();
    const now_ms = this.stores.clock.now();
    await this.stores.sql.begin(async (tx) => {
      // The processor's row is locked: two rotations at once retire one secret each, in turn.
      const [found] = await tx`select 1 from processors where id = ${id} and business_id = ${business.id} for update`;
      if (found === undefined) throw new PocketgateError('not_found', `processor ${id} not found`);
      await tx`delete from processor_secrets where processor_id = ${id} and expires_at <= ${new Date(now_ms)}`;
      const [counted] = await tx<{ retired: number; free_s: number | null }[]>`
        select count(*)::int as retired, ceil(extract(epoch from min(expires_at)) - ${now_ms / 1000})::int as free_s
        from processor_secrets where processor_id = ${id} and expires_at is not null`;
      if (counted!.retired >= retired_secrets_max) throw rotationsSpent(counted!.free_s);
      await tx`update processor_secrets set expires_at = ${new Date(now_ms + secret_rotation_grace_ms)} where processor_id = ${id} and expires_at is null`;
      await tx`insert into processor_secrets (processor_id, secret) values (${id}, ${encryptSecret(this.secret_key, signing_secret)})`;
    });
    this.records.delete(id);
    return { signing_secret };
  }

  /** The processor `id` names (cached), or undefined. */
  get(id: string): Promise<ProcessorRecord | undefined> {
    return this.records.get(id);
  }

  /**
   * The processor read again: a signature no cached secret verifies may be by a secret rotated on
   * another gateway. At most once a second: a miss within the second after a read waits for the
   * next one, which every miss until it shares. Refused at once instead, a secret rotated just
   * after that read (a bad signature came first) answered its first callbacks 401 for up to a
   * second, which a processor does not retry (EVENTS.md).
   */
  refreshed(id: string): Promise<ProcessorRecord | undefined> {
    const now_ms = Date.now();
    const last = this.reads_afresh.get(id, now_ms);
    if (last !== undefined && last.at_ms >= now_ms) return last.read; // due, not made yet: shared
    const at_ms = last === undefined || last.at_ms <= now_ms - refresh_interval_ms ? now_ms : last.at_ms + refresh_interval_ms;
    // Unref'd: a wait for the next read keeps no process alive.
    const read = sleep(at_ms - now_ms, undefined, { ref: false }).then(() => {
      this.records.delete(id);
      return this.records.get(id);
    });
    this.reads_afresh.set(id, { at_ms, read }, now_ms);
    return read;
  }

  private async load(id: string): Promise<ProcessorRecord | undefined> {
    const rows = await this.stores.sql<{ business_id: string; award_on: AwardOn; secret: string; expires_at: Date | null }[]>`
      select p.business_id, p.award_on, s.secret, s.expires_at
      from processors p join processor_secrets s on s.processor_id = p.id
      where p.id = ${id} order by s.created_at desc limit ${retired_secrets_max + 2}`;
    const first = rows[0];
    if (first === undefined) return undefined;
    const secrets = rows.flatMap((r) => {
      const secret = decryptSecret(this.secret_key, r.secret);
      return secret === undefined ? [] : [{ secret, expires_ms: r.expires_at === null ? null : r.expires_at.getTime() }];
    });
    return { id, business_id: first.business_id, award_on: first.award_on, secrets };
  }

  /** The secrets that verify at `now_ms` (the processor's clock: tests move it). */
  static liveSecrets(record: ProcessorRecord, now_ms: number): string[] {
    return record.secrets.filter((s) => s.expires_ms === null || s.expires_ms > now_ms).map((s) => s.secret);
  }

  /**
   * The processor's own terminal at the business's merchant `merchant_code`, made on first use
   * (in the merchant's first venue, or a venue made for it); undefined for an unknown merchant.
   */
  terminalAt(business: Business, processor_id: string, merchant_code: string): Promise<Terminal | undefined> {
    return this.terminals_at.get(`${business.id}\u0000${processor_id}\u0000${merchant_code}`);
  }

  /** The processor's own terminals (one a merchant it has booked at), from PostgreSQL. */
  async terminalsOf(business: Business, processor_id: string): Promise<Terminal[]> {
    const rows = await this.stores.sql<{ id: string }[]>`
      select id from terminals where business_id = ${business.id} and code = ${terminal_code_prefix + processor_id} order by id limit ${processor_terminals_max}`;
    const terminals = await Promise.all(rows.map((r) => this.terminal(r.id)));
    return terminals.filter((t): t is Terminal => t !== undefined);
  }

  /** A terminal by id (one a processor's purchase was booked on), from the network in Redis: what it books is made by the processor. */
  async terminal(id: string): Promise<Terminal | undefined> {
    const terminal = await this.network.terminalById(id);
    return terminal === undefined ? undefined : { ...terminal, made_by: 'processor' };
  }

  private async readTerminalAt(business_id: string, processor_id: string, merchant_code: string): Promise<Terminal | undefined> {
    const { sql, redis } = this.stores;
    const [merchant] = await sql<{ id: string; name: string }[]>`select id, name from merchants where business_id = ${business_id} and code = ${merchant_code}`;
    if (merchant === undefined) return undefined;
    const { terminal_id, venue_id } = await this.ensureTerminal(business_id, processor_id, merchant);
    // Into the network in Redis, as the admin API does after PostgreSQL; every time it is read
    // here, so that a copy a Redis failure left undone is done now.
    await syncVenue(sql, redis, venue_id);
    await syncTerminal(sql, redis, terminal_id);
    this.network.forgetTerminal(terminal_id);
    return this.terminal(terminal_id);
  }

  /**
   * The id of the processor's terminal at `merchant`, made if missing. Under a lock per merchant,
   * so that callbacks arriving at once at a new merchant make one terminal (and one venue, were
   * two processors to start there together).
   */
  private async ensureTerminal(business_id: string, processor_id: string, merchant: { id: string; name: string }): Promise<{ terminal_id: string; venue_id: string }> {
    const code = terminal_code_prefix + processor_id;
    return this.stores.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext(${`processor terminal ${merchant.id}`}))`;
      const [existing] = await tx<{ id: string; venue_id: string }[]>`select id, venue_id from terminals where business_id = ${business_id} and merchant_id = ${merchant.id} and code = ${code}`;
      if (existing !== undefined) return { terminal_id: existing.id, venue_id: existing.venue_id };
      let [venue] = await tx<{ id: string }[]>`select id from venues where merchant_id = ${merchant.id} order by created_at, id limit 1`;
      if (venue === undefined) {
        venue = { id: newId('ven') };
        await tx`insert into venues (id, business_id, merchant_id, name, timezone) values (${venue.id}, ${business_id}, ${merchant.id}, ${`${merchant.name} (card transactions)`.slice(0, 200)}, 'UTC')`;
      }
      const terminal_id = newId('ter');
      await tx`insert into terminals (id, business_id, venue_id, merchant_id, code) values (${terminal_id}, ${business_id}, ${venue.id}, ${merchant.id}, ${code})`;
      return { terminal_id, venue_id: venue.id };
    });
  }
}

/** Secrets at rest (core/secret-box.ts): a key of their own, derived from CIM_HMAC_KEY. */
function secretKey(cim_hmac_key: string): Buffer {
  return secretBoxKey(cim_hmac_key, 'processor signing secrets');
}

/** The 429 of a rotation past the bound: Retry-After when the oldest replaced secret's 24 hours end (not the usual minute: a probe). */
export function rotationsSpent(free_s: number | null): PocketgateError {
  const err = new PocketgateError('rate_limited', `at most ${retired_secrets_max} rotations within 24 hours: each secret replaced keeps working for 24 hours after its rotation`);
  err.retry_after_s = Math.max(1, free_s ?? 1);
  return err;
}

type ProcessorRow = Omit<ProcessorView, 'created_at'> & { created_at: Date };

/** A processor's row as the API shows it: never its secret. */
function processorView(r: ProcessorRow): ProcessorView {
  return { id: r.id, name: r.name, award_on: r.award_on, created_at: iso(r.created_at) };
}
