// A payment processor's callback event to processor commands (spec/EVENTS.md): the same
// purchases, refunds and reversals as the HTTP API and ISO 8583, booked on the processor's own
// terminal at the merchant, the processor's transaction id as the purchase's reference.
//
// Idempotency: the first answer to an event id, or to a processor transaction id and event type,
// is stored (processor/callback-events.ts) and answered again with `replayed: true`. Within a
// process the events of one processor transaction run one at a time (a batch's, and concurrent
// requests'); across processes the commands' own idempotency by terminal and reference holds,
// and the stored answer is the first one saved. An event id is applied by one request at a time
// across processes too (processor/event-claims.ts): the next reads the first one's answer.

import { createHash } from 'node:crypto';
import type { NormalisedCim } from '../../core/cim.ts';
import { PocketgateError } from '../../core/errors.ts';
import { callback_window, occurredAtMs } from '../../core/occurred.ts';
import {
  callbackEnvelopeSchema,
  callbackEventIdSchema,
  callbackRefundSchema,
  callbackReversalSchema,
  callbackSaleSchema,
  checkStorableValue,
  parseWith,
  purchaseSchema,
  type CallbackEventType,
  type CallbackRefund,
} from '../../core/schemas.ts';
import type { BookedPurchase, EventOutcome, StoredEvent } from '../../processor/callback-events.ts';
import { EventClaims } from '../../processor/event-claims.ts';
import { eventClaimKey, transactionClaimKey } from '../../processor/hot/keys.ts';
import type { Business, Terminal } from '../../processor/network.ts';
import type { Processor } from '../../processor/processor.ts';
import type { ProcessorRecord } from '../../processor/processors.ts';
import type { Reply } from '../../processor/shard.ts';

/** One event's reply. */
export interface EventReply extends EventOutcome {
  readonly event_id: string | null;
  readonly replayed?: true;
}

/** A sale (authorized, cleared) with its CIM hashed: no card number past parsing. */
interface Sale {
  readonly transaction_id: string;
  readonly cim: NormalisedCim;
  readonly amount: number;
  readonly currency: string;
  readonly merchant_code: string;
  readonly occurred_at?: string | undefined;
  readonly items?: unknown;
}

type CallbackEvent =
  | { readonly type: 'transaction.authorized' | 'transaction.cleared'; readonly transaction_id: string; readonly terminal_code: string | null; readonly sale: Sale }
  | { readonly type: 'transaction.refunded'; readonly transaction_id: string; readonly terminal_code: string | null; readonly refund: CallbackRefund }
  | { readonly type: 'transaction.reversed'; readonly transaction_id: string; readonly terminal_code: null };

interface Outcome {
  readonly outcome: EventOutcome;
  readonly purchase: BookedPurchase | null;
}

interface Scope {
  readonly record: ProcessorRecord;
  readonly business: Business;
}

const authorized: CallbackEventType = 'transaction.authorized';
const cleared: CallbackEventType = 'transaction.cleared';
const reversed: CallbackEventType = 'transaction.reversed';

/** Refusals that retrying will not change: acknowledged as `ignored` with their code. */
const ignored_codes: ReadonlySet<string> = new Set(['contact_not_found', 'not_found', 'original_not_found', 'already_reversed', 'amount_exceeds_original']);

function ignored(code: string): Outcome {
  return { outcome: { status: 'ignored', code }, purchase: null };
}

function rejected(err: PocketgateError): EventOutcome {
  return { status: 'rejected', code: 'validation_failed', message: err.message };
}

function processed(reply: Reply, purchase: BookedPurchase | null = null): Outcome {
  return { outcome: { status: 'processed', transaction_id: (JSON.parse(reply.body) as { id: string }).id }, purchase };
}

