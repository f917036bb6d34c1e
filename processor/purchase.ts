// A purchase: resolve the CIM, evaluate offers in process, then one shard script that does
// idempotency, awards, the wallet payment (`pay`), journal and stored reply atomically. Nothing
// here waits for PostgreSQL.

import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { evaluatePurchase, type Award } from '../core/offer.ts';
import type { PurchaseInput } from '../core/schemas.ts';
import { claimReference } from './claim.ts';
import type { Contacts } from './contacts.ts';
import { contactKey, otpKey } from './hot/keys.ts';
import { Script } from './hot/script.ts';
import { accountId, type JournalEntry, type Posting } from './journal.ts';
import type { Business, Terminal } from './network.ts';
import type { Offers } from './offers.ts';
import { hole, runShard, type Reply } from './shard.ts';
import type { Stores } from './stores.ts';
import { feeOf, requestHash, rfc3339, type Spends } from './wallet.ts';

export type { Reply } from './shard.ts';
export { requestHash } from './wallet.ts';

const purchase_script = new Script('lib.lua', 'purchase.lua');
const no_schemes: ReadonlySet<string> = new Set();

/** Lot field of an award: sorting fields sorts lots by expiry (never-expiring last). */
export function lotField(expires_at: string | null, pool: string | null): string {
  const expiry = expires_at === null ? '9999999999999' : String(Date.parse(expires_at)).padStart(13, '0');
  return `${expiry}|${pool ?? ''}`;
}

