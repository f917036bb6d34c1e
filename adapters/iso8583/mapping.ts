// ISO 8583 messages to processor commands and back, as spec/ISO8583.md's table says. The same
// commands the HTTP API runs: the same offers, wallet effects, idempotency and ledger entries.
//
// Identity: DE32 (acquirer link) names the business, DE42 the merchant, DE41 the terminal.
// Idempotency: DE32 + DE41 + DE11 + DE7 is the transaction's reference at its terminal; the
// processor replays an identical retransmission and refuses a different one (→ 94).

import { currencyByCode, currencyByNumeric } from '../../core/currency.ts';
import { PocketgateError, type ErrorCode } from '../../core/errors.ts';
import { hmacKey } from '../../core/cim.ts';
import { luhnValid } from '../../core/luhn.ts';
import { peerAddress } from '../../core/guesses.ts';
import { isStoreUnavailable } from '../../processor/unavailable.ts';
import { requireWritable, requireWritableNow } from '../../processor/redis-health.ts';
import { originalMissing } from '../../processor/refund.ts';
import { findOriginal } from '../../processor/claim.ts';
import { inquiryReply } from '../../processor/inquiry-replies.ts';
import { referenceSlot } from '../../processor/hot/references.ts';
import { terminal_window } from '../../core/occurred.ts';
import { parseWith, purchaseSchema, refundSchema, reversalSchema, spendSchema, type SpendInput } from '../../core/schemas.ts';
import type { Business, Terminal } from '../../processor/network.ts';
import type { Processor } from '../../processor/processor.ts';
import type { Reply } from '../../processor/shard.ts';
import { createHash, createHmac } from 'node:crypto';
import { carried, encodeAdditionalAmounts, type AdditionalAmount } from './additional-amounts.ts';
import { IsoFormatError } from './format-error.ts';
import type { IsoMessage } from './codec.ts';
import { padInstitutionId, parseOriginalData } from './original-data.ts';
import { networkClass } from './peek-header.ts';
import { checkLocalTransactionFields, terminalClockTime } from './local-transaction-time.ts';
import { parseTagData } from './private-data.ts';
import { replyTo, type IsoHandler } from './server.ts';
import { iso_reference_prefix, secondsSince, type TransactionOutcome } from '../terminal-ops.ts';

/** DE39 for each refusal the processor can give. */
const response_codes: Partial<Record<ErrorCode, string>> = {
  validation_failed: '30',
  contact_not_found: '14',
  wallet_code_invalid: '14',
  insufficient_funds: '51',
  spend_blocked: '05',
  otp_invalid: '55',
  otp_expired: '55',
  rate_limited: '55',
  original_not_found: '25',
  amount_exceeds_original: '13',
  idempotency_conflict: '94',
  already_reversed: '12',
  unavailable: '91',
};

export function responseCode(err: unknown): string {
  if (err instanceof PocketgateError) return response_codes[err.code] ?? '96';
  // A field that does not parse (DE48's tags, say), found past the codec: a format error, not ours.
  if (err instanceof IsoFormatError) return '30';
  // A store that cannot serve now: 91 (issuer or switch inoperative), which acquirers retry.
  return isStoreUnavailable(err) ? '91' : '96';
}

/** A message's idempotency reference at its terminal: DE32 + DE11 + DE7 (DE41 is the terminal). */
export function isoReference(acquirer_id: string, stan: string, transmission: string): string {
  return `${iso_reference_prefix}${padInstitutionId(acquirer_id)}:${stan}:${transmission}`;
}

/**
 * A reversal's (0400/0401/0420/0421) reference: its key apart from the financial messages'. Many
 * networks send a reversal with its original's DE11 and DE7 (DE90 naming the original): that is
 * a reversal of the 0200, not a retransmission of it with other content (94). An 0400 and the
 * 0420 that follows it share the key, as the same reversal.
 */
export function reversalReference(reference: string): string {
  return `${reference}:reversal`;
}

