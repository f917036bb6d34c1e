// The one purchase call script-bench.ts measures, through the processor's own code: the script
// call built as Purchases builds it, run, and its answer turned into a reply.

import type { Business, Terminal } from '../processor/network.ts';
import type { Rewards } from '../processor/offers.ts';
import { Purchases } from '../processor/purchase.ts';
import { Script } from '../processor/hot/script.ts';
import { runShard, type ShardCall } from '../processor/shard.ts';
import type { Stores } from '../processor/stores.ts';
import { Spends } from '../processor/wallet.ts';
import type { PurchaseInput } from '../core/schemas.ts';

const purchase_script = new Script('lib.lua', 'purchase.lua');

type CallOf = (business: Business, terminal: Terminal, input: PurchaseInput, facts: unknown) => ShardCall;
let purchases: Purchases | undefined;

export async function benchPurchase(stores: Stores, business: Business, terminal: Terminal, _rewards: Rewards, facts: { input: PurchaseInput } & Record<string, unknown>): Promise<number> {
  purchases ??= new Purchases(stores, undefined as never, undefined as never, new Spends(stores, undefined as never), undefined as never, () => {});
  const purchaseCall = (purchases as unknown as { purchaseCall: CallOf }).purchaseCall.bind(purchases);
  const reply = await runShard(stores, purchase_script, purchaseCall(business, terminal, facts.input, facts));
  return reply.status;
}
