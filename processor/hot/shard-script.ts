// What every shard script takes and may answer (lib.lua): the contact's keys, the request's
// record and pending pointer, the shard's journal; the reference's record field, business,
// transaction id, time, the hot window's ttls, the journal's bound, and the reply and journal
// entry templates. Each script's module (purchase.ts beside purchase.lua, …) adds its own keys
// and arguments and names its answer when it commits.

import { error_status, type ErrorCode } from '../../core/errors.ts';
import { answerOf, hotScript, textAt, unexpected } from './define.ts';
import { contactKey, journalKey, lotOrderKey, lotsKey, transactionKey } from './keys.ts';
import { arg, layout, type Args, type Keys, type KeyValues, type Layout, type ValuesOf } from './layout.ts';
import { reference_periods, type ReferenceSlot } from './references.ts';
import type { Template, WalletHole } from './template.ts';

/** A backstop only: the ledger writer deletes the pending entry as soon as it is recorded. */
export const pending_entry_ttl_seconds = 86_400;

export const shard_layout = layout(
  { contact: 1, lots: 1, lot_order: 1, records: reference_periods, pending: 1, journal: 1 },
  {
    record_field: arg.bytes(),
    business_id: arg.str(),
    id: arg.str(),
    now_ms: arg.int(),
    record_ttl_ms: arg.int(),
    journal_length_max: arg.int(),
    pending_ttl_s: arg.int(),
    reply: arg.str(),
    entry: arg.str(),
  },
);

/** What every shard script call names: `H` the holes its script fills in the templates. */
export interface ShardCall<H extends string> {
  readonly business_id: string;
  /** Where the request's reference is remembered (the one its claim used). */
  readonly slot: ReferenceSlot;
  readonly contact_id: string;
  readonly shard: number;
  readonly id: string;
  readonly now_ms: number;
  /** Refuse (unavailable) when the shard's journal holds this many undrained entries. */
  readonly journal_length_max: number;
  readonly reply: Template<H | WalletHole>;
  readonly entry: Template<H | WalletHole>;
}

/** Committed: the reply sent, and the journal entry's id. */
export interface Committed {
  readonly outcome: 'ok';
  readonly reply: string;
  readonly journal_id: string;
}

/** Nothing committed by this call. */
export type Uncommitted =
  /** A repeated request: its reply and its entry's id, from the journal. */
  | { readonly outcome: 'replay'; readonly reply: string; readonly journal_id: string }
  /** A repeated request the ledger has recorded: the transaction whose reply the ledger keeps. */
  | { readonly outcome: 'recorded'; readonly id: string }
  /** `replayed`: the same request was refused so before (lib.lua refuse), and is again. */
  | { readonly outcome: 'refused'; readonly code: ErrorCode; readonly replayed?: true }
  /** The contact is not the business's; the journal is full; a call without its templates (a bug). */
  | { readonly outcome: 'contact_not_found' | 'unavailable' | 'no_template' }
  /** Nothing to do (award and expire only: every award refused, no lot expired). */
  | { readonly outcome: 'empty' }
  /** The call was made from a reading the script found outdated (a reversal: its original arrived since): read again. */
  | { readonly outcome: 'stale' };

export type ShardOutcome<C extends Committed> = C | Uncommitted;

/** The answer of a shard script: `committed` names what it answers beyond commit's own. */
export function shardOutcome<C extends Committed>(raw: unknown, committed: (answer: readonly unknown[]) => C, may_be_empty = false): ShardOutcome<C> {
  const answer = answerOf(raw);
  switch (answer[0]) {
    case 'ok':
      return committed(answer);
    case 'replay':
      return { outcome: 'replay', reply: textAt(answer, 1), journal_id: textAt(answer, 2) };
    case 'recorded':
      return { outcome: 'recorded', id: textAt(answer, 1) };
    case 'refused': {
      const code = textAt(answer, 1);
      if (!Object.hasOwn(error_status, code)) throw unexpected(raw);
      return answer[2] === 'replayed' ? { outcome: 'refused', code: code as ErrorCode, replayed: true } : { outcome: 'refused', code: code as ErrorCode };
    }
    case 'contact_not_found':
    case 'unavailable':
    case 'no_template':
      return { outcome: answer[0] };
    case 'stale':
      return { outcome: 'stale' };
    case 'empty':
      if (may_be_empty) return { outcome: 'empty' };
  }
  throw unexpected(raw);
}

/** commit's answer (lib.lua): {'ok', reply, journal entry id}. */
export function committedOf(answer: readonly unknown[]): Committed {
  return { outcome: 'ok', reply: textAt(answer, 1), journal_id: textAt(answer, 2) };
}

export interface ShardScript<Call, K extends Keys, A extends Args, C extends Committed> {
  /** After lib.lua. */
  readonly files: readonly string[];
  /** The script's own keys and arguments (after every shard script's). */
  readonly layout: Layout<K, A>;
  /** The script's own keys, named from the call (every one on the call's shard). */
  readonly keys: (call: Call) => KeyValues<K>;
  readonly committed: (answer: readonly unknown[]) => C;
  readonly may_be_empty?: boolean;
}

/** A shard script: its own arguments are the call's fields of the same names. */
export function shardScript<Call extends ShardCall<string> & ValuesOf<A>, K extends Keys, A extends Args, C extends Committed>(s: ShardScript<Call, K, A, C>) {
  return hotScript<Call, ShardOutcome<C>>({
    files: ['lib.lua', ...s.files],
    layouts: [shard_layout, s.layout],
    parseCommand(parser, call) {
      const shard = call.shard;
      shard_layout.pushKeys(parser, {
        contact: contactKey(shard, call.contact_id),
        lots: lotsKey(shard, call.contact_id),
        lot_order: lotOrderKey(shard, call.contact_id),
        records: call.slot.record_keys(shard),
        pending: transactionKey(shard, call.id),
        journal: journalKey(shard),
      });
      s.layout.pushKeys(parser, s.keys(call));
      shard_layout.pushArgs(parser, {
        record_field: call.slot.field,
        business_id: call.business_id,
        id: call.id,
        now_ms: call.now_ms,
        record_ttl_ms: call.slot.record_ttl_ms,
        journal_length_max: call.journal_length_max,
        pending_ttl_s: pending_entry_ttl_seconds,
        reply: call.reply,
        entry: call.entry,
      });
      s.layout.pushArgs(parser, call);
    },
    transformReply: (raw) => shardOutcome(raw, s.committed, s.may_be_empty),
  });
}