function trimRight(value: string | undefined): string {
  return value === undefined ? '' : value.replace(/ +$/, '');
}

/** DE7, MMDDhhmmss: a month, a day of at most 31, an hour, minutes and seconds. */
const transmission_date_time = /^(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])([01]\d|2[0-3])[0-5]\d[0-5]\d$/;

/** Days of each month in some year: DE7 has none, so 29 February may be one (a leap year's). */
const month_days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether DE7 names a date-time: 30 February or 31 April name none, as month 13 does not. */
function isTransmissionDateTime(de7: string): boolean {
  return transmission_date_time.test(de7) && Number(de7.slice(2, 4)) <= month_days[Number(de7.slice(0, 2)) - 1]!;
}

/** Six characters, the same for a replayed transaction as for the original. */
function approvalCode(transaction_id: string): string {
  return transaction_id.slice(-6).toUpperCase();
}

/**
 * An approval with no transaction of its own (a reversal of what is already void, an advice whose
 * original never came, a balance inquiry): still an approval, so DE38 is set (ISO8583.md), the
 * same for each repeat.
 */
function acknowledgementCode(reference: string): string {
  return createHash('sha256').update(reference).digest('hex').slice(0, 6).toUpperCase();
}

/**
 * The message's whole content but its MTI (a repeat, 0201 or 0401, is the same request), keyed
 * like the request hash so that no PAN is readable from it: added to the input whose hash decides
 * replay or conflict, so that any other field changed under the same DE32 + DE11 + DE7 is 94, not
 * a replay of the first (ISO8583.md: "different content under the same key gets 94"). Added in
 * place with Object.assign to the schema's output (a fresh object): `{ ...parsed, content }` would
 * take V8's slow path into a dictionary-mode object that every later read pays for. The key is
 * the KeyObject made once (core/cim.ts hmacKey), the same digest as the string's.
 */
function contentOf(processor: Processor, msg: IsoMessage): { content: string } {
  return { content: createHmac('sha256', hmacKey(processor.stores.config.cim_hmac_key)).update(JSON.stringify(msg.fields)).digest('base64url') };
}

function amountOf(msg: IsoMessage): number {
  const de4 = msg.fields[4];
  if (de4 === undefined) throw new PocketgateError('validation_failed', 'DE4 (amount) is required');
  const amount = Number(de4);
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new IsoRefusal('13');
  return amount;
}

/** A refusal with a DE39 of its own (not one of the processor's codes). */
class IsoRefusal extends Error {
  constructor(readonly code: string) {
    super(`refused with ${code}`);
  }
}

function numericCurrency(business: Business): string {
  return currencyByCode(business.currency)?.numeric ?? '000';
}

/** `onTransaction`: told of each financial request or reversal answered once its terminal is known. */
export function createIsoHandler(processor: Processor, onTransaction?: TransactionOutcome): IsoHandler {
  return async (msg, ctx) => {
    const start = process.hrtime.bigint();
    let business_id: string | undefined;
    let reply: IsoMessage;
    try {
      if (msg.mti === '0800') {
        reply = networkManagement(msg);
      } else if (msg.fields[41] === undefined && networkClass(msg.mti)) {
        // The link's, as an 0800 is (0820, 0801, 1804, 0900), answered before routing by its DE11:
        // parsed and unsupported, so 12, not 30 for the DE41 it needs none of (a black-box probe).
        reply = replyTo(msg, '12');
      } else {
        const found = await terminalOf(processor, msg);
        business_id = found.business.id;
        // Wrong codes are counted against the terminal and the peer's address (core/guesses.ts).
        reply = await handle(processor, msg, found, peerAddress(ctx.remote));
      }
    } catch (err) {
      reply = replyTo(msg, err instanceof IsoRefusal ? err.code : responseCode(err));
    }
    if (business_id !== undefined && transaction_mtis.has(msg.mti)) onTransaction?.(business_id, reply.fields[39] === '00', secondsSince(start));
    return reply;
  };
}

