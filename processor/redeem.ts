// Redemption: commerce balance into the open balance, earliest-expiring lots first, honouring
// pools (a pool named after a merchant code redeems only at that merchant's terminals).

import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { RedemptionInput } from '../core/schemas.ts';
import { claimReference } from './claim.ts';
import type { Contacts } from './contacts.ts';
import { stateKey } from './hot/keys.ts';
import { referenceSlot } from './hot/references.ts';
import { Script } from './hot/script.ts';
import { accountId } from './journal.ts';
import type { Business, Terminal } from './network.ts';
import { hole, runShard, type Reply, wallet_tail } from './shard.ts';
import type { Stores } from './stores.ts';
import { requestHash, rfc3339 } from './wallet.ts';

const redeem_script = new Script('lib.lua', 'redeem.lua');

export class Redemptions {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
  ) {}

  async redeem(business: Business, terminal: Terminal, input: RedemptionInput): Promise<Reply> {
    const { config, clock } = this.stores;
    const cim = this.contacts.normalise(input.cim.type, input.cim.value, 'cim.value');
    const hash = requestHash(config.cim_hmac_key, 'redemption', input);
    const contact_id = await this.contacts.resolve(business.id, cim);
    if (contact_id === null) throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
    const now_ms = clock.now();
    const slot = referenceSlot(config, terminal.id, input.reference, now_ms);
    await claimReference(this.stores, slot, input.reference, hash, contact_id);
    const id = newId('txn');
    const shard = this.contacts.shardOf(contact_id);
    const currency = business.currency;
    const reply =
      `{"id":"${id}","status":"approved","reference":${JSON.stringify(input.reference)},"contact_id":"${contact_id}",` +
      `"redeemed":${hole('redeemed')},"currency":"${currency}","created_at":"${rfc3339(now_ms)}",` +
      wallet_tail;
    // The amount is the script's to decide (everything eligible when none is given).
    const entry =
      `{"id":"${id}","kind":"redemption","business_id":"${business.id}","terminal_id":"${terminal.id}",` +
      `"reference":${JSON.stringify(input.reference)},"contact_id":"${contact_id}","amount":${hole('redeemed')},` +
      `"currency":"${currency}","created_at":"${new Date(now_ms).toISOString()}","lots":${hole('lots')},"postings":[${hole('postings')}]}`;
    return runShard(this.stores, redeem_script, {
      business_id: business.id,
      slot,
      contact_id,
      shard,
      id,
      now_ms,
      reply,
      entry,
      keys: [stateKey(shard, id)],
      args: [input.amount === undefined ? '' : String(input.amount), terminal.merchant_code, accountId(contact_id, 'commerce', currency), accountId(contact_id, 'open', currency)],
    });
  }
}
