// The ledger accounts a shard script posts to, by role: each script declares the ones it uses,
// and Node names them all once per transaction (processor/journal.ts transactionAccounts).

import { arg, type Scalar, type Struct } from './layout.ts';

export type AccountRole = 'open' | 'commerce' | 'rewards' | 'discounts' | 'spends' | 'fees' | 'fee_income';

/**
 * The contact's open and commerce balances, the business's rewards and discounts, where wallet
 * money spent at the terminal goes (spends), and the contribution fee's two sides: the
 * merchant's `fees` ('' at the business's own venues, which charge none) and the business's
 * `fee_income`.
 */
export type Accounts = Readonly<Record<AccountRole, string>>;

/** A struct argument of the accounts `roles`, in that order. */
export function accountsArg<const R extends AccountRole>(...roles: R[]): Struct<Readonly<Record<R, Scalar<string>>>> {
  return arg.struct(Object.fromEntries(roles.map((r) => [r, arg.str()])) as Record<R, Scalar<string>>);
}
