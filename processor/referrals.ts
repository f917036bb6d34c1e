// Referral awards, exactly once, and their undoing. The referrer usually lives on another shard
// (another Redis Cluster slot) than the referred contact, so its award cannot be in the purchase's
// script. The purchase's script instead keeps a referral intent in its shard's outbox
// (hot/keys.ts referralsKey), atomically with the first purchase; the gateway then makes the award
// (a transaction of its own on the referrer's shard, once per reference
// `referral:<referred id>:<purchase id>`) and takes the intent out. A reversal that leaves the
// referred contact no purchase keeps an undo intent the same way (hot/reversal.lua undoReferral),
// which reverses that award (processor/referral-undo.ts). An intent a crashed process left behind
// is made by the sweeper here. Making one twice is harmless: the award script finds the
// reference's record and replays, and the budget it reserved again goes back (Awards.run); an
// undo finds its own reversal's record and replays.

import { PocketgateError } from '../core/errors.ts';
import type { Award, Resolution } from '../core/offer.ts';
import type { Awards } from './awards.ts';
import type { ReferralUndos } from './referral-undo.ts';
import { referralsKey } from './hot/keys.ts';
import type { Network } from './network.ts';
import type { FailureReport } from './purchase.ts';
import type { Stores } from './stores.ts';
import { repeatEvery } from './repeat.ts';

export interface ReferralIntent {
  readonly business_id: string;
  readonly referrer_id: string;
  readonly referred_id: string;
  /** The referred contact's purchase that referred; absent in intents kept before 2026-12-05. */
  readonly purchase_id?: string;
  /** The referrer's awards as the purchase evaluated them. */
  readonly awards: readonly Award[];
  /**
   * When not 'all': `awards` are the candidates of the referrer's resolution, and the award script
   * makes of each group the best one the referrer's caps admit (as a purchase's script does).
   * Absent (or 'all'): each award stands alone.
   */
  readonly resolution?: Resolution;
}

/** The undoing of a referral: its award reversed (processor/referral-undo.ts). */
export interface ReferralUndo {
  readonly business_id: string;
  readonly referrer_id: string;
  readonly referred_id: string;
  /** The purchase that referred (its award's reference names it). */
  readonly purchase_id: string;
}

/** The reference of the referrer's award of `referred_id`'s purchase `purchase_id` (unnamed in intents kept before 2026-12-05). */
export function referralReference(referred_id: string, purchase_id: string | undefined): string {
  return purchase_id === undefined ? `referral:${referred_id}` : `referral:${referred_id}:${purchase_id}`;
}

/** The reference of the reversal of that award. */
export function referralUndoReference(undo: ReferralUndo): string {
  return `referral-undo:${undo.referred_id}:${undo.purchase_id}`;
}

/** The award reference whose undoing `reference` is (referralUndoReference's); undefined for any other reference. */
export function undoneReferralReference(reference: string): string | undefined {
  const undone = /^referral-undo:([^:]+):([^:]+)$/.exec(reference);
  return undone === null ? undefined : referralReference(undone[1]!, undone[2]!);
}

/**
 * An intent as the outbox keeps it: JSON, its member (unique: a purchase refers once). The same
 * bytes take it out again.
 */
export function encodeIntent(i: ReferralIntent): string {
  return JSON.stringify({ b: i.business_id, r: i.referrer_id, c: i.referred_id, ...(i.purchase_id === undefined ? {} : { p: i.purchase_id }), a: i.awards, ...(i.resolution === undefined || i.resolution === 'all' ? {} : { s: i.resolution }) });
}

/** An undo as the outbox keeps it: the bytes hot/reversal.lua undoReferral writes. */
export function encodeUndo(u: ReferralUndo): string {
  return JSON.stringify({ u: 1, b: u.business_id, r: u.referrer_id, c: u.referred_id, p: u.purchase_id });
}

