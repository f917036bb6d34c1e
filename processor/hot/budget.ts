// The budget script (budget.lua): reserve up to an award's amount of its offer's budget.

import { hotScript, unexpected } from './define.ts';
import { budgetKey } from './keys.ts';
import { arg, layout } from './layout.ts';

const budget_layout = layout({ used: 1 }, { amount: arg.int(), budget: arg.int() });

export interface BudgetCall {
  readonly offer_id: string;
  readonly amount: number;
  /** The offer's whole budget. */
  readonly budget: number;
}

/** Answers what was granted: `amount`, what is left of the budget, or 0. */
export const budget_script = hotScript({
  files: ['budget.lua'],
  layouts: [budget_layout],
  parseCommand(parser, call: BudgetCall) {
    budget_layout.pushKeys(parser, { used: budgetKey(call.offer_id) });
    budget_layout.pushArgs(parser, call);
  },
  transformReply(raw): number {
    if (Number.isSafeInteger(raw)) return raw as number;
    throw unexpected(raw);
  },
});
