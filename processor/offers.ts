// Offers: stored in PostgreSQL, copied to Redis for the POS path (rewards-snapshot.ts), compiled
// per business into each process's memory, and recompiled everywhere within moments of a change
// through Redis pub/sub. A message is lost when its subscriber is disconnected as it is
// published: every compiled business is reloaded after a reconnect, and none is used for more
// than offers_ttl_ms after its load anyway.

import { currencyByCode } from '../core/currency.ts';
import { PocketgateError } from '../core/errors.ts';
import { newId, shardOf } from '../core/ids.ts';
import type { PeriodKind } from '../core/tier.ts';
import { compileOffers, type CompiledOffers, type Offer, type OfferLimits } from '../core/offer.ts';
import { offerSchema, parseWith, utcTimestamp, type OfferInput, type OfferPatch } from '../core/schemas.ts';
import { contactKey, offers_channel } from './hot/keys.ts';
import { withinOr } from './in-flight.ts';
import { oweAgainAfter, oweCopy, payCopy } from './copies-owed.ts';
import { requireWritableNow } from './redis-health.ts';
import { restricted_pools_max } from './hot/redeem.ts';
import { seedAddedLimits } from './limit-seed.ts';
import { seedTierUnits } from './tier-seed.ts';
import { iso, type Business } from './network.ts';
import { readRewards, selectOffers, selectTiers, snapshotRewards, type Tier } from './rewards-snapshot.ts';
import { closeRedis, listen, type RedisClient, type Stores } from './stores.ts';
import type postgres from 'postgres';

export type { Tier } from './rewards-snapshot.ts';

const compiled_entries_max = 10_000;

/**
 * A compiled business is used for at most this long after its load (whatever pub/sub missed):
 * from half of it, a purchase reloads it in the background; from all of it, and after the
 * subscriber reconnected, a purchase waits for the reload (reload_wait_ms at most).
 */
export const offers_ttl_ms = 30_000;
/**
 * How long purchases wait for a reload in all, before they take what was compiled before: a store
 * that fails or hangs (Redis for the snapshot, PostgreSQL without one) must not stop purchases
 * that the compiled offers can serve.
 */
const reload_wait_ms = 500;
/** A failed reload is tried again after this. */
const reload_retry_ms = 1_000;

interface Entry {
  readonly rewards: Promise<Rewards>;
  /** When its load started (performance.now(), ms). */
  readonly loaded_ms: number;
  /** The subscriber reconnected since its load: a change may have been missed. */
  readonly missed: boolean;
  /** The reload in flight, when it started; or when a failed one may be tried again. */
  reload?: { readonly rewards: Promise<Rewards | undefined>; readonly started_ms: number };
  retry_ms?: number;
}

/** What a purchase needs of a business's rewards set-up, compiled once per process. */
export interface Rewards {
  readonly compiled: CompiledOffers;
  /** Every contact is a member of these. */
  readonly auto_schemes: ReadonlySet<string>;
  readonly tiers: readonly Tier[];
  /** The currency's minor units in a tier value unit (100 for EUR): tier counters are in minor units. */
  readonly tier_unit: number;
  /** The limits of each offer that has any, by offer id: what a reversal gives back (purchase-undo.ts). */
  readonly limits: ReadonlyMap<string, OfferLimits>;
  /** The pools that redeem only at the merchant they are named after (RewardsSource.restricted_pools), as redeem.lua takes them. */
  readonly restricted_pools: readonly { readonly pool: string }[];
  /**
   * The offers whose cashback lands in the commerce balance (not instant_redeem): what of a
   * purchase's awards that name no expiry went into a lot of its own (awards.ts awardLots).
   */
  readonly commerce_offers: ReadonlySet<string>;
}

/**
 * The offer with its validity window in UTC, as it is stored and answered: the contract writes
 * every timestamp so (API.md, Conventions), whatever offset the window was sent with.
 */
function inUtc(input: OfferInput): OfferInput {
  return {
    ...input,
    ...(input.valid_from === undefined ? {} : { valid_from: utcTimestamp(input.valid_from) }),
    ...(input.valid_to === undefined ? {} : { valid_to: utcTimestamp(input.valid_to) }),
  };
}

/** Merges of one PATCH into an offer other PATCHes keep changing before it is answered 503. */
const offer_patch_attempts_max = 16;