/** A refusal of the event's `data` as naming its paths from the event (`data.amount`). */
function inData(err: unknown): unknown {
  if (!(err instanceof PocketgateError) || err.code !== 'validation_failed') return err;
  return new PocketgateError('validation_failed', `data.${err.message}`, err.errors?.map((e) => ({ path: `data.${e.path}`, message: e.message })));
}

/**
 * A command's refusal as the event's answer; anything else (a store down) is the request's 5xx,
 * which the processor retries. A reference another transaction holds (idempotency_conflict) means
 * the processor named two transactions alike: final, so `rejected` (a 5xx would be retried for
 * ever; `ignored` has no code for it), found by its event id only, so that the event corrected
 * under a new id is applied.
 */
function refusal(err: unknown, event: CallbackEvent): Outcome {
  if (!(err instanceof PocketgateError)) throw err;
  if (err.code === 'validation_failed') return { outcome: rejected(err), purchase: null };
  if (ignored_codes.has(err.code)) return ignored(err.code);
  if (err.code !== 'idempotency_conflict') throw err;
  const message = `transaction_id: ${event.transaction_id} cannot be booked: ${err.message}, another transaction of this processor at this merchant`;
  return { outcome: rejected(new PocketgateError('validation_failed', `data.${message}`)), purchase: null };
}

/**
 * An authorization a clearing will book: acknowledged as awaiting it, once it passes what the
 * clearing's purchase would check of it alone: its time within the window (else rejected, as
 * the clearing would be) and the business's currency (else ignored validation_failed). Both
 * were acknowledged awaiting_clearing (a black-box probe of EVENTS.md, 2026-12-05).
 */
function awaitingClearing(business: Business, sale: Sale, now_ms: number): Outcome {
  // In the clearing's order (purchase, then Purchases.purchase): the currency first.
  if (sale.currency !== business.currency) return ignored('validation_failed');
  occurredAtMs(sale.occurred_at, now_ms, callback_window);
  return ignored('awaiting_clearing');
}

function isConflict(err: unknown): err is PocketgateError {
  return err instanceof PocketgateError && err.code === 'idempotency_conflict';
}

/**
 * Where a sale the processor named so holds a reference the gateway makes (`<id>/reversal`,
 * `/clearing`, `/refund`), the same with a suffix that no processor transaction id can have: past
 * 64 characters, and ending in no suffix the gateway makes. The same for the same reference, so a
 * retry finds what the first attempt booked.
 */
function spareReference(reference: string): string {
  return `${reference}/${createHash('sha256').update(reference).digest('hex')}`;
}

/** What the events under one event id wait behind: each other (the first is the answer, the others replay it). */
function eventKey(record: ProcessorRecord, event_id: string): string {
  return `e\u0000${record.id}\u0000${event_id}`;
}

/** The processor transaction an event acts on: a refund's original, or its own (a clearing's or reversal's authorization). */
function actedOn(event: CallbackEvent): string {
  return event.type === 'transaction.refunded' ? event.refund.original_transaction_id : event.transaction_id;
}

/**
 * What an event waits behind: the earlier events of the processor transaction it acts on, or of
 * its own id if malformed.
 */
function serialKey(record: ProcessorRecord, event_id: string, event: CallbackEvent | EventOutcome): string {
  if (!('type' in event)) return eventKey(record, event_id);
  return `t\u0000${record.id}\u0000${actedOn(event)}`;
}

export class CallbackEvents {
  private readonly serial = new KeyedSerial();
  private readonly claims: EventClaims;

  constructor(private readonly processor: Processor) {
    this.claims = new EventClaims(processor.stores);
  }

