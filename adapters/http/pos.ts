// The POS JSON API: what terminals call. Each handler parses with the command's schema, calls
// the processor once and writes the JSON it returns as is (adapters/terminal-ops.ts: the same
// commands the WebSocket terminal channel runs).

import { Hono, type Context } from 'hono';
import { cim_types } from '../../core/cim.ts';
import { PocketgateError } from '../../core/errors.ts';
import type { Processor } from '../../processor/processor.ts';
import type { Reply } from '../../processor/shard.ts';
import { terminal_ops, walletByCim, type TerminalOp } from '../terminal-ops.ts';
import { readBody } from './body.ts';
import { businessOf, terminalOf, type HttpEnv } from './env.ts';

const json_headers = { 'content-type': 'application/json' } as const;
const replayed_headers = { 'content-type': 'application/json', 'idempotent-replayed': 'true' } as const;

export function replyResponse(reply: Reply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.replayed ? replayed_headers : json_headers });
}

export function posRoutes(processor: Processor): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();
  const route = (op: TerminalOp) => async (c: Context<HttpEnv>) => {
    const principal = terminalOf(c);
    return replyResponse(await op.run(processor, principal, await readBody(c, op.schema)));
  };

  app.post('/v1/purchases', route(terminal_ops.purchase));
  app.post('/v1/purchases/quote', route(terminal_ops['purchase.quote']));
  app.post('/v1/redemptions', route(terminal_ops.redemption));
  app.post('/v1/spends', route(terminal_ops.spend));
  app.post('/v1/refunds', route(terminal_ops.refund));
  app.post('/v1/reversals', route(terminal_ops.reversal));

  // The WebSocket terminal channel (adapters/ws) takes this path's upgrades before Hono sees
  // them: a GET that asks for no upgrade is told what to do.
  app.get('/v1/terminal', () => {
    throw new PocketgateError('validation_failed', 'GET /v1/terminal opens a WebSocket: send Upgrade: websocket', [{ path: '', message: 'Upgrade: websocket required' }], 426);
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
    return replyResponse(await walletByCim(processor, business, type, value, 'cim_value'));
  });

  return app;
}