export class Offers {
  private readonly compiled = new Map<string, Entry>();
  private subscriber: RedisClient | undefined;
  /** This process's PUT /v1/tiers, one after another (putTiers). */
  private tiers_puts: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly stores: Stores,
    private readonly ttl_ms = offers_ttl_ms,
  ) {}

  /** Listen for changes made by other processes. */
  async subscribe(): Promise<void> {
    // After a reconnect what a missed message may have changed is reloaded. A new entry, so that a
    // reload in flight, which may have read the rewards before the missed change, is not installed.
    this.subscriber = await listen(this.stores.redis, offers_channel, (business_id) => this.compiled.delete(business_id), () => {
      for (const [id, e] of this.compiled) this.compiled.set(id, { rewards: e.rewards, loaded_ms: e.loaded_ms, missed: true });
    });
  }

  async close(): Promise<void> {
    if (this.subscriber !== undefined) await closeRedis(this.subscriber);
  }

  /**
   * The business's offers compiled for evaluation, its auto schemes and tiers: served from memory,
   * reloaded as offers_ttl_ms says.
   */
  forBusiness(business: Business): Promise<Rewards> {
    const entry = this.compiled.get(business.id);
    if (entry === undefined) return this.fresh(business);
    const now = performance.now();
    const age = now - entry.loaded_ms;
    if ((age < this.ttl_ms / 2 && !entry.missed) || (entry.retry_ms !== undefined && now < entry.retry_ms)) return entry.rewards;
    const reload = this.reload(business, entry);
    return age < this.ttl_ms && !entry.missed ? entry.rewards : this.within(reload, entry);
  }

  private fresh(business: Business): Promise<Rewards> {
    if (this.compiled.size >= compiled_entries_max) this.compiled.clear();
    const rewards = this.load(business);
    const entry: Entry = { rewards, loaded_ms: performance.now(), missed: false };
    // A failed load must not be cached: the next purchase tries again.
    rewards.catch(() => {
      // (Or its copy marked after a reconnect.)
      if (this.compiled.get(business.id)?.rewards === rewards) this.compiled.delete(business.id);
    });
    this.compiled.set(business.id, entry);
    return rewards;
  }

  /** The entry's reload (one at a time): installed when it lands, unless a change came meanwhile. */
  private reload(business: Business, entry: Entry): NonNullable<Entry['reload']> {
    if (entry.reload !== undefined) return entry.reload;
    const started_ms = performance.now();
    const rewards = this.load(business).then(
      (r) => {
        if (this.compiled.get(business.id) === entry) this.compiled.set(business.id, { rewards: Promise.resolve(r), loaded_ms: started_ms, missed: false });
        return r;
      },
      () => {
        // The load failed: what was compiled stands in; tried again later, not on every purchase.
        entry.reload = undefined;
        entry.retry_ms = performance.now() + reload_retry_ms;
        return undefined;
      },
    );
    entry.reload = { rewards, started_ms };
    return entry.reload;
  }

  /** The reload if it lands within reload_wait_ms of its start, else what the entry holds. */
  private async within(reload: NonNullable<Entry['reload']>, entry: Entry): Promise<Rewards> {
    const left = reload.started_ms + reload_wait_ms - performance.now();
    if (left <= 0) return entry.rewards;
    return (await withinOr(reload.rewards, left, () => undefined)) ?? entry.rewards;
  }

  /** From Redis, where the POS path reads; made from PostgreSQL when Redis has none yet. */
  private async load(business: Business): Promise<Rewards> {
    const source = (await readRewards(this.stores.redis, business.id)) ?? (await snapshotRewards(this.stores, business.id));
    return {
      compiled: compileOffers([...source.offers], business.reward_resolution),
      auto_schemes: new Set(source.auto_schemes),
      tiers: source.tiers,
      tier_unit: 10 ** (currencyByCode(business.currency)?.minor_units ?? 2),
      limits: new Map(source.offers.flatMap((o) => (o.limits === undefined ? [] : [[o.id, o.limits] as const]))),
      restricted_pools: source.restricted_pools.map((pool) => ({ pool })),
      commerce_offers: new Set(source.offers.filter((o) => !o.instant_redeem).map((o) => o.id)),
    };
  }

  tiers(business: Business): Promise<Tier[]> {
    return selectTiers(this.stores.sql, business.id);
  }

  /**
   * Replace the business's tiers. The contacts' units of a kind added (or added back) are forgotten
   * before the purchases see it, then counted from the ledger once they do (tier-seed.ts), and those
   * of a kind removed are forgotten once no purchase counts into them.
   */
  async putTiers(business: Business, tiers: readonly Tier[]): Promise<Tier[]> {
    // Refused at once while Redis takes no write (503, nothing changed); a copy that fails all the same is owed (copies-owed.ts).
    await requireWritableNow(this.stores);
    // One PUT of a business at a time, from its first read to its last clear (a lock of its own,
    // held on a connection while the others below take theirs): a kind one PUT added back while
    // another that removed it still cleared its units lost the purchases counted in between, which
    // rebuild counts. Rare, and bounded by the business's contacts.
    // And one at a time in this process: each holds its lock's connection while it needs others
    // of the pool, so as many at once as the pool has connections held them all, each waiting for
    // one more, and no PostgreSQL call of the process was ever answered again.
    const put = this.tiers_puts.then(() =>
      this.stores.sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${tiers_put_lock_namespace}, hashtext(${business.id}))`;
        return this.replaceTiers(business, tiers);
      }),
    );
    this.tiers_puts = put.catch(() => {});
    return put;
  }

  private async replaceTiers(business: Business, tiers: readonly Tier[]): Promise<Tier[]> {
    // The kinds the purchases count now (Redis's snapshot) as well as PostgreSQL's: a retry after a
    // failure below (503) finds PostgreSQL changed already, and the snapshot not yet.
    const had = kindsOf(await this.tiers(business));
    const snapshot = await readRewards(this.stores.redis, business.id);
    const counted = snapshot === undefined ? had : kindsOf(snapshot.tiers);
    const kinds = kindsOf(tiers);
    // Before the write: no purchase counts a kind (re)introduced before the snapshot changes,
    // however long the clear of a business of many contacts takes; the count from the ledger after
    // it (tier-seed.ts) then writes what every purchase makes, those of meanwhile included.
    const added = [...kinds].filter((k) => !counted.has(k) || !had.has(k));
    await forgetTierUnits(this.stores, business.id, added);
    const owed = await this.writeTiers(business, tiers, added.length > 0);
    await this.changed(business.id);
    await payCopy(this.stores.sql, 'rewards', business.id, owed.rewards);
    // Once the purchases count the kinds added: what they bought before counts too (tier-seed.ts).
    // Made once more by the sweep once no process can be on the rewards of before (their reload,
    // offers_ttl_ms): a purchase such a process prices without the kind after its contact was
    // counted here is counted then. With a ledger behind (its writer down or slow) the sweep
    // counts them once it has caught up: the PUT does not wait on the writer.
    // Counted or not (a ledger behind, a failure: 503), the sweep's count comes after that too.
    if (owed.units !== undefined) {
      try {
        await this.seedTierUnits(business.id, put_ledger_wait_ms);
      } finally {
        await oweAgainAfter(this.stores.sql, 'tiers', business.id, owed.units, offers_ttl_ms + 5_000);
      }
    }
    await forgetTierUnits(this.stores, business.id, [...new Set([...counted, ...had])].filter((k) => !kinds.has(k)));
    return this.tiers(business);
  }

  /** The business's contacts' units of every kind of its tiers, as the ledger makes them (tier-seed.ts); whether all were. */
  async seedTierUnits(business_id: string, wait_ms?: number): Promise<boolean> {
    return seedTierUnits(this.stores, business_id, [...kindsOf(await selectTiers(this.stores.sql, business_id))], wait_ms);
  }

  /**
   * The copy kind 'tiers' owes (copies-owed.ts), made by the sweep: left while a PUT of the
   * business runs (it counts them itself, and a count of many contacts outlasts the sweep's wait
   * of a copy owed): 503, tried again at a later sweep.
   */
  async seedOwedTierUnits(business_id: string): Promise<void> {
    const [free] = await this.stores.sql.begin((tx) => tx<{ free: boolean }[]>`select pg_try_advisory_xact_lock(${tiers_put_lock_namespace}, hashtext(${business_id})) as free`);
    if (free?.free !== true) throw new PocketgateError('unavailable', `a PUT /v1/tiers of business ${business_id} is counting its contacts' units`);
    if (!(await this.seedTierUnits(business_id, sweep_ledger_wait_ms))) throw new PocketgateError('unavailable', `the ledger is behind its journals: business ${business_id}'s tier units are counted once it has caught up`);
  }

  /** Answers the tokens of the copies it owes (copies-owed.ts): the rewards', and with `units_owed` the contacts' units. */
  private async writeTiers(business: Business, tiers: readonly Tier[], units_owed: boolean): Promise<{ rewards: string; units: string | undefined }> {
    return this.stores.sql.begin(async (tx) => {
      // One PUT of a business at a time: two at once both deleted the rows (the second found none
      // left to delete) and both inserted, and the second's insert of a name the first had just
      // written again was a unique violation, a 500. Under the lock the second reads and replaces
      // what the first committed.
      await tx`select pg_advisory_xact_lock(${tiers_lock_namespace}, hashtext(${business.id}))`;
      // When each kind came (migration 015): kept for the kinds kept, now for a new one. No longer
      // read (every purchase counts: tier-seed.ts); kept as the record of it.
      // As text: '-infinity' (rows from before migration 015) has no Date.
      const kept = await tx<{ period: string; since: string }[]>`
        select period, min(units_since)::text as since from tiers where business_id = ${business.id} group by period`;
      const since = new Map(kept.map((k) => [k.period, k.since]));
      await tx`delete from tiers where business_id = ${business.id}`;
      if (tiers.length > 0) {
        const rows = tiers.map((t) => ({ business_id: business.id, ...t, units_since: since.get(t.period) ?? null }));
        await tx`insert into tiers (business_id, name, min_period_units, period, units_since)
          select business_id, name, min_period_units, period, coalesce(units_since::timestamptz, now())
          from json_to_recordset(${JSON.stringify(rows)}::text::json) as r(business_id text, name text, min_period_units int8, period text, units_since text)`;
      }
      return { rewards: await oweCopy(tx, 'rewards', business.id), units: units_owed ? await oweCopy(tx, 'tiers', business.id) : undefined };
    });
  }

  /** Something a purchase or redemption reads changed (offers, schemes, tiers, merchant codes): every process reloads it. */
  /**
   * Called after PostgreSQL committed; should Redis fail here (503), the same call again converges,
   * and a PATCH's or a PUT's copy owed is made by the sweep (copies-owed.ts).
   * `shown`: an offer just created hidden, shown only if Redis takes it (rewards-snapshot.ts).
   */
  async changed(business_id: string, shown?: string): Promise<void> {
    await snapshotRewards(this.stores, business_id, shown);
    this.compiled.delete(business_id);
    await this.stores.redis.publish(offers_channel, business_id);
  }

  list(business: Business): Promise<Offer[]> {
    return selectOffers(this.stores.sql, business.id);
  }

  async get(business: Business, id: string): Promise<Offer> {
    const [row] = await this.stores.sql<{ id: string; body: OfferInput; created_at: Date }[]>`
      select id, body, created_at from offers where id = ${id} and business_id = ${business.id} and not hidden`;
    if (row === undefined) throw new PocketgateError('not_found', `offer ${id} not found`);
    return { ...row.body, id: row.id, created_at: iso(row.created_at) };
  }

  /**
   * The scheme, merchants and venues an offer names must be the business's own: another
   * business's (or a made-up) id is 404, as everywhere else, never an offer that silently never
   * matches, nor a way to learn which ids exist.
   */
  private async checkReferences(business: Business, input: OfferInput): Promise<void> {
    const { sql } = this.stores;
    const schemes = input.scheme_id === undefined || input.scheme_id === null ? [] : [input.scheme_id];
    const merchants = input.conditions?.merchants ?? [];
    const venues = input.conditions?.venues ?? [];
    if (schemes.length + merchants.length + venues.length === 0) return;
    const found = await sql<{ id: string }[]>`
      select id from schemes where business_id = ${business.id} and id = any(${schemes})
      union all select id from merchants where business_id = ${business.id} and id = any(${merchants})
      union all select id from venues where business_id = ${business.id} and id = any(${venues})`;
    const known = new Set(found.map((r) => r.id));
    const missing = [...schemes.map((id) => ['scheme', id]), ...merchants.map((id) => ['merchant', id]), ...venues.map((id) => ['venue', id])].find(([, id]) => !known.has(id!));
    if (missing !== undefined) throw new PocketgateError('not_found', `${missing[0]} ${missing[1]} not found`);
  }

  async create(business: Business, sent: OfferInput): Promise<Offer> {
    const input = inUtc(sent);
    refuseWhatSignupLacks(input);
    refusePoolInOpen(input);
    await this.checkReferences(business, input);
    const id = newId('off');
    // Hidden until Redis holds it: a create answered 503 (Redis refusing, the process killed before
    // the copy) leaves an offer nothing ever shows, not one the next change of the business's
    // rewards makes live beside the one the client sent again (offers have no key to tell a retry
    // by: every purchase would award both).
    const [row] = await this.stores.sql.begin(async (tx) => {
      await checkOffersFit(tx, business.id, input);
      await keepPool(tx, business.id, input.pool);
      return tx<{ created_at: Date }[]>`
        insert into offers (id, business_id, body, hidden) values (${id}, ${business.id}, ${tx.json(input as never)}, true) returning created_at`;
    });
    await this.changed(business.id, id);
    return { ...input, id, created_at: iso(row!.created_at) };
  }

  async patch(business: Business, id: string, patch: OfferPatch): Promise<Offer> {
    // Written only over the body it was merged into: two PATCHes at once (a load balancer sends
    // them to two gateways) never lose each other's fields; the later merges again into what the
    // earlier wrote, and seeds only the limits that one did not add. Not under the row's lock: a
    // seed reads the ledger on connections of its own, for seconds on a large offer.
    // Refused at once while Redis takes no write (503, nothing changed), rather than committed
    // where only GET shows it; a copy that fails all the same is owed (copies-owed.ts).
    await requireWritableNow(this.stores);
    for (let attempt = 1; ; attempt++) {
      const [row] = await this.stores.sql<{ body: OfferInput; created_at: Date }[]>`
        select body, created_at from offers where id = ${id} and business_id = ${business.id} and not hidden`;
      if (row === undefined) throw new PocketgateError('not_found', `offer ${id} not found`);
      // Validate the merged offer as a whole: a patch may not leave an offer the engine cannot run.
      const merged = inUtc(parseWith(offerSchema, patchedOffer(row.body, patch)));
      // Only where the patch sets them: an offer stored before the rule still takes its other changes.
      if (patch.goal !== undefined || patch.award !== undefined || patch.conditions !== undefined) refuseWhatSignupLacks(merged);
      if (patch.instant_redeem !== undefined || patch.pool !== undefined || patch.kind !== undefined || patch.goal !== undefined) refusePoolInOpen(merged);
      await this.checkReferences(business, merged);
      // A budget or cap it did not have counts what the offer awarded so far: seeded before the new
      // limits are written where any process could load them (limit-seed.ts: the window left).
      await refuseOffersPastBound(this.stores.sql, business.id, merged, id);
      await seedAddedLimits(this.stores, id, row.body.limits, merged.limits);
      const owed = await this.stores.sql.begin(async (tx) => {
        await checkOffersFit(tx, business.id, merged, id);
        const updated = await tx`update offers set body = ${tx.json(merged as never)}, updated_at = now()
          where id = ${id} and business_id = ${business.id} and not hidden and body = ${tx.json(row.body as never)}`;
        if (updated.count !== 1) return undefined;
        await keepPool(tx, business.id, merged.pool);
        return oweCopy(tx, 'rewards', business.id);
      });
      if (owed === undefined) {
        // Another PATCH wrote it since: merge into that. Bounded: a storm of PATCHes of one offer
        // answers 503 (retry) rather than holding a request for ever.
        if (attempt >= offer_patch_attempts_max) throw new PocketgateError('unavailable', `offer ${id} changed ${attempt} times while this patch was merged; retry`);
        continue;
      }
      await this.changed(business.id);
      await payCopy(this.stores.sql, 'rewards', business.id, owed);
      return { ...merged, id, created_at: iso(row.created_at) };
    }
  }
}

