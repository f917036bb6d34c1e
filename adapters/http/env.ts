import type { Principal } from '../../processor/network.ts';
import type { AdminReplies } from '../../processor/admin-replies.ts';
import { PocketgateError } from '../../core/errors.ts';
import type { Business } from '../../processor/network.ts';
import type { Context } from 'hono';

/** What the gateway's auth middleware leaves on every /v1 request. */
export interface HttpEnv {
  /**
   * `ledger_down`: PostgreSQL known down, left for a route that can answer without it.
   * `admin_replies`: where admin and platform writes keep their answers under an Idempotency-Key
   * (idempotency-key.ts); left for those keys only, so a terminal's call never reads it.
   */
  Variables: { principal: Principal; ledger_down?: boolean; admin_replies?: AdminReplies };
}

/** The platform key only (it creates businesses): nothing to hand on but the check. */
export function platformOf(c: Context<HttpEnv>): undefined {
  if (c.get('principal').kind !== 'platform') throw new PocketgateError('forbidden', 'this call needs the platform key');
  return undefined;
}

export function terminalOf(c: Context<HttpEnv>): Extract<Principal, { kind: 'terminal' }> {
  const p = c.get('principal');
  if (p.kind !== 'terminal') throw new PocketgateError('forbidden', 'this call needs a terminal key');
  return p;
}

export function adminOf(c: Context<HttpEnv>): Business {
  const p = c.get('principal');
  if (p.kind !== 'admin') throw new PocketgateError('forbidden', 'this call needs a business admin key');
  return p.business;
}

/** Terminal or admin key: reads a business's own data. */
export function businessOf(c: Context<HttpEnv>): Business {
  const p = c.get('principal');
  if (p.kind === 'platform') throw new PocketgateError('forbidden', 'this call needs a business key');
  return p.business;
}

/** Our ids are `<kind>_<base32>`. */
export const id_pattern = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Ids in paths are bounded like any input: a 10 MB id is not looked up, nor one with characters
 * no id has (a NUL would make PostgreSQL fail the query, a 500 instead of this 404).
 */
export function idParam(c: Context<HttpEnv>, name = 'id'): string {
  const id = c.req.param(name);
  if (id === undefined || !id_pattern.test(id)) throw new PocketgateError('not_found', 'not found');
  return id;
}

const bearer_prefix = 'bearer ';
/** Longer than any key we issue: a longer header is refused before it is hashed. */
export const key_length_max = 256;

/** The key of an `Authorization: Bearer <key>` header, or undefined when there is none or it is malformed. */
export function bearerKey(header: string | undefined): string | undefined {
  // The scheme name is case-insensitive (RFC 9110 §11.1): `bearer <key>` is the same header.
  if (header === undefined || header.slice(0, bearer_prefix.length).toLowerCase() !== bearer_prefix || header.length > bearer_prefix.length + key_length_max) return undefined;
  return header.slice(bearer_prefix.length).trim();
}