export class Purchases {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly offers: Offers,
    private readonly spends: Spends,
  ) {}

  async purchase(business: Business, terminal: Terminal, input: PurchaseInput): Promise<Reply> {
    if (input.currency !== business.currency) {
      throw new PocketgateError('validation_failed', `currency: this business runs in ${business.currency}`, [{ path: 'currency', message: `must be ${business.currency}` }]);
    }
    const { redis, config, clock } = this.stores;
    const cim = this.contacts.normalise(input.cim.type, input.cim.value, 'cim.value');
    const hash = requestHash(config.cim_hmac_key, 'purchase', input);
    const contact_id = await this.contacts.resolve(business.id, cim);
    if (contact_id === null) throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');

    const compiled = await this.offers.forBusiness(business);
    const shard = this.contacts.shardOf(contact_id);
    let tier: string | null = null;
    let tags: readonly string[] = [];
    if (compiled.needs_profile) {
      const [r, t] = await redis.hmGet(contactKey(shard, contact_id), ['r', 't']);
      tier = r ?? null;
      tags = t === null || t === undefined ? [] : (JSON.parse(t) as string[]);
    }
    const now_ms = clock.now();
    const at_ms = input.occurred_at === undefined ? now_ms : Date.parse(input.occurred_at);
    // Contact state the rewards engine reads (schemes, birthday, purchase history, referrer) is
    // not loaded here yet: safe defaults, so scheme, birthday, first-purchase and referral offers
    // do not award until it is.
    const evaluation = evaluatePurchase(compiled, {
      amount: input.amount,
      items: input.items ?? [],
      merchant_id: terminal.merchant_id,
      venue_id: terminal.venue_id,
      timezone: terminal.timezone,
      at_ms,
      tier,
      tags,
      schemes: no_schemes,
      birth_date: null,
      first_purchase: false,
      last_purchase_ms: null,
      referrer: null,
    });

    // Paying from the wallet: the OTP or wallet code must be this contact's.
    let pay = 0;
    let pay_method = '';
    let otp = '';
    if (input.pay !== undefined) {
      pay = input.pay.amount;
      try {
        if (pay > input.amount - evaluation.discount) {
          throw new PocketgateError('validation_failed', 'pay.amount: more than the amount due', [{ path: 'pay.amount', message: `at most ${input.amount - evaluation.discount}` }]);
        }
        const payer = await this.spends.payer(business, terminal, input.pay, now_ms);
        if (payer.contact_id !== contact_id) throw new PocketgateError(payer.method === 'otp' ? 'otp_invalid' : 'wallet_code_invalid', 'the wallet paying is not the purchasing contact’s');
        pay_method = payer.method;
        otp = payer.otp;
      } catch (err) {
        // A retry of an approved purchase whose wallet code was rotated since, whose terminal is
        // locked out of OTPs since, or whose discount grew since, gets its reply.
        return this.spends.replayOr(err, terminal, input.reference, hash);
      }
    }
    // Only now, as a spend does: a purchase refused for its payment (bad input among it) leaves
    // its reference free, as the contract wants of bad input.
    await claimReference(this.stores, terminal.id, input.reference, hash, contact_id);

    const currency = business.currency;
    const rewards = accountId(business.id, 'rewards', currency);
    const postings: Posting[] = [];
    const lots: string[] = [];
    let to_open = 0;
    let awarded = 0;
    // What instant discounts took off the price: their sum capped at the amount, as the reply's
    // `discount` and what a reversal gives back. Stacked discounts add up to more than that; a
    // posting per award paid the excess out of the rewards account for nothing.
    if (evaluation.discount > 0) postings.push([rewards, accountId(business.id, 'discounts', currency), evaluation.discount]);
    for (const a of evaluation.awards) {
      if (a.kind === 'instant_discount') continue;
      awarded += a.amount;
      if (a.instant_redeem) {
        to_open += a.amount;
        postings.push([rewards, accountId(contact_id, 'open', currency), a.amount]);
      } else {
        lots.push(lotField(a.expires_at, a.pool), String(a.amount));
        postings.push([rewards, accountId(contact_id, 'commerce', currency), a.amount]);
      }
    }
    if (pay > 0) postings.push([accountId(contact_id, 'open', currency), this.spends.spendAccount(business, terminal), pay]);
    const fee = feeOf(terminal, terminal.settle_on === 'award' ? awarded + evaluation.discount : pay);
    if (fee > 0) postings.push([accountId(terminal.merchant_id!, 'fees', currency), accountId(business.id, 'fee_income', currency), fee]);

    const id = newId('txn');
    const awards = evaluation.awards.map(publicAward);
    const reply =
      `{"id":"${id}","status":"approved","reference":${JSON.stringify(input.reference)},"contact_id":"${contact_id}",` +
      `"amount":${input.amount},"currency":"${currency}","awards":${JSON.stringify(awards)},"discount":${evaluation.discount},` +
      `"amount_due":${input.amount - evaluation.discount - pay},"paid_from_wallet":${pay},"created_at":"${rfc3339(now_ms)}",` +
      `"wallet":{"open":${hole('open')},"commerce":${hole('commerce')}}}`;
    const entry: JournalEntry = {
      id,
      kind: 'purchase',
      business_id: business.id,
      terminal_id: terminal.id,
      reference: input.reference,
      contact_id,
      amount: input.amount,
      currency,
      created_at: new Date(now_ms).toISOString(),
      awards,
      discount: evaluation.discount,
      paid_from_wallet: pay,
      postings,
    };
    // What a refund or reversal of this purchase reads back.
    const record = `k=purchase;a=${input.amount};w=${awarded};p=${pay};ds=${evaluation.discount};fee=${fee};rf=0;cw=0;cp=0;`;
    return this.spends.afterOtp(
      business,
      terminal,
      otp,
      now_ms,
      runShard(this.stores, purchase_script, {
        business_id: business.id,
        terminal_id: terminal.id,
        reference: input.reference,
        hash,
        contact_id,
        shard,
        id,
        now_ms,
        reply,
        entry: JSON.stringify(entry),
        keys: [otpKey(shard, contact_id)],
        args: [String(to_open), String(pay), pay_method, otp, record, ...lots],
      }),
    );
  }
}

function publicAward(a: Award) {
  return { offer_id: a.offer_id, scheme_id: a.scheme_id, kind: a.kind, amount: a.amount, pool: a.pool, expires_at: a.expires_at };
}
