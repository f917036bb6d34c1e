// The business network: businesses, merchants, venues, terminals and their API keys. PostgreSQL
// holds it; each process caches what the hot path reads (keys, terminals, businesses) because
// it changes rarely and is read on every request.

import { createHash } from 'node:crypto';
import { newApiKey, newId } from '../core/ids.ts';
import { PocketgateError } from '../core/errors.ts';
import { percentToBasisPoints } from '../core/money.ts';
import type { Resolution } from '../core/offer.ts';
import type { Stores } from './stores.ts';

export interface Business {
  readonly id: string;
  readonly name: string;
  readonly currency: string;
  readonly reward_resolution: Resolution;
  readonly created_at: string;
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
}

export type Principal =
  | { readonly kind: 'platform' }
  | { readonly kind: 'admin'; readonly business: Business }
  | { readonly kind: 'terminal'; readonly business: Business; readonly terminal: Terminal };

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

const cache_ttl_ms = 60_000;
const unknown_key_ttl_ms = 5_000; // short: a key created on another gateway must work soon
const cache_entries_max = 100_000;

interface CacheEntry {
  readonly principal: Principal | undefined;
  readonly expires_ms: number;
}

export class Network {
  private readonly keys = new Map<string, CacheEntry>();
  private readonly businesses = new Map<string, Business>();
  private readonly iso_terminals = new Map<string, { value: { business: Business; terminal: Terminal } | undefined; expires_ms: number }>();

  constructor(private readonly stores: Stores) {}

  /** The principal a key names, or undefined. Platform keys are compared by hash too. */
  async authenticate(key: string, platform_key_hash: string | undefined): Promise<Principal | undefined> {
    const hash = hashKey(key);
    if (platform_key_hash !== undefined && hash === platform_key_hash) return { kind: 'platform' };
    const now = Date.now();
    const cached = this.keys.get(hash);
    if (cached !== undefined && cached.expires_ms > now) return cached.principal;
    const principal = await this.loadPrincipal(hash);
    if (this.keys.size >= cache_entries_max) this.keys.clear(); // bounded; refills on demand
    this.keys.set(hash, { principal, expires_ms: now + (principal === undefined ? unknown_key_ttl_ms : cache_ttl_ms) });
    return principal;
  }

  private async loadPrincipal(hash: string): Promise<Principal | undefined> {
    const { sql } = this.stores;
    const [row] = await sql<{ business_id: string; kind: 'admin' | 'terminal'; terminal_id: string | null }[]>`
      select business_id, kind, terminal_id from api_keys where hash = ${hash}`;
    if (row === undefined) return undefined;
    const business = await this.business(row.business_id);
    if (business === undefined) return undefined;
    if (row.kind === 'admin') return { kind: 'admin', business };
    const [t] = await sql<Terminal[]>`
      select t.id, t.code, t.business_id, t.venue_id, t.merchant_id, v.timezone,
             coalesce(m.code, '') as merchant_code, coalesce(m.contribution_fee_bp, 0) as fee_bp, coalesce(m.settle_on, 'award') as settle_on
      from terminals t join venues v on v.id = t.venue_id left join merchants m on m.id = t.merchant_id
      where t.id = ${row.terminal_id}`;
    return t === undefined ? undefined : { kind: 'terminal', business, terminal: { ...t } };
  }

  async business(id: string): Promise<Business | undefined> {
    const cached = this.businesses.get(id);
    if (cached !== undefined) return cached;
    const [row] = await this.stores.sql<Business[]>`
      select id, name, currency, reward_resolution, created_at from businesses where id = ${id}`;
    if (row === undefined) return undefined;
    const business = { ...row, created_at: iso(row.created_at) };
    if (this.businesses.size >= cache_entries_max) this.businesses.clear();
    this.businesses.set(id, business);
    return business;
  }

  /** Bind an acquirer's DE32 to this business. */
  async linkAcquirer(business: Business, acquirer_id: string) {
    const id = newId('lnk');
    const padded = acquirer_id.padStart(11, '0');
    try {
      const [row] = await this.stores.sql<{ created_at: Date }[]>`
        insert into iso8583_links (id, acquirer_id, business_id) values (${id}, ${padded}, ${business.id}) returning created_at`;
      this.iso_terminals.clear();
      return { id, acquirer_id, business_id: business.id, created_at: iso(row!.created_at) };
    } catch (err) {
      throw uniqueAs(err, 'validation_failed', `acquirer ${acquirer_id} is already linked`, 'acquirer_id');
    }
  }

