// The console's live feed: a business's transactions as they happen, as server-sent events.
//
// One reader per gateway follows every shard's journal stream (XREAD BLOCK on a connection of its
// own, only while someone listens) and hands each entry to the feeds of its business: a
// transaction made through any gateway shows, since all of them journal into the same streams.
// Bounded everywhere: feeds per gateway and per business, events buffered per feed (the oldest
// are dropped for a slow reader, which is told how many it missed). The journal is trimmed once
// the ledger has an entry: an entry recorded and trimmed before the reader saw it (a reader
// behind under load) is missed, and the dashboard's list from the ledger has it.

import type { Logger } from 'pino';
import { PocketgateError } from '../core/errors.ts';
import { journalKey } from '../processor/hot/keys.ts';
import { streamEntryFields, type JournalEntry } from '../processor/journal.ts';
import { summaryOf } from '../processor/transactions.ts';
import type { RedisClient } from '../processor/stores.ts';

export interface FeedLimits {
  readonly feeds_max: number;
  readonly feeds_per_business_max: number;
  /** Events held for one feed whose reader is slower than the transactions. */
  readonly buffer_max: number;
  /** A comment line this often keeps proxies from closing an idle feed and finds dead readers. */
  readonly heartbeat_ms: number;
}

export const default_feed_limits: FeedLimits = { feeds_max: 64, feeds_per_business_max: 8, buffer_max: 256, heartbeat_ms: 15_000 };

const read_count = 500;
const block_ms = 1_000;
const retry_ms = 1_000;

/** One listener's queue: bounded, the oldest dropped first. */
class Subscription {
  private readonly queue: string[] = [];
  private missed = 0;
  private wake: (() => void) | undefined;
  closed = false;

  constructor(readonly business_id: string, private readonly buffer_max: number) {}

  push(event: string): void {
    if (this.closed) return;
    if (this.queue.length >= this.buffer_max) {
      this.queue.shift();
      this.missed++;
    }
    this.queue.push(event);
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** The next chunk of the stream: events, a note of what was missed, a heartbeat; undefined once closed. */
  async next(heartbeat_ms: number): Promise<string | undefined> {
    if (this.queue.length === 0 && !this.closed) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        timer = setTimeout(resolve, heartbeat_ms);
      });
      clearTimeout(timer);
      this.wake = undefined;
    }
    if (this.closed) return undefined;
    let chunk = '';
    if (this.missed > 0) {
      chunk += `event: missed\ndata: {"count":${this.missed}}\n\n`;
      this.missed = 0;
    }
    for (const event of this.queue.splice(0)) chunk += `event: transaction\ndata: ${event}\n\n`;
    return chunk === '' ? ': heartbeat\n\n' : chunk;
  }
}

export class TransactionFeed {
  private readonly subscriptions = new Map<string, Set<Subscription>>();
  private count = 0;
  private reading: Promise<void> | undefined;
  private reader: RedisClient | undefined;
  private closing = false;

  constructor(private readonly redis: RedisClient, private readonly shard_count: number, private readonly logger: Logger, private readonly limits: FeedLimits = default_feed_limits) {}

  /** A text/event-stream body of the business's transactions, or 429 when the feeds are all taken. */
  open(business_id: string): ReadableStream<Uint8Array> {
    if (this.closing) throw new PocketgateError('unavailable', 'the gateway is shutting down');
    const mine = this.subscriptions.get(business_id) ?? new Set<Subscription>();
    if (this.count >= this.limits.feeds_max || mine.size >= this.limits.feeds_per_business_max) {
      throw new PocketgateError('rate_limited', 'too many live feeds open; close one or try again later');
    }
    const sub = new Subscription(business_id, this.limits.buffer_max);
    mine.add(sub);
    this.subscriptions.set(business_id, mine);
    this.count++;
    this.startReading();
    const encoder = new TextEncoder();
    const heartbeat_ms = this.limits.heartbeat_ms;
    let cancelled = false;
    return new ReadableStream<Uint8Array>({
      // The first event says the feed is open: a client knows it is live before any transaction.
      start: (controller) => controller.enqueue(encoder.encode('event: ready\ndata: {}\n\n')),
      pull: async (controller) => {
        const chunk = await sub.next(heartbeat_ms);
        if (chunk !== undefined) return controller.enqueue(encoder.encode(chunk));
        this.remove(sub);
        // Ended by the gateway (close) or by the reader (cancel): after a cancel the stream is closed already.
        if (!cancelled) controller.close();
      },
      cancel: () => {
        cancelled = true;
        this.remove(sub);
      },
      // No chunk read ahead: events wait in the subscription's bounded queue until the reader asks.
    }, { highWaterMark: 0 });
  }