/**
 * The offer's body with `patch` over it: `conditions` and `limits` merged key by key (a key set
 * undefined, null in the request, removed; either undefined removes them all), the rest replaced.
 */
export function patchedOffer(body: OfferInput, patch: OfferPatch): Record<string, unknown> {
  const { conditions, limits, ...rest } = patch;
  const merged_limits = limits === undefined ? undefined : defined({ ...body.limits, ...limits });
  return {
    ...body,
    ...rest,
    // `conditions: null` removes them all, as `limits: null` does.
    ...(!('conditions' in patch) ? {} : { conditions: conditions === undefined ? {} : defined({ ...body.conditions, ...conditions }) }),
    // No limit left is none: `limits` null, not {} (the review).
    ...(!('limits' in patch) ? {} : { limits: merged_limits === undefined || Object.keys(merged_limits).length === 0 ? undefined : merged_limits }),
  };
}

/** `object` without its keys set to undefined (removed by a patch's null). */
function defined<T extends object>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined)) as T;
}

/** Any constant: with the business's hash it names the lock that makes its PUT /v1/tiers one at a time. */
const tiers_lock_namespace = 728_343; // int4: pg_advisory_xact_lock(int, int)
/** The whole of a PUT /v1/tiers (Offers.putTiers), around tiers_lock_namespace's write. */
/** How long a PUT /v1/tiers waits for the ledger before it leaves the count of its contacts' units to the sweep. */
const put_ledger_wait_ms = 1_000;
/** And the sweep, which comes back to it every few seconds: it holds up the copies after it no longer. */
const sweep_ledger_wait_ms = 250;
const tiers_put_lock_namespace = 728_344; // int4: pg_advisory_xact_lock(int, int)

