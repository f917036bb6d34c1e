// What each route answers, as the OpenAPI document describes it (serve's `answer`): the bodies of
// API.md and EVENTS.md with every field the gateway adds, each named once as a component so that
// a generated client has one type per thing. test/openapi-responses.test.ts drives every route and
// validates each real answer against these, objects closed: a field sent that is not declared
// here, a null not declared nullable, fails it.

import { z } from 'zod';
import { error_codes } from '../../core/errors.ts';
import { offerFields } from '../../core/schemas.ts';
import type { EventReply } from '../callbacks/events.ts';
import type { ContactView, ImportResult } from '../../processor/contacts.ts';
import type { Business } from '../../processor/network.ts';
import type { ProcessorView } from '../../processor/processors.ts';
import type { Quote } from '../../processor/purchase.ts';
import type { Scheme } from '../../processor/schemes.ts';
import type { PublicAward, PurchaseReply, RedemptionReply, RefundReply, ReversalReply, SpendReply, Wallet } from '../../processor/templates.ts';
import type { TransactionSummary, TransactionView } from '../../processor/transactions.ts';
import type { ContactTransaction } from '../../processor/ledger/reports.ts';
import type { DeliveryPage, DeliveryView, WebhookView } from '../../processor/webhooks.ts';

const id = z.string();
const money = z.number().int();
const currency = z.string().openapi({ example: 'EUR' });
const timestamp = z.string().openapi({ format: 'date-time', example: '2026-11-24T10:15:00Z' });
const list = <T extends z.ZodType>(item: T) => z.object({ object: z.literal('list'), data: z.array(item) });
const page = <T extends z.ZodType>(item: T) => z.object({ object: z.literal('list'), data: z.array(item), has_more: z.boolean() });

// The platform and the business network.

const business_fields = {
  id,
  name: z.string(),
  currency,
  reward_resolution: z.enum(['all', 'best', 'best_per_scheme']),
  created_at: timestamp,
};
export const business_answer = z.object(business_fields).openapi('Business');
export const business_created = z.object({ ...business_fields, admin_key: z.string().openapi({ description: 'Returned once' }) }).openapi('BusinessCreated');
export const console_business = z.object({ ...business_fields, minor_units: z.number().int() }).openapi('ConsoleBusiness');

export const merchant_answer = z
  .object({ id, name: z.string(), code: z.string(), contribution_fee_percent: z.number(), settle_on: z.enum(['award', 'spend']), created_at: timestamp })
  .openapi('Merchant');
export const venue_answer = z.object({ id, name: z.string(), merchant_id: id.nullable(), timezone: z.string(), created_at: timestamp }).openapi('Venue');
const terminal_fields = { id, code: z.string(), venue_id: id, merchant_id: id.nullable(), created_at: timestamp };
export const terminal_answer = z.object(terminal_fields).openapi('Terminal');
export const terminal_created = z.object({ ...terminal_fields, api_key: z.string().openapi({ description: 'Returned once' }) }).openapi('TerminalCreated');
export const terminal_key = z.object({ id, api_key: z.string().openapi({ description: 'Returned once' }) }).openapi('TerminalKey');
export const merchant_page = page(merchant_answer).openapi('MerchantList');
export const venue_page = page(venue_answer).openapi('VenueList');
export const terminal_page = page(terminal_answer).openapi('TerminalList');
export const acquirer_link = z.object({ id, acquirer_id: z.string(), business_id: id, created_at: timestamp }).openapi('AcquirerLink');

// Contacts.

const balances = z.object({ open: money, commerce: money }).openapi('Balances');
export const cim_answer = z.object({ type: z.string(), masked: z.string() }).openapi('MaskedCim');
export const contact_answer = z
  .object({
    id,
    code: z.string(),
    referral_code: z.string(),
    wallet_code: z.string(),
    first_name: z.string().nullable(),
    last_name: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    birth_date: z.string().openapi({ format: 'date' }).nullable(),
    tags: z.array(z.string()),
    spend_blocked: z.boolean(),
    referred_by: id.nullable(),
    created_at: timestamp,
    tier: z.string().nullable(),
    cims: z.array(cim_answer),
  })
  .openapi('Contact');
