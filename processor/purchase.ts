// A purchase: resolve the CIM, evaluate offers in process, then one shard script that does
// idempotency, balances, journal and stored reply atomically. Nothing here waits for PostgreSQL.

import { createHmac } from 'node:crypto';
import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { evaluatePurchase, type Award } from '../core/offer.ts';
import type { PurchaseInput } from '../core/schemas.ts';
import type { Contacts } from './contacts.ts';
import { claimKey, contactKey, journalKey, replyKey, transactionKey } from './hot/keys.ts';
import { Script } from './hot/script.ts';
import { accountId, type JournalEntry, type Posting } from './journal.ts';
import type { Business, Terminal } from './network.ts';
import type { Offers } from './offers.ts';
import type { Stores } from './stores.ts';

const purchase_script = new Script('purchase.lua');
/** A backstop only: the ledger writer deletes the record as soon as it is recorded. */
export const pending_record_ttl_seconds = '86400';

export interface Reply {
  readonly status: number;
  /** The JSON body, written once; a replay returns the stored bytes unchanged. */
  readonly body: string;
  readonly replayed: boolean;
}

/**
 * Hash of the parsed request: the same command in other whitespace or key order is the same.
 * Keyed, because the request may carry a card number: an unkeyed digest stored next to the reply
 * gives the PAN back to anyone who tries the ~10^5 numbers its masked first-6/last-4 leave open.
 */
export function requestHash(hmac_key: string, kind: string, input: unknown): string {
  return createHmac('sha256', hmac_key).update(kind).update('\u0000').update(JSON.stringify(input)).digest('base64url').slice(0, 22);
}

function seconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class Purchases {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly offers: Offers,
  ) {}

  async purchase(business: Business, terminal: Terminal, input: PurchaseInput): Promise<Reply> {
    if (input.currency !== business.currency) {
      throw new PocketgateError('validation_failed', `currency: this business runs in ${business.currency}`, [{ path: 'currency', message: `must be ${business.currency}` }]);
    }
    if (input.pay !== undefined) {
      throw new PocketgateError('validation_failed', 'pay: paying from the wallet is not enabled on this gateway yet', [{ path: 'pay', message: 'not enabled yet' }]);
    }
    const { redis, config } = this.stores;
    const cim = this.contacts.normalise(input.cim.type, input.cim.value, 'cim.value');
    const hash = requestHash(config.cim_hmac_key, 'purchase', input);
    const ttl = String(config.reply_ttl_seconds);

    // One pipelined round trip: who is the contact, and has this reference been used for
    // something else? (The claim lives outside the shard because another body could name
    // another contact on another shard.)
    const [contact_id, claimed] = await Promise.all([
      this.contacts.resolve(business.id, cim),
      redis.sendCommand(['SET', claimKey(terminal.id, input.reference), hash, 'NX', 'GET', 'EX', ttl]) as Promise<string | null>,
      // Compiled offers are in memory after the first purchase; awaiting here costs nothing then.
    ]);
    if (claimed !== null && claimed !== hash) throw new PocketgateError('idempotency_conflict', `reference ${input.reference} was used for a different request`);
    if (contact_id === null) throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');

    const compiled = await this.offers.forBusiness(business);
    const shard = this.contacts.shardOf(contact_id);
    const contact_key = contactKey(shard, contact_id);
    let tier: string | null = null;
    let tags: readonly string[] = [];
    if (compiled.needs_profile) {
      const [r, t] = await redis.hmGet(contact_key, ['r', 't']);
      tier = r ?? null;
      tags = t === null || t === undefined ? [] : (JSON.parse(t) as string[]);
    }
    const now_ms = Date.now();
    const at_ms = input.occurred_at === undefined ? now_ms : Date.parse(input.occurred_at);
    const evaluation = evaluatePurchase(compiled, { amount: input.amount, merchant_id: terminal.merchant_id, venue_id: terminal.venue_id, at_ms, tier, tags });

    let commerce_delta = 0;
    let open_delta = 0;
    const postings: Posting[] = [];
    for (const a of evaluation.awards) {
      if (a.kind === 'instant_discount') {
        postings.push([accountId(business.id, 'rewards', business.currency), accountId(business.id, 'discounts', business.currency), a.amount]);
      } else if (a.instant_redeem) {
        open_delta += a.amount;
        postings.push([accountId(business.id, 'rewards', business.currency), accountId(contact_id, 'open', business.currency), a.amount]);
      } else {
        commerce_delta += a.amount;
        postings.push([accountId(business.id, 'rewards', business.currency), accountId(contact_id, 'commerce', business.currency), a.amount]);
      }
    }

    const id = newId('txn');
    const created_at = seconds(now_ms);
    const awards = evaluation.awards.map(publicAward);
    const reply_head =
      `{"id":"${id}","status":"approved","reference":${JSON.stringify(input.reference)},"contact_id":"${contact_id}",` +
      `"amount":${input.amount},"currency":"${business.currency}","awards":${JSON.stringify(awards)},` +
      `"discount":${evaluation.discount},"amount_due":${input.amount - evaluation.discount},"paid_from_wallet":0,"created_at":"${created_at}",`;
    const entry: JournalEntry = {
      id,
      kind: 'purchase',
      business_id: business.id,
      terminal_id: terminal.id,
      reference: input.reference,
      contact_id,
      amount: input.amount,
      currency: business.currency,
      created_at: new Date(now_ms).toISOString(),
      awards,
      discount: evaluation.discount,
      postings,
    };

    const result = await purchase_script.run<string[]>(
      redis,
      [contact_key, replyKey(shard, terminal.id, input.reference), transactionKey(shard, id), journalKey(shard)],
      [hash, business.id, String(commerce_delta), String(open_delta), reply_head, JSON.stringify(entry), ttl, String(config.journal_length_max), pending_record_ttl_seconds],
    );
    return scriptReply(result);
  }
}

function publicAward(a: Award) {
  return { offer_id: a.offer_id, scheme_id: a.scheme_id, kind: a.kind, amount: a.amount, pool: a.pool, expires_at: a.expires_at };
}

/** Translate a shard script's answer; shared by every command that runs one. */
export function scriptReply(result: string[]): Reply {
  switch (result[0]) {
    case 'ok':
      return { status: 201, body: result[1]!, replayed: false };
    case 'replay': {
      const stored = result[1]!;
      const sep = stored.indexOf('\n');
      return { status: Number(stored.slice(0, sep)), body: stored.slice(sep + 1), replayed: true };
    }
    case 'conflict':
      throw new PocketgateError('idempotency_conflict', 'this reference was used for a different request');
    case 'contact_not_found':
      throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
    case 'unavailable':
      throw new PocketgateError('unavailable', 'the ledger is behind; try again shortly');
    default:
      throw new Error(`unexpected shard script reply ${String(result[0])}`);
  }
}
