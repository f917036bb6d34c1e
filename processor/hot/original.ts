// An original past the hot window, as refund.lua and reversal.lua are given it: what the ledger
// holds of it (processor/ledger/originals.ts), in the shapes the scripts read a record
// (lib.lua's parseRecord) and a state (originalState) in.

import { expired_lots_kept_ms } from './keys.ts';
import type { RecordValue } from './references.ts';

/**
 * What refunds and reversals did to an original: the state hash lib.lua's originalState reads,
 * which the ledger's originals (processor/ledger/originals.ts) and rebuild's states
 * (rebuild-references.ts) are derived into.
 */
export interface OriginalState {
  readonly refunded: number;
  readonly clawed: number;
  readonly returned: number;
  readonly discount_returned: number;
  /**
   * What refunds' claw-backs took from the open balance (commerce first: only what commerce
   * lacked); a reversal takes back from open what of the instant awards is left there.
   */
  readonly clawed_open: number;
  readonly reversed: boolean;
}

/**
 * A purchase's commerce lots (awards.ts awardLots), as refund.lua and reversal.lua are given them
 * once they answer stale for want of them (claw-back.lua ownLots): `original` names the purchase
 * they were read for. A claw-back takes them first and writes off what of them expired. Empty
 * when it could not be read now: nothing is then written off, and the earliest lots are taken.
 */
export interface AwardLots {
  readonly original: string;
  readonly lots: readonly (readonly [string, number])[];
  /**
   * Only lots that expired since are looked up (what expired of older ones is forgotten,
   * expired_lots_kept_ms), so that what is written off never depends on when expire.lua last
   * dropped older fields; every lot counts in what the purchase may write off in all.
   */
  readonly remembered_from_ms: number;
}

/** The script's award_lots for purchase `original` at `now_ms`. */
export function awardLotsArg(original: string, lots: readonly (readonly [string, number])[], now_ms: number): AwardLots {
  return { original, lots, remembered_from_ms: now_ms - expired_lots_kept_ms };
}

export interface LedgerOriginalArg {
  readonly original: RecordValue;
  readonly state: OriginalState;
  /** A redemption's lots: [lot field, amount] each. */
  readonly lots: readonly (readonly [string, number])[];
  /** A redemption's `since` (journal.ts JournalEntry.since), null where it is its id's time. */
  readonly since: string | null;
}