export const import_answer = z
  .object({ imported: z.number().int(), failed: z.number().int(), errors: z.array(z.object({ line: z.number().int(), code: z.enum(error_codes), message: z.string() })) })
  .openapi('ContactImport');
export const contact_wallet = z
  .object({
    currency,
    open: money,
    commerce: money,
    pools: z.array(z.object({ pool: z.string(), amount: money })),
    expiring: z.array(z.object({ amount: money, expires_at: timestamp })),
  })
  .openapi('ContactWallet');
export const spend_otp = z.object({ otp: z.string().openapi({ pattern: '^\\d{6}$' }), amount: money, expires_at: timestamp }).openapi('SpendOtp');
export const wallet_code = z.object({ wallet_code: z.string() }).openapi('WalletCode');
export const statement_answer = z
  .object({
    contact_id: id,
    currency,
    from: timestamp.nullable(),
    to: timestamp.nullable(),
    opening: balances,
    closing: balances,
    lines: z.array(
      z.object({ transaction_id: id, kind: z.string(), at: timestamp, open_delta: money, commerce_delta: money, open_balance: money, commerce_balance: money }),
    ),
    has_more: z.boolean().openapi({ description: 'More lines in the period than one statement holds: ask for shorter periods' }),
  })
  .openapi('Statement');

// Rewards.

export const scheme_answer = z
  .object({ id, name: z.string(), signup: z.enum(['auto', 'self', 'email_domain', 'codes']), email_domains: z.array(z.string()), created_at: timestamp })
  .openapi('Scheme');
export const scheme_list = page(scheme_answer).openapi('SchemeList');
export const scheme_codes = z.object({ codes: z.array(z.string()) }).openapi('SchemeCodes');
export const signup_answer = z.object({ scheme_id: id, contact_id: id, joined: z.boolean() }).openapi('Signup');
const tier_answer = z.object({ name: z.string(), min_period_units: z.number(), period: z.enum(['month', 'quarter', 'year']) }).openapi('Tier');
export const tier_list = list(tier_answer).openapi('TierList');

export const offer_answer = z
  .object({
    id,
    name: z.string(),
    scheme_id: id.nullable().openapi({ description: 'null: a promotion open to all' }),
    active: z.boolean(),
    kind: offerFields.kind,
    goal: offerFields.goal,
    award: offerFields.award,
    conditions: offerFields.conditions,
    max_award: money.nullable(),
    limits: z
      .object({ per_contact: z.object({ count: z.number().int(), period: z.enum(['day', 'week', 'month', 'lifetime']) }).optional(), budget: money.optional() })
      .nullable(),
    instant_redeem: z.boolean(),
    validity_days: z.number().int().nullable(),
    pool: z.string().nullable(),
    valid_from: timestamp.nullable(),
    valid_to: timestamp.nullable(),
    created_at: timestamp,
  })
  .openapi('Offer');
export const offer_list = page(offer_answer).openapi('OfferList');

// Reading back.

export const settlement_answer = z
  .object({
    from: timestamp.nullable(),
    to: timestamp.nullable(),
    currency,
    merchants: z.array(
      z.object({
        merchant_id: id,
        code: z.string(),
        name: z.string(),
        currency,
        contribution_fee_percent: z.number(),
        settle_on: z.enum(['award', 'spend']),
        awards_funded: money,
        contribution_fees: money,
        spends_accepted: money,
        discounts_given: money.openapi({ description: 'Instant discounts customers took at the merchant’s till (part of awards_funded): the business owes them' }),
        net_owed_to_merchant: money.openapi({ description: 'spends_accepted + discounts_given − contribution_fees. Positive: the business pays the merchant; negative: the merchant pays the business' }),
        owed_by: z.enum(['business', 'merchant']).nullable(),
        net_amount: money,
      }),
    ),
  })
  .openapi('Settlement');