  get open_feeds(): number {
    return this.count;
  }

  private remove(sub: Subscription): void {
    sub.close();
    const mine = this.subscriptions.get(sub.business_id);
    if (mine?.delete(sub) !== true) return;
    this.count--;
    if (mine.size === 0) this.subscriptions.delete(sub.business_id);
  }

  /** Ends every feed and the reader. */
  async close(): Promise<void> {
    this.closing = true;
    for (const mine of [...this.subscriptions.values()]) for (const sub of [...mine]) this.remove(sub);
    this.reader?.destroy();
    await this.reading;
  }

  private startReading(): void {
    if (this.reading !== undefined) return;
    this.reading = this.read()
      .catch((err: unknown) => this.logger.error({ err }, 'live feed: the journal reader stopped'))
      .finally(() => {
        this.reading = undefined;
        // A feed opened while the reader was stopping: start again.
        if (this.count > 0 && !this.closing) this.startReading();
      });
  }

  /** Follows every shard's journal while any feed is open. */
  private async read(): Promise<void> {
    const keys = Array.from({ length: this.shard_count }, (_, s) => journalKey(s));
    let ids: string[] | undefined;
    let failing = false;
    while (this.count > 0 && !this.closing) {
      try {
        this.reader ??= await this.connect();
        ids ??= await Promise.all(keys.map((k) => lastId(this.reader!, k)));
        const found = (await this.reader.sendCommand(['XREAD', 'COUNT', String(read_count), 'BLOCK', String(block_ms), 'STREAMS', ...keys, ...ids])) as Record<string, [string, string[]][]> | [string, [string, string[]][]][] | null;
        // node-redis answers a map of stream → entries (RESP3 style); older servers an array of pairs.
        for (const [key, entries] of found === null ? [] : Array.isArray(found) ? found : Object.entries(found)) {
          const i = keys.indexOf(key);
          for (const [, fields] of entries) this.deliver(fields);
          if (entries.length > 0) ids[i] = entries[entries.length - 1]![0];
        }
        failing = false;
      } catch (err) {
        if (this.closing) break;
        if (!failing) this.logger.warn({ err }, 'live feed: cannot read the journal; retrying');
        failing = true;
        this.reader?.destroy();
        this.reader = undefined;
        ids = undefined; // from the journal's end again: what came meanwhile is in the ledger's list
        await new Promise((resolve) => setTimeout(resolve, retry_ms));
      }
    }
    this.reader?.destroy();
    this.reader = undefined;
  }

  private async connect(): Promise<RedisClient> {
    // A connection of its own: XREAD BLOCK would hold up every command pipelined behind it.
    const client = this.redis.duplicate();
    client.on('error', () => {
      // Reconnects by itself; the read fails and is retried above.
    });
    await client.connect();
    return client as RedisClient;
  }

  private deliver(fields: string[]): void {
    const { entry: e, reply } = streamEntryFields(fields);
    if (e === undefined) return;
    // The business id is near the entry's start: no need to parse entries nobody here listens for.
    const business_id = /"business_id":"([^"]+)"/.exec(e.slice(0, 256))?.[1];
    const mine = business_id === undefined ? undefined : this.subscriptions.get(business_id);
    if (mine === undefined) return;
    try {
      const event = JSON.stringify(summaryOf(JSON.parse(e) as JournalEntry, reply));
      for (const sub of mine) sub.push(event);
    } catch (err) {
      this.logger.warn({ err }, 'live feed: a journal entry could not be read');
    }
  }
}

async function lastId(redis: RedisClient, key: string): Promise<string> {
  const last = (await redis.sendCommand(['XREVRANGE', key, '+', '-', 'COUNT', '1'])) as [string, string[]][];
  return last[0]?.[0] ?? '0-0';
}
