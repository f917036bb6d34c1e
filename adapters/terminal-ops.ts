// The POS commands a terminal calls, by the name the WebSocket terminal channel gives them
// (TERMINAL.md): each with the schema its body is parsed with and the one processor call it makes.
// The HTTP routes and the WebSocket channel both run these, so a command cannot behave differently
// on one channel (its validation, its reply, its idempotency).

import type { z } from 'zod';
import { PocketgateError } from '../core/errors.ts';
import { terminal_window } from '../core/occurred.ts';
import {
  purchaseQuoteSchema,
  purchaseSchema,
  redemptionSchema,
  refundSchema,
  reversalSchema,
  spendSchema,
  walletLookupSchema,
} from '../core/schemas.ts';
import type { Presenter } from '../processor/hot/guess.ts';
import type { Business, Principal } from '../processor/network.ts';
import type { Processor } from '../processor/processor.ts';
import { requireWritable, requireWritableNow } from '../processor/redis-health.ts';
import type { Reply } from '../processor/shard.ts';

export type TerminalPrincipal = Extract<Principal, { kind: 'terminal' }>;

export interface TerminalOp<S extends z.ZodType = z.ZodType> {
  readonly schema: S;
  /** A POS transaction (not a quote or a look-up): counted in the business's traffic (TransactionOutcome). */
  readonly transaction: boolean;
  /**
   * `source`: the client's address, which wrong codes are counted against with the terminal
   * (core/guesses.ts): HTTP's request's, the WebSocket's upgrade request's (clientAddress).
   */
  run(processor: Processor, principal: TerminalPrincipal, input: z.infer<S>, source: string): Promise<Reply>;
}

/**
 * What the references ISO 8583 messages are filed under at their terminal begin with
 * (adapters/iso8583/mapping.ts isoReference: `iso:<DE32>:<DE11>:<DE7>`). A new HTTP or WebSocket
 * transaction may not take one: it would hold the key of an acquirer's message not yet sent, whose
 * first transmission would then be answered 94 (ISO8583.md gives 94 only for different content
 * under a key already used; an API audit, 2026-12-07). Named as `original_reference`, one refunds
 * or voids the ISO 8583 sale, as its transaction shows it.
 */
export const iso_reference_prefix = 'iso:';

function notIsoReference(input: unknown, ctx: z.RefinementCtx): void {
  const reference = typeof input === 'object' && input !== null ? (input as { reference?: unknown }).reference : undefined;
  if (typeof reference !== 'string' || !reference.startsWith(iso_reference_prefix)) return;
  ctx.addIssue({ code: 'custom', path: ['reference'], message: `must not begin with "${iso_reference_prefix}": such references are ISO 8583 messages' own (iso:<DE32>:<DE11>:<DE7>)` });
}

/** A POS transaction's schema refuses a reference ISO 8583 messages are filed under; a quote or look-up has none. */
function op<S extends z.ZodType>(schema: S, run: TerminalOp<S>['run'], transaction = true): TerminalOp<S> {
  return { schema: transaction ? schema.superRefine(notIsoReference) : schema, run, transaction };
}

/**
 * Told of every POS transaction a terminal made, through whichever channel: its business, whether
 * it was approved, and how long it took to answer (the console's traffic, gateway/console-stats.ts).
 */
export type TransactionOutcome = (business_id: string, approved: boolean, seconds: number) => void;

/** Seconds since `start` (process.hrtime.bigint()): how long a transaction took to answer. */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** A reply the processor did not write as bytes (a quote, a wallet): its JSON, never a replay. */
export function jsonReply(status: number, value: unknown): Reply {
  return { status, body: JSON.stringify(value), replayed: false };
}

/**
 * The wallet balances of the contact a CIM names (GET /v1/wallets); `value_path` names the value's
 * field in errors. `presenter`: the terminal and source of a terminal's look-up, whose wallet or
 * contact code is a guess (core/guesses.ts); undefined for an admin key, which reads every
 * contact of its business anyway.
 */
export async function walletByCim(processor: Processor, business: Business, type: string, value: string, value_path: string, presenter: Presenter | undefined): Promise<Reply> {
  // A terminal's look-up is a POS request: refused as a purchase would be while Redis refuses writes.
  if (presenter !== undefined) await requireWritable(processor.stores);
  const cim = processor.contacts.normalise(type, value, value_path);
  const { contact_id, guess_settled } = presenter !== undefined
    ? (await Promise.all([processor.contacts.identify(business.id, cim, presenter, processor.stores.clock.now()), requireWritableNow(processor.stores)]))[0]
    : { contact_id: await processor.contacts.resolve(business.id, cim), guess_settled: undefined };
  if (contact_id === null) throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
  const [{ pools: _p, expiring: _e, ...wallet }] = await Promise.all([processor.contacts.wallet(business, contact_id), guess_settled]);
  return jsonReply(200, wallet);
}

export const terminal_ops = {
  purchase: op(purchaseSchema, (p, { business, terminal }, input, source) => p.purchases.purchase(business, terminal, input, terminal_window, source)),
  'purchase.quote': op(purchaseQuoteSchema, async (p, { business, terminal }, input, source) => jsonReply(200, await p.purchases.quote(business, terminal, input, terminal_window, source)), false),
  redemption: op(redemptionSchema, (p, { business, terminal }, input, source) => p.redemptions.redeem(business, terminal, input, source)),
  spend: op(spendSchema, (p, { business, terminal }, input, source) => p.spends.spend(business, terminal, input, source)),
  refund: op(refundSchema, (p, { business, terminal }, input) => p.refunds.refund(business, terminal, input)),
  reversal: op(reversalSchema, (p, { business, terminal }, input) => p.refunds.reverse(business, terminal, input)),
  wallet: op(walletLookupSchema, (p, { business, terminal }, input, source) => walletByCim(p, business, input.cim.type, input.cim.value, 'cim.value', { terminal_id: terminal.id, source }), false),
} as const satisfies Record<string, TerminalOp<any>>;

export type TerminalOpName = keyof typeof terminal_ops;

export const terminal_op_names = Object.keys(terminal_ops) as TerminalOpName[];

export function isTerminalOp(name: unknown): name is TerminalOpName {
  return typeof name === 'string' && Object.hasOwn(terminal_ops, name);
}
