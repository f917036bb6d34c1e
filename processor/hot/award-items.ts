// Awards as the shard scripts check and apply them (lib.lua's applyAwards): one list item each.

import type { Guard } from '../../core/offer.ts';
import { arg } from './layout.ts';
import type { ValuesOf } from './layout.ts';

/** A bound on one call, far above any business's offers matching one purchase. */
export const awards_max = 10_000;

export const award_item = {
  /** 'c' into a commerce lot, 'o' into the open balance, 'd' an instant discount. */
  kind: arg.str<'c' | 'o' | 'd'>(),
  amount: arg.int(),
  /** The commerce lot's field: '<expiry ms, 13 digits>|<pool>'. */
  lot: arg.str(),
  guard: arg.str<Guard | ''>(),
  /** For guard 'first_of_day': the first instant (ms) of the purchase's local day, and of the next. */
  since: arg.int(),
  before: arg.int(),
  /** The contact's cap counter ('' for none) and its limit. */
  cap: arg.str(),
  limit: arg.int(),
  /** The award as the reply and journal entry show it (JSON), if it is accepted. */
  json: arg.str(),
  /**
   * Its resolution group (0: none, it stands alone) and its place there, 1 the best (core/offer.ts
   * resolutionPlaces): of a group, only the best-placed award the guards and caps admit is made.
   */
  group: arg.int(),
  place: arg.int(),
};

export type AwardItem = ValuesOf<typeof award_item>;

export const award_items = arg.list(award_item, awards_max);

/**
 * By a period key's kind letter, the first period a cap counter may still be counted in
 * (core/cap-periods.ts): counters of older periods are dropped (lib.lua pruneCaps).
 */
export const caps_kept = arg.struct({ d: arg.str(), w: arg.str(), m: arg.str() });
