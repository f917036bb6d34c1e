// The POS JSON API: what terminals call. Each handler parses with the command's schema, calls
// the processor once and writes the JSON it returns as is.

import { Hono } from 'hono';
import { cim_types } from '../../core/cim.ts';
import { PocketgateError } from '../../core/errors.ts';
import { terminal_window } from '../../core/occurred.ts';
import { purchaseSchema, redemptionSchema, refundSchema, reversalSchema, spendSchema } from '../../core/schemas.ts';
import type { Processor } from '../../processor/processor.ts';
import type { Reply } from '../../processor/shard.ts';
import { readBody } from './body.ts';
import { businessOf, terminalOf, type HttpEnv } from './env.ts';

const json_headers = { 'content-type': 'application/json' } as const;
const replayed_headers = { 'content-type': 'application/json', 'idempotent-replayed': 'true' } as const;

export function replyResponse(reply: Reply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.replayed ? replayed_headers : json_headers });
}

export function posRoutes(processor: Processor): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();

  app.post('/v1/purchases', async (c) => {
    const { business, terminal } = terminalOf(c);
    const input = await readBody(c, purchaseSchema);
    return replyResponse(await processor.purchases.purchase(business, terminal, input, terminal_window));
  });

  app.post('/v1/redemptions', async (c) => {
    const { business, terminal } = terminalOf(c);
    return replyResponse(await processor.redemptions.redeem(business, terminal, await readBody(c, redemptionSchema)));
  });

  app.post('/v1/spends', async (c) => {
    const { business, terminal } = terminalOf(c);
    return replyResponse(await processor.spends.spend(business, terminal, await readBody(c, spendSchema)));
  });

  app.post('/v1/refunds', async (c) => {
    const { business, terminal } = terminalOf(c);
    return replyResponse(await processor.refunds.refund(business, terminal, await readBody(c, refundSchema)));
  });

  app.post('/v1/reversals', async (c) => {
    const { business, terminal } = terminalOf(c);
    return replyResponse(await processor.refunds.reverse(business, terminal, await readBody(c, reversalSchema)));
  });

  app.get('/v1/wallets', async (c) => {
    const business = businessOf(c);
    const type = c.req.query('cim_type');
    const value = c.req.query('cim_value');
    if (type === undefined || value === undefined) {
      throw new PocketgateError('validation_failed', 'cim_type and cim_value are required', [
        ...(type === undefined ? [{ path: 'cim_type', message: 'required' }] : []),
        ...(value === undefined ? [{ path: 'cim_value', message: 'required' }] : []),
      ]);
    }
    // An unknown type is the fault of cim_type, not of the value.
    if (!(cim_types as readonly string[]).includes(type)) {
      throw new PocketgateError('validation_failed', `cim_type: must be one of ${cim_types.join(', ')}`, [{ path: 'cim_type', message: `must be one of ${cim_types.join(', ')}` }]);
    }
    const cim = processor.contacts.normalise(type, value, 'cim_value');
    const contact_id = await processor.contacts.resolve(business.id, cim);
    if (contact_id === null) throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
    const { pools: _p, expiring: _e, ...wallet } = await processor.contacts.wallet(business, contact_id);
    return c.json(wallet);
  });

  return app;
}
