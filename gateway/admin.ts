// The admin API: the platform creates businesses; a business's admin key manages its network,
// contacts and offers and reads transactions back.

import { OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { PocketgateError } from '../core/errors.ts';
import {
  assignableCimSchema,
  businessCreateSchema,
  contactCreateSchema,
  contactLookupSchema,
  listQuerySchema,
  contactPatchSchema,
  merchantCreateSchema,
  offerPatchSchema,
  processorCreateSchema,
  isoLinkSchema,
  offerSchema,
  offerView,
  parseWith,
  schemeCodesSchema,
  schemeSchema,
  signupSchema,
  tiersSchema,
  settlementQuerySchema,
  spendOtpSchema,
  statementQuerySchema,
  transactionsQuerySchema,
  terminalCreateSchema,
  venueCreateSchema,
  pageOfList,
  wholeListQuerySchema,
} from '../core/schemas.ts';
import { bodyLines, list_body_bytes_max, readBody, requireNoBody } from '../adapters/http/body.ts';
import { id_pattern, idParam, type HttpEnv } from '../adapters/http/env.ts';
import { serve } from '../adapters/http/routes.ts';
import { answerExact } from '../adapters/http/exact-json.ts';
import * as answers from '../adapters/http/answers.ts';
import type { Processor } from '../processor/processor.ts';
import { withinOr } from '../processor/in-flight.ts';
import { readTransaction } from '../processor/transactions.ts';
import { listNetwork, readNetwork, type NetworkList } from '../processor/network-list.ts';
import { contactTransactions, settlement, statement } from '../processor/ledger/reports.ts';
import { journalMarks, waitForLedger, waitForShard } from '../processor/ledger/caught-up.ts';

const import_line_bytes_max = 64 * 1024;
/** How long a statement waits for the ledger to record what was answered before it (a lagging ledger answers what it holds). */
const statement_wait_ms = 2_000;


const network_tag = 'Business network';
const contacts_tag = 'Contacts';
const rewards_tag = 'Rewards';
const payment_tag = 'Payment processors';

export function adminRoutes(processor: Processor): OpenAPIHono<HttpEnv> {
  const app = new OpenAPIHono<HttpEnv>();
  serveBusinesses(app, processor);
  serveNetwork(app, processor);
  serveContacts(app, processor);
  serveContactMoney(app, processor);
  serveSettlements(app, processor);
  serveSchemes(app, processor);
  serveTiers(app, processor);
  serveOffers(app, processor);
  serveAcquirers(app, processor);
  servePaymentProcessors(app, processor);
  serveTransactions(app, processor);
  return app;
}

/** The platform's: a business and its admin key. */
function serveBusinesses(app: OpenAPIHono<HttpEnv>, { network, offers }: Processor): void {
  const businesses = { method: 'post', path: '/v1/businesses', summary: 'Create a business (returns its admin key once)', tag: 'Platform', key: 'platform', body: businessCreateSchema, answer: answers.business_created } as const;
  serve(app, businesses, async (c) => {
    const input = await readBody(c, businessCreateSchema);
    const business = await network.createBusiness(input);
    await offers.changed(business.id); // its rewards snapshot in Redis: the POS path reads it there
    return c.json(business, 201);
  });
}

/** Merchants, venues and terminals. */
function serveNetwork(app: OpenAPIHono<HttpEnv>, processor: Processor): void {
  const { network } = processor;
  serve(app, { method: 'post', path: '/v1/merchants', summary: 'Create a merchant', tag: network_tag, key: 'admin', body: merchantCreateSchema, answer: answers.merchant_answer }, async (c, business) =>
    c.json(await network.createMerchant(business, await readBody(c, merchantCreateSchema)), 201),
  );

  serve(app, { method: 'post', path: '/v1/venues', summary: 'Create a venue', tag: network_tag, key: 'admin', body: venueCreateSchema, answer: answers.venue_answer }, async (c, business) =>
    c.json(await network.createVenue(business, await readBody(c, venueCreateSchema)), 201),
  );

  serve(app, { method: 'post', path: '/v1/terminals', summary: 'Create a terminal (returns its key once)', tag: network_tag, key: 'admin', body: terminalCreateSchema, answer: answers.terminal_created }, async (c, business) =>
    c.json(await network.createTerminal(business, await readBody(c, terminalCreateSchema)), 201),
  );

  // Lists of the network, a page at a time, and each item by its id as its list shows it (an
  // addition: API.md creates them, Stripe reads back what it made); a terminal's key is never
  // shown after its creation.
  const network_reads = {
    merchants: { list: 'List merchants (query limit 1..1000, starting_after)', page: answers.merchant_page, one: 'Read a merchant', item: answers.merchant_answer },
    venues: { list: 'List venues (query limit 1..1000, starting_after)', page: answers.venue_page, one: 'Read a venue', item: answers.venue_answer },
    terminals: { list: 'List terminals, never a key (query limit 1..1000, starting_after)', page: answers.terminal_page, one: 'Read a terminal, never its key', item: answers.terminal_answer },
  } as const satisfies Record<NetworkList, { list: string; page: z.ZodType; one: string; item: z.ZodType }>;
  for (const [list, { list: summary, page, one, item }] of Object.entries(network_reads) as [NetworkList, (typeof network_reads)[NetworkList]][]) {
    serve(app, { method: 'get', path: `/v1/${list}`, summary, tag: network_tag, key: 'admin', query: listQuerySchema, answer: page }, async (c, business) =>
      c.json(await listNetwork(processor.stores.sql, business, list, parseWith(listQuerySchema, c.req.query()))),
    );
    serve(app, { method: 'get', path: `/v1/${list}/{id}`, summary: one, tag: network_tag, key: 'admin', answer: item }, async (c, business) =>
      c.json(await readNetwork(processor.stores.sql, business, list, idParam(c))),
    );
  }

  // A new key for the terminal (shown once); the old one stops working within seconds everywhere.
  const rotate_key = { method: 'post', path: '/v1/terminals/{id}/rotate-key', summary: 'Give a terminal a new key (returned once); the old one stops working within seconds', tag: network_tag, key: 'admin', answer: answers.terminal_key } as const;
  serve(app, rotate_key, async (c, business) => {
    const id = idParam(c);
    await requireNoBody(c);
    return c.json(await network.rotateTerminalKey(business, id), 201);
  });
}

function serveContacts(app: OpenAPIHono<HttpEnv>, processor: Processor): void {
  const { contacts } = processor;
  const contacts_import = { method: 'post', path: '/v1/contacts/import', summary: 'Import contacts from NDJSON, streamed', tag: contacts_tag, key: 'admin', body: z.string(), body_type: 'application/x-ndjson', status: 200, answer: answers.import_answer } as const;
  serve(app, contacts_import, async (c, business) => c.json(await contacts.import(business, bodyLines(c, import_line_bytes_max))));

  // The contact a CIM names. A POST, so that a card number never goes in a URL (nor in an access log).
  const lookup = { method: 'post', path: '/v1/contacts/lookup', summary: 'The contact a CIM names ({cim: {type, value}}), or 404 contact_not_found: a card number never in a URL', tag: contacts_tag, key: 'admin', body: contactLookupSchema, status: 200, answer: answers.contact_answer, reads_only: true } as const;
  serve(app, lookup, async (c, business) => {
    const { cim } = await readBody(c, contactLookupSchema);
    const normalised = contacts.normalise(cim.type, cim.value, 'cim.value');
    // By CIM, else by the email or phone on file (resolve reads both, as for a POS call).
    const contact_id = await contacts.resolve(business.id, normalised);
    const contact = contact_id === null ? undefined : await contacts.view(business, contact_id);
    if (contact === undefined) throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
    return c.json(contact);
  });

  serve(app, { method: 'post', path: '/v1/contacts', summary: 'Create a contact', tag: contacts_tag, key: 'admin', body: contactCreateSchema, answer: answers.contact_answer }, async (c, business) =>
    c.json(await contacts.create(business, await readBody(c, contactCreateSchema)), 201),
  );

  serve(app, { method: 'get', path: '/v1/contacts/{id}', summary: 'Read a contact', tag: contacts_tag, key: 'admin', answer: answers.contact_answer }, async (c, business) => {
    const contact = await contacts.view(business, idParam(c));
    if (contact === undefined) throw new PocketgateError('not_found', `contact ${idParam(c)} not found`);
    return c.json(contact);
  });

  serve(app, { method: 'patch', path: '/v1/contacts/{id}', summary: 'Update a contact', tag: contacts_tag, key: 'admin', body: contactPatchSchema, answer: answers.contact_answer }, async (c, business) =>
    c.json(await contacts.patch(business, idParam(c), await readBody(c, contactPatchSchema))),
  );

  serve(app, { method: 'post', path: '/v1/contacts/{id}/cims', summary: 'Add a CIM to a contact', tag: contacts_tag, key: 'admin', body: assignableCimSchema, answer: answers.cim_answer }, async (c, business) => {
    const id = idParam(c);
    const cim = await readBody(c, assignableCimSchema);
    return c.json(await contacts.addCim(business, id, cim.type, cim.value), 201);
  });
}

/** A contact's money: its wallet, a spend's one-time code, its wallet code, its statement and transactions. */
function serveContactMoney(app: OpenAPIHono<HttpEnv>, processor: Processor): void {
  const { contacts } = processor;
  const wallet = { method: 'get', path: '/v1/contacts/{id}/wallet', summary: "A contact's wallet: balances, pools, what expires when", tag: contacts_tag, key: 'admin', answer: answers.contact_wallet } as const;
  serve(app, wallet, async (c, business) => {
    const { contact_id: _id, ...rest } = await contacts.wallet(business, idParam(c), true);
    return c.json(rest);
  });

  const spend_otp = { method: 'post', path: '/v1/contacts/{id}/spend-otp', summary: 'Issue a 6-digit one-time code for a spend of at most `amount`', tag: contacts_tag, key: 'admin', body: spendOtpSchema, answer: answers.spend_otp } as const;
  serve(app, spend_otp, async (c, business) => {
    const input = await readBody(c, spendOtpSchema);
    return c.json(await processor.spends.issueOtp(business, idParam(c), input.amount, input.ttl_seconds), 201);
  });

  const wallet_code = { method: 'post', path: '/v1/contacts/{id}/wallet-code', summary: 'Rotate the wallet code (the old one stops working at once)', tag: contacts_tag, key: 'admin', answer: answers.wallet_code } as const;
  serve(app, wallet_code, async (c, business) => {
    await requireNoBody(c);
    return c.json(await contacts.rotateWalletCode(business, idParam(c)), 201);
  });

  const statement_doc = { method: 'get', path: '/v1/contacts/{id}/statement', summary: 'Statement from the ledger: opening, closing, each movement', tag: contacts_tag, key: 'admin', query: statementQuerySchema, answer: answers.statement_answer } as const;
  serve(app, statement_doc, async (c, business) => {
    const q = parseWith(statementQuerySchema, c.req.query());
    const id = idParam(c);
    await contactRecorded(processor, id);
    return answerExact(c, await statement(processor.stores.sql, business, id, q.from, q.to));
  });

  // Its statement lists what moved its balances; this, every transaction that names it (a
  // purchase that awarded nothing too): the console's "Latest transactions".
  const transactions_doc = { method: 'get', path: '/v1/contacts/{id}/transactions', summary: 'The contact’s latest transactions, newest first, from the ledger, each with what it moved on its balances (query limit 1..100, starting_after)', tag: contacts_tag, key: 'admin', query: transactionsQuerySchema, answer: answers.contact_transactions } as const;
  serve(app, transactions_doc, async (c, business) => {
    const query = parseWith(transactionsQuerySchema, c.req.query());
    const id = idParam(c);
    await contactRecorded(processor, id);
    return c.json(await contactTransactions(processor.stores.sql, business, id, query));
  });
}

/**
 * Waits, at most statement_wait_ms, until the ledger holds what the contact's shard journaled so
 * far: a statement asked for after a 201 holds that transaction (its closing is the wallet), though
 * the writer records each entry a few ms after the reply. Redis unreachable or not answering:
 * nothing to wait on can be read, and the statement answers what the ledger holds, as before.
 */
async function contactRecorded(processor: Processor, contact_id: string): Promise<void> {
  const { redis, config } = processor.stores;
  await recordedWithin(waitForShard(redis, config.shard_count, processor.contacts.shardOf(contact_id), statement_wait_ms));
}

/**
 * The same for a settlement (and the business's latest transactions, gateway/console.ts): a
 * merchant's customers are on every shard, so it waits for what every shard journaled so far, so
 * that a settlement asked for after a 201 holds that transaction.
 */
export async function allRecorded(processor: Processor): Promise<void> {
  const { redis, config } = processor.stores;
  await recordedWithin(journalMarks(redis, config.shard_count).then((marks) => waitForLedger(redis, marks, statement_wait_ms)));
}

/** Waits for `recording`, at most statement_wait_ms, whatever it does. */
async function recordedWithin(recording: Promise<unknown>): Promise<void> {
  // Best effort, whatever fails: the report answers what the ledger holds either way. (A
  // rethrown error would reject after the deadline below won the race, with nobody awaiting it.)
  const recorded = recording.then(
    () => undefined,
    () => undefined,
  );
  await withinOr(recorded, statement_wait_ms, () => undefined);
}

function serveSettlements(app: OpenAPIHono<HttpEnv>, processor: Processor): void {
  const settlements = { method: 'get', path: '/v1/settlements', summary: 'Settlement per merchant from the ledger', tag: 'Reading back', key: 'admin', query: settlementQuerySchema, answer: answers.settlement_answer } as const;
  serve(app, settlements, async (c, business) => {
    const q = parseWith(settlementQuerySchema, c.req.query());
    // Not an id we make (a NUL, say, which PostgreSQL cannot even compare): no such merchant.
    if (q.merchant_id !== undefined && !id_pattern.test(q.merchant_id)) throw new PocketgateError('not_found', `merchant ${q.merchant_id} not found`);
    await allRecorded(processor);
    return answerExact(c, await settlement(processor.stores.sql, business, q.merchant_id, q.from, q.to));
  });
}

function serveSchemes(app: OpenAPIHono<HttpEnv>, processor: Processor): void {
  const { offers } = processor;
  serve(app, { method: 'post', path: '/v1/schemes', summary: 'Create a scheme', tag: rewards_tag, key: 'admin', body: schemeSchema, answer: answers.scheme_answer }, async (c, business) => {
    const scheme = await processor.schemes.create(business, await readBody(c, schemeSchema));
    await offers.changed(business.id); // an auto scheme changes whom offers reach
    return c.json(scheme, 201);
  });

  serve(app, { method: 'get', path: '/v1/schemes', summary: 'List schemes (query limit 1..1000, starting_after; all without limit)', tag: rewards_tag, key: 'admin', query: wholeListQuerySchema, answer: answers.scheme_list }, async (c, business) => {
    const query = parseWith(wholeListQuerySchema, c.req.query());
    return c.json(pageOfList(await processor.schemes.list(business), query, 'scheme'));
  });

  serve(app, { method: 'get', path: '/v1/schemes/{id}', summary: 'Read a scheme', tag: rewards_tag, key: 'admin', answer: answers.scheme_answer }, async (c, business) =>
    c.json(await processor.schemes.get(business, idParam(c))),
  );

  const codes = { method: 'post', path: '/v1/schemes/{id}/codes', summary: 'Issue (count) or import (codes) one-time sign-up codes', tag: rewards_tag, key: 'admin', body: schemeCodesSchema, answer: answers.scheme_codes } as const;
  serve(app, codes, async (c, business) => c.json(await processor.schemes.addCodes(business, idParam(c), await readBody(c, schemeCodesSchema, list_body_bytes_max)), 201));

  serve(app, { method: 'post', path: '/v1/schemes/{id}/signups', summary: 'Join a contact to a scheme', tag: rewards_tag, key: 'admin', body: signupSchema, answer: answers.signup_answer }, async (c, business) => {
    const input = await readBody(c, signupSchema);
    const { joined, scheme, award } = await processor.schemes.signup(business, idParam(c), input.contact_id, input.code);
    // The award before the memberships' copy, which tells a retry whether it may be missing.
    if (award) await processor.awards.signup(business, input.contact_id, scheme.id);
    if (scheme.signup !== 'auto') await processor.schemes.copyMemberships(input.contact_id);
    return c.json({ scheme_id: scheme.id, contact_id: input.contact_id, joined }, 201);
  });
}

function serveTiers(app: OpenAPIHono<HttpEnv>, { offers }: Processor): void {
  serve(app, { method: 'put', path: '/v1/tiers', summary: "Replace the business's tiers", tag: rewards_tag, key: 'admin', body: tiersSchema, answer: answers.tier_list }, async (c, business) =>
    c.json({ object: 'list', data: await offers.putTiers(business, await readBody(c, tiersSchema)) }),
  );

  serve(app, { method: 'get', path: '/v1/tiers', summary: 'List tiers', tag: rewards_tag, key: 'admin', answer: answers.tier_list }, async (c, business) =>
    c.json({ object: 'list', data: await offers.tiers(business) }),
  );
}

function serveOffers(app: OpenAPIHono<HttpEnv>, { offers }: Processor): void {
  serve(app, { method: 'post', path: '/v1/offers', summary: 'Create an offer', tag: rewards_tag, key: 'admin', body: offerSchema, answer: answers.offer_answer }, async (c, business) =>
    c.json(offerView(await offers.create(business, await readBody(c, offerSchema, list_body_bytes_max))), 201),
  );

  serve(app, { method: 'get', path: '/v1/offers', summary: 'List offers (query limit 1..1000, starting_after; all without limit)', tag: rewards_tag, key: 'admin', query: wholeListQuerySchema, answer: answers.offer_list }, async (c, business) => {
    const query = parseWith(wholeListQuerySchema, c.req.query());
    const page = pageOfList(await offers.list(business), query, 'offer');
    return c.json({ ...page, data: page.data.map(offerView) });
  });

  serve(app, { method: 'get', path: '/v1/offers/{id}', summary: 'Read an offer', tag: rewards_tag, key: 'admin', answer: answers.offer_answer }, async (c, business) =>
    c.json(offerView(await offers.get(business, idParam(c)))),
  );

  serve(app, { method: 'patch', path: '/v1/offers/{id}', summary: 'Update an offer', tag: rewards_tag, key: 'admin', body: offerPatchSchema, answer: answers.offer_answer }, async (c, business) =>
    c.json(offerView(await offers.patch(business, idParam(c), await readBody(c, offerPatchSchema, list_body_bytes_max)))),
  );
}

/** ISO 8583 acquirers whose messages are this business's. */
function serveAcquirers(app: OpenAPIHono<HttpEnv>, { network }: Processor): void {
  const links = { method: 'post', path: '/v1/iso8583/links', summary: 'Bind an acquirer (ISO 8583 DE32) to this business', tag: 'ISO 8583', key: 'admin', body: isoLinkSchema, answer: answers.acquirer_link } as const;
  serve(app, links, async (c, business) => {
    const input = await readBody(c, isoLinkSchema);
    return c.json(await network.linkAcquirer(business, input.acquirer_id), 201);
  });
}

function servePaymentProcessors(app: OpenAPIHono<HttpEnv>, processor: Processor): void {
  const processors = { method: 'post', path: '/v1/processors', summary: 'Create a payment processor (returns its signing secret once)', tag: payment_tag, key: 'admin', body: processorCreateSchema, answer: answers.processor_created } as const;
  serve(app, processors, async (c, business) => c.json(await processor.processors.create(business, await readBody(c, processorCreateSchema)), 201));

  const processor_list = { method: 'get', path: '/v1/processors', summary: "List the business's payment processors, oldest first, never a secret (query limit 1..1000, starting_after)", tag: payment_tag, key: 'admin', query: listQuerySchema, answer: answers.processor_list } as const;
  serve(app, processor_list, async (c, business) => c.json(await processor.processors.list(business, parseWith(listQuerySchema, c.req.query()))));

  const processor_one = { method: 'get', path: '/v1/processors/{id}', summary: 'Read a payment processor, never its secret', tag: payment_tag, key: 'admin', answer: answers.processor_answer } as const;
  serve(app, processor_one, async (c, business) => c.json(await processor.processors.read(business, idParam(c))));

  const rotate_secret = { method: 'post', path: '/v1/processors/{id}/rotate-secret', summary: 'A new signing secret (returned once); the old one verifies 24 hours more', tag: payment_tag, key: 'admin', answer: answers.signing_secret } as const;
  serve(app, rotate_secret, async (c, business) => {
    await requireNoBody(c);
    return c.json(await processor.processors.rotate(business, idParam(c)), 201);
  });
}

function serveTransactions(app: OpenAPIHono<HttpEnv>, processor: Processor): void {
  const transaction = { method: 'get', path: '/v1/transactions/{id}', summary: 'Read a transaction back, with its ledger state', tag: 'Reading back', key: 'admin', answer: answers.transaction_answer } as const;
  serve(app, transaction, async (c, business) => {
    // The same view a transaction.approved event carries (terminal_code included): one function, no drift.
    return c.json(await readTransaction(processor.stores, business, idParam(c), c.get('ledger_down') !== true));
  });
}
