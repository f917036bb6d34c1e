// Schemes: who may join a group of offers. `auto` schemes hold every contact (nothing stored);
// members of the others are kept in PostgreSQL and, for the hot path, in the contact's hash.

import { createHash, randomInt } from 'node:crypto';
import { PocketgateError } from '../core/errors.ts';
import { newId, shardOf } from '../core/ids.ts';
import type { SchemeInput } from '../core/schemas.ts';
import { contactKey } from './hot/keys.ts';
import { iso, type Business } from './network.ts';
import type { Stores } from './stores.ts';

export interface Scheme {
  readonly id: string;
  readonly name: string;
  readonly signup: 'auto' | 'self' | 'email_domain' | 'codes';
  readonly email_domains: readonly string[];
  readonly created_at: string;
}

const code_alphabet = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ'; // no 0/O or 1/I to misread
const code_length = 10;
export const codes_per_call_max = 10_000;

function codeHash(code: string): string {
  return createHash('sha256').update(code.trim().toUpperCase()).digest('hex');
}

function newCode(): string {
  let code = '';
  for (let i = 0; i < code_length; i++) code += code_alphabet[randomInt(0, code_alphabet.length)];
  return code;
}

/** Whether `email`'s domain is one of `domains` or a subdomain of one (both compared in lower case). */
function inDomains(email: string, domains: readonly string[]): boolean {
  const domain = email.toLowerCase().slice(email.lastIndexOf('@') + 1);
  return domain !== '' && domains.some((d) => domain === d || domain.endsWith(`.${d}`));
}

export class Schemes {
  constructor(private readonly stores: Stores) {}

  async create(business: Business, input: SchemeInput): Promise<Scheme> {
    const id = newId('sch');
    const domains = (input.email_domains ?? []).map((d) => d.trim().toLowerCase().replace(/^@/, ''));
    if (input.signup === 'email_domain' && domains.length === 0) {
      throw new PocketgateError('validation_failed', 'email_domains: required for email_domain sign-up', [{ path: 'email_domains', message: 'at least one domain' }]);
    }
    // "@" alone leaves no domain: stored, it would admit any email whose domain ends with a dot.
    const empty = domains.indexOf('');
    if (empty >= 0) throw new PocketgateError('validation_failed', `email_domains.${empty}: empty domain`, [{ path: `email_domains.${empty}`, message: 'must name a domain' }]);
    const [row] = await this.stores.sql<{ created_at: Date }[]>`
      insert into schemes (id, business_id, name, signup, email_domains)
      values (${id}, ${business.id}, ${input.name}, ${input.signup}, ${domains}) returning created_at`;
    return { id, name: input.name, signup: input.signup, email_domains: domains, created_at: iso(row!.created_at) };
  }

  async get(business: Business, id: string): Promise<Scheme> {
    const [row] = await this.stores.sql<(Scheme & { created_at: Date })[]>`
      select id, name, signup, email_domains, created_at from schemes where id = ${id} and business_id = ${business.id}`;
    if (row === undefined) throw new PocketgateError('not_found', `scheme ${id} not found`);
    return { ...row, created_at: iso(row.created_at) };
  }

  async list(business: Business): Promise<Scheme[]> {
    const rows = await this.stores.sql<(Scheme & { created_at: Date })[]>`
      select id, name, signup, email_domains, created_at from schemes where business_id = ${business.id} order by created_at, id`;
    return rows.map((r) => ({ ...r, created_at: iso(r.created_at) }));
  }

  /** The business's auto schemes: every contact is a member of each. */
  async autoSchemes(business_id: string): Promise<string[]> {
    const rows = await this.stores.sql<{ id: string }[]>`select id from schemes where business_id = ${business_id} and signup = 'auto'`;
    return rows.map((r) => r.id);
  }

  /** Issue `count` one-time codes (returned once, stored hashed), or store the given ones. */
  async addCodes(business: Business, scheme_id: string, input: { count?: number | undefined; codes?: string[] | undefined }): Promise<{ codes: string[] }> {
    const scheme = await this.get(business, scheme_id);
    if (scheme.signup !== 'codes') throw new PocketgateError('validation_failed', 'this scheme does not use sign-up codes', [{ path: '', message: `scheme sign-up is ${scheme.signup}` }]);
    const codes = input.codes ?? Array.from({ length: input.count ?? 0 }, newCode);
    if (codes.length === 0) return { codes: [] };
    const rows = codes.map((c) => ({ scheme_id, code_hash: codeHash(c) }));
    if (input.codes !== undefined) await this.checkImported(scheme_id, rows.map((r) => r.code_hash));
    await this.stores.sql`insert into scheme_codes ${this.stores.sql(rows)} on conflict do nothing`;
    return { codes };
  }

