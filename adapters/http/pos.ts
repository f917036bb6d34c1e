// The POS JSON API: what terminals call. Each handler parses with the command's schema, calls
// the processor once and writes the JSON it returns as is.

import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import { cim_types } from '../../core/cim.ts';
import { clientAddress } from '../../core/guesses.ts';
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

/**
 * The address a request came from, which wrong codes are counted against (core/guesses.ts):
 * the socket's peer, or behind `trusted_hops` proxies what X-Forwarded-For's outermost one saw.
 */
export function sourceOf(c: Context<HttpEnv>, trusted_hops: number): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return clientAddress(incoming?.socket.remoteAddress, c.req.header('x-forwarded-for'), trusted_hops);
}

/** `trusted_hops`: proxies of our own in front of the gateway (TRUST_PROXY_HOPS). */
export function posRoutes(processor: Processor, trusted_hops = 0): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();

  app.post('/v1/purchases', async (c) => {
    const { business, terminal } = terminalOf(c);
    const input = await readBody(c, purchaseSchema);
    return replyResponse(await processor.purchases.purchase(business, terminal, input, terminal_window, sourceOf(c, trusted_hops)));
  });

  app.post('/v1/redemptions', async (c) => {
    const { business, terminal } = terminalOf(c);
    return replyResponse(await processor.redemptions.redeem(business, terminal, await readBody(c, redemptionSchema), sourceOf(c, trusted_hops)));
  });

  app.post('/v1/spends', async (c) => {
    const { business, terminal } = terminalOf(c);
    return replyResponse(await processor.spends.spend(business, terminal, await readBody(c, spendSchema), sourceOf(c, trusted_hops)));
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
    // A terminal's lookup by wallet or contact code is a guess (core/guesses.ts); an admin key
    // reads every contact of its business anyway.
    const p = c.get('principal');
    const { contact_id, given_back } = p.kind === 'terminal'
      ? await processor.contacts.identify(business.id, cim, { terminal_id: p.terminal.id, source: sourceOf(c, trusted_hops) }, processor.stores.clock.now())
      : { contact_id: await processor.contacts.resolve(business.id, cim), given_back: undefined };
    if (contact_id === null) throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
    const [{ pools: _p, expiring: _e, ...wallet }] = await Promise.all([processor.contacts.wallet(business, contact_id), given_back]);
    return c.json(wallet);
  });

  return app;
}