// Payment processors and webhooks (EVENTS.md).

const processor_fields = { id, name: z.string(), award_on: z.enum(['clearing', 'authorization']), created_at: timestamp };
export const processor_answer = z.object(processor_fields).openapi('PaymentProcessor');
export const processor_created = z.object({ ...processor_fields, signing_secret: z.string().openapi({ description: 'Returned once' }) }).openapi('PaymentProcessorCreated');
export const processor_list = page(processor_answer).openapi('PaymentProcessorList');
export const signing_secret = z.object({ signing_secret: z.string().openapi({ description: 'Returned once' }) }).openapi('SigningSecret');

const event_reply = z
  .object({
    event_id: z.string().nullable(),
    status: z.enum(['processed', 'ignored', 'rejected']),
    transaction_id: id.optional().openapi({ description: 'Ours: the transaction made (processed)' }),
    code: z.string().optional(),
    message: z.string().optional().openapi({ description: 'Why, in words (rejected)' }),
    replayed: z.literal(true).optional(),
  })
  .openapi('CallbackEventResult');
export const callback_answer = z.union([event_reply, z.object({ results: z.array(event_reply) }).openapi('CallbackBatchResult')]);

const webhook_fields = {
  id,
  url: z.string(),
  events: z.array(z.string()),
  status: z.enum(['enabled', 'disabled']),
  description: z.string().nullable(),
  created_at: timestamp,
};
export const webhook_answer = z.object(webhook_fields).openapi('Webhook');
export const webhook_created = z.object({ ...webhook_fields, signing_secret: z.string().openapi({ description: 'Returned once' }) }).openapi('WebhookCreated');
export const webhook_list = page(webhook_answer).openapi('WebhookList');
export const delivery_answer = z
  .object({
    event_id: id,
    type: z.string(),
    status: z.enum(['pending', 'succeeded', 'failed']),
    attempts: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: timestamp.nullable(),
    created_at: timestamp,
  })
  .openapi('WebhookDelivery');
export const delivery_page = page(delivery_answer).openapi('WebhookDeliveryList');

// Operations and the console.

export const health_answer = z.object({ status: z.literal('ok') }).openapi('Health');
export const ready_answer = z
  .object({
    redis: z.enum(['ok', 'down', 'loading', 'refusing_writes']),
    postgres: z.enum(['ok', 'down']),
    ledger_lag: z.number().int().openapi({ description: 'Journal entries not yet in the ledger, as last counted (the gateway counts as it starts and every second; 0 while Redis has never answered it)' }),
  })
  .openapi('Readiness');
export const stats_answer = z
  .object({
    currency,
    since: timestamp,
    per_second: z.array(z.object({ at: timestamp, approved: z.number().int(), declined: z.number().int() })),
    latency_ms: z.object({ p50: z.number().nullable(), p99: z.number().nullable() }),
    ledger_lag: z.number().int(),
    awards_today: money.nullable().openapi({ description: 'From the ledger: null while PostgreSQL is down (the traffic and the ledger lag, from Redis, are answered all the same)' }),
    spends_today: money.nullable().openapi({ description: 'As awards_today' }),
  })
  .openapi('ConsoleStats');
const map = z.record(z.string(), z.unknown());
export const openapi_answer = z
  .object({ openapi: z.literal('3.1.0'), info: z.object({ title: z.string(), version: z.string(), description: z.string() }), components: map, paths: map, webhooks: map })
  .openapi('OpenApiDocument');

// POS transactions (API.md, processor/templates.ts: the replies as written once).

