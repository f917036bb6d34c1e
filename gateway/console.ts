// The operations console (OPERATIONS.md): its page and assets, served from the repository's
// console/ folder, and the few admin calls it needs beyond the public API: the business signed in
// to, the dashboard's figures, the latest transactions and the live feed.
//
// The page is plain HTML, CSS and JavaScript modules run as written (no build step, no framework,
// no third-party code): the gateway serves every byte of it, and a Content-Security-Policy keeps
// the page from loading or sending anything anywhere else.

import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { OpenAPIHono } from '@hono/zod-openapi';
import { currencyByCode } from '../core/currency.ts';
import { parseWith, statsQuerySchema, transactionsQuerySchema, utcTimestamp } from '../core/schemas.ts';
import type { HttpEnv } from '../adapters/http/env.ts';
import { serve } from '../adapters/http/routes.ts';
import { answerExact } from '../adapters/http/exact-json.ts';
import type { ExactAmount } from '../core/money.ts';
import * as answers from '../adapters/http/answers.ts';
import { journalBacklog } from '../processor/ledger/writer.ts';
import { CachedLookup } from '../processor/ttl-cache.ts';
import { isStoreUnavailable } from '../processor/unavailable.ts';
import type { Processor } from '../processor/processor.ts';
import { latestTransactions } from '../processor/transactions.ts';
import { iso, type Business } from '../processor/network.ts';
import { allRecorded } from './admin.ts';
import { ledgerToday, type ConsoleStats } from './console-stats.ts';
import type { TransactionFeed } from './feed.ts';

const console_dir = join(import.meta.dirname, '..', 'console');

const content_types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

// Same origin only: no inline script, nothing fetched from or sent to another host.
const security_headers = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
} as const;

/** The console's files, read once: a fixed set, so no request names a path of its own. */
function loadAssets(): Map<string, { body: string; type: string }> {
  const assets = new Map<string, { body: string; type: string }>();
  for (const file of readdirSync(console_dir)) {
    const type = content_types[extname(file)];
    if (type !== undefined) assets.set(file, { body: readFileSync(join(console_dir, file), 'utf8'), type });
  }
  return assets;
}

/**
 * Ledger totals are cached a second per business and day: dashboards poll (every 2 s), the
 * ledger need not answer each. At 5 s (until 2026-12-04) a spend showed in "Spends today" up to
 * 7 s after it, past a browser test's usual 5 s wait (a black-box probe of the console).
 */
const today_ttl_ms = 1_000;
const today_cache_max = 1_000;
/**
 * The journal's backlog is the same for every business (2 × SHARDS Redis commands on the POS
 * Redis to count): one count a second serves every dashboard polling this process.
 */
const backlog_ttl_ms = 1_000;

export interface ConsoleServices {
  readonly stats: ConsoleStats;
  readonly feed: TransactionFeed;
}

const tag = 'Console';

