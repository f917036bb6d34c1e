// How many journal entries the hot path appended while a forced rebuild ran (its
// `appended_meanwhile`): the contacts rebuilt before such an entry of their own lack it in Redis.
//
// A journal's `entries-added` (XINFO STREAM; trimming leaves it) counts what was appended since
// the stream was made. A journal deleted and made anew meanwhile counts again from 0, and a count
// alone cannot tell "made anew with 3" from "3 more": the difference would say 0 for a journal
// made anew holding as many entries as the old one had added. So each journal also gets a
// consumer group of rebuild's own at the mark, which reads nothing: still there at the end, the
// journal is the same stream and the difference counts; gone, every entry it added is new.

import type { RedisClient } from '../stores.ts';
import { streamGroup } from './stream-group.ts';

/** Rebuild's group on each journal ('ledger' is the writers', keys.ts): named, found and removed by name only. */
export const meanwhile_group = 'rebuild-meanwhile';

/** Per journal: its group placed at the end (over one a crashed rebuild left), then entries added so far. */
export async function markJournals(redis: RedisClient, journal_keys: readonly string[]): Promise<number[]> {
  const marks: number[] = [];
  for (const key of journal_keys) {
    // A journal that does not exist yet has no group: all it will add is new (its mark is 0).
    await redis.sendCommand(['XGROUP', 'CREATE', key, meanwhile_group, '$']).catch(async (err: Error) => {
      const message = String(err.message);
      if (message.startsWith('BUSYGROUP')) return redis.sendCommand(['XGROUP', 'SETID', key, meanwhile_group, '$']);
      if (message.includes('requires the key to exist')) return undefined;
      throw err;
    });
    marks.push(await entriesAdded(redis, key));
  }
  return marks;
}

/** Entries appended to the journals since `marks`, their groups removed. */
export async function appendedSinceMarks(redis: RedisClient, journal_keys: readonly string[], marks: readonly number[]): Promise<number> {
  if (marks.length !== journal_keys.length) throw new Error(`${marks.length} marks for ${journal_keys.length} journals`);
  let appended = 0;
  for (const [i, key] of journal_keys.entries()) {
    const added = await entriesAdded(redis, key);
    const same_stream = await hasGroup(redis, key);
    if (same_stream) await redis.sendCommand(['XGROUP', 'DESTROY', key, meanwhile_group]);
    // The same stream's count never goes down (only an XSETID by hand would): if it did, count it as made anew.
    appended += same_stream && added >= marks[i]! ? added - marks[i]! : added;
  }
  return appended;
}

/** The groups markJournals placed, removed (a rebuild that stops before appendedSinceMarks). */
export async function dropMarks(redis: RedisClient, journal_keys: readonly string[]): Promise<void> {
  for (const key of journal_keys) {
    if (await hasGroup(redis, key)) await redis.sendCommand(['XGROUP', 'DESTROY', key, meanwhile_group]);
  }
}

async function entriesAdded(redis: RedisClient, key: string): Promise<number> {
  const info = await redis.xInfoStream(key).catch((err: Error) => {
    if (String(err.message).includes('no such key')) return undefined;
    throw err;
  });
  return Number(info?.['entries-added'] ?? 0);
}

async function hasGroup(redis: RedisClient, key: string): Promise<boolean> {
  if ((await redis.exists(key)) === 0) return false;
  return (await streamGroup(redis, key, meanwhile_group)) !== undefined;
}
