// Balance inquiries' replies kept under their key (ISO8583.md: "A retransmission with identical
// content gets the original reply; different content under the same key gets 94"). An inquiry
// makes no transaction, so no claim or record holds it: its reply is kept here, apart from the
// financial messages' keys (a 0200 under an 0100's key is not its retransmission, as a reversal's
// key is its own), for an hour: retransmissions come within an acquirer's timeout, and what
// is kept is what the hot path needs. Until 2026-12-06 an inquiry was answered afresh each time:
// another card under the same key got 00 and another card's balances with the same DE38, and a
// retransmission after a purchase the new balance (an ISO 8583 probe).

import { inquiryReplyKey } from './hot/keys.ts';
import { referenceSlot } from './hot/references.ts';
import type { Stores } from './stores.ts';

/** How long a balance inquiry's reply is kept under its key. */
export const inquiry_reply_kept_ms = 3_600_000;

/** The reply to keep, at most this long (DE54 of two balances is 43 characters). */
const reply_length_max = 256;

/** The Redis key of the inquiry `reference` at `terminal_id`: its reference's digest, no PAN or STAN readable. */
export function inquiryKey(stores: InquiryStores, terminal_id: string, reference: string): string {
  const slot = referenceSlot(stores.config, terminal_id, reference, stores.clock.now());
  return inquiryReplyKey(slot.field);
}

/** What an inquiry's reply needs of the stores. */
export type InquiryStores = Pick<Stores, 'redis' | 'config' | 'clock'>;

export type InquiryOutcome = { readonly kind: 'reply'; readonly reply: string } | { readonly kind: 'conflict' };

/**
 * The reply to the inquiry `reference` at `terminal_id` whose content's digest is `content`: the
 * kept one when the same content came before (under the same key), a conflict when other content
 * did, else `answer()`'s, kept. Concurrent copies each answer, one is kept, and every copy gets it.
 */
export async function inquiryReply(stores: InquiryStores, terminal_id: string, reference: string, content: string, answer: () => Promise<string>): Promise<InquiryOutcome> {
  const key = inquiryKey(stores, terminal_id, reference);
  const earlier = await stores.redis.get(key);
  if (earlier !== null) return outcomeOf(earlier, content);
  const reply = await answer();
  if (reply.length > reply_length_max || reply.includes('\n')) throw new Error(`an inquiry's reply to keep is one line of at most ${reply_length_max} characters`);
  const kept = await stores.redis.set(key, `${content}\n${reply}`, { NX: true, PX: inquiry_reply_kept_ms });
  if (kept === 'OK') return { kind: 'reply', reply };
  const first = await stores.redis.get(key);
  // Gone between the two calls (kept an hour: only if it expired meanwhile): this answer stands.
  return first === null ? { kind: 'reply', reply } : outcomeOf(first, content);
}

function outcomeOf(kept: string, content: string): InquiryOutcome {
  const cut = kept.indexOf('\n');
  if (cut < 0 || kept.slice(0, cut) !== content) return { kind: 'conflict' };
  return { kind: 'reply', reply: kept.slice(cut + 1) };
}