  /**
   * The business and terminal an ISO 8583 message names: DE32 (acquirer link), DE42 (merchant
   * code; blank for the business's own venues) and DE41 (terminal code). Cached like keys.
   */
  async isoTerminal(acquirer_id: string, merchant_code: string, terminal_code: string): Promise<{ business: Business; terminal: Terminal } | undefined> {
    const cache_key = `${acquirer_id.padStart(11, '0')}\u0000${merchant_code}\u0000${terminal_code}`;
    const now = Date.now();
    const cached = this.iso_terminals.get(cache_key);
    if (cached !== undefined && cached.expires_ms > now) return cached.value;
    const [row] = await this.stores.sql<(Terminal & { link_business: string })[]>`
      select t.id, t.code, t.business_id, t.venue_id, t.merchant_id, v.timezone,
             coalesce(m.code, '') as merchant_code, coalesce(m.contribution_fee_bp, 0) as fee_bp, coalesce(m.settle_on, 'award') as settle_on
      from iso8583_links l
      join terminals t on t.business_id = l.business_id and t.code = ${terminal_code}
      join venues v on v.id = t.venue_id
      left join merchants m on m.id = t.merchant_id
      where l.acquirer_id = ${acquirer_id.padStart(11, '0')} and coalesce(m.code, '') = ${merchant_code}`;
    const business = row === undefined ? undefined : await this.business(row.business_id);
    const value = row === undefined || business === undefined ? undefined : { business, terminal: { ...row } as Terminal };
    if (this.iso_terminals.size >= cache_entries_max) this.iso_terminals.clear();
    this.iso_terminals.set(cache_key, { value, expires_ms: now + (value === undefined ? unknown_key_ttl_ms : cache_ttl_ms) });
    return value;
  }

  async createBusiness(input: { name: string; currency: string; reward_resolution: Resolution }): Promise<Business & { admin_key: string }> {
    const id = newId('bus');
    const admin_key = newApiKey('admin');
    const { sql } = this.stores;
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
    return { ...row!, created_at: iso(row!.created_at), admin_key };
  }

  async createMerchant(business: Business, input: { name: string; code: string; contribution_fee_percent: number; settle_on: 'award' | 'spend' }) {
    const id = newId('mer');
    const bp = percentToBasisPoints(input.contribution_fee_percent)!;
    try {
      const [row] = await this.stores.sql<{ created_at: Date }[]>`
        insert into merchants (id, business_id, name, code, contribution_fee_bp, settle_on)
        values (${id}, ${business.id}, ${input.name}, ${input.code}, ${bp}, ${input.settle_on}) returning created_at`;
      return { id, name: input.name, code: input.code, contribution_fee_percent: input.contribution_fee_percent, settle_on: input.settle_on, created_at: iso(row!.created_at) };
    } catch (err) {
      throw uniqueAs(err, 'validation_failed', `merchant code ${input.code} is already used in this business`);
    }
  }

  async createVenue(business: Business, input: { name: string; merchant_id?: string | undefined; timezone: string }) {
    const { sql } = this.stores;
    if (input.merchant_id !== undefined) {
      const [m] = await sql`select 1 from merchants where id = ${input.merchant_id} and business_id = ${business.id}`;
      if (m === undefined) throw new PocketgateError('not_found', `merchant ${input.merchant_id} not found`);
    }
    const id = newId('ven');
    const [row] = await sql<{ created_at: Date }[]>`
      insert into venues (id, business_id, merchant_id, name, timezone)
      values (${id}, ${business.id}, ${input.merchant_id ?? null}, ${input.name}, ${input.timezone}) returning created_at`;
    return { id, name: input.name, merchant_id: input.merchant_id ?? null, timezone: input.timezone, created_at: iso(row!.created_at) };
  }

  async createTerminal(business: Business, input: { venue_id: string; code: string }) {
    const { sql } = this.stores;
    const [venue] = await sql<{ merchant_id: string | null }[]>`
      select merchant_id from venues where id = ${input.venue_id} and business_id = ${business.id}`;
    if (venue === undefined) throw new PocketgateError('not_found', `venue ${input.venue_id} not found`);
    const id = newId('ter');
    const api_key = newApiKey('terminal');
    try {
      const [row] = await sql.begin(async (tx) => {
        const rows = await tx<{ created_at: Date }[]>`
          insert into terminals (id, business_id, venue_id, merchant_id, code)
          values (${id}, ${business.id}, ${input.venue_id}, ${venue.merchant_id}, ${input.code}) returning created_at`;
        await tx`insert into api_keys (hash, business_id, kind, terminal_id) values (${hashKey(api_key)}, ${business.id}, 'terminal', ${id})`;
        return rows;
      });
      return { id, code: input.code, venue_id: input.venue_id, merchant_id: venue.merchant_id, created_at: iso(row!.created_at), api_key };
    } catch (err) {
      throw uniqueAs(err, 'validation_failed', `terminal code ${input.code} is already used at this merchant`);
    }
  }
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
