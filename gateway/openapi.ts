// The OpenAPI document, built from the same zod schemas the handlers parse with, so the docs
// cannot drift from what the gateway accepts.

import type { OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import {
  assignableCimSchema,
  businessCreateSchema,
  callbackEnvelopeSchema,
  contactCreateSchema,
  contactLookupSchema,
  contactPatchSchema,
  merchantCreateSchema,
  offerPatchSchema,
  offerSchema,
  processorCreateSchema,
  isoLinkSchema,
  purchaseQuoteSchema,
  purchaseSchema,
  redemptionSchema,
  refundSchema,
  reversalSchema,
  schemeCodesSchema,
  schemeSchema,
  signupSchema,
  spendOtpSchema,
  spendSchema,
  terminalCreateSchema,
  tiersSchema,
  venueCreateSchema,
} from '../core/schemas.ts';
import { webhookCreateSchema, webhookPatchSchema } from '../core/webhooks.ts';
import type { HttpEnv } from '../adapters/http/env.ts';
import { isPosRoute } from '../adapters/http/pos.ts';

const problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

const anyObject = z.object({}).passthrough();

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

interface PathDoc {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  key: 'platform' | 'admin' | 'terminal' | 'admin or terminal' | 'none';
  body?: z.ZodType;
  content_type?: string;
  status?: number;
  /** What a success answers, when not JSON. */
  produces?: string;
}

const paths: PathDoc[] = [
  { method: 'post', path: '/v1/businesses', summary: 'Create a business (returns its admin key once)', tag: 'Platform', key: 'platform', body: businessCreateSchema },
  { method: 'post', path: '/v1/merchants', summary: 'Create a merchant', tag: 'Business network', key: 'admin', body: merchantCreateSchema },
  { method: 'post', path: '/v1/venues', summary: 'Create a venue', tag: 'Business network', key: 'admin', body: venueCreateSchema },
  { method: 'post', path: '/v1/terminals', summary: 'Create a terminal (returns its key once)', tag: 'Business network', key: 'admin', body: terminalCreateSchema },
  { method: 'post', path: '/v1/terminals/{id}/rotate-key', summary: "Give a terminal a new key (returned once); the old one stops working within seconds", tag: 'Business network', key: 'admin' },
  { method: 'get', path: '/v1/merchants', summary: 'List merchants (query limit 1..1000, starting_after)', tag: 'Business network', key: 'admin' },
  { method: 'get', path: '/v1/venues', summary: 'List venues (query limit 1..1000, starting_after)', tag: 'Business network', key: 'admin' },
  { method: 'get', path: '/v1/terminals', summary: 'List terminals, never a key (query limit 1..1000, starting_after)', tag: 'Business network', key: 'admin' },
  { method: 'post', path: '/v1/contacts/lookup', summary: 'The contact a CIM names ({cim: {type, value}}), or 404 contact_not_found: a card number never in a URL', tag: 'Contacts', key: 'admin', body: contactLookupSchema, status: 200 },
  { method: 'post', path: '/v1/contacts', summary: 'Create a contact', tag: 'Contacts', key: 'admin', body: contactCreateSchema },
  { method: 'post', path: '/v1/contacts/import', summary: 'Import contacts from NDJSON, streamed', tag: 'Contacts', key: 'admin', content_type: 'application/x-ndjson', status: 200 },
  { method: 'get', path: '/v1/contacts/{id}', summary: 'Read a contact', tag: 'Contacts', key: 'admin' },
  { method: 'patch', path: '/v1/contacts/{id}', summary: 'Update a contact', tag: 'Contacts', key: 'admin', body: contactPatchSchema, status: 200 },
  { method: 'post', path: '/v1/contacts/{id}/cims', summary: 'Add a CIM to a contact', tag: 'Contacts', key: 'admin', body: assignableCimSchema },
  { method: 'get', path: '/v1/contacts/{id}/wallet', summary: "A contact's wallet: balances, pools, what expires when", tag: 'Contacts', key: 'admin' },
  { method: 'get', path: '/v1/contacts/{id}/statement', summary: 'Statement from the ledger (query from, to): opening, closing, each movement', tag: 'Contacts', key: 'admin' },
  { method: 'post', path: '/v1/contacts/{id}/spend-otp', summary: 'Issue a 6-digit one-time code for a spend of at most `amount`', tag: 'Contacts', key: 'admin', body: spendOtpSchema },
  { method: 'post', path: '/v1/contacts/{id}/wallet-code', summary: 'Rotate the wallet code (the old one stops working at once)', tag: 'Contacts', key: 'admin' },
  { method: 'post', path: '/v1/schemes', summary: 'Create a scheme', tag: 'Rewards', key: 'admin', body: schemeSchema },
  { method: 'get', path: '/v1/schemes', summary: 'List schemes', tag: 'Rewards', key: 'admin' },
  { method: 'get', path: '/v1/schemes/{id}', summary: 'Read a scheme', tag: 'Rewards', key: 'admin' },
  { method: 'post', path: '/v1/schemes/{id}/codes', summary: 'Issue (count) or import (codes) one-time sign-up codes', tag: 'Rewards', key: 'admin', body: schemeCodesSchema },
  { method: 'post', path: '/v1/schemes/{id}/signups', summary: 'Join a contact to a scheme', tag: 'Rewards', key: 'admin', body: signupSchema },
  { method: 'put', path: '/v1/tiers', summary: "Replace the business's tiers", tag: 'Rewards', key: 'admin', body: tiersSchema, status: 200 },
  { method: 'get', path: '/v1/tiers', summary: 'List tiers', tag: 'Rewards', key: 'admin' },
  { method: 'post', path: '/v1/offers', summary: 'Create an offer', tag: 'Rewards', key: 'admin', body: offerSchema },
  { method: 'get', path: '/v1/offers', summary: 'List offers', tag: 'Rewards', key: 'admin' },
  { method: 'get', path: '/v1/offers/{id}', summary: 'Read an offer', tag: 'Rewards', key: 'admin' },
  { method: 'patch', path: '/v1/offers/{id}', summary: 'Update an offer', tag: 'Rewards', key: 'admin', body: offerPatchSchema, status: 200 },
  { method: 'post', path: '/v1/purchases', summary: 'A purchase: identify the contact, award offers', tag: 'POS transactions', key: 'terminal', body: purchaseSchema },
  { method: 'post', path: '/v1/purchases/quote', summary: 'What the same purchase would award and take off now, changing nothing (reference and pay ignored)', tag: 'POS transactions', key: 'terminal', body: purchaseQuoteSchema, status: 200 },
  { method: 'post', path: '/v1/redemptions', summary: 'Redeem commerce balance into the open balance (earliest expiry first)', tag: 'POS transactions', key: 'terminal', body: redemptionSchema },
  { method: 'post', path: '/v1/spends', summary: 'Spend from the open balance by OTP or wallet code', tag: 'POS transactions', key: 'terminal', body: spendSchema },
  { method: 'post', path: '/v1/refunds', summary: 'Refund all or part of a purchase of this terminal', tag: 'POS transactions', key: 'terminal', body: refundSchema },
  { method: 'post', path: '/v1/reversals', summary: 'Void a purchase, spend or redemption of this terminal', tag: 'POS transactions', key: 'terminal', body: reversalSchema },
  { method: 'get', path: '/v1/terminal', summary: 'The WebSocket terminal channel (Upgrade: websocket; Authorization: Bearer <terminal key>, or subprotocol pocketgate.auth-frame): requests {id, op, body}, replies {id, status, body}', tag: 'POS transactions', key: 'terminal', status: 101 },
  { method: 'get', path: '/v1/wallets', summary: 'Wallet balances by CIM (query cim_type, cim_value)', tag: 'POS transactions', key: 'admin or terminal' },
  { method: 'get', path: '/v1/transactions/{id}', summary: 'Read a transaction back, with its ledger state', tag: 'Reading back', key: 'admin' },
  { method: 'get', path: '/v1/settlements', summary: 'Settlement per merchant from the ledger (query merchant_id, from, to)', tag: 'Reading back', key: 'admin' },
  { method: 'post', path: '/v1/iso8583/links', summary: 'Bind an acquirer (ISO 8583 DE32) to this business', tag: 'ISO 8583', key: 'admin', body: isoLinkSchema },
  { method: 'post', path: '/v1/processors', summary: 'Create a payment processor (returns its signing secret once)', tag: 'Payment processors', key: 'admin', body: processorCreateSchema },
  { method: 'get', path: '/v1/processors', summary: "List the business's payment processors (never a secret)", tag: 'Payment processors', key: 'admin' },
  { method: 'post', path: '/v1/processors/{id}/rotate-secret', summary: 'A new signing secret (returned once); the old one verifies 24 hours more', tag: 'Payment processors', key: 'admin' },
  {
    method: 'post',
    path: '/v1/callbacks/{processor_id}',
    summary: 'Card transactions from a payment processor: one event or {"events": [...]} (at most 500, 1 MiB); authenticated by the Pocketgate-Signature header only',
    tag: 'Payment processors',
    key: 'none',
    body: z.union([callbackEnvelopeSchema, z.object({ events: z.array(callbackEnvelopeSchema).max(500) })]),
    status: 200,
  },
  { method: 'post', path: '/v1/webhooks', summary: 'Create a webhook endpoint (returns its signing secret once)', tag: 'Webhooks', key: 'admin', body: webhookCreateSchema },
  { method: 'get', path: '/v1/webhooks', summary: 'List webhook endpoints', tag: 'Webhooks', key: 'admin' },
  { method: 'get', path: '/v1/webhooks/{id}', summary: 'Read a webhook endpoint', tag: 'Webhooks', key: 'admin' },
  { method: 'patch', path: '/v1/webhooks/{id}', summary: 'Change a webhook endpoint (url, events, status)', tag: 'Webhooks', key: 'admin', body: webhookPatchSchema, status: 200 },
  { method: 'delete', path: '/v1/webhooks/{id}', summary: 'Delete a webhook endpoint (its pending deliveries are not sent)', tag: 'Webhooks', key: 'admin', status: 204 },
  { method: 'get', path: '/v1/webhooks/{id}/deliveries', summary: 'Deliveries, newest first (query status, limit 1-1000, starting_after)', tag: 'Webhooks', key: 'admin' },
  { method: 'post', path: '/v1/webhooks/{id}/deliveries/{event_id}/retry', summary: 'One more attempt of a delivery now, whatever its status', tag: 'Webhooks', key: 'admin', status: 202 },
  { method: 'get', path: '/v1/business', summary: 'The business the key belongs to, with its currency’s minor units', tag: 'Console', key: 'admin' },
  { method: 'get', path: '/v1/stats', summary: 'Dashboard: POS approvals and declines per second over the last minute, p50/p99 latency, ledger lag, awards and spends since `since`', tag: 'Console', key: 'admin' },
  { method: 'get', path: '/v1/transactions', summary: 'The latest transactions at the business’s terminals, from the ledger (query limit 1..100)', tag: 'Console', key: 'admin' },
  { method: 'get', path: '/v1/feed', summary: 'Live feed of the business’s transactions: text/event-stream, key in the Authorization header', tag: 'Console', key: 'admin' },
  { method: 'get', path: '/console', summary: 'The operations console (sign in with the admin key)', tag: 'Console', key: 'none', produces: 'text/html' },
  { method: 'get', path: '/console/{file}', summary: 'The console’s scripts, styles and icon', tag: 'Console', key: 'none', produces: 'text/javascript' },
  { method: 'get', path: '/healthz', summary: 'Process is up', tag: 'Operations', key: 'none' },
  { method: 'get', path: '/readyz', summary: 'Redis and PostgreSQL reachable, migrations applied', tag: 'Operations', key: 'none' },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics', tag: 'Operations', key: 'none' },
];

export function describeApi(app: OpenAPIHono<HttpEnv>): void {
  const registry = app.openAPIRegistry;
  registry.registerComponent('securitySchemes', 'Bearer', { type: 'http', scheme: 'bearer' });
  for (const p of paths) {
    const params = [...p.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    // The HTTP POS calls an admin key may make for one of its terminals (not the WebSocket channel).
    const acting = p.key === 'terminal' && p.method === 'post' && isPosRoute(p.path);
    registry.registerPath({
      method: p.method,
      path: p.path,
      summary: p.summary,
      description: acting
        ? 'Key: terminal; or a business admin key with `Pocketgate-Terminal: <terminal id>` naming one of its terminals (the transaction is that terminal’s, made_by "admin"; another business’s terminal: 404).'
        : `Key: ${p.key}.`,
      tags: [p.tag],
      ...(p.key === 'none' ? {} : { security: [{ Bearer: [] }] }),
      request: {
        ...(acting ? { headers: z.object({ 'pocketgate-terminal': z.string().optional() }) } : {}),
        ...(params.length > 0 ? { params: z.object(Object.fromEntries(params.map((n) => [n, z.string()]))) } : {}),
        ...(p.body !== undefined ? { body: { content: { 'application/json': { schema: p.body } }, required: true } } : {}),
        ...(p.content_type !== undefined ? { body: { content: { [p.content_type]: { schema: z.string() } }, required: true } } : {}),
      },
      responses: {
        [p.status ?? (p.method === 'post' ? 201 : 200)]:
          p.status === 204
            ? { description: 'Done; no body' }
            : { description: 'Success', content: { [p.produces ?? 'application/json']: { schema: p.produces === undefined ? anyObject : z.string() } } },
        '4XX': { description: 'Refused: problem+json with a `code`', content: { 'application/problem+json': { schema: problem } } },
      },
    });
  }
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Pocketgate',
      version: '1',
      description: 'Transaction processor for loyalty, rewards and stored-value wallets at the point of sale. Money is integer minor units.',
    },
  });
}
