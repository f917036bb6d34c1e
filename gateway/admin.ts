// The admin API: the platform creates businesses; a business's admin key manages its network,
// contacts and offers and reads transactions back.

import { Hono, type Context } from 'hono';
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
  parseWith,
  schemeCodesSchema,
  schemeSchema,
  signupSchema,
  tiersSchema,
  settlementQuerySchema,
  spendOtpSchema,
  statementQuerySchema,
  terminalCreateSchema,
  venueCreateSchema,
} from '../core/schemas.ts';
import { bodyLines, readBody, requireNoBody } from '../adapters/http/body.ts';
import { adminOf, type HttpEnv } from '../adapters/http/env.ts';
import type { Processor } from '../processor/processor.ts';
import { readTransaction } from '../processor/transactions.ts';
import { listNetwork, type NetworkList } from '../processor/network-list.ts';
import { settlement, statement } from '../processor/ledger/reports.ts';

const import_line_bytes_max = 64 * 1024;

function platformOnly(c: Context<HttpEnv>): void {
  if (c.get('principal').kind !== 'platform') throw new PocketgateError('forbidden', 'this call needs the platform key');
}

/** Our ids are `<kind>_<base32>`. */
const id_pattern = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Ids in paths are bounded like any input: a 10 MB id is not looked up, nor one with characters
 * no id has (a NUL would make PostgreSQL fail the query, a 500 instead of this 404).
 */
function idParam(c: Context<HttpEnv>, name = 'id'): string {
  const id = c.req.param(name);
  if (id === undefined || !id_pattern.test(id)) throw new PocketgateError('not_found', 'not found');
  return id;
}