/** Financial requests and reversals: what a terminal's traffic counts (not network management or balance inquiries). */
const transaction_mtis: ReadonlySet<string> = new Set(['0200', '0400', '0401', '0420', '0421']);

/** Whether DE12 and DE13, if sent, name a time and a date that exist (checkLocalTransactionFields). */
function localFieldsExist(msg: IsoMessage): boolean {
  try {
    checkLocalTransactionFields(msg.fields[12], msg.fields[13]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sign-on, sign-off, echo: the link is up; nothing else to do. Without DE70, which says which, 30;
 * with a DE7 that names no date-time, or a DE12/DE13 no time or date, 30 too, as a 0200's (it
 * was 00: black-box probes).
 */
function networkManagement(msg: IsoMessage): IsoMessage {
  const code = msg.fields[70];
  const de7 = msg.fields[7];
  if (code === undefined || (de7 !== undefined && !isTransmissionDateTime(de7)) || !localFieldsExist(msg)) return replyTo(msg, '30');
  return replyTo(msg, ['001', '002', '301'].includes(code) ? '00' : '12', { 70: code });
}

/**
 * The terminal a message comes from (acquirer DE32, merchant DE42, terminal DE41): 30 without
 * DE32, DE11 or DE7 (its key), 03 unknown or not named (no DE41: a merchant's message without its
 * terminal, as moov-io's financial and reversal messages are).
 */
async function terminalOf(processor: Processor, msg: IsoMessage): Promise<{ business: Business; terminal: Terminal }> {
  const f = msg.fields;
  if (f[32] === undefined || f[11] === undefined || f[7] === undefined) throw new IsoRefusal('30');
  // DE7 is a third of the idempotency key: one that names no date-time (month 13, 25 o'clock) is
  // a format error, not a key.
  if (!isTransmissionDateTime(f[7])) throw new IsoRefusal('30');
  if (f[41] === undefined) throw new IsoRefusal('03');
  const found = await processor.network.isoTerminal(f[32], trimRight(f[42]), trimRight(f[41]));
  if (found === undefined) throw new IsoRefusal('03');
  return found;
}

/**
 * A 0200 (or 0201) or a reversal refused before its reference is claimed (its content malformed,
 * unsupported or naming no contact: another DE49, say) whose key an earlier request already holds
 * is "different content under the same key" (ISO8583.md): 94, not the refusal a new key would get.
 * Identical content would have gone the earlier request's way and been answered as it was.
 */
async function handle(processor: Processor, msg: IsoMessage, found: { business: Business; terminal: Terminal }, source: string): Promise<IsoMessage> {
  try {
    return await answer(processor, msg, found, source);
  } catch (err) {
    const reference = keyReference(msg);
    if (reference !== undefined && refusedBeforeClaim(err) && (await keyTaken(processor, reference, found.terminal))) throw new IsoRefusal('94');
    throw err;
  }
}

const reversal_mtis: ReadonlySet<string> = new Set(['0400', '0401', '0420', '0421']);

/** The reference the message's key DE32 + DE41 + DE11 + DE7 claims: a 0200's, or a reversal's own (reversalReference); undefined for others. */
function keyReference(msg: IsoMessage): string | undefined {
  const f = msg.fields;
  const reference = isoReference(f[32]!, f[11]!, f[7]!);
  if (msg.mti === '0200' || msg.mti === '0201') return reference;
  return reversal_mtis.has(msg.mti) ? reversalReference(reference) : undefined;
}

/**
 * Refusals given before the processor claims the reference (README: "decided again"). Not a card
 * no contact has (contact_not_found): the processor remembers that under the reference itself,
 * and answers another body under a held key 409 (wallet.ts rememberNoContact).
 */
function refusedBeforeClaim(err: unknown): boolean {
  if (err instanceof IsoRefusal || err instanceof IsoFormatError) return true;
  return err instanceof PocketgateError && err.code === 'validation_failed';
}

/** Whether an earlier request holds `reference` in the hot window; a store that cannot say leaves the refusal as it was. */
async function keyTaken(processor: Processor, reference: string, terminal: Terminal): Promise<boolean> {
  const slot = referenceSlot(processor.stores.config, terminal.id, reference, processor.stores.clock.now());
  return (await findOriginal(processor.stores, slot).catch(() => undefined)) !== undefined;
}

async function answer(processor: Processor, msg: IsoMessage, { business, terminal }: { business: Business; terminal: Terminal }, source: string): Promise<IsoMessage> {
  const f = msg.fields;
  const mti = msg.mti;
  const acquirer = f[32]!;
  const stan = f[11]!;
  const transmission = f[7]!;
  // Malformed whatever the message (30; under a key an earlier request holds, 94: handle).
  checkLocalTransactionFields(f[12], f[13]);
  if (f[49] !== undefined && currencyByNumeric(f[49])?.code !== business.currency) throw new IsoRefusal('13');
  const reference = isoReference(acquirer, stan, transmission);
  // 0100 and 0200 are told apart by DE3: without it the message is malformed (30), not a
  // processing code we do not support (12).
  if (f[3] === undefined && (mti === '0100' || mti === '0200' || mti === '0201')) throw new IsoRefusal('30');
  const processing = f[3] ?? '';

  switch (mti) {
    case '0100':
      if (!processing.startsWith('31')) throw new IsoRefusal('12');
      return balanceInquiry(processor, msg, business, terminal, reference, source);
    case '0200':
    case '0201':
      // 0201: a repeat of a 0200 (ISO 8583:1987), the same request: answered as it was (0210).
      if (processing.startsWith('00')) return financial(processor, msg, business, terminal, reference, source);
      if (processing.startsWith('20')) return refund(processor, msg, business, terminal, reference);
      throw new IsoRefusal('12');
    case '0400':
    case '0401':
    case '0420':
    case '0421':
      return reversal(processor, msg, business, terminal, reversalReference(reference));
    default:
      throw new IsoRefusal('12');
  }
}

async function balanceInquiry(processor: Processor, msg: IsoMessage, business: Business, terminal: Terminal, reference: string, source: string): Promise<IsoMessage> {
  await requireWritable(processor.stores);
  const pan = msg.fields[2];
  if (pan === undefined) throw new IsoRefusal('30');
  // Its key's reply kept (processor/inquiry-replies.ts): a retransmission gets the original, other
  // content under the key 94; DE54 kept as it was answered (none when no balance fits it).
  const outcome = await inquiryReply(processor.stores, terminal.id, reference, contentOf(processor, msg).content, async () => {
    const fields = await balances(processor, business, terminal, source, pan);
    return fields[54] ?? '';
  });
  if (outcome.kind === 'conflict') throw new IsoRefusal('94');
  // An approval, so DE38 is set (ISO8583.md), derived from the message's key: the same for a repeat.
  const fields: Record<number, string> = { 38: acknowledgementCode(reference) };
  if (outcome.reply !== '') fields[54] = outcome.reply;
  return replyTo(msg, '00', fields);
}

/** DE54 of the open (01) and commerce (02) balances of the contact whose card or wallet code `pan` is (14: none). */
async function balances(processor: Processor, business: Business, terminal: Terminal, source: string, pan: string): Promise<Record<number, string>> {
  // The CIM in DE2: a contact's card, else (as on an 0200) a contact's wallet code.
  let [contact_id] = await Promise.all([processor.contacts.resolve(business.id, cardOf(processor, pan)), requireWritableNow(processor.stores)]);
  if (contact_id === null && pan.length === 16 && luhnValid(pan)) contact_id = await walletCodeContact(processor, business, terminal, source, pan);
  if (contact_id === null) throw new IsoRefusal('14');
  const wallet = await processor.contacts.wallet(business, contact_id);
  const currency = numericCurrency(business);
  return de54([
    { accountType: '00', amountType: '01', currency, sign: wallet.open < 0 ? 'D' : 'C', amount: Math.abs(wallet.open) },
    { accountType: '00', amountType: '02', currency, sign: wallet.commerce < 0 ? 'D' : 'C', amount: Math.abs(wallet.commerce) },
  ]);
}

/** DE54 with the amounts it can carry (additional-amounts.ts carried), or no DE54 when none fits. */
function de54(amounts: readonly AdditionalAmount[]): Record<number, string> {
  const kept = carried(amounts);
  return kept.length === 0 ? {} : { 54: encodeAdditionalAmounts(kept) };
}

/** The processor's JSON reply; purchases add their award totals in DE54. */
function approved(msg: IsoMessage, business: Business, reply: Reply, with_awards: boolean): IsoMessage {
  const body = JSON.parse(reply.body) as { id: string; awards?: { kind: string; amount: number }[]; discount?: number };
  const extra: Record<number, string> = { 38: approvalCode(body.id) };
  if (with_awards) {
    let awarded = 0;
    for (const a of body.awards ?? []) if (a.kind !== 'instant_discount') awarded += a.amount;
    const currency = numericCurrency(business);
    Object.assign(extra, de54([
      { accountType: '00', amountType: '90', currency, sign: 'C', amount: awarded },
      { accountType: '00', amountType: '91', currency, sign: 'C', amount: body.discount ?? 0 },
    ]));
  }
  return replyTo(msg, '00', extra);
}

async function financial(processor: Processor, msg: IsoMessage, business: Business, terminal: Terminal, reference: string, source: string): Promise<IsoMessage> {
  const f = msg.fields;
  const amount = amountOf(msg);
  const otp = f[48] === undefined ? undefined : parseTagData(f[48]).get('OTP');
  if (otp !== undefined) {
    const input = Object.assign(parseWith(spendSchema, { reference, amount, currency: business.currency, otp }), contentOf(processor, msg));
    // A card or wallet code in DE2 beside it: the OTP must be its contact's (14 when it is no one's, 55 another's).
    const presented = f[2] === undefined ? undefined : await presentedContact(processor, business, terminal, source, f[2]);
    return approved(msg, business, await processor.spends.spend(business, terminal, input, source, presented), false);
  }
  const pan = f[2];
  if (pan === undefined) throw new IsoRefusal('30');
  // A contact's card buys; a contact's wallet code in DE2 spends. Cards are looked up first:
  // their index is cached in process, so a purchase costs no extra round trip.
  const card = cardOf(processor, pan);
  let spend: SpendInput | undefined;
  if ((await processor.contacts.resolve(business.id, card)) === null && pan.length === 16 && luhnValid(pan)) {
    spend = Object.assign(parseWith(spendSchema, { reference, amount, currency: business.currency, wallet_code: pan }), contentOf(processor, msg));
    if ((await walletCodeContact(processor, business, terminal, source, pan)) !== null) return approved(msg, business, await processor.spends.spend(business, terminal, spend, source), false);
  }
  const occurred_at = terminalClockTime(f[12], f[13], processor.stores.clock.now(), terminal.timezone);
  const input = Object.assign(parseWith(purchaseSchema, { reference, cim: { type: 'card', value: pan }, amount, currency: business.currency, ...(occurred_at === undefined ? {} : { occurred_at }) }), contentOf(processor, msg));
  try {
    return approved(msg, business, await processor.purchases.purchase(business, terminal, input, terminal_window, source), true);
  } catch (err) {
    // Another body under the reference: the retransmission of a wallet-code spend whose code was
    // rotated since, when that spend holds it, is replayed (a rebuild probe got 94). Asked only
    // here, so that no card purchase pays a round trip for it.
    if (spend !== undefined && err instanceof PocketgateError && err.code === 'idempotency_conflict' && (await processor.spends.holdsReference(terminal, spend))) {
      return approved(msg, business, await processor.spends.spend(business, terminal, spend, source), false);
    }
    throw err;
  }
}

/**
 * DE2 as a card CIM. DE2 is n..19 (ISO8583.md): one that is no card number (not 12 to 19 digits,
 * Luhn-valid) is well formed but no contact's card, so 14 (unknown card), not 30 (format error).
 */
function cardOf(processor: Processor, pan: string) {
  try {
    return processor.contacts.normalise('card', pan, 'DE2');
  } catch (err) {
    if (err instanceof PocketgateError && err.code === 'validation_failed') throw new IsoRefusal('14');
    throw err;
  }
}

/** The contact DE2 names, as a card or else as a wallet code; null if none. */
async function presentedContact(processor: Processor, business: Business, terminal: Terminal, source: string, pan: string): Promise<string | null> {
  const by_card = await processor.contacts.resolve(business.id, cardOf(processor, pan));
  if (by_card !== null || pan.length !== 16 || !luhnValid(pan)) return by_card;
  return walletCodeContact(processor, business, terminal, source, pan);
}

/**
 * The contact whose wallet code DE2 is, when it is no contact's card; null if none. Looking it up
 * is a guess; a card of someone who is no contact looks the same, so these are counted with limits
 * sized for a till's card traffic (core/guesses.ts card_or_code). Past them DE2 is taken for a
 * card: a non-member's card gets the 14 it would get anyway, and no wallet code is tried there
 * until the day ends.
 */
async function walletCodeContact(processor: Processor, business: Business, terminal: Terminal, source: string, pan: string): Promise<string | null> {
  const wallet = processor.contacts.normalise('wallet_code', pan, 'DE2');
  try {
    const found = await processor.contacts.identify(business.id, wallet, { terminal_id: terminal.id, source }, processor.stores.clock.now(), 'card_or_code');
    await found.guess_settled;
    return found.contact_id;
  } catch (err) {
    if (err instanceof PocketgateError && err.code === 'rate_limited') return null;
    throw err;
  }
}

function originalReference(msg: IsoMessage): string {
  const de90 = msg.fields[90];
  if (de90 === undefined) throw new IsoRefusal('30');
  const original = parseOriginalData(de90);
  // ISO8583.md: DE90 "names an earlier 0200" (0201 its repeat). Another MTI names no purchase of
  // ours, whatever its STAN and DE7 (a 0400 naming a "0100" voided the 0200 with that STAN: an
  // ISO 8583 probe, 2026-12-06): 25, original not found, nothing changed or remembered.
  if (original.mti !== '0200' && original.mti !== '0201') throw new IsoRefusal('25');
  return isoReference(original.acquirerId, original.stan, original.transmissionDateTime);
}

async function refund(processor: Processor, msg: IsoMessage, business: Business, terminal: Terminal, reference: string): Promise<IsoMessage> {
  const input = Object.assign(parseWith(refundSchema, { reference, original_reference: originalReference(msg), amount: amountOf(msg) }), contentOf(processor, msg));
  return approved(msg, business, await processor.refunds.refund(business, terminal, input), false);
}

async function reversal(processor: Processor, msg: IsoMessage, business: Business, terminal: Terminal, reference: string): Promise<IsoMessage> {
  const input = Object.assign(parseWith(reversalSchema, { reference, original_reference: originalReference(msg) }), contentOf(processor, msg));
  const advice = msg.mti.startsWith('042');
  try {
    return approved(msg, business, await processor.refunds.reverse(business, terminal, input), false);
  } catch (err) {
    if (!(err instanceof PocketgateError)) throw err;
    // Already void: what the acquirer asked for holds, so say so.
    if (err.code === 'already_reversed') return replyTo(msg, '00', { 38: acknowledgementCode(reference) });
    // An advice whose original is not there is always acknowledged; the original is remembered
    // and refused if it comes. One that is there but is no purchase, spend or redemption (a
    // refund) voids nothing, and no advice is told otherwise: 25, as HTTP's 404
    // original_not_found (it was 12: a black-box probe).
    if (err.code === 'original_not_found' && advice && originalMissing(err)) return replyTo(msg, '00', { 38: acknowledgementCode(reference) });
    throw err;
  }
}