  /**
   * One event's reply. Events handed over in order are applied in that order per processor
   * transaction (the event's place in line is taken before this returns its promise), so a batch
   * may run many at once and still authorize, then clear or refund, one transaction.
   */
  handle(record: ProcessorRecord, business: Business, raw: unknown, may_be_unstorable = true): Promise<EventReply> {
    const id = callbackEventIdSchema.safeParse((raw as { id?: unknown } | null)?.id);
    if (!id.success) return Promise.resolve({ event_id: null, status: 'rejected', code: 'validation_failed', message: 'id: the event needs an id, a string of 1 to 255 characters' });
    const scope = { record, business };
    let event: CallbackEvent | EventOutcome;
    try {
      event = this.parse(business, raw, may_be_unstorable);
    } catch (err) {
      if (!(err instanceof PocketgateError) || err.code !== 'validation_failed') throw err;
      event = rejected(err);
    }
    // In line behind its transaction's events (their order), then behind the events sent under
    // its id: one id sent twice at once for two transactions (a batch, two requests) would
    // otherwise book both, the second answered as a replay of the first. Event keys are taken
    // last and held by nobody waiting for another key, so the two never wait on each other.
    const key = serialKey(record, id.data, event);
    const own = eventKey(record, id.data);
    const once = () => this.once(scope, id.data, event);
    return this.serial.run(key, key === own ? once : () => this.serial.run(own, once));
  }

  /** The event, its card number (if any) hashed at once; validation_failed if malformed. */
  private parse(business: Business, raw: unknown, may_be_unstorable: boolean): CallbackEvent {
    if (may_be_unstorable) checkStorableValue(raw);
    const envelope = parseWith(callbackEnvelopeSchema, raw);
    try {
      if (envelope.type === 'transaction.reversed') return { type: envelope.type, transaction_id: parseWith(callbackReversalSchema, envelope.data).transaction_id, terminal_code: null };
      if (envelope.type === 'transaction.refunded') {
        const refund = parseWith(callbackRefundSchema, envelope.data);
        return { type: envelope.type, transaction_id: refund.transaction_id, terminal_code: refund.terminal_code ?? null, refund };
      }
      const { card, cim, terminal_code, ...sale } = parseWith(callbackSaleSchema, envelope.data);
      const contacts = this.processor.contacts;
      const hashed = card !== undefined ? contacts.tokenised(business.id, 'card', card.number, 'card.number') : contacts.tokenised(business.id, cim!.type, cim!.value, 'cim.value');
      return { type: envelope.type, transaction_id: sale.transaction_id, terminal_code: terminal_code ?? null, sale: { ...sale, cim: hashed } };
    } catch (err) {
      throw inData(err);
    }
  }

  /**
   * The event under the claims of its transaction and its id, which every gateway process shares,
   * taken together (a malformed event's id alone): one id sent to two processes at once for two
   * transactions is applied by one, the other replays its answer; an authorization and its
   * clearing sent to two at once are applied one after the other, as within one process.
   */
  private once(scope: Scope, event_id: string, event: CallbackEvent | EventOutcome): Promise<EventReply> {
    const { business, record } = scope;
    const event_key = eventClaimKey(business.id, record.id, event_id);
    const transaction_key = 'type' in event ? transactionClaimKey(business.id, record.id, actedOn(event)) : event_key;
    return this.claims.holding([transaction_key, event_key], () => this.answer(scope, event_id, event));
  }

  /** The stored answer, or the event applied and its answer stored. */
  private async answer(scope: Scope, event_id: string, event: CallbackEvent | EventOutcome): Promise<EventReply> {
    const store = this.processor.callback_events;
    const typed = 'type' in event ? event : undefined;
    const history = await store.history(scope.record.id, event_id, typed?.transaction_id);
    const prior = history.find((h) => h.event_id === event_id) ?? (typed === undefined ? undefined : history.find((h) => h.type === typed.type && h.transaction_id === typed.transaction_id));
    if (prior !== undefined) {
      // Found by its transaction under a new event id: that id keeps this answer too, so that it
      // replays it whatever it names later (EVENTS.md: the same event id gets the first result
      // again). Kept under no transaction id, so it is found by its event id alone.
      if (prior.event_id !== event_id) await store.save(scope.record.id, { event_id, type: prior.type, transaction_id: null, result: prior.result, purchase: null, terminal_code: null });
      return { event_id, ...prior.result, replayed: true };
    }
    const { outcome, purchase } = typed === undefined ? { outcome: event as EventOutcome, purchase: null } : await this.apply(scope, typed, history).catch((err: unknown) => refusal(err, typed));
    // A rejected event, malformed when parsed or when booked, changed nothing: it is found by its
    // id only, so the processor's corrected event under a new id is applied, not a replay of it.
    const kept = outcome.status === 'rejected' ? undefined : typed;
    const saved = await store.save(scope.record.id, {
      event_id,
      type: kept?.type ?? 'rejected',
      transaction_id: kept?.transaction_id ?? null,
      result: outcome,
      purchase,
      terminal_code: kept?.terminal_code ?? null,
    });
    return saved.first ? { event_id, ...saved.event.result } : { event_id, ...saved.event.result, replayed: true };
  }