  /**
   * Imported codes, each given once and none used already: answered 201 as if they were usable,
   * such codes were refused at every sign-up (a probe, 2026-12-07). A code given again while
   * unused stays as it was: an import sent twice is no error.
   */
  private async checkImported(scheme_id: string, hashes: readonly string[]): Promise<void> {
    const refused: [index: number, message: string][] = [];
    const first = new Map<string, number>();
    hashes.forEach((h, i) => {
      const earlier = first.get(h);
      if (earlier === undefined) first.set(h, i);
      else refused.push([i, `the same code as codes.${earlier}`]);
    });
    const used = await this.stores.sql<{ code_hash: string }[]>`select code_hash from scheme_codes where scheme_id = ${scheme_id} and code_hash = any(${[...first.keys()]}::text[]) and used_by is not null`;
    for (const { code_hash } of used) refused.push([first.get(code_hash)!, 'already used']);
    if (refused.length === 0) return;
    const errors = refused.sort((a, b) => a[0] - b[0]).slice(0, 50).map(([i, message]) => ({ path: `codes.${i}`, message }));
    throw new PocketgateError('validation_failed', `${errors[0]!.path}: ${errors[0]!.message}`, errors);
  }

  /**
   * Join a contact to a scheme, by the scheme's rule. Joining twice is not an error (201 again).
   * Returns whether the contact is new to the scheme, and whether its sign-up award is yet to be
   * made: when it joined now, or when the call that joined it was cut (503, a crash) before it
   * reached Redis. The caller makes the award (the offers' `once` cap makes it once however often
   * it is asked), then copies the memberships to the hot path (copyMemberships): a hash that does
   * not list the scheme says the award may never have been made.
   */
  async signup(business: Business, scheme_id: string, contact_id: string, code: string | undefined): Promise<{ joined: boolean; scheme: Scheme; award: boolean }> {
    const scheme = await this.get(business, scheme_id);
    const { sql, redis, config } = this.stores;
    // The contact's emails: its `email` field and its email CIMs (their masked form keeps the
    // domain), for a contact identified by an email CIM has that email as much as one given in `email`.
    const [contact] = await sql<{ emails: string[] }[]>`
      select array_remove(array[c.email], null) || array(select m.masked from contact_cims m where m.contact_id = c.id and m.type = 'email') as emails
      from contacts c where c.id = ${contact_id} and c.business_id = ${business.id}`;
    if (contact === undefined) throw new PocketgateError('not_found', `contact ${contact_id} not found`);
    if (scheme.signup === 'auto') return { joined: false, scheme, award: false };
    if (scheme.signup === 'email_domain' && !contact.emails.some((email) => inDomains(email, scheme.email_domains))) {
      throw new PocketgateError('signup_not_allowed', 'the contact’s email is not in one of the scheme’s domains');
    }
    const joined = await sql.begin(async (tx) => {
      // The membership first, without raising on a conflict: a unique violation aborts the
      // transaction (postgres.js then rejects it whatever is caught), and the same contact joining
      // at once from two requests waits here for the other's commit, then finds itself a member.
      const [inserted] = await tx`insert into scheme_members (scheme_id, contact_id) values (${scheme_id}, ${contact_id})
        on conflict do nothing returning 1`;
      if (inserted === undefined) return false;
      if (scheme.signup === 'codes') {
        if (code === undefined) throw new PocketgateError('signup_not_allowed', 'this scheme needs a sign-up code');
        const [used] = await tx`update scheme_codes set used_by = ${contact_id}, used_at = now()
          where scheme_id = ${scheme_id} and code_hash = ${codeHash(code)} and used_by is null returning 1`;
        if (used === undefined) throw new PocketgateError('signup_not_allowed', 'unknown or already used sign-up code');
      }
      return true;
    });
    if (joined) return { joined, scheme, award: true };
    const listed = await redis.hGet(contactKey(shardOf(contact_id, config.shard_count), contact_id), 's');
    return { joined, scheme, award: !(listed ? (JSON.parse(listed) as string[]) : []).includes(scheme_id) };
  }

  /**
   * The hot path reads memberships from the contact's hash. Read and written under the
   * contact's lock: sign-ups to two schemes at once (on two gateways) would otherwise each read
   * before the other's commit, and the later write drop the other's scheme.
   */
  async copyMemberships(contact_id: string): Promise<void> {
    const { sql, redis, config } = this.stores;
    await sql.begin(async (tx) => {
      await tx`select 1 from contacts where id = ${contact_id} for update`;
      const rows = await tx<{ scheme_id: string }[]>`select scheme_id from scheme_members where contact_id = ${contact_id} order by scheme_id`;
      await redis.hSet(contactKey(shardOf(contact_id, config.shard_count), contact_id), 's', JSON.stringify(rows.map((r) => r.scheme_id)));
    });
  }
}