const award_fields = {
  offer_id: id,
  scheme_id: id.nullable().openapi({ description: 'null: a promotion open to all' }),
  kind: z.enum(['cashback', 'instant_discount']),
  amount: money,
  pool: z.string().nullable(),
  expires_at: timestamp.nullable().openapi({ description: 'Only an award into the commerce balance has one' }),
};
export const award_answer = z.object(award_fields).openapi('Award');
const approved = { id, status: z.literal('approved'), reference: z.string() };
export const purchase_answer = z
  .object({
    ...approved,
    contact_id: id,
    amount: money,
    currency,
    awards: z.array(award_answer),
    discount: money,
    amount_due: money,
    paid_from_wallet: money,
    created_at: timestamp,
    wallet: balances,
  })
  .openapi('Purchase');
export const quote_answer = z
  .object({ contact_id: id, amount: money, currency, awards: z.array(award_answer), discount: money, amount_due: money, wallet: balances })
  .openapi('PurchaseQuote');
export const redemption_answer = z.object({ ...approved, contact_id: id, redeemed: money, currency, created_at: timestamp, wallet: balances }).openapi('Redemption');
export const spend_answer = z.object({ ...approved, contact_id: id, spent: money, currency, created_at: timestamp, wallet: balances }).openapi('Spend');
/** Of a purchase's awards clawed back, what had expired already (not taken again); absent from replies made before 2026-12-03. */
const award_expired = money.optional().openapi({ description: 'Of the awards clawed back, what had expired already: it left the wallet at its expiry and is not taken again.' });
export const refund_answer = z
  .object({ ...approved, original_id: id, contact_id: id, amount: money, currency, clawed_back: money, award_expired, returned_to_wallet: money, created_at: timestamp, wallet: balances })
  .openapi('Refund');
export const reversal_answer = z
  .object({ ...approved, original_id: id, original_kind: z.enum(['purchase', 'spend', 'redemption']), contact_id: id, currency, clawed_back: money.optional().openapi({ description: 'What of the purchase’s awards left the wallet (0 for a spend or redemption).' }), award_expired, returned_to_wallet: money.optional().openapi({ description: 'What came back into the open balance: a purchase’s wallet payment (what refunds had not returned), a spend’s amount; 0 for a redemption.' }), created_at: timestamp, wallet: balances })
  .openapi('Reversal');
export const wallet_answer = z.object({ contact_id: id, currency, open: money, commerce: money }).openapi('Wallet');

const transaction_kind = z.enum(['purchase', 'redemption', 'spend', 'refund', 'reversal', 'award', 'expiry']);
const made_by = z.enum(['terminal', 'admin', 'processor', 'system']).openapi({
  description: 'Who made it: the terminal itself; the business’s admin key on its behalf (Pocketgate-Terminal); a payment processor’s callback (on its own terminal); the gateway itself (sign-up and referral awards, expiries: no terminal).',
});
export const transaction_answer = z
  .object({
    id,
    kind: transaction_kind,
    reference: z.string().nullable(),
    terminal_id: id.nullable(),
    made_by,
    contact_id: id.nullable(),
    amount: money,
    currency,
    status: z.literal('approved'),
    awards: z.array(award_answer),
    discount: money,
    original_id: id.nullable(),
    created_at: timestamp,
    recorded_at: timestamp.nullable(),
    ledger: z.enum(['pending', 'recorded']),
    occurred_at: timestamp.optional().openapi({ description: "A purchase's sale time (its occurred_at, else when it arrived), to the second: what its offers, caps and tier period were decided by" }),
    postings: z.array(z.object({ debit_account: z.string(), credit_account: z.string(), amount: money })).optional().openapi({ description: 'Once recorded' }),
    terminal_code: z.string().optional().openapi({ description: "The terminal code a processor's callback named (display only)" }),
  })
  .openapi('Transaction');
const transaction_summary = z.object({
  id,
  kind: transaction_kind,
  made_by,
  reference: z.string().nullable(),
  terminal_id: id.nullable(),
  contact_id: id.nullable(),
  amount: money,
  currency,
  original_id: id.nullable(),
  created_at: timestamp,
  awarded: money,
});
export const transaction_summaries = page(transaction_summary.openapi('TransactionSummary')).openapi('TransactionSummaryList');
export const contact_transactions = page(
  transaction_summary
    .extend({
      open_delta: money.openapi({ description: "What it moved on the contact's open balance (minor units, signed)" }),
      commerce_delta: money.openapi({ description: "What it moved on the contact's commerce balance (minor units, signed)" }),
    })
    .openapi('ContactTransaction'),
).openapi('ContactTransactionList');

