// The one purchase call script-bench.ts measures, through the processor's own code: the script
// call built as Purchases builds it, run, and its answer turned into a reply.

import type { PurchaseInput } from '../core/schemas.ts';
import type { Business, Terminal } from '../processor/network.ts';
import type { Rewards } from '../processor/offers.ts';
import { Purchases, type PurchaseFacts } from '../processor/purchase.ts';
import { shardReply } from '../processor/shard.ts';
import type { Stores } from '../processor/stores.ts';
import { Spends } from '../processor/wallet.ts';

let purchases: Purchases | undefined;

export async function benchPurchase(stores: Stores, business: Business, terminal: Terminal, _rewards: Rewards, facts: PurchaseFacts & { input: PurchaseInput }): Promise<number> {
  purchases ??= new Purchases(stores, undefined as never, undefined as never, new Spends(stores, undefined as never), undefined as never, undefined as never, () => {});
  const call = purchases.purchaseCall(business, terminal, facts.input, facts);
  const reply = await shardReply(stores, call, stores.redis.purchaseScript(call));
  return reply.status;
}
