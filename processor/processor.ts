// The processor: one object per process over the two stores, with one function per command.

import { Contacts } from './contacts.ts';
import { Network } from './network.ts';
import { Offers } from './offers.ts';
import { Purchases, type FailureReport } from './purchase.ts';
import { Redemptions } from './redeem.ts';
import { Refunds } from './refund.ts';
import { Spends } from './wallet.ts';
import { Schemes } from './schemes.ts';
import { Awards } from './awards.ts';
import { Expiry } from './expiry.ts';
import { ReferralSweeper } from './referrals.ts';
import { ReferralUndos } from './referral-undo.ts';
import { DeferredUndos } from './deferred-undos.ts';
import { Processors } from './processors.ts';
import { CallbackEvents } from './callback-events.ts';
import { CopiesOwed } from './copies-owed.ts';
import { contactKey } from './hot/keys.ts';
import { tierAtVenues } from '../core/tier.ts';
import type { Stores } from './stores.ts';

export class Processor {
  readonly network: Network;
  readonly contacts: Contacts;
  readonly offers: Offers;
  readonly purchases: Purchases;
  readonly spends: Spends;
  readonly redemptions: Redemptions;
  readonly refunds: Refunds;
  readonly schemes: Schemes;
  readonly awards: Awards;
  readonly expiry: Expiry;
  /** Reverses a referrer's award when its referral is undone (a reversal left the referred contact no purchase). */
  readonly referral_undos: ReferralUndos;
  /** Makes the referral awards (and undos) a crashed process left in the outboxes. */
  readonly referrals: ReferralSweeper;
  /** Gives back what purchases reversed while the ledger could not be read had counted. */
  readonly deferred_undos: DeferredUndos;
  /** Payment processors and what their callbacks were answered (spec/EVENTS.md). */
  readonly processors: Processors;
  readonly callback_events: CallbackEvents;
  /** Makes the Redis copies admin changes owe (copies-owed.ts). */
  readonly copies_owed: CopiesOwed;
  /**
   * Failures after a transaction was committed (its reply stands): the gateway logs them at
   * error level. Until it is set, they go to stderr rather than nowhere.
   */
  onFailure: FailureReport = (err, context, message) => console.error(message, context, err);

  constructor(readonly stores: Stores) {
    this.offers = new Offers(stores);
    this.network = new Network(stores, (business_id) => this.offers.changed(business_id));
    this.contacts = new Contacts(stores);
    this.spends = new Spends(stores, this.contacts);
    this.expiry = new Expiry(stores, this.network);
    this.awards = new Awards(stores, this.contacts, this.offers, this.expiry);
    this.contacts.tierOf = async (business, contact_id) => {
      const rewards = await this.offers.forBusiness(business);
      if (rewards.tiers.length === 0) return null;
      const [m, q, y] = await stores.redis.hmGet(contactKey(this.contacts.shardOf(contact_id), contact_id), ['um', 'uq', 'uy']);
      // Purchases count units in their venue's calendar: the profile reads them in the same ones.
      const venues = await stores.sql<{ timezone: string }[]>`select distinct timezone from venues where business_id = ${business.id}`;
      return tierAtVenues(rewards.tiers, { m, q, y }, stores.clock.now(), venues.map((v) => v.timezone), rewards.tier_unit);
    };
    this.contacts.onCreated = async (business, ids) => {
      for (const id of ids) await this.awards.signup(business, id, null);
    };
    this.purchases = new Purchases(stores, this.contacts, this.offers, this.spends, this.awards, this.expiry, (err, context, message) => this.onFailure(err, context, message));
    this.redemptions = new Redemptions(stores, this.contacts, this.offers);
    this.referral_undos = new ReferralUndos(stores, this.contacts, this.offers);
    this.refunds = new Refunds(stores, this.contacts, this.offers, this.expiry, this.referral_undos, (err, context, message) => this.onFailure(err, context, message));
    this.schemes = new Schemes(stores);
    this.referrals = new ReferralSweeper(stores, this.network, this.awards, this.referral_undos, (err, context, message) => this.onFailure(err, context, message));
    this.deferred_undos = new DeferredUndos(stores, this.network, this.offers, (err, context, message) => this.onFailure(err, context, message));
    this.processors = new Processors(stores, this.network);
    this.callback_events = new CallbackEvents(stores.sql);
    this.copies_owed = new CopiesOwed(stores, { contact: (id) => this.contacts.syncHotFields(id), rewards: (id) => this.offers.changed(id), tiers: (id) => this.offers.seedOwedTierUnits(id) });
  }
}
