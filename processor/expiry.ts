// The expiry sweeper: finds, shard by shard, the contacts whose earliest commerce lot has expired
// (a sorted set the award scripts keep) and expires their lots in a shard script each.

import { newId } from '../core/ids.ts';
import { rewardsCall } from './awards.ts';
import type { ExpireCall } from './hot/expire.ts';
import type { AwardItem } from './hot/award-items.ts';
import { contactKey, expiryKey } from './hot/keys.ts';
import type { Network } from './network.ts';
import { shardReply } from './shard.ts';
import type { Stores } from './stores.ts';
import { expiryTemplates } from './templates.ts';
import { repeatEvery } from './repeat.ts';

/** Contacts expired per shard per sweep: a sweep is bounded, the next one goes on. */
const contacts_per_shard_max = 200;

export class Expiry {
  constructor(
    private readonly stores: Stores,
    private readonly network: Network,
  ) {}

  /** Expire what is due now on every shard; returns the number of expiry transactions. */
  async sweep(): Promise<number> {
    const { redis, config, clock } = this.stores;
    const now_ms = clock.now();
    let done = 0;
    for (let shard = 0; shard < config.shard_count; shard++) {
      const due = (await redis.sendCommand(['ZRANGE', expiryKey(shard), '-inf', String(now_ms), 'BYSCORE', 'LIMIT', '0', String(contacts_per_shard_max)])) as string[];
      for (const contact_id of due) {
        if (await this.expire(shard, contact_id, now_ms)) done++;
      }
    }
    return done;
  }

  /**
   * Expire the contact's lots now if its earliest is due: a reversal that gave back lots which
   * expired while they were redeemed (hot/reversal.lua) leaves no expired money in the wallet it
   * answers before, as if the redemption never happened, rather than until the next sweep.
   */
  async expireDue(shard: number, contact_id: string, now_ms: number): Promise<boolean> {
    const due = await this.stores.redis.zScore(expiryKey(shard), contact_id);
    return due !== null && due <= now_ms && this.expire(shard, contact_id, now_ms);
  }

  /**
   * After awards committed: expire now the lots of those made already past their expiry
   * (madeExpired), as they would have expired had their sale been booked when it was made; their
   * script's wallet left them out. Whether it did; failing, the sweep does it.
   */
  async expireMade(shard: number, contact_id: string, items: readonly AwardItem[], accepted: readonly number[] | undefined, now_ms: number): Promise<boolean> {
    return madeExpired(items, accepted, now_ms) && this.expireDue(shard, contact_id, now_ms);
  }

  private async expire(shard: number, contact_id: string, now_ms: number): Promise<boolean> {
    const business_id = await this.stores.redis.hGet(contactKey(shard, contact_id), 'b');
    const business = business_id === null || business_id === undefined ? undefined : await this.network.business(business_id);
    if (business === undefined) {
      await this.stores.redis.zRem(expiryKey(shard), contact_id);
      return false;
    }
    const id = newId('txn');
    const reference = `expiry:${contact_id}:${now_ms}`;
    const templates = expiryTemplates({ id, business_id: business.id, contact_id, currency: business.currency, now_ms, reference });
    const call: ExpireCall = rewardsCall(this.stores, business, contact_id, shard, reference, id, now_ms, templates);
    const out = await shardReply(this.stores, call, this.stores.redis.expireScript(call));
    return out.status === 201;
  }

  /** Sweep every `interval_ms` until stopped; errors are reported and the next sweep goes on. */
  start(interval_ms: number, onError: (err: unknown) => void): () => void {
    return repeatEvery(interval_ms, () => this.sweep(), onError);
  }
}

/**
 * Whether an accepted award (indexes into `items`) went into a commerce lot already past its
 * expiry: a purchase dated back further than the award's validity (a processor's clearing may be
 * dated 35 days back, EVENTS.md), or a referrer's award made of it.
 */
export function madeExpired(items: readonly AwardItem[], accepted: readonly number[] | undefined, now_ms: number): boolean {
  return (accepted ?? []).some((i) => items[i]?.kind === 'c' && Number(items[i]!.lot.slice(0, 13)) <= now_ms);
}
