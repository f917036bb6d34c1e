// The POS JSON API: what terminals call. Each handler parses with the command's schema, calls
// the processor once and writes the JSON it returns as is (adapters/terminal-ops.ts: the same
// commands the WebSocket terminal channel runs).

import type { IncomingMessage } from 'node:http';
import { OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import type { Context } from 'hono';
import { parseWith, walletQuerySchema } from '../../core/schemas.ts';
import { walletCimValue } from './query.ts';
import { clientAddress } from '../../core/guesses.ts';
import { PocketgateError } from '../../core/errors.ts';
import type { Processor } from '../../processor/processor.ts';
import type { Reply } from '../../processor/shard.ts';
import { secondsSince, terminal_ops, walletByCim, type TerminalOp, type TerminalOpName, type TransactionOutcome } from '../terminal-ops.ts';
import { terminal_path } from '../ws/channel.ts';
import { readBody } from './body.ts';
import type { HttpEnv } from './env.ts';
import { serve } from './routes.ts';
import * as answers from './answers.ts';

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

type PosOp = Exclude<TerminalOpName, 'wallet'>;

/**
 * The POS commands over HTTP: each path, the command it runs and what it says of itself. These
 * are the calls a business admin key may make for one of its terminals with `Pocketgate-Terminal`
 * (gateway/app.ts).
 */
const pos_routes: readonly { readonly path: string; readonly op: PosOp; readonly summary: string; readonly answer: z.ZodType; readonly status?: number }[] = [
  { path: '/v1/purchases', op: 'purchase', summary: 'A purchase: identify the contact, award offers', answer: answers.purchase_answer },
  { path: '/v1/purchases/quote', op: 'purchase.quote', summary: 'What the same purchase would award and take off now, changing nothing (reference and pay ignored)', answer: answers.quote_answer, status: 200 },
  { path: '/v1/redemptions', op: 'redemption', summary: 'Redeem commerce balance into the open balance (earliest expiry first)', answer: answers.redemption_answer },
  { path: '/v1/spends', op: 'spend', summary: 'Spend from the open balance by OTP or wallet code', answer: answers.spend_answer },
  { path: '/v1/refunds', op: 'refund', summary: 'Refund all or part of a purchase of this terminal', answer: answers.refund_answer },
  { path: '/v1/reversals', op: 'reversal', summary: 'Void a purchase, spend or redemption of this terminal', answer: answers.reversal_answer },
];

const pos_paths: ReadonlySet<string> = new Set(pos_routes.map((r) => r.path));

/** A path of one of the POS commands over HTTP (the quote included; not the WebSocket channel's). */
export function isPosRoute(path: string): boolean {
  return pos_paths.has(path);
}

const acting = {
  description: 'Or a business admin key with `Pocketgate-Terminal: <terminal id>` naming one of its terminals (the transaction is that terminal’s, made_by "admin"; another business’s terminal: 404).',
  headers: z.object({ 'pocketgate-terminal': z.string().optional() }),
};

const tag = 'POS transactions';

/**
 * `trusted_hops`: proxies of our own in front of the gateway (TRUST_PROXY_HOPS). `onTransaction`:
 * told of each transaction answered, as the WebSocket channel and ISO 8583 tell it.
 */
export function posRoutes(processor: Processor, trusted_hops = 0, onTransaction?: TransactionOutcome): OpenAPIHono<HttpEnv> {
  const app = new OpenAPIHono<HttpEnv>();

  for (const { path, op: name, summary, answer, status } of pos_routes) {
    const op: TerminalOp = terminal_ops[name];
    serve(app, { method: 'post', path, summary, tag, key: 'terminal', ...acting, body: op.schema, answer, status, replayable: name !== 'purchase.quote' }, async (c, terminal) => {
      const start = process.hrtime.bigint();
      let approved = false;
      try {
        const reply = await op.run(processor, terminal, await readBody(c, op.schema), sourceOf(c, trusted_hops));
        approved = reply.status < 300;
        return replyResponse(reply);
      } finally {
        if (op.transaction) onTransaction?.(terminal.business.id, approved, secondsSince(start));
      }
    });
  }

  // The WebSocket terminal channel (adapters/ws) takes this path's upgrades before Hono sees
  // them: a GET that asks for no upgrade is told what to do, 400 as RFC 6455 §4.2.2 has a handshake
  // that is not one answered (426 before: its code, validation_failed, is 400 in API.md's list).
  const channel = 'The WebSocket terminal channel (Upgrade: websocket; Authorization: Bearer <terminal key>, or subprotocol pocketgate.auth-frame): requests {id, op, body}, replies {id, status, body}';
  serve(app, { method: 'get', path: terminal_path, summary: channel, tag, key: 'terminal', upgrade: true }, () => {
    throw new PocketgateError('validation_failed', 'GET /v1/terminal opens a WebSocket: send Upgrade: websocket', [{ path: '', message: 'Upgrade: websocket required' }]);
  });

  const wallets = 'Wallet balances by CIM (query cim_type, cim_value)';
  serve(app, { method: 'get', path: '/v1/wallets', summary: wallets, tag, key: 'business', query: walletQuerySchema, answer: answers.wallet_answer }, async (c, business) => {
    const q = parseWith(walletQuerySchema, c.req.query());
    // A terminal's lookup by wallet or contact code is a guess (core/guesses.ts); an admin key
    // reads every contact of its business anyway.
    const p = c.get('principal');
    const presenter = p.kind === 'terminal' ? { terminal_id: p.terminal.id, source: sourceOf(c, trusted_hops) } : undefined;
    return replyResponse(await walletByCim(processor, business, q.cim_type, walletCimValue(c.req.url, q.cim_type, q.cim_value), 'cim_value', presenter));
  });

  return app;
}