/** Any constant: with the business's hash it names the lock that keeps its pools within their bound. */
const pools_lock_namespace = 728_342; // int4: pg_advisory_xact_lock(int, int)

/**
 * Remembers that an offer of the business names `pool`, in the transaction that writes the offer:
 * its lots keep the name after a PATCH gives the offer another (migration 017). A pool past
 * restricted_pools_max different ones is refused, so that the list every redemption is given
 * stays bounded (taken under a lock: two new pools at once cannot both be the last).
 */
async function keepPool(tx: postgres.TransactionSql, business_id: string, pool: string | undefined): Promise<void> {
  if (pool === undefined) return;
  await tx`select pg_advisory_xact_lock(${pools_lock_namespace}, hashtext(${business_id}))`;
  const [row] = await tx<{ known: boolean; count: number }[]>`
    select exists (select 1 from offer_pools where business_id = ${business_id} and pool = ${pool}) as known,
           (select count(*)::int from offer_pools where business_id = ${business_id}) as count`;
  if (row!.known) return;
  if (row!.count >= restricted_pools_max) {
    const detail = `a business's offers name at most ${restricted_pools_max} different pools`;
    throw new PocketgateError('validation_failed', detail, [{ path: 'pool', message: detail }]);
  }
  await tx`insert into offer_pools (business_id, pool) values (${business_id}, ${pool})`;
}

