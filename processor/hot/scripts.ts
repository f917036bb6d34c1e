// Every script the processor runs in Redis, the functions of its library (library.ts), called on
// its clients (stores.ts createRedis): `redis.purchaseScript(call)` and so on. The names end in
// Script so that none takes the place of a Redis command's method (an `expire` script would
// replace EXPIRE).

import { award_script } from './award.ts';
import { backlog_script } from './backlog.ts';
import { birth_date_script } from './birth-date.ts';
import { budget_script } from './budget.ts';
import { claim_script } from './claim.ts';
import { detail_hint_script } from './detail-hint.ts';
import { expire_script } from './expire.ts';
import { guess_script } from './guess.ts';
import { hotLibrary } from './library.ts';
import { lease_script } from './lease.ts';
import { otp_script } from './otp.ts';
import { purchase_script } from './purchase.ts';
import { redeem_script } from './redeem.ts';
import { refund_script } from './refund.ts';
import { reversal_script } from './reversal.ts';
import { spend_script } from './spend.ts';
import { tier_units_script } from './tier-units.ts';
import { undo_script } from './undo.ts';

export const hot_scripts = {
  purchaseScript: purchase_script,
  spendScript: spend_script,
  redeemScript: redeem_script,
  refundScript: refund_script,
  reversalScript: reversal_script,
  awardScript: award_script,
  expireScript: expire_script,
  claimScript: claim_script,
  budgetScript: budget_script,
  otpScript: otp_script,
  guessScript: guess_script,
  leaseScript: lease_script,
  backlogScript: backlog_script,
  undoScript: undo_script,
  birthDateScript: birth_date_script,
  tierUnitsScript: tier_units_script,
  detailHintScript: detail_hint_script,
};

export const hot_library = hotLibrary(hot_scripts);