/** The dashboard's figures: the traffic and the ledger lag from Redis, the day's totals from the ledger. */
function serveStats(app: OpenAPIHono<HttpEnv>, processor: Processor, stats: ConsoleStats): void {
  const today = new Map<string, { at: number; value: Promise<{ awards: ExactAmount; spends: ExactAmount }> }>();
  // One entry (the key says nothing); a failed count is not kept: the next poll counts again.
  const backlog = new CachedLookup<number>(() => journalBacklog(processor.stores.redis, processor.stores.config.shard_count), { ttl_ms: backlog_ttl_ms, found_max: 1, missing_max: 1 });
  const stats_doc = {
    method: 'get',
    path: '/v1/stats',
    summary: 'Dashboard: POS approvals and declines per second over the last minute, p50/p99 latency, ledger lag, awards and spends since `since`',
    tag,
    key: 'admin',
    query: statsQuerySchema,
    answer: answers.stats_answer,
  } as const;
  /** The ledger's totals since `from`, counted at most every today_ttl_ms per business and `from`. */
  const ledgerTotals = (business: Business, from: string) => {
    const key = `${business.id} ${from}`;
    let cached = today.get(key);
    if (cached === undefined || Date.now() - cached.at > today_ttl_ms) {
      if (today.size >= today_cache_max) today.clear();
      cached = { at: Date.now(), value: ledgerToday(processor.stores.sql, business, from) };
      today.set(key, cached);
      cached.value.catch(() => today.delete(key)); // a failure is not kept: the next poll asks again
    }
    return cached.value;
  };
  serve(app, stats_doc, async (c, business) => {
    const { since } = parseWith(statsQuerySchema, c.req.query());
    // The default rounded to the minute: the totals' cache is keyed by it. Given, in UTC as every
    // timestamp the API writes (it echoed an offset sent: a probe).
    const from = since !== undefined ? utcTimestamp(since) : iso(new Date(Math.floor(Date.now() / 60_000) * 60_000 - 86_400_000));
    // PostgreSQL known down (gateway/app.ts), or the totals cancelled by their statement timeout
    // (a ledger too large or busy): the totals are null, the rest is Redis's, as the dashboard
    // must go on showing the traffic and the lag exactly when the ledger struggles.
    const [traffic, ledger_lag, totals] = await Promise.all([
      stats.read(business.id),
      backlog.get('').then((n) => n ?? 0),
      c.get('ledger_down') === true ? undefined : ledgerTotals(business, from).catch((err: unknown) => {
        if (isStoreUnavailable(err)) return undefined;
        throw err;
      }),
    ]);
    return answerExact(c, { currency: business.currency, since: from, ...traffic, ledger_lag, awards_today: totals?.awards ?? null, spends_today: totals?.spends ?? null });
  });
}

export function consoleRoutes(processor: Processor, { stats, feed }: ConsoleServices): OpenAPIHono<HttpEnv> {
  const app = new OpenAPIHono<HttpEnv>();
  const assets = loadAssets();

  const page = (file: string) => {
    const asset = assets.get(file);
    return asset === undefined ? undefined : new Response(asset.body, { headers: { 'content-type': asset.type, ...security_headers } });
  };
  serve(app, { method: 'get', path: '/console', summary: 'The operations console (sign in with the admin key)', tag, key: 'none', produces: 'text/html' }, () => page('index.html')!);
  // The address with a slash, as people type it and proxies rewrite it: the same page.
  serve(app, { method: 'get', path: '/console/', summary: 'The console with a trailing slash: 301 to /console', tag, key: 'none', status: 301 }, (c) => c.redirect('/console', 301));
  const files = { method: 'get', path: '/console/{file}', summary: 'The console’s scripts, styles and icon', tag, key: 'none', produces: [...new Set(Object.values(content_types))] } as const;
  serve(app, files, (c) => page(c.req.param('file') ?? '') ?? c.notFound());

  const business_doc = { method: 'get', path: '/v1/business', summary: 'The business the key belongs to, with its currency’s minor units', tag, key: 'admin', answer: answers.console_business } as const;
  serve(app, business_doc, (c, business) => c.json({ ...business, minor_units: currencyByCode(business.currency)?.minor_units ?? 2 }));

  serveStats(app, processor, stats);

  const latest = { method: 'get', path: '/v1/transactions', summary: 'The business’s latest transactions (its terminals’, and its own sign-up and referral awards and expiries), from the ledger, newest first (query limit 1..100, starting_after)', tag, key: 'admin', query: transactionsQuerySchema, answer: answers.transaction_summaries } as const;
  serve(app, latest, async (c, business) => {
    const query = parseWith(transactionsQuerySchema, c.req.query());
    // Read after what was answered: a purchase just answered 201 was missing, and refused as a cursor (a probe).
    await allRecorded(processor);
    return c.json(await latestTransactions(processor.stores, business, query));
  });

  // Server-sent events over a response the console reads with fetch: the key goes in the
  // Authorization header, never in the URL (EventSource cannot send one).
  const feed_doc = { method: 'get', path: '/v1/feed', summary: 'Live feed of the business’s transactions: text/event-stream, key in the Authorization header', tag, key: 'admin', produces: 'text/event-stream' } as const;
  serve(app, feed_doc, (_c, business) =>
    new Response(feed.open(business.id), {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' },
    }),
  );

  return app;
}
