// Refunds and reversals: both act on an earlier transaction of the same terminal, found by its
// reference, on that transaction's contact's shard.

import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { refundShares } from '../core/refund.ts';
import type { RefundInput, ReversalInput } from '../core/schemas.ts';
import { claimForReversal, claimReference, findOriginal } from './claim.ts';
import type { Contacts } from './contacts.ts';
import { stateKey } from './hot/keys.ts';
import { parseRecord, referenceSlot, type ReferenceSlot } from './hot/references.ts';
import { Script } from './hot/script.ts';
import { accountId, type Posting } from './journal.ts';
import { ledgerOriginal } from './ledger/originals.ts';
import type { Business, Terminal } from './network.ts';
import { hole, readRecord, runShard, StaleRead, type Reply, wallet_tail } from './shard.ts';
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
  /** What the ledger holds of its state, for the script to start from ('' when the hot path has it). */
  readonly ledger_state: string;
  /** A redemption's lots as the ledger has them ('' when the hot path has them). */
  readonly ledger_lots?: string;
}

/** Where an original is: its contact, and its record unless its reference is claimed but not recorded. */
interface Found {
  readonly contact_id: string;
  readonly shard: number;
  readonly record: OriginalRecord | undefined;
}

function postingsJson(postings: readonly Posting[]): string {
  return postings.map((p) => JSON.stringify(p)).join(',');
}

const n = (v: string | null | undefined) => Number(v ?? 0);