  private async apply(scope: Scope, event: CallbackEvent, history: readonly StoredEvent[]): Promise<Outcome> {
    switch (event.type) {
      case 'transaction.authorized':
        if (scope.record.award_on === 'clearing') return awaitingClearing(scope.business, event.sale, this.processor.stores.clock.now());
        // Its clearing came first and made the purchase: nothing more to make, as for a clearing
        // after it (its amount's purchase would be the reference's conflict, a code EVENTS.md has not).
        if (history.some((h) => h.type === cleared && h.purchase !== null)) return Promise.resolve(ignored('already_processed'));
        return this.purchaseOrBooked(scope, event, history);
      case 'transaction.cleared': {
        const booked = scope.record.award_on === 'authorization' ? history.find((h) => h.type === authorized && h.purchase !== null)?.purchase : undefined;
        if (booked === undefined || booked === null) return this.purchaseOrBooked(scope, event, history);
        // Its authorization's purchase was voided since: nothing to clear, at any amount.
        if (history.some((h) => h.type === reversed)) return Promise.resolve(ignored('already_reversed'));
        return this.clearing(scope, event.sale, event.terminal_code, booked);
      }
      case 'transaction.refunded':
        return this.refund(scope, event.refund, event.terminal_code);
      case 'transaction.reversed':
        return this.reverse(scope, event.transaction_id, history);
    }
  }

  private async purchase(scope: Scope, sale: Sale, terminal_code: string | null, history: readonly StoredEvent[]): Promise<Outcome> {
    const { business, record } = scope;
    // Reversed before its purchase came (the processor voided the authorization): never booked.
    if (history.some((h) => h.type === reversed)) return ignored('already_reversed');
    if (sale.currency !== business.currency) return ignored('validation_failed');
    const terminal = await this.processor.processors.terminalAt(business, record.id, sale.merchant_code);
    if (terminal === undefined) return ignored('not_found');
    const { cim, transaction_id, items, ...rest } = sale;
    // A processor's sale without line items may send an empty list (EVENTS.md does not spell the
    // shape out): no basket, not a terminal's basket that adds up to 0 (API.md, core/schemas.ts).
    const basket = Array.isArray(items) && items.length > 0 ? { items } : {};
    const input = parseWith(purchaseSchema, { ...rest, ...basket, reference: transaction_id, cim: { type: cim.type, value: cim.value } });
    // No source: a processor's request is signed, and a code it sends is not a guess (an unknown
    // one is `ignored`, contact_not_found, never 429: EVENTS.md).
    const reply = await this.processor.purchases.purchase(business, reported(terminal, terminal_code), input, callback_window, null, cim);
    return processed(reply, { terminal_id: terminal.id, amount: sale.amount });
  }

