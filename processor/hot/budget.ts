// The budget script (budget.lua): reserve up to an award's amount of its offer's budget, then
// settle the reservation once the shard script has kept or refused the award.

import { hotScript, unexpected } from './define.ts';
import { budgetBusyKey, budgetKey, budgetPendingKey } from './keys.ts';
import { arg, layout } from './layout.ts';

const budget_layout = layout(
  { used: 1, pending: 1, busy: 1 },
  { mode: arg.str<'reserve' | 'settle'>(), amount: arg.int(), budget: arg.int(), at_s: arg.int(), final: arg.int(), clear: arg.int(), give_back: arg.int(), now_ms: arg.int() },
);

export type BudgetCall =
  | {
      readonly mode: 'reserve';
      readonly offer_id: string;
      readonly amount: number;
      /** The offer's whole budget. */
      readonly budget: number;
      /** The second it is reserved in (its pending amount's field: budget.lua). */
      readonly at_s: number;
      /** Grant what is left even while other reservations are pending (the last ask). */
      readonly final: boolean;
      /** The asker's clock now: how long the budget's spell of busy answers has lasted (budget.lua). */
      readonly now_ms: number;
    }
  | {
      readonly mode: 'settle';
      readonly offer_id: string;
      /** The second the reservation was made in. */
      readonly at_s: number;
      /** What it no longer holds pending: the amount reserved. */
      readonly clear: number;
      /** What goes back to the budget: the amount reserved less what the award kept. */
      readonly give_back: number;
    };

/** reserve: what was granted (`amount`, what is left of the budget, or 0), or -1 (busy: ask again). settle: 0. */
export const budget_script = hotScript({
  files: ['budget.lua'],
  layouts: [budget_layout],
  parseCommand(parser, call: BudgetCall) {
    budget_layout.pushKeys(parser, { used: budgetKey(call.offer_id), pending: budgetPendingKey(call.offer_id), busy: budgetBusyKey(call.offer_id) });
    budget_layout.pushArgs(parser, call.mode === 'reserve'
      ? { mode: 'reserve', amount: call.amount, budget: call.budget, at_s: call.at_s, final: call.final ? 1 : 0, clear: 0, give_back: 0, now_ms: call.now_ms }
      : { mode: 'settle', amount: 0, budget: 0, at_s: call.at_s, final: 0, clear: call.clear, give_back: call.give_back, now_ms: 0 });
  },
  transformReply(raw): number {
    if (Number.isSafeInteger(raw) && (raw as number) >= -1) return raw as number;
    throw unexpected(raw);
  },
});