export class Refunds {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly spends: Spends,
  ) {}

  /** The original a terminal made under a reference: in the hot window, else in the ledger. */
  private async findOriginal(business: Business, terminal: Terminal, slot: ReferenceSlot, reference: string): Promise<Found | undefined> {
    const claimed = await findOriginal(this.stores, slot);
    if (claimed !== undefined) {
      const shard = this.contacts.shardOf(claimed.contact_id);
      const record = parseRecord(await readRecord(this.stores, shard, slot));
      if (record === undefined) return { contact_id: claimed.contact_id, shard, record: undefined };
      const [rf, cw, cp, fr, dr] = await this.stores.redis.hmGet(stateKey(shard, record.id), ['rf', 'cw', 'cp', 'fr', 'dr']);
      return {
        contact_id: claimed.contact_id,
        shard,
        record: { ...record, refunded: n(rf), clawed: n(cw), returned: n(cp), fee_returned: n(fr), discount_returned: n(dr), refunded_raw: rf ?? '', ledger_state: '' },
      };
    }
    return this.fromLedger(business, terminal, reference);
  }

  /**
   * Older than the hot window: the ledger's. What refunds did to it is the hot path's while it
   * remembers them (its state outlives the window after each refund), else the ledger's sums.
   */
  private async fromLedger(business: Business, terminal: Terminal, reference: string): Promise<Found | undefined> {
    let o;
    try {
      o = await ledgerOriginal(this.stores.sql, business.id, terminal.id, reference);
    } catch {
      throw new PocketgateError('unavailable', 'the original is older than the hot window and the ledger cannot be read now; try again');
    }
    if (o === undefined) return undefined;
    const shard = this.contacts.shardOf(o.contact_id);
    const [rf, cw, cp, fr, dr] = await this.stores.redis.hmGet(stateKey(shard, o.id), ['rf', 'cw', 'cp', 'fr', 'dr']);
    const hot = rf !== null && rf !== undefined;
    const state = hot
      ? { refunded: n(rf), clawed: n(cw), returned: n(cp), fee_returned: n(fr), discount_returned: n(dr), refunded_raw: rf, ledger_state: '' }
      : {
          refunded: o.refunded, clawed: o.clawed, returned: o.returned, fee_returned: o.fee_returned, discount_returned: o.discount_returned,
          refunded_raw: String(o.refunded),
          ledger_state: `${o.refunded}|${o.clawed}|${o.returned}|${o.fee_returned}|${o.discount_returned}|${o.reversed ? '1' : ''}`,
        };
    const record = { id: o.id, kind: o.kind, amount: o.amount, awarded: o.awarded, paid: o.paid, discount: o.discount, fee: o.fee, ledger_lots: o.lots, ...state };
    return { contact_id: o.contact_id, shard, record };
  }

  async refund(business: Business, terminal: Terminal, input: RefundInput): Promise<Reply> {
    const { config, clock } = this.stores;
    const hash = requestHash(config.cim_hmac_key, 'refund', input);
    const started_ms = clock.now();
    const original_slot = referenceSlot(config, terminal.id, input.original_reference, started_ms);
    const not_found = () => new PocketgateError('original_not_found', `no purchase with reference ${input.original_reference} at this terminal`);
    let found = await this.findOriginal(business, terminal, original_slot, input.original_reference);
    if (found === undefined) throw not_found();
    const { contact_id, shard } = found;
    const slot = referenceSlot(config, terminal.id, input.reference, started_ms);
    await claimReference(this.stores, slot, input.reference, hash, contact_id);
    const currency = business.currency;
    const id = newId('txn');
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) found = await this.findOriginal(business, terminal, original_slot, input.original_reference);
      const o = found?.record;
      if (o === undefined || o.kind !== 'purchase') throw not_found();
      const amount = input.amount ?? o.amount - o.refunded;
      // Out-of-range amounts go to the script all the same: it answers a replay of this very
      // refund before it checks them, and refuses them otherwise.
      const { claw, discount_back, give, fee_back } = refundShares(o, amount) ?? { claw: 0, discount_back: 0, give: 0, fee_back: 0 };
      const known: Posting[] = [];
      if (give > 0) known.push([this.spends.spendAccount(business, terminal), accountId(contact_id, 'open', currency), give]);
      if (discount_back > 0) known.push([accountId(business.id, 'discounts', currency), accountId(business.id, 'rewards', currency), discount_back]);
      if (fee_back > 0) known.push([accountId(business.id, 'fee_income', currency), accountId(terminal.merchant_id!, 'fees', currency), fee_back]);
      const now_ms = clock.now();
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
          slot,
          contact_id,
          shard,
          id,
          now_ms,
          reply,
          entry,
          keys: [stateKey(shard, o.id)],
          args: [
            o.refunded_raw, String(amount), String(claw), String(give),
            accountId(contact_id, 'commerce', currency), accountId(contact_id, 'open', currency), accountId(business.id, 'rewards', currency),
            postingsJson(known), String(fee_back), String(discount_back), String(o.amount), o.ledger_state,
          ],
        });
      } catch (err) {
        if (!(err instanceof StaleRead)) throw err;
        if (attempt >= stale_retries_max) throw new PocketgateError('unavailable', 'the original is changing under many refunds at once; try again');
      }
    }
  }

  async reverse(business: Business, terminal: Terminal, input: ReversalInput): Promise<Reply> {
    const { config, clock } = this.stores;
    const hash = requestHash(config.cim_hmac_key, 'reversal', input);
    const started_ms = clock.now();
    const original_slot = referenceSlot(config, terminal.id, input.original_reference, started_ms);
    const slot = referenceSlot(config, terminal.id, input.reference, started_ms);
    let found = await this.findOriginal(business, terminal, original_slot, input.original_reference);
    if (found === undefined) {
      // Not here (yet): remember the reversal so that the original is refused if it comes late.
      const outcome = await claimForReversal(this.stores, original_slot, hash);
      if (outcome === 'reversed') throw new PocketgateError('already_reversed', `reference ${input.original_reference} was already reversed`);
      if (outcome === 'remembered') {
        await claimReference(this.stores, slot, input.reference, hash, '');
        throw new PocketgateError('original_not_found', `no transaction with reference ${input.original_reference} at this terminal; it will be refused if it arrives`);
      }
      // The original arrived between our two reads: reverse it for real.
      found = await this.findOriginal(business, terminal, original_slot, input.original_reference);
      if (found === undefined) throw new PocketgateError('original_not_found', `no transaction with reference ${input.original_reference} at this terminal`);
    }
    const { contact_id, shard } = found;
    await claimReference(this.stores, slot, input.reference, hash, contact_id);
    const id = newId('txn');
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) found = await this.findOriginal(business, terminal, original_slot, input.original_reference);
      if (found === undefined) throw new PocketgateError('original_not_found', `no transaction with reference ${input.original_reference} at this terminal`);
      try {
        return await runShard(this.stores, reversal_script, this.reversalCall(business, terminal, input, slot, original_slot, found, id));
      } catch (err) {
        if (!(err instanceof StaleRead)) throw err;
        if (attempt >= stale_retries_max) throw new PocketgateError('unavailable', 'the original is changing under many refunds at once; try again');
      }
    }
  }

  /**
   * The reversal script's call. An original whose reference is claimed but not recorded goes to
   * the script all the same (kind ''): it marks the original reversed, or finds it recorded
   * meanwhile and has it read again; it never commits then.
   */
  private reversalCall(business: Business, terminal: Terminal, input: ReversalInput, slot: ReferenceSlot, original_slot: ReferenceSlot, found: Found, id: string) {
    const { contact_id, shard, record: o } = found;
    const currency = business.currency;
    const open = accountId(contact_id, 'open', currency);
    const commerce = accountId(contact_id, 'commerce', currency);
    if (o !== undefined && !['purchase', 'spend', 'redemption'].includes(o.kind)) {
      throw new PocketgateError('original_not_found', `no purchase, spend or redemption with reference ${input.original_reference} at this terminal`);
    }
    const known: Posting[] = [];
    let claw = 0;
    if (o?.kind === 'purchase') {
      claw = o.awarded - o.clawed;
      const give = o.paid - o.returned;
      if (give > 0) known.push([this.spends.spendAccount(business, terminal), open, give]);
      const discount_back = o.discount - o.discount_returned;
      if (discount_back > 0) known.push([accountId(business.id, 'discounts', currency), accountId(business.id, 'rewards', currency), discount_back]);
    } else if (o?.kind === 'spend') {
      known.push([this.spends.spendAccount(business, terminal), open, o.amount]);
    } else if (o?.kind === 'redemption') {
      known.push([open, commerce, o.amount]);
    }
    const fee_back = o === undefined ? 0 : o.fee - o.fee_returned;
    if (fee_back > 0) known.push([accountId(business.id, 'fee_income', currency), accountId(terminal.merchant_id!, 'fees', currency), fee_back]);
    const now_ms = this.stores.clock.now();
    const original_id = o?.id ?? '';
    const reply =
      `{"id":"${id}","status":"approved","reference":${JSON.stringify(input.reference)},"original_id":"${original_id}",` +
      `"original_kind":"${o?.kind ?? ''}","contact_id":"${contact_id}","currency":"${currency}","created_at":"${rfc3339(now_ms)}",` +
      wallet_tail;
    const entry =
      `{"id":"${id}","kind":"reversal","business_id":"${business.id}","terminal_id":"${terminal.id}",` +
      `"reference":${JSON.stringify(input.reference)},"contact_id":"${contact_id}","amount":${o?.amount ?? 0},"currency":"${currency}",` +
      `"original_id":"${original_id}","created_at":"${new Date(now_ms).toISOString()}","postings":[${hole('postings')}]}`;
    return {
      business_id: business.id,
      slot,
      contact_id,
      shard,
      id,
      now_ms,
      reply,
      entry,
      // An original not recorded has no state yet: a key of its shard that nothing writes.
      keys: [stateKey(shard, original_id === '' ? '-' : original_id), ...original_slot.record_keys(shard)],
      args: [
        o?.refunded_raw ?? '', String(claw), commerce, open, accountId(business.id, 'rewards', currency), postingsJson(known),
        original_slot.field, o?.kind ?? '', String(o?.amount ?? 0), String(o?.paid ?? 0), o?.ledger_state ?? '', o?.ledger_lots ?? '',
      ],
    };
  }
}
