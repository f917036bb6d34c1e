// Refunds and reversals: both act on an earlier transaction of the same terminal, found by its
// reference, on that transaction's contact's shard.

import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { RefundInput, ReversalInput } from '../core/schemas.ts';
import { claimForReversal, claimReference, findOriginal } from './claim.ts';
import type { Contacts } from './contacts.ts';
import { recordKey } from './hot/keys.ts';
import { Script } from './hot/script.ts';
import { accountId } from './journal.ts';
import type { Business, Terminal } from './network.ts';
import { hole, runShard, type Reply, type ShardCall, wallet_tail } from './shard.ts';
import type { Stores } from './stores.ts';
import { requestHash, rfc3339, type Spends } from './wallet.ts';

const refund_script = new Script('lib.lua', 'refund-shares.lua', 'refund.lua');
const reversal_script = new Script('lib.lua', 'reversal.lua');

export class Refunds {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly spends: Spends,
  ) {}

  async refund(business: Business, terminal: Terminal, input: RefundInput): Promise<Reply> {
    const hash = requestHash(this.stores.config.cim_hmac_key, 'refund', input);
    const original = await findOriginal(this.stores, terminal.id, input.original_reference);
    if (original === undefined) throw new PocketgateError('original_not_found', `no purchase with reference ${input.original_reference} at this terminal`);
    await claimReference(this.stores, terminal.id, input.reference, hash, original.contact_id);
    return runShard(this.stores, refund_script, this.refundCall(business, terminal, input, hash, original.contact_id));
  }

  /**
   * The refund's shard script call. The script reads the original's record and computes the
   * refund's shares from it atomically (hot/refund.lua), so concurrent refunds of one purchase
   * never work from a stale reading: the templates leave holes for the original's id, the amount
   * (what is left, when none is given) and the shares.
   */
  private refundCall(business: Business, terminal: Terminal, input: RefundInput, hash: string, contact_id: string): ShardCall {
    const shard = this.contacts.shardOf(contact_id);
    const currency = business.currency;
    const id = newId('txn');
    const now_ms = this.stores.clock.now();
    const reply =
      `{"id":"${id}","status":"approved","reference":${JSON.stringify(input.reference)},"original_id":"${hole('original')}",` +
      `"contact_id":"${contact_id}","amount":${hole('amount')},"currency":"${currency}","clawed_back":${hole('clawed')},` +
      `"returned_to_wallet":${hole('returned')},"created_at":"${rfc3339(now_ms)}",` +
      wallet_tail;
    const entry =
      `{"id":"${id}","kind":"refund","business_id":"${business.id}","terminal_id":"${terminal.id}",` +
      `"reference":${JSON.stringify(input.reference)},"contact_id":"${contact_id}","amount":${hole('amount')},"currency":"${currency}",` +
      `"original_id":"${hole('original')}","created_at":"${new Date(now_ms).toISOString()}","postings":[${hole('postings')}]}`;
    return {
      business_id: business.id,
      terminal_id: terminal.id,
      reference: input.reference,
      hash,
      contact_id,
      shard,
      id,
      now_ms,
      reply,
      entry,
      keys: [recordKey(shard, terminal.id, input.original_reference)],
      args: [input.amount === undefined ? '' : String(input.amount), ...this.accounts(business, terminal, contact_id)],
    };
  }

  async reverse(business: Business, terminal: Terminal, input: ReversalInput): Promise<Reply> {
    const { config } = this.stores;
    const hash = requestHash(config.cim_hmac_key, 'reversal', input);
    let original = await findOriginal(this.stores, terminal.id, input.original_reference);
    if (original === undefined) {
      // Not here (yet): remember the reversal so that the original is refused if it comes late.
      const outcome = await claimForReversal(this.stores, terminal.id, input.original_reference, hash);
      if (outcome === 'reversed') throw new PocketgateError('already_reversed', `reference ${input.original_reference} was already reversed`);
      if (outcome === 'remembered') {
        await claimReference(this.stores, terminal.id, input.reference, hash, '');
        throw new PocketgateError('original_not_found', `no transaction with reference ${input.original_reference} at this terminal; it will be refused if it arrives`);
      }
      // The original arrived between our two reads: reverse it for real.
      original = await findOriginal(this.stores, terminal.id, input.original_reference);
      if (original === undefined) throw new PocketgateError('original_not_found', `no transaction with reference ${input.original_reference} at this terminal`);
    }
    const contact_id = original.contact_id;
    await claimReference(this.stores, terminal.id, input.reference, hash, contact_id);
    return runShard(this.stores, reversal_script, this.reversalCall(business, terminal, input, hash, contact_id));
  }

  /**
   * The reversal's shard script call. The script reads the original's record and decides
   * everything from it atomically (hot/reversal.lua), so the templates leave holes for the
   * original's id, kind and amount: nothing read before the script can be stale when it runs.
   */
  private reversalCall(business: Business, terminal: Terminal, input: ReversalInput, hash: string, contact_id: string): ShardCall {
    const shard = this.contacts.shardOf(contact_id);
    const currency = business.currency;
    const id = newId('txn');
    const now_ms = this.stores.clock.now();
    const reply =
      `{"id":"${id}","status":"approved","reference":${JSON.stringify(input.reference)},"original_id":"${hole('original')}",` +
      `"original_kind":"${hole('kind')}","contact_id":"${contact_id}","currency":"${currency}","created_at":"${rfc3339(now_ms)}",` +
      wallet_tail;
    const entry =
      `{"id":"${id}","kind":"reversal","business_id":"${business.id}","terminal_id":"${terminal.id}",` +
      `"reference":${JSON.stringify(input.reference)},"contact_id":"${contact_id}","amount":${hole('amount')},"currency":"${currency}",` +
      `"original_id":"${hole('original')}","created_at":"${new Date(now_ms).toISOString()}","postings":[${hole('postings')}]}`;
    return {
      business_id: business.id,
      terminal_id: terminal.id,
      reference: input.reference,
      hash,
      contact_id,
      shard,
      id,
      now_ms,
      reply,
      entry,
      keys: [recordKey(shard, terminal.id, input.original_reference)],
      args: this.accounts(business, terminal, contact_id),
    };
  }

  /**
   * The accounts a refund or reversal at this terminal posts to: the contact's commerce and open
   * balances, the business's rewards, the terminal's spends, the business's discounts, and the
   * contribution fee's 'debit|credit' ('' at the business's own venues, which charge none).
   */
  private accounts(business: Business, terminal: Terminal, contact_id: string): string[] {
    const currency = business.currency;
    const fee = terminal.merchant_id === null ? '' : `${accountId(business.id, 'fee_income', currency)}|${accountId(terminal.merchant_id, 'fees', currency)}`;
    return [
      accountId(contact_id, 'commerce', currency), accountId(contact_id, 'open', currency), accountId(business.id, 'rewards', currency),
      this.spends.spendAccount(business, terminal), accountId(business.id, 'discounts', currency), fee,
    ];
  }
}