  /**
   * The sale's purchase made; or, where its reference holds another body's purchase already, that
   * one, booked by an earlier event of the transaction whose answer a kill lost (the answer is
   * stored after the purchase, in PostgreSQL): an authorization then has nothing to make (its
   * clearing made it), a clearing clears it. Answered `ignored idempotency_conflict` until
   * 2026-12-03, for good, so a lower clearing refunded nothing (a black-box audit under kills).
   * Where another kind holds the reference (a made one, `<id>/reversal` say, that the processor
   * named a sale as; a refund booked under its bare id before 2026-12-04), the conflict is final
   * (refusal); it was a 503 for ever until then (events audit).
   */
  private async purchaseOrBooked(scope: Scope, event: CallbackEvent & { readonly sale: Sale }, history: readonly StoredEvent[]): Promise<Outcome> {
    let conflict: PocketgateError;
    try {
      return await this.purchase(scope, event.sale, event.terminal_code, history);
    } catch (err) {
      if (!isConflict(err)) throw err;
      conflict = err;
    }
    const terminal = await this.processor.processors.terminalAt(scope.business, scope.record.id, event.sale.merchant_code);
    const booked = terminal === undefined ? undefined : await this.processor.refunds.purchaseAmong(scope.business, [terminal], event.transaction_id);
    if (booked === 'held') throw conflict;
    // Another body under the reference, yet nothing there now: its claim ran out meanwhile; retried.
    if (booked === undefined) throw new PocketgateError('unavailable', `transaction ${event.transaction_id} holds another request's reference; try again`);
    if (event.type === authorized) return ignored('already_processed');
    return this.clearing(scope, event.sale, event.terminal_code, booked);
  }

  /**
   * `book(reference)`, a reference the gateway makes for a processor transaction's refund or
   * reversal; where a sale the processor named so holds it, `book` under its spareReference. Any
   * other holder is final (refusal), unless `body_never_differs` (a reversal's): a clearing or a
   * refund named as its sale may come again under a new event id with another amount after a kill
   * lost its first answer, its own earlier refund holding the reference, and is not booked twice.
   */
  private async ownReference(scope: Scope, terminal: Terminal, reference: string, body_never_differs: boolean, book: (reference: string) => Promise<Reply>): Promise<Reply> {
    try {
      return await book(reference);
    } catch (err) {
      if (!isConflict(err)) throw err;
      if (!body_never_differs) {
        const held = await this.processor.refunds.purchaseAmong(scope.business, [terminal], reference);
        if (held === 'held') throw err;
        // Its holder's claim ran out meanwhile: booked under the reference itself on the retry.
        if (held === undefined) throw new PocketgateError('unavailable', `reference ${reference} was freed meanwhile; try again`);
      }
    }
    return book(spareReference(reference));
  }

  /**
   * The purchase an earlier event of the transaction booked on one of the processor's terminals
   * and whose answer a kill lost (none stored), if any.
   */
  private async bookedUnanswered(scope: Scope, transaction_id: string): Promise<BookedPurchase | undefined> {
    const terminals = await this.processor.processors.terminalsOf(scope.business, scope.record.id);
    const booked = await this.processor.refunds.purchaseAmong(scope.business, terminals, transaction_id);
    return booked === 'held' ? undefined : booked;
  }

  /**
   * A clearing after the authorization made the purchase (award_on authorization): a lower amount
   * refunds the difference; the same or higher changes nothing (the awards stay the authorized
   * amount's), acknowledged as `ignored`, code `already_processed`.
   */
  private async clearing(scope: Scope, sale: Sale, terminal_code: string | null, booked: BookedPurchase): Promise<Outcome> {
    if (sale.currency !== scope.business.currency) return ignored('validation_failed');
    // Its merchant is looked up as every event's is: one the business does not have is
    // `not_found` (a lower clearing refunded against the authorization whatever it named: events audit, 2026-12-04).
    if ((await this.processor.processors.terminalAt(scope.business, scope.record.id, sale.merchant_code)) === undefined) return ignored('not_found');
    if (sale.amount >= booked.amount) return ignored('already_processed');
    const terminal = reported(await this.bookedTerminal(booked), terminal_code);
    const book = (reference: string) => this.processor.refunds.refund(scope.business, terminal, { reference, original_reference: sale.transaction_id, amount: booked.amount - sale.amount });
    return processed(await this.ownReference(scope, terminal, `${sale.transaction_id}/clearing`, false, book));
  }

