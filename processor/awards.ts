// Awards beyond a purchase's own script: offer budgets (reserved before the shard script, given
// back when it does not use them) and award transactions of their own (sign-up, referral).

import { newId } from '../core/ids.ts';
import { evaluateSignup, type Award } from '../core/offer.ts';
import { tierAtUtc } from '../core/tier.ts';
import type { Contacts } from './contacts.ts';
import { budgetKey, capsKey, contactKey, expiryKey } from './hot/keys.ts';
import { referenceSlot } from './hot/references.ts';
import { Script } from './hot/script.ts';
import type { Business } from './network.ts';
import type { Offers } from './offers.ts';
import { awardArgs } from './purchase.ts';
import { hole, runShard, type Reply, wallet_tail } from './shard.ts';
import type { Stores } from './stores.ts';
import { rfc3339 } from './wallet.ts';

const budget_script = new Script('budget.lua');
const award_script = new Script('lib.lua', 'award.lua');

/** Award transactions are made by the processor itself, under this pseudo-terminal. */
export const rewards_terminal = '_rewards';

export class Awards {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly offers: Offers,
  ) {}

  /**
   * Reserve each budgeted award's amount from its offer's budget: the whole award, what is left,
   * or nothing (the award is dropped). Concurrent purchases never take more than the budget.
   */
  async reserve(awards: readonly Award[]): Promise<Award[]> {
    if (!awards.some((a) => a.limits?.budget !== undefined)) return [...awards];
    const grants = await Promise.all(
      awards.map((a) =>
        a.limits?.budget === undefined ? a.amount : budget_script.run<number>(this.stores.redis, [budgetKey(a.offer_id)], [String(a.amount), String(a.limits.budget)]).then(Number),
      ),
    );
    const out: Award[] = [];
    awards.forEach((a, i) => {
      const grant = grants[i]!;
      if (grant > 0) out.push(grant === a.amount ? a : { ...a, amount: grant });
    });
    return out;
  }

  /** Give back what budgeted awards reserved. */
  async release(awards: readonly Award[]): Promise<void> {
    const budgeted = awards.filter((a) => a.limits?.budget !== undefined);
    if (budgeted.length > 0) await Promise.all(budgeted.map((a) => this.stores.redis.decrBy(budgetKey(a.offer_id), a.amount)));
  }

  /** After a shard script: give back the budget of the awards it refused (a cap, a guard), or of all of them on a replay. */
  async settle(awards: readonly Award[], reply: Reply): Promise<void> {
    if (!awards.some((a) => a.limits?.budget !== undefined)) return;
    const accepted = new Set((reply.replayed ? '' : (reply.extra?.[1] ?? '')).split(',').filter((x) => x !== '').map(Number));
    await this.release(awards.filter((_, i) => !accepted.has(i)));
  }

  /** The referrer's award, once per referred contact, on the referred contact's first purchase. */
  async referral(business: Business, referrer_id: string, referred_id: string, awards: readonly Award[], now_ms: number): Promise<void> {
    await this.run(business, referrer_id, `referral:${referred_id}`, 'referral', awards, now_ms);
  }

  /** Sign-up offers for a contact just created (scheme_id null) or just joined to a scheme. */
  async signup(business: Business, contact_id: string, joined_scheme_id: string | null): Promise<void> {
    const rewards = await this.offers.forBusiness(business);
    if (rewards.compiled.signup_offers === 0) return;
    const shard = this.contacts.shardOf(contact_id);
    // The tier is derived from the value units, as a purchase derives it (never stored: a stored
    // tier would be stale once its period ends).
    const [t, s, m, q, y] = await this.stores.redis.hmGet(contactKey(shard, contact_id), ['t', 's', 'um', 'uq', 'uy']);
    const schemes = new Set([...rewards.auto_schemes, ...(s ? (JSON.parse(s) as string[]) : [])]);
    const now_ms = this.stores.clock.now();
    const tier = tierAtUtc(rewards.tiers, { m, q, y }, now_ms);
    const evaluation = evaluateSignup(rewards.compiled, { tier, tags: t ? (JSON.parse(t) as string[]) : [], schemes, at_ms: now_ms, joined_scheme_id });
    if (evaluation.awards.length === 0) return;
    await this.run(business, contact_id, `signup:${joined_scheme_id ?? 'created'}:${contact_id}`, 'signup', evaluation.awards, now_ms);
  }

  private async run(business: Business, contact_id: string, reference: string, reason: string, candidates: readonly Award[], now_ms: number): Promise<Reply | undefined> {
    const awards = await this.reserve(candidates);
    if (awards.length === 0) return undefined;
    const shard = this.contacts.shardOf(contact_id);
    const id = newId('txn');
    const currency = business.currency;
    const reply =
      `{"id":"${id}","kind":"award","reason":"${reason}","reference":${JSON.stringify(reference)},"contact_id":"${contact_id}",` +
      `"awards":[${hole('awards')}],"currency":"${currency}","created_at":"${rfc3339(now_ms)}",` +
      wallet_tail;
    const entry =
      `{"id":"${id}","kind":"award","business_id":"${business.id}","terminal_id":null,"reference":${JSON.stringify(reference)},` +
      `"contact_id":"${contact_id}","amount":${hole('amount')},"currency":"${currency}","created_at":"${new Date(now_ms).toISOString()}",` +
      `"awards":[${hole('awards')}],"postings":[${hole('postings')}]}`;
    let out: Reply;
    try {
      out = await runShard(this.stores, award_script, {
        business_id: business.id,
        slot: referenceSlot(this.stores.config, rewards_terminal, reference, now_ms),
        contact_id,
        shard,
        id,
        now_ms,
        reply,
        entry,
        keys: [capsKey(shard, contact_id), expiryKey(shard)],
        args: [String(awards.length), ...awardArgs(awards, contact_id, business, currency)],
      });
    } catch (err) {
      await this.release(awards);
      throw err;
    }
    // Committed: a failure from here on must not give back the budget of the awards it made.
    await this.settle(awards, out);
    return out;
  }
}