export function adminRoutes(processor: Processor): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();
  const { network, contacts, offers } = processor;

  app.post('/v1/businesses', async (c) => {
    platformOnly(c);
    const input = await readBody(c, businessCreateSchema);
    const business = await network.createBusiness(input);
    await offers.changed(business.id); // its rewards snapshot in Redis: the POS path reads it there
    return c.json(business, 201);
  });

  app.post('/v1/merchants', async (c) => {
    const business = adminOf(c);
    return c.json(await network.createMerchant(business, await readBody(c, merchantCreateSchema)), 201);
  });

  app.post('/v1/venues', async (c) => {
    const business = adminOf(c);
    return c.json(await network.createVenue(business, await readBody(c, venueCreateSchema)), 201);
  });

  app.post('/v1/terminals', async (c) => {
    const business = adminOf(c);
    return c.json(await network.createTerminal(business, await readBody(c, terminalCreateSchema)), 201);
  });

  // Lists of the network, a page at a time; a terminal's key is never shown after its creation.
  for (const list of ['merchants', 'venues', 'terminals'] as const satisfies readonly NetworkList[]) {
    app.get(`/v1/${list}`, async (c) => {
      const business = adminOf(c);
      return c.json(await listNetwork(processor.stores.sql, business, list, parseWith(listQuerySchema, c.req.query())));
    });
  }

  // A new key for the terminal (shown once); the old one stops working within seconds everywhere.
  app.post('/v1/terminals/:id/rotate-key', async (c) => {
    const business = adminOf(c);
    const id = idParam(c);
    await requireNoBody(c);
    return c.json(await network.rotateTerminalKey(business, id), 201);
  });

  app.post('/v1/contacts/import', async (c) => {
    const business = adminOf(c);
    return c.json(await contacts.import(business, bodyLines(c, import_line_bytes_max)));
  });

  // The contact a CIM names. A POST, so that a card number never goes in a URL (nor in an access log).
  app.post('/v1/contacts/lookup', async (c) => {
    const business = adminOf(c);
    const { cim } = await readBody(c, contactLookupSchema);
    const contact_id = await contacts.resolve(business.id, contacts.normalise(cim.type, cim.value, 'cim.value'));
    const contact = contact_id === null ? undefined : await contacts.view(business, contact_id);
    if (contact === undefined) throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
    return c.json(contact);
  });

  app.post('/v1/contacts', async (c) => {
    const business = adminOf(c);
    return c.json(await contacts.create(business, await readBody(c, contactCreateSchema)), 201);
  });

  app.get('/v1/contacts/:id', async (c) => {
    const business = adminOf(c);
    const contact = await contacts.view(business, idParam(c));
    if (contact === undefined) throw new PocketgateError('not_found', `contact ${idParam(c)} not found`);
    return c.json(contact);
  });

  app.patch('/v1/contacts/:id', async (c) => {
    const business = adminOf(c);
    return c.json(await contacts.patch(business, idParam(c), await readBody(c, contactPatchSchema)));
  });

  app.post('/v1/contacts/:id/cims', async (c) => {
    const business = adminOf(c);
    const id = idParam(c);
    const cim = await readBody(c, assignableCimSchema);
    return c.json(await contacts.addCim(business, id, cim.type, cim.value), 201);
  });

  app.get('/v1/contacts/:id/wallet', async (c) => {
    const business = adminOf(c);
    const { contact_id: _id, ...wallet } = await contacts.wallet(business, idParam(c), true);
    return c.json(wallet);
  });

  app.post('/v1/contacts/:id/spend-otp', async (c) => {
    const business = adminOf(c);
    const input = await readBody(c, spendOtpSchema);
    return c.json(await processor.spends.issueOtp(business, idParam(c), input.amount, input.ttl_seconds), 201);
  });

  app.post('/v1/contacts/:id/wallet-code', async (c) => {
    const business = adminOf(c);
    await requireNoBody(c);
    return c.json(await contacts.rotateWalletCode(business, idParam(c)), 201);
  });

  app.get('/v1/contacts/:id/statement', async (c) => {
    const business = adminOf(c);
    const q = parseWith(statementQuerySchema, c.req.query());
    return c.json(await statement(processor.stores.sql, business, idParam(c), q.from, q.to));
  });

  app.get('/v1/settlements', async (c) => {
    const business = adminOf(c);
    const q = parseWith(settlementQuerySchema, c.req.query());
    // Not an id we make (a NUL, say, which PostgreSQL cannot even compare): no such merchant.
    if (q.merchant_id !== undefined && !id_pattern.test(q.merchant_id)) throw new PocketgateError('not_found', `merchant ${q.merchant_id} not found`);
    return c.json(await settlement(processor.stores.sql, business, q.merchant_id, q.from, q.to));
  });

  app.post('/v1/schemes', async (c) => {
    const business = adminOf(c);
    const scheme = await processor.schemes.create(business, await readBody(c, schemeSchema));
    await offers.changed(business.id); // an auto scheme changes whom offers reach
    return c.json(scheme, 201);
  });

  app.get('/v1/schemes', async (c) => {
    const business = adminOf(c);
    return c.json({ object: 'list', data: await processor.schemes.list(business) });
  });

  app.get('/v1/schemes/:id', async (c) => {
    const business = adminOf(c);
    return c.json(await processor.schemes.get(business, idParam(c)));
  });

  app.post('/v1/schemes/:id/codes', async (c) => {
    const business = adminOf(c);
    return c.json(await processor.schemes.addCodes(business, idParam(c), await readBody(c, schemeCodesSchema)), 201);
  });

  app.post('/v1/schemes/:id/signups', async (c) => {
    const business = adminOf(c);
    const input = await readBody(c, signupSchema);
    const { joined, scheme } = await processor.schemes.signup(business, idParam(c), input.contact_id, input.code);
    if (joined) await processor.awards.signup(business, input.contact_id, scheme.id);
    return c.json({ scheme_id: scheme.id, contact_id: input.contact_id, joined }, 201);
  });

  app.put('/v1/tiers', async (c) => {
    const business = adminOf(c);
    return c.json({ object: 'list', data: await offers.putTiers(business, await readBody(c, tiersSchema)) });
  });

  app.get('/v1/tiers', async (c) => {
    const business = adminOf(c);
    return c.json({ object: 'list', data: await offers.tiers(business) });
  });

  app.post('/v1/offers', async (c) => {
    const business = adminOf(c);
    return c.json(await offers.create(business, await readBody(c, offerSchema)), 201);
  });

  app.get('/v1/offers', async (c) => {
    const business = adminOf(c);
    return c.json({ object: 'list', data: await offers.list(business) });
  });

  app.get('/v1/offers/:id', async (c) => {
    const business = adminOf(c);
    return c.json(await offers.get(business, idParam(c)));
  });

  app.patch('/v1/offers/:id', async (c) => {
    const business = adminOf(c);
    return c.json(await offers.patch(business, idParam(c), await readBody(c, offerPatchSchema)));
  });

  app.post('/v1/iso8583/links', async (c) => {
    const business = adminOf(c);
    const input = await readBody(c, isoLinkSchema);
    return c.json(await network.linkAcquirer(business, input.acquirer_id), 201);
  });

  app.post('/v1/processors', async (c) => {
    const business = adminOf(c);
    return c.json(await processor.processors.create(business, await readBody(c, processorCreateSchema)), 201);
  });

  app.get('/v1/processors', async (c) => {
    const business = adminOf(c);
    return c.json({ object: 'list', data: await processor.processors.list(business) });
  });

  app.post('/v1/processors/:id/rotate-secret', async (c) => {
    const business = adminOf(c);
    await requireNoBody(c);
    return c.json(await processor.processors.rotate(business, idParam(c)), 201);
  });

  app.get('/v1/transactions/:id', async (c) => {
    const business = adminOf(c);
    const id = idParam(c);
    // A processor's callback may have named the terminal it came from: shown, nothing more.
    const [transaction, terminal_code] = await Promise.all([readTransaction(processor.stores, business, id), processor.callback_events.terminalCode(id)]);
    return c.json(terminal_code === undefined ? transaction : { ...transaction, terminal_code });
  });

  return app;
}
