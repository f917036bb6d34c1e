// Refunds and reversals: both act on an earlier transaction of the same terminal, found by its
// reference, on that transaction's contact's shard.

import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { refundShares } from '../core/refund.ts';
import type { RefundInput, ReversalInput } from '../core/schemas.ts';
import { claimForReversal, claimReference, findOriginal } from './claim.ts';
import type { Contacts } from './contacts.ts';
import { recordKey } from './hot/keys.ts';
import { Script } from './hot/script.ts';
import { accountId, type Posting } from './journal.ts';
import type { Business, Terminal } from './network.ts';
import { hole, runShard, StaleRead, type Reply, type ShardCall, wallet_tail } from './shard.ts';
import type { Stores } from './stores.ts';
import { requestHash, rfc3339, type Spends } from './wallet.ts';

const refund_script = new Script('lib.lua', 'refund.lua');
const reversal_script = new Script('lib.lua', 'reversal.lua');

/** Two refunds of one purchase racing each other retry this often before giving up. */
const stale_retries_max = 8;

interface OriginalRecord {
  readonly id: string;
  readonly kind: string;
  readonly amount: number;
  readonly awarded: number;
  readonly paid: number;
  readonly discount: number;
  readonly fee: number;
  readonly refunded: number;
  readonly clawed: number;
  readonly discount_returned: number;
  readonly returned: number;
  readonly fee_returned: number;
  /** As stored: the script compares it to detect a refund that raced ours. */
  readonly refunded_raw: string;
}

function postingsJson(postings: readonly Posting[]): string {
  return postings.map((p) => JSON.stringify(p)).join(',');
}

export class Refunds {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly spends: Spends,
  ) {}

  private async readOriginal(shard: number, terminal_id: string, reference: string): Promise<OriginalRecord | undefined> {
    const [id, k, a, w, p, ds, fee, rf, cw, dr, cp, fr] = await this.stores.redis.hmGet(recordKey(shard, terminal_id, reference), ['id', 'k', 'a', 'w', 'p', 'ds', 'fee', 'rf', 'cw', 'dr', 'cp', 'fr']);
    if (id === null || id === undefined || k === null || k === undefined) return undefined;
    const n = (v: string | null | undefined) => Number(v ?? 0);
    return { id, kind: k, amount: n(a), awarded: n(w), paid: n(p), discount: n(ds), fee: n(fee), refunded: n(rf), clawed: n(cw), discount_returned: n(dr), returned: n(cp), fee_returned: n(fr), refunded_raw: rf ?? '' };
  }

  async refund(business: Business, terminal: Terminal, input: RefundInput): Promise<Reply> {
    const { config } = this.stores;
    const hash = requestHash(config.cim_hmac_key, 'refund', input);
    const original = await findOriginal(this.stores, terminal.id, input.original_reference);
    if (original === undefined) throw new PocketgateError('original_not_found', `no purchase with reference ${input.original_reference} at this terminal`);
    const contact_id = original.contact_id;
    await claimReference(this.stores, terminal.id, input.reference, hash, contact_id);
    const shard = this.contacts.shardOf(contact_id);
    const currency = business.currency;
    const id = newId('txn');
    for (let attempt = 0; ; attempt++) {
      const o = await this.readOriginal(shard, terminal.id, input.original_reference);
      if (o === undefined || o.kind !== 'purchase') throw new PocketgateError('original_not_found', `no purchase with reference ${input.original_reference} at this terminal`);
      const amount = input.amount ?? o.amount - o.refunded;
      // Out-of-range amounts go to the script all the same: it answers a replay of this very
      // refund before it checks them, and refuses them otherwise.
      const { claw, discount_back, give, fee_back } = refundShares(o, amount) ?? { claw: 0, discount_back: 0, give: 0, fee_back: 0 };
      const known: Posting[] = [];
      if (give > 0) known.push([this.spends.spendAccount(business, terminal), accountId(contact_id, 'open', currency), give]);
      if (discount_back > 0) known.push([accountId(business.id, 'discounts', currency), accountId(business.id, 'rewards', currency), discount_back]);
      if (fee_back > 0) known.push([accountId(business.id, 'fee_income', currency), accountId(terminal.merchant_id!, 'fees', currency), fee_back]);
      const now_ms = this.stores.clock.now();
      const reply =
        `{"id":"${id}","status":"approved","reference":${JSON.stringify(input.reference)},"original_id":"${o.id}",` +
        `"contact_id":"${contact_id}","amount":${amount},"currency":"${currency}","clawed_back":${hole('clawed')},` +
        `"returned_to_wallet":${hole('returned')},"created_at":"${rfc3339(now_ms)}",` +
        wallet_tail;
      const entry =
        `{"id":"${id}","kind":"refund","business_id":"${business.id}","terminal_id":"${terminal.id}",` +
        `"reference":${JSON.stringify(input.reference)},"contact_id":"${contact_id}","amount":${amount},"currency":"${currency}",` +
        `"original_id":"${o.id}","created_at":"${new Date(now_ms).toISOString()}","postings":[${hole('postings')}]}`;
      try {
        return await runShard(this.stores, refund_script, {
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
          args: [
            o.refunded_raw, String(amount), String(claw), String(give),
            accountId(contact_id, 'commerce', currency), accountId(contact_id, 'open', currency), accountId(business.id, 'rewards', currency),
            postingsJson(known), String(fee_back), String(discount_back),
          ],
        });
      } catch (err) {
        if (!(err instanceof StaleRead)) throw err;
        if (attempt >= stale_retries_max) throw new PocketgateError('unavailable', 'the original is changing under many refunds at once; try again');
      }
    }
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
      args: [
        accountId(contact_id, 'commerce', currency), accountId(contact_id, 'open', currency), accountId(business.id, 'rewards', currency),
        this.spends.spendAccount(business, terminal), accountId(business.id, 'discounts', currency), this.feeAccounts(business, terminal),
      ],
    };
  }

  /** 'debit|credit' of a contribution fee given back at this terminal: '' at the business's own venues. */
  private feeAccounts(business: Business, terminal: Terminal): string {
    if (terminal.merchant_id === null) return '';
    return `${accountId(business.id, 'fee_income', business.currency)}|${accountId(terminal.merchant_id, 'fees', business.currency)}`;
  }
}
