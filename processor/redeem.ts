// Redemption: commerce balance into the open balance, earliest-expiring lots first, honouring
// pools: a pool named after one of the business's merchant codes redeems only at that merchant's
// terminals, any other pool anywhere. Which pools those are comes with the business's rewards
// (rewards-snapshot.ts), from memory or Redis: never a PostgreSQL query on the POS path.

import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { RedemptionInput } from '../core/schemas.ts';
import { claimHash, claimReference } from './claim.ts';
import type { Contacts, Identified } from './contacts.ts';
import type { RedeemCall } from './hot/redeem.ts';
import { referenceSlot } from './hot/references.ts';
import { transactionAccounts } from './journal.ts';
import type { Business, Terminal } from './network.ts';
import type { Offers, Rewards } from './offers.ts';
import { shardReply, type Reply } from './shard.ts';
import type { Stores } from './stores.ts';
import { redemptionTemplates } from './templates.ts';
import { cimGuess, claimedNoContact, replayOr, requestHash, unknown_cim } from './wallet.ts';
import { requireWritable } from './redis-health.ts';

export class Redemptions {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly offers: Offers,
  ) {}

  /** A redemption presented at `terminal` from `source` (the client's address: hot/guess.ts). */
  async redeem(business: Business, terminal: Terminal, input: RedemptionInput, source: string): Promise<Reply> {
    // Redis refusing writes, hung, or holding no network (emptied: RedisHealth's probeState) takes
    // no transaction: 503 before anything is read or written (OPERATIONS.md).
    await requireWritable(this.stores);
    const { config, clock } = this.stores;
    const cim = this.contacts.normalise(input.cim.type, input.cim.value, 'cim.value');
    const hash = requestHash(config.cim_hmac_key, 'redemption', input);
    const now_ms = clock.now();
    const slot = referenceSlot(config, terminal.id, input.reference, now_ms);
    let identified: Identified;
    let rewards: Rewards;
    try {
      [identified, rewards] = await Promise.all([this.contacts.identify(business.id, cim, { terminal_id: terminal.id, source }, now_ms), this.offers.forBusiness(business)]);
      if (identified.contact_id === null) throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
    } catch (err) {
      // A retry of an approved redemption gets its reply, even when its terminal has been locked
      // out of wallet or contact codes since; another body under a held reference is 409
      // (wallet.ts replayOr).
      return replayOr(this.stores, this.contacts, err, { business_id: business.id, slot, hash }, input.reference, unknown_cim, cimGuess(business.id, cim, { terminal_id: terminal.id, source }, err, now_ms));
    }
    const { contact_id, guess_settled } = identified;
    const [claimed] = await Promise.all([claimReference(this.stores, { business_id: business.id, slot, hash }, contact_id), guess_settled]);
    // This same request came first when no contact had its CIM: refused so again (wallet.ts rememberNoContact).
    if (claimed === '') throw claimedNoContact();
    const id = newId('txn');
    const shard = this.contacts.shardOf(contact_id);
    const request_hash = claimHash(hash);
    const { reply, entry } = redemptionTemplates({ id, business_id: business.id, terminal_id: terminal.id, made_by: terminal.made_by, reference: input.reference, request_hash, contact_id, currency: business.currency, now_ms });
    const call: RedeemCall = {
      business_id: business.id,
      slot,
      contact_id,
      shard,
      id,
      now_ms,
      journal_length_max: config.journal_length_max,
      reply,
      entry,
      amount: input.amount ?? null,
      merchant_code: terminal.merchant_code,
      restricted_pools: rewards.restricted_pools,
      accounts: transactionAccounts(business, terminal, contact_id),
    };
    return shardReply(this.stores, call, this.stores.redis.redeemScript(call));
  }
}
