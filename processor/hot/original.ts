// An original past the hot window, as refund.lua and reversal.lua are given it: what the ledger
// holds of it (processor/ledger/originals.ts), in the shapes the scripts read a record
// (lib.lua's parseRecord) and a state (originalState) in.

import type { RecordValue } from './references.ts';

export interface LedgerOriginalArg {
  readonly original: RecordValue;
  /** What refunds and reversals did to it. */
  readonly state: {
    readonly refunded: number;
    readonly clawed: number;
    readonly returned: number;
    readonly fee_returned: number;
    readonly discount_returned: number;
    readonly reversed: boolean;
  };
  /** A redemption's lots: [lot field, amount] each. */
  readonly lots: readonly (readonly [string, number])[];
}