/** Any constant: with the business's hash it names the lock that keeps its offers within offers_bytes_max. */
const offers_size_lock_namespace = 728_345; // int4: pg_advisory_xact_lock(int, int)

/**
 * A business's offers in all, as stored: its rewards snapshot (rewards-snapshot.ts) is one Redis
 * string that every change rewrites whole and every gateway parses again, and with an offer body of
 * up to 1 MiB nothing else bounded it (a few hundred such offers would pass V8's largest string,
 * and every change would then fail). 8 MiB holds some 3,000 offers of a usual size.
 */
export const offers_bytes_max = 8 * 1024 * 1024;

/**
 * How long a hidden offer counts against the bound: a create commits its offer hidden and shows it
 * after (snapshotRewards), within a request's time; one still hidden later was left by a create
 * answered 503, which nothing ever shows, and must not take the business's room for good.
 */
const hidden_in_flight_s = 300;

/**
 * Refuses an offer body that would take the business's offers past offers_bytes_max, in the
 * transaction that writes it, under a lock: two at once cannot both be the last to fit. Offers
 * being created count too (hidden_in_flight_s): left out, two creates each saw the room only one
 * had. `except_id`: the offer a PATCH replaces.
 */
async function checkOffersFit(tx: postgres.TransactionSql, business_id: string, body: OfferInput, except_id = ''): Promise<void> {
  await tx`select pg_advisory_xact_lock(${offers_size_lock_namespace}, hashtext(${business_id}))`;
  await refuseOffersPastBound(tx, business_id, body, except_id);
}

