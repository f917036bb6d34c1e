// Reversals of purchases made while the ledger could not be read (PostgreSQL down), given back
// whole once it can. A reversal voids a purchase "as if it never happened" (API.md), its caps,
// budgets and tier units included, and what the purchase counted is read from the ledger once
// the journal no longer holds it. With PostgreSQL down the POS path goes on approving
// (OPERATIONS.md), so the reversal is approved with what Redis alone can do (the money, the
// purchase itself), and reversal.lua keeps a deferral in the shard's deferred undos, atomically
// with it (hot/keys.ts deferredUndosKey). The sweeper here reads each deferred purchase from the
// ledger once it answers and gives back what it counted: undo.lua takes the deferral out
// atomically with the caps and units, so each is given back once, whichever gateway sweeps;
// budgets after it, as a reversal gives them back (one not given back stays used, never
// over-awarded).

import type { Network } from './network.ts';
import type { Offers } from './offers.ts';
import { posLedgerRead } from './ledger-reads.ts';
import { giveBackBudgets, readCountedPurchase, undoOf } from './purchase-undo.ts';
import { deferredUndosKey } from './hot/keys.ts';
import type { PurchaseUndo } from './hot/reversal.ts';
import type { FailureReport } from './purchase.ts';
import { repeatEvery } from './repeat.ts';
import type { Stores } from './stores.ts';

export interface DeferredUndo {
  readonly business_id: string;
  readonly contact_id: string;
  /** The reversed purchase. */
  readonly purchase_id: string;
  /** Its venue's time zone: its caps' and tier units' periods. */
  readonly timezone: string;
}

/** What reversal.lua is given for a purchase whose counts cannot be read now: the purchase alone, and the deferral. */
export function deferredUndo(d: DeferredUndo): PurchaseUndo {
  const deferred = JSON.stringify({ b: d.business_id, c: d.contact_id, p: d.purchase_id, z: d.timezone });
  return { original: d.purchase_id, caps: [], units: 0, periods: [], deferred };
}

/** A deferral read back; undefined for one not written so. */
export function decodeDeferredUndo(value: string): DeferredUndo | undefined {
  try {
    const v = JSON.parse(value) as Record<string, unknown>;
    if (typeof v.b !== 'string' || typeof v.c !== 'string' || typeof v.p !== 'string' || typeof v.z !== 'string') return undefined;
    return { business_id: v.b, contact_id: v.c, purchase_id: v.p, timezone: v.z };
  } catch {
    return undefined;
  }
}

/** How often the deferred undos are swept; each sweep is a read of every shard's hash when there are none. */
export const deferred_undo_sweep_ms = 1_000;
/** Deferred undos given back per shard per sweep: a sweep is bounded, the next one goes on. */
const undos_per_shard_max = 100;

export class DeferredUndos {
  constructor(
    private readonly stores: Stores,
    private readonly network: Network,
    private readonly offers: Offers,
    private readonly report: FailureReport,
  ) {}

  /** Give back every deferred undo whose purchase the ledger can be read for now; answers how many. */
  async sweep(): Promise<number> {
    const { redis, config } = this.stores;
    const shards = Array.from({ length: config.shard_count }, (_, shard) => shard);
    // One round trip for all shards (node-redis pipelines a tick's commands); most find none.
    const found = await Promise.all(shards.map((shard) => redis.hScan(deferredUndosKey(shard), '0', { COUNT: undos_per_shard_max })));
    let done = 0;
    for (const [shard, { entries }] of found.entries()) {
      for (const { field, value } of entries) if (await this.giveBack(shard, field, value)) done++;
    }
    return done;
  }

  /** Sweep every `interval_ms` until stopped; errors are reported and the next sweep goes on. */
  start(interval_ms: number, onError: (err: unknown) => void): () => void {
    return repeatEvery(interval_ms, () => this.sweep(), onError);
  }

  /** One deferred undo: given back if the ledger answers now, else left for the next sweep. */
  private async giveBack(shard: number, reversal: string, value: string): Promise<boolean> {
    const d = decodeDeferredUndo(value);
    const business = d === undefined ? undefined : await this.network.business(d.business_id);
    if (d === undefined || business === undefined) {
      // Nothing can ever be given back for it: taken out, and said.
      this.report(new Error('deferred undo given up on'), { reversal, value: value.slice(0, 200) }, 'deferred undo given up on: not a deferral, or its business is gone');
      await this.stores.redis.hDel(deferredUndosKey(shard), reversal);
      return false;
    }
    const counted = await readCountedPurchase(this.stores, shard, d.purchase_id, posLedgerRead(this.stores));
    if (counted === undefined) return false;
    const rewards = await this.offers.forBusiness(business);
    const undo = undoOf(d.purchase_id, counted, rewards, d.timezone);
    if (!(await this.stores.redis.undoScript({ shard, contact_id: d.contact_id, reversal, undo }))) return false;
    await giveBackBudgets(this.stores, counted, rewards).catch((err: unknown) => this.report(err, { reversal, transaction_id: d.purchase_id }, 'deferred undo given back: could not give back its purchase’s budgets'));
    return true;
  }
}