  /**
   * A refund, booked under a made reference, `<transaction_id>/refund`: the processor's bare ids
   * are its sales' alone, since a processor may number refunds and sales apart (refund 1001 of
   * sale 999 beside sale 1001). Until 2026-12-04 a refund took its bare id, and the one of two so
   * named that came second was refused for good (a review).
   */
  private async refund(scope: Scope, refund: CallbackRefund, terminal_code: string | null): Promise<Outcome> {
    const { business, record } = scope;
    if (refund.currency !== business.currency) return ignored('validation_failed');
    const terminal = await this.processor.processors.terminalAt(business, record.id, refund.merchant_code);
    if (terminal === undefined) return ignored('not_found');
    const book = (reference: string) => this.processor.refunds.refund(business, reported(terminal, terminal_code), { reference, original_reference: refund.original_transaction_id, amount: refund.amount });
    const booked = await this.bookedUnderBareId(scope, terminal, refund, book);
    return processed(booked ?? (await this.ownReference(scope, terminal, `${refund.transaction_id}/refund`, false, book)));
  }

  /**
   * A refund booked under its bare transaction id, as until 2026-12-04, whose answer a kill lost:
   * its repeat replays it rather than book it again under the made reference. In the hot window
   * where it holds the id for another transaction than a sale (one that is not this refund
   * answers the conflict, and the made reference is booked); past it, in the ledger (a processor
   * retries for days). Not across versions: a gateway of before books a refund's retry under its
   * bare id whatever a gateway of after booked (README, *Booking*).
   */
  private async bookedUnderBareId(scope: Scope, terminal: Terminal, refund: CallbackRefund, book: (reference: string) => Promise<Reply>): Promise<Reply | undefined> {
    if (refund.transaction_id === refund.original_transaction_id) return undefined;
    if (!(await this.processor.refunds.heldByOther(terminal, refund.transaction_id))) return this.processor.refunds.recordedRefund(scope.business, terminal, refund.transaction_id);
    try {
      return await book(refund.transaction_id);
    } catch (err) {
      if (!isConflict(err)) throw err;
      return undefined;
    }
  }

  private async reverse(scope: Scope, transaction_id: string, history: readonly StoredEvent[]): Promise<Outcome> {
    const booked = history.find((h) => h.purchase !== null && (h.type === authorized || h.type === cleared))?.purchase ?? (await this.bookedUnanswered(scope, transaction_id));
    if (booked === undefined || booked === null) return ignored('original_not_found');
    const terminal = await this.bookedTerminal(booked);
    const book = (reference: string) => this.processor.refunds.reverse(scope.business, terminal, { reference, original_reference: transaction_id });
    return processed(await this.ownReference(scope, terminal, `${transaction_id}/reversal`, true, book));
  }

  private async bookedTerminal(booked: BookedPurchase) {
    const terminal = await this.processor.processors.terminal(booked.terminal_id);
    if (terminal === undefined) throw new Error(`terminal ${booked.terminal_id} of a booked callback purchase is gone`);
    return terminal;
  }
}

/**
 * The processor's terminal with the terminal code its event named: the transaction's journal
 * entry keeps it, so the ledger and its webhook show it whenever they are read.
 */
function reported(terminal: Terminal, terminal_code: string | null): Terminal {
  return terminal_code === null ? terminal : { ...terminal, reported_code: terminal_code };
}

/**
 * Runs the work given under one key one at a time, in arrival order; keys are forgotten once idle,
 * so what it holds is bounded by the work in flight.
 */
export class KeyedSerial {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const mine = before.then(work);
    const tail = mine.then(
      () => {},
      () => {},
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return mine;
  }
}
