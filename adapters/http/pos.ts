// The POS JSON API: what terminals call. Each handler parses with the command's schema, calls
// the processor once and writes the JSON it returns as is (adapters/terminal-ops.ts: the same
// commands the WebSocket terminal channel runs).

import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import { cim_types } from '../../core/cim.ts';
import { clientAddress } from '../../core/guesses.ts';
import { PocketgateError } from '../../core/errors.ts';
import type { Processor } from '../../processor/processor.ts';
import type { Reply } from '../../processor/shard.ts';
import { terminal_ops, walletByCim, type TerminalOp, type TerminalOpName } from '../terminal-ops.ts';
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

/**
 * The POS commands over HTTP: each path's POST runs its terminal op. These are the calls a
 * business admin key may make for one of its terminals with `Pocketgate-Terminal` (gateway/app.ts).
 */
export const pos_routes = {
  '/v1/purchases': 'purchase',
  '/v1/purchases/quote': 'purchase.quote',
  '/v1/redemptions': 'redemption',
  '/v1/spends': 'spend',
  '/v1/refunds': 'refund',
  '/v1/reversals': 'reversal',
} as const satisfies Record<string, TerminalOpName>;

export function isPosRoute(path: string): path is keyof typeof pos_routes {
  return Object.hasOwn(pos_routes, path);
}

/** `trusted_hops`: proxies of our own in front of the gateway (TRUST_PROXY_HOPS). */
export function posRoutes(processor: Processor, trusted_hops = 0): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();
  const route = (op: TerminalOp) => async (c: Context<HttpEnv>) => {
    const principal = terminalOf(c);
    return replyResponse(await op.run(processor, principal, await readBody(c, op.schema), sourceOf(c, trusted_hops)));
  };

  for (const [path, name] of Object.entries(pos_routes)) app.post(path, route(terminal_ops[name]));

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
    // A terminal's lookup by wallet or contact code is a guess (core/guesses.ts); an admin key
    // reads every contact of its business anyway.
    const p = c.get('principal');
    const presenter = p.kind === 'terminal' ? { terminal_id: p.terminal.id, source: sourceOf(c, trusted_hops) } : undefined;
    return replyResponse(await walletByCim(processor, business, type, value, 'cim_value', presenter));
  });

  return app;
}