/** The bound's check itself: also run before a PATCH's limits are seeded, so that one refused does no work. */
async function refuseOffersPastBound(sql: postgres.Sql | postgres.TransactionSql, business_id: string, body: OfferInput, except_id = ''): Promise<void> {
  // Both measured as PostgreSQL writes jsonb out: one offer counts the same whichever side it is on.
  const [row] = await sql<{ others: string; body: number }[]>`
    select (select coalesce(sum(octet_length(body::text)), 0)::int8::text from offers
            where business_id = ${business_id} and id <> ${except_id}
              and (not hidden or created_at > now() - ${hidden_in_flight_s} * interval '1 second')) as others,
           octet_length(${sql.json(body as never)}::jsonb::text) as body`;
  const others_bytes = Number(row!.others);
  const body_bytes = row!.body;
  if (others_bytes + body_bytes <= offers_bytes_max) return;
  const detail = `a business's offers take at most ${offers_bytes_max} bytes in all: the others take ${others_bytes}, this one ${body_bytes} (shorten an offer's lists)`;
  throw new PocketgateError('validation_failed', detail, [{ path: '', message: detail }]);
}

/** The period kinds of tiers ('m', 'q', 'y'). */
function kindsOf(tiers: readonly Tier[]): Set<PeriodKind> {
  return new Set(tiers.map((t) => t.period[0] as PeriodKind));
}

