// An original past the hot window, as refund.lua and reversal.lua are given it: what the ledger
// holds of it (processor/ledger/originals.ts), in the shapes the scripts read a record
// (lib.lua's parseRecord) and a state (originalState) in.

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
  readonly fee_returned: number;
  readonly discount_returned: number;
  readonly reversed: boolean;
}

export interface LedgerOriginalArg {
  readonly original: RecordValue;
  readonly state: OriginalState;
  /** A redemption's lots: [lot field, amount] each. */
  readonly lots: readonly (readonly [string, number])[];
}