// Webhooks out (EVENTS.md): what a business's endpoint receives, POSTed with Pocketgate-Signature
// and Pocketgate-Event-Id; the document's `webhooks`, so that a receiver is generated as a client is.

const event_of = <T extends z.ZodType>(type: string, data: T) =>
  z.object({ id: z.string().openapi({ example: 'evt_01m8rmf60fbgq6xa6f904zh6es' }), type: z.literal(type), created_at: timestamp, business_id: id, data });
export const webhook_events = {
  'transaction.approved': {
    summary: 'Every approved transaction of any kind (data.kind says which): data is the transaction as GET /v1/transactions/{id} answers it',
    body: event_of('transaction.approved', transaction_answer).openapi('TransactionApprovedEvent'),
  },
  'award.created': {
    summary: 'One per award (sign-up and referral awards included): data is the award as a purchase reply shows it, with contact_id and transaction_id',
    body: event_of('award.created', z.object({ ...award_fields, contact_id: id, transaction_id: id }).openapi('AwardCreated')).openapi('AwardCreatedEvent'),
  },
  'award.expired': {
    summary: 'One per contact per expiry sweep',
    body: event_of('award.expired', z.object({ contact_id: id, transaction_id: id, amount: money, currency }).openapi('AwardExpired')).openapi('AwardExpiredEvent'),
  },
} as const;

// The types the code writes these answers from are the schemas' own, field for field: a field
// added to one and not the other, or typed otherwise, fails `tsc --noEmit` on its line below.
// (The schemas' inferred types are mutable, the code's readonly: readonly is not compared.)

type Frozen<T> = T extends readonly (infer E)[] ? readonly Frozen<E>[] : T extends object ? { readonly [K in keyof T]: Frozen<T[K]> } : T;
/** true when A and B are the same type but for readonly; an optional field in one alone makes it false. */
type Same<A, B> = (<X>() => X extends Frozen<A> ? 1 : 2) extends <X>() => X extends Frozen<B> ? 1 : 2 ? true : false;
type Answer<S extends z.ZodType> = z.infer<S>;

true satisfies Same<Business, Answer<typeof business_answer>>;
true satisfies Same<ContactView, Answer<typeof contact_answer>>;
true satisfies Same<ImportResult, Answer<typeof import_answer>>;
true satisfies Same<Scheme, Answer<typeof scheme_answer>>;
true satisfies Same<ProcessorView, Answer<typeof processor_answer>>;
true satisfies Same<EventReply, Answer<typeof event_reply>>;
true satisfies Same<WebhookView, Answer<typeof webhook_answer>>;
true satisfies Same<DeliveryView, Answer<typeof delivery_answer>>;
true satisfies Same<DeliveryPage, Answer<typeof delivery_page>>;
true satisfies Same<Wallet, Answer<typeof balances>>;
true satisfies Same<PublicAward, Answer<typeof award_answer>>;
true satisfies Same<PurchaseReply, Answer<typeof purchase_answer>>;
true satisfies Same<Quote, Answer<typeof quote_answer>>;
true satisfies Same<RedemptionReply, Answer<typeof redemption_answer>>;
true satisfies Same<SpendReply, Answer<typeof spend_answer>>;
true satisfies Same<RefundReply, Answer<typeof refund_answer>>;
true satisfies Same<ReversalReply, Answer<typeof reversal_answer>>;
true satisfies Same<TransactionView, Answer<typeof transaction_answer>>;
true satisfies Same<TransactionSummary, Answer<typeof transaction_summaries>['data'][number]>;
true satisfies Same<ContactTransaction, Answer<typeof contact_transactions>['data'][number]>;