/** Contacts whose units fields are dropped per round of commands. */
const forget_batch = 1_000;

/**
 * Drop the `u<kind>` units fields (hot/lib.lua addTierUnits) of `kinds` from every contact of the
 * business: a kind removed or added back counts afresh. Rare (a PUT /v1/tiers that changes its
 * kinds) and a command per contact, in rounds.
 */
async function forgetTierUnits(stores: Stores, business_id: string, kinds: readonly PeriodKind[]): Promise<void> {
  if (kinds.length === 0) return;
  const fields = kinds.map((k) => `u${k}`);
  const cursor = stores.sql<{ id: string }[]>`select id from contacts where business_id = ${business_id}`.cursor(forget_batch);
  for await (const rows of cursor) {
    await Promise.all(rows.map((r) => stores.redis.hDel(contactKey(shardOf(r.id, stores.config.shard_count), r.id), fields)));
  }
}

/**
 * What a sign-up offer cannot use, refused as bad input (400): a sign-up has no purchase, so a
 * percent award is a percent of nothing (stored and never awarded: a black-box probe of the
 * rewards), and a purchase's conditions have nothing to meet.
 */
function refuseWhatSignupLacks(offer: Pick<OfferInput, 'goal' | 'award' | 'conditions'>): void {
  if (offer.goal !== 'signup') return;
  if ('percent' in offer.award) {
    const message = 'a signup offer has no purchase to take a percent of: give award.fixed';
    throw new PocketgateError('validation_failed', `award.percent: ${message}`, [{ path: 'award.percent', message }]);
  }
  // Conditions on a purchase (and on its venue's day and time): a sign-up has none to meet them,
  // and they were ignored, so that a Monday-only sign-up offer awarded on a Saturday (a black-box
  // probe, 2026-12-05). Refused, as a percent award is, rather than read one way or another.
  const unmet = signup_unmet_conditions.find((k) => offer.conditions?.[k] !== undefined);
  if (unmet === undefined) return;
  const message = 'a signup offer has no purchase, venue or time of day to meet this: leave it out (tiers and tags apply)';
  throw new PocketgateError('validation_failed', `conditions.${unmet}: ${message}`, [{ path: `conditions.${unmet}`, message }]);
}

/**
 * A pool is of the commerce balance (API.md): an instant_redeem award lands in the open balance,
 * where nothing keeps it to the pool's merchant, so a pool named after one was spent at another
 * (a redemptions probe, 2026-12-05). Refused rather than one of the two dropped.
 */
function refusePoolInOpen(offer: Pick<OfferInput, 'instant_redeem' | 'pool' | 'kind' | 'goal'>): void {
  if (offer.pool === undefined) return;
  // Nor an instant discount, which lowers the price and lands in no balance: its awards named a
  // pool nothing was in (an offers probe, 2026-12-06). A sign-up's or referral's is paid as
  // cashback (there is no price to lower), into its pool.
  let message: string;
  if (offer.instant_redeem === true) message = 'an instant_redeem award lands in the open balance, which has no pools: leave out pool, or instant_redeem';
  else if (offer.kind === 'instant_discount' && offer.goal !== 'signup' && offer.goal !== 'referral') message = 'an instant discount lowers the price and lands in no balance: leave out pool';
  else return;
  throw new PocketgateError('validation_failed', `pool: ${message}`, [{ path: 'pool', message }]);
}

/** Of an offer's conditions, those only a purchase can meet (core/offer.ts evaluateSignup reads the rest). */
const signup_unmet_conditions = ['min_amount', 'merchants', 'venues', 'products', 'days_of_week', 'time_from', 'time_to'] as const;
