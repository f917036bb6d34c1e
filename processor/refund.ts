// Refunds and reversals: both act on an earlier transaction of the same terminal, found by its
// reference, on that transaction's contact's shard: in the hot window by the reference's claim
// and record, after it in the ledger.

import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { RefundInput, ReversalInput } from '../core/schemas.ts';
import { claimForReversal, claimReference, findOriginal } from './claim.ts';
import type { Contacts } from './contacts.ts';
import { referenceSlot, type ReferenceSlot } from './hot/references.ts';
import { Script } from './hot/script.ts';
import { accountId } from './journal.ts';
import { ledgerOriginal, type LedgerOriginal } from './ledger/originals.ts';
import type { Business, Terminal } from './network.ts';
import { hole, runShard, type Reply, type ShardCall, wallet_tail } from './shard.ts';
import type { Stores } from './stores.ts';
import { requestHash, rfc3339, type Spends } from './wallet.ts';

const refund_script = new Script('lib.lua', 'refund-shares.lua', 'refund.lua');
const reversal_script = new Script('lib.lua', 'reversal.lua');

/** Where an original is: its contact, and what the ledger has of it when the hot window does not. */
interface Located {
  readonly contact_id: string;
  /** The script's ledger arguments: the original as a record, its state, a redemption's lots. */
  readonly ledger: readonly [string, string, string];
}

const none: Located['ledger'] = ['', '', ''];
const kind_letters: Record<string, string> = { purchase: 'p', spend: 's', redemption: 'r' };

/** The ledger's original in the shapes the scripts read a record and a state in (hot/lib.lua). */
function ledgerArgs(o: LedgerOriginal): Located['ledger'] {
  const record = `${o.id.slice(4)}|${kind_letters[o.kind] ?? '?'}|${o.amount}|${o.awarded}|${o.paid}|${o.discount}|${o.fee}`;
  const state = `${o.refunded}|${o.clawed}|${o.returned}|${o.fee_returned}|${o.discount_returned}|${o.reversed ? '1' : ''}`;
  return [record, state, o.lots];
}

export class Refunds {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly spends: Spends,
  ) {}

  async refund(business: Business, terminal: Terminal, input: RefundInput): Promise<Reply> {
    const hash = requestHash(this.stores.config.cim_hmac_key, 'refund', input);
    const now_ms = this.stores.clock.now();
    const original_slot = referenceSlot(this.stores.config, terminal.id, input.original_reference, now_ms);
    const original = await this.locate(business, terminal, original_slot, input.original_reference);
    if (original === undefined) throw new PocketgateError('original_not_found', `no purchase with reference ${input.original_reference} at this terminal`);
    const slot = referenceSlot(this.stores.config, terminal.id, input.reference, now_ms);
    await claimReference(this.stores, slot, input.reference, hash, original.contact_id);
    return runShard(this.stores, refund_script, this.refundCall(business, terminal, input, slot, original_slot, original, now_ms));
  }

  /**
   * The original a terminal made under a reference: its contact from the hot window's claim (the
   * script reads its record), else from the ledger, which the script is then given.
   */
  private async locate(business: Business, terminal: Terminal, slot: ReferenceSlot, reference: string): Promise<Located | undefined> {
    const claimed = await findOriginal(this.stores, slot);
    if (claimed !== undefined) return { contact_id: claimed.contact_id, ledger: none };
    let o: LedgerOriginal | undefined;
    try {
      o = await ledgerOriginal(this.stores.sql, business.id, terminal.id, reference);
    } catch {
      throw new PocketgateError('unavailable', 'the original is older than the hot window and the ledger cannot be read now; try again');
    }
    return o === undefined ? undefined : { contact_id: o.contact_id, ledger: ledgerArgs(o) };
  }

  /**
   * The refund's shard script call. The script reads the original's record and computes the
   * refund's shares from it atomically (hot/refund.lua), so concurrent refunds of one purchase
   * never work from a stale reading: the templates leave holes for the original's id, the amount
   * (what is left, when none is given) and the shares.
   */
  private refundCall(business: Business, terminal: Terminal, input: RefundInput, slot: ReferenceSlot, original_slot: ReferenceSlot, original: Located, now_ms: number): ShardCall {
    const { contact_id } = original;
    const shard = this.contacts.shardOf(contact_id);
    const currency = business.currency;
    const id = newId('txn');
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
      slot,
      contact_id,
      shard,
      id,
      now_ms,
      reply,
      entry,
      keys: original_slot.record_keys(shard),
      args: [input.amount === undefined ? '' : String(input.amount), ...this.accounts(business, terminal, contact_id), original_slot.field, ...original.ledger],
    };
  }

  async reverse(business: Business, terminal: Terminal, input: ReversalInput): Promise<Reply> {
    const { config } = this.stores;
    const hash = requestHash(config.cim_hmac_key, 'reversal', input);
    const now_ms = this.stores.clock.now();
    const original_slot = referenceSlot(config, terminal.id, input.original_reference, now_ms);
    const slot = referenceSlot(config, terminal.id, input.reference, now_ms);
    let original = await this.locate(business, terminal, original_slot, input.original_reference);
    if (original === undefined) {
      // Not here (yet): remember the reversal so that the original is refused if it comes late.
      const outcome = await claimForReversal(this.stores, original_slot, hash);
      if (outcome === 'reversed') throw new PocketgateError('already_reversed', `reference ${input.original_reference} was already reversed`);
      if (outcome === 'remembered') {
        await claimReference(this.stores, slot, input.reference, hash, '');
        throw new PocketgateError('original_not_found', `no transaction with reference ${input.original_reference} at this terminal; it will be refused if it arrives`);
      }
      // The original arrived between our two reads: reverse it for real.
      original = await this.locate(business, terminal, original_slot, input.original_reference);
      if (original === undefined) throw new PocketgateError('original_not_found', `no transaction with reference ${input.original_reference} at this terminal`);
    }
    await claimReference(this.stores, slot, input.reference, hash, original.contact_id);
    return runShard(this.stores, reversal_script, this.reversalCall(business, terminal, input, slot, original_slot, original, now_ms));
  }

  /**
   * The reversal's shard script call. The script reads the original's record and decides
   * everything from it atomically (hot/reversal.lua), so the templates leave holes for the
   * original's id, kind and amount: nothing read before the script can be stale when it runs.
   */
  private reversalCall(business: Business, terminal: Terminal, input: ReversalInput, slot: ReferenceSlot, original_slot: ReferenceSlot, original: Located, now_ms: number): ShardCall {
    const { contact_id } = original;
    const shard = this.contacts.shardOf(contact_id);
    const currency = business.currency;
    const id = newId('txn');
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
      slot,
      contact_id,
      shard,
      id,
      now_ms,
      reply,
      entry,
      keys: original_slot.record_keys(shard),
      args: [...this.accounts(business, terminal, contact_id), original_slot.field, ...original.ledger],
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
