// Admin and platform calls made once under a client's `Idempotency-Key` header (API.md is silent;
// Stripe's and Adyen's APIs take one on every write): a retry after a lost answer gets the first
// answer again, with Idempotent-Replayed, instead of making a second business, merchant, offer or
// contact. POS calls need none: their `reference` is their key (API.md, Idempotency).
//
// In Redis, for kept_ms: while the first call runs, a mark (a copy meanwhile is 409: it cannot
// know the outcome yet); then its answer, when it succeeded (2xx). A refused or failed call keeps
// nothing, so the same request may be sent again once corrected or once the store is back. An
// answer holding a key or a signing secret (a business's admin key, a terminal's key, a secret),
// a scheme's join codes or a spend OTP is not kept, since API.md has keys "returned once, at
// creation, and stored only as hashes" (and codes are kept hashed, OTPs for minutes): its
// copy is 409, naming what was made. Best effort by design: a process killed between the call and
// its answer's keeping leaves the mark, which lapses after running_ms; the call may then be made
// again. Bounded: an answer over answer_bytes_max is not kept either (409 naming what was made).

import { createHash } from 'node:crypto';
import { PocketgateError } from '../core/errors.ts';
import { adminReplyKey } from './hot/keys.ts';
import type { RedisClient } from './stores.ts';

/** How long an answer is kept (Stripe keeps them 24 hours). */
export const kept_ms = 24 * 3_600_000;
/** How long a call's mark stands while it runs: longer than any admin call's bounds. */
const running_ms = 60_000;
/** Answers larger than this are not kept (an offer's SKU lists may make one large). */
const answer_bytes_max = 64 * 1024;
/**
 * Top-level fields of an answer that hold a key or secret shown once, or a credential kept only
 * hashed or briefly: a scheme's join codes (stored hashed) and a spend OTP (it pays; kept for its
 * minutes, not for 24 hours in a copy of its answer).
 */
const shown_once_fields: readonly string[] = ['admin_key', 'api_key', 'signing_secret', 'codes', 'otp'];

/** Printable ASCII, 1 to 255 characters, as Stripe takes. */
export const idempotency_key_pattern = /^[\x21-\x7e]{1,255}$/;

interface Kept {
  /** The request's hash: its method, path and body. */
  readonly h: string;
  /** 'running' while the first call runs; 'answered' with its answer; 'withheld' when its answer is not kept. */
  readonly state: 'running' | 'answered' | 'withheld';
  readonly status?: number;
  readonly body?: string;
  /** What a withheld answer made. */
  readonly id?: string;
}

export type Begun = { readonly run: true } | { readonly run: false; readonly status: number; readonly body: string };

/** The request's hash: the same method, path and body bytes make the same request. */
export function writeHash(method: string, path: string, body: Uint8Array): string {
  return createHash('sha256').update(`${method} ${path}\n`).update(body).digest('base64url');
}

export class AdminReplies {
  /** `onKeepFailed` hears of an answer that could not be kept, or a mark not taken off: the call's answer goes out all the same (its mark lapses after running_ms). */
  constructor(
    private readonly redis: RedisClient,
    private readonly onKeepFailed: (err: unknown) => void,
  ) {}

  /** Whether to run the call (its mark set), or the answer its copy gets. */
  async begin(scope: string, idempotency_key: string, hash: string): Promise<Begun> {
    const key = adminReplyKey(scope, keyHash(idempotency_key));
    const running: Kept = { h: hash, state: 'running' };
    for (let tries = 0; tries < 3; tries++) {
      if ((await this.redis.set(key, JSON.stringify(running), { NX: true, PX: running_ms })) !== null) return { run: true };
      const text = await this.redis.get(key);
      if (text !== null) return { run: false, ...copyAnswer(JSON.parse(text) as Kept, hash) };
      // Lapsed between the two: try the mark again.
    }
    throw new PocketgateError('unavailable', 'the Idempotency-Key could not be claimed; try again');
  }

  /** The call ended: its answer kept when it succeeded, its mark taken off otherwise. Never throws (onKeepFailed). */
  async end(scope: string, idempotency_key: string, hash: string, status: number, body: string): Promise<void> {
    const key = adminReplyKey(scope, keyHash(idempotency_key));
    try {
      if (status < 200 || status >= 300) await this.redis.del(key);
      else await this.redis.set(key, JSON.stringify(keptOf(hash, status, body)), { PX: kept_ms });
    } catch (err) {
      this.onKeepFailed(err);
    }
  }
}

function keyHash(idempotency_key: string): string {
  return createHash('sha256').update(idempotency_key).digest('base64url');
}

function keptOf(hash: string, status: number, body: string): Kept {
  let answer: unknown;
  try {
    answer = body === '' ? undefined : JSON.parse(body);
  } catch {
    answer = undefined;
  }
  const fields = typeof answer === 'object' && answer !== null ? (answer as Record<string, unknown>) : {};
  const id = typeof fields.id === 'string' ? fields.id : undefined;
  if (Buffer.byteLength(body) > answer_bytes_max || shown_once_fields.some((f) => f in fields)) return { h: hash, state: 'withheld', status, ...(id === undefined ? {} : { id }) };
  return { h: hash, state: 'answered', status, body };
}

/** The answer a copy gets, or its refusal (409). */
function copyAnswer(kept: Kept, hash: string): { status: number; body: string } {
  if (kept.h !== hash) throw new PocketgateError('idempotency_conflict', 'this Idempotency-Key was used with another request (method, path or body): use a new key for a new request');
  if (kept.state === 'running') throw new PocketgateError('idempotency_conflict', 'a request with this Idempotency-Key is still being processed; retry once it has been answered');
  if (kept.state === 'withheld') {
    const made = kept.id === undefined ? 'it succeeded' : `it made ${kept.id}`;
    throw new PocketgateError('idempotency_conflict', `this Idempotency-Key's request was already made (${made}); its answer held a key or secret shown only once, or was too large to keep, so it is not answered again`);
  }
  return { status: kept.status!, body: kept.body! };
}