/** An outbox member read back; undefined for one that is neither (never written so). */
export function decodeIntent(member: string): { readonly award: ReferralIntent } | { readonly undo: ReferralUndo } | undefined {
  try {
    const v = JSON.parse(member) as { u?: unknown; b?: unknown; r?: unknown; c?: unknown; p?: unknown; a?: unknown; s?: unknown };
    if (typeof v.b !== 'string' || typeof v.r !== 'string' || typeof v.c !== 'string') return undefined;
    if (v.u === 1) return typeof v.p === 'string' ? { undo: { business_id: v.b, referrer_id: v.r, referred_id: v.c, purchase_id: v.p } } : undefined;
    if (!Array.isArray(v.a) || (v.p !== undefined && typeof v.p !== 'string')) return undefined;
    const resolution = v.s === 'best' || v.s === 'best_per_scheme' ? v.s : undefined;
    return { award: { business_id: v.b, referrer_id: v.r, referred_id: v.c, ...(v.p === undefined ? {} : { purchase_id: v.p }), awards: v.a as Award[], ...(resolution === undefined ? {} : { resolution }) } };
  } catch {
    return undefined;
  }
}

/** An intent older than this is left by a process that crashed (the gateway makes it in ms). */
export const intent_age_ms = 5_000;
/** Intents made per shard per sweep: a sweep is bounded, the next one goes on. */
const intents_per_shard_max = 100;
/** Shards read at once (one round trip each, pipelined). */
const shards_at_once = 256;

export class ReferralSweeper {
  constructor(
    private readonly stores: Stores,
    private readonly network: Network,
    private readonly awards: Awards,
    private readonly undos: ReferralUndos,
    /** Where an intent given up on goes (the gateway logs it at error level). */
    private readonly report: FailureReport,
  ) {}

  /** Make the intents left older than intent_age_ms on every shard; returns how many were made. */
  async sweep(): Promise<number> {
    const { redis, config, clock } = this.stores;
    const now_ms = clock.now();
    let done = 0;
    for (let first = 0; first < config.shard_count; first += shards_at_once) {
      const shards = Array.from({ length: Math.min(shards_at_once, config.shard_count - first) }, (_, i) => first + i);
      const found = await Promise.all(
        shards.map((shard) => redis.zRangeWithScores(referralsKey(shard), '-inf', now_ms - intent_age_ms, { BY: 'SCORE', LIMIT: { offset: 0, count: intents_per_shard_max } })),
      );
      for (const [i, left] of found.entries()) {
        for (const { value, score } of left) if (await this.make(shards[i]!, value, score, now_ms)) done++;
      }
    }
    return done;
  }

  /**
   * One intent left behind. Given up on (reported, taken out) only when it can never be made: not
   * an intent, its business gone, its referrer not the business's contact, or older than half the
   * hot window, past which the award's reference might be forgotten and a late award made twice.
   * Anything else (Redis, PostgreSQL, a full journal) leaves it for the next sweep.
   */
  private async make(shard: number, member: string, at_ms: number, now_ms: number): Promise<boolean> {
    const decoded = decodeIntent(member);
    const intent = decoded === undefined ? undefined : 'award' in decoded ? decoded.award : decoded.undo;
    const what = decoded !== undefined && 'undo' in decoded ? 'referral undo' : 'referral award';
    const context = { referred_id: intent?.referred_id, referrer_id: intent?.referrer_id, business_id: intent?.business_id, intent_at: new Date(at_ms).toISOString() };
    const give_up = async (message: string, err?: unknown) => {
      this.report(err ?? new Error(message), context, `${what} given up on: ${message}`);
      await this.stores.redis.zRem(referralsKey(shard), member);
      return false;
    };
    if (decoded === undefined || intent === undefined) return give_up('not a referral intent');
    if (now_ms - at_ms > (this.stores.config.reply_ttl_seconds * 1000) / 2) return give_up('not made within half the hot window');
    try {
      const business = await this.network.business(intent.business_id);
      if (business === undefined) return give_up('its business is gone');
      if ('award' in decoded) await this.awards.referral(business, decoded.award, member, now_ms);
      else await this.undos.undo(business, decoded.undo, member, now_ms);
      return true;
    } catch (err) {
      if (err instanceof PocketgateError && err.code === 'contact_not_found') return give_up('the referrer is not a contact of the business', err);
      this.report(err, context, `${what} left behind by a crash not made now; the next sweep tries again`);
      return false;
    }
  }

  /** Sweep every `interval_ms` until stopped; errors are reported and the next sweep goes on. */
  start(interval_ms: number, onError: (err: unknown) => void): () => void {
    return repeatEvery(interval_ms, () => this.sweep(), onError);
  }
}
