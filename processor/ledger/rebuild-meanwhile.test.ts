// On a real Redis (a spec database, keys of this file's own).

import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { specRedisForFile } from '../hot/script-spec.ts';
import type { RedisClient } from '../stores.ts';
import { appendedSinceMarks, dropMarks, markJournals, meanwhile_group } from './rebuild-meanwhile.ts';

let redis: RedisClient;
specRedisForFile(15, (r) => (redis = r));

let journals: string[];
beforeEach(() => {
  const run = randomUUID();
  journals = [`spec-meanwhile:${run}:0`, `spec-meanwhile:${run}:1`];
});
afterEach(async () => {
  await redis.del(journals);
});

const append = async (key: string, n: number) => {
  for (let i = 0; i < n; i++) await redis.xAdd(key, '*', { e: String(i) });
};
const groups = async (key: string) => ((await redis.sendCommand(['XINFO', 'GROUPS', key])) as unknown[]).length;

it('counts what each journal added since its mark, trimmed or not, and leaves no group behind', async () => {
  await append(journals[0]!, 3);
  await append(journals[1]!, 1);
  const marks = await markJournals(redis, journals);
  expect(marks).toEqual([3, 1]);
  await append(journals[0]!, 2);
  await redis.sendCommand(['XTRIM', journals[0]!, 'MAXLEN', '0']);
  expect(await appendedSinceMarks(redis, journals, marks)).toBe(2);
  expect([await groups(journals[0]!), await groups(journals[1]!)]).toEqual([0, 0]);
});

it('a journal deleted and made anew with as many entries as the old one had added: all of them count', async () => {
  await append(journals[0]!, 1);
  const marks = await markJournals(redis, journals);
  await redis.del(journals[0]!);
  await append(journals[0]!, 1); // entries-added 1, as at the mark: a count alone says 0
  expect(await appendedSinceMarks(redis, journals, marks)).toBe(1);
});

it('a journal made after the mark: all it added; one deleted and not made again: nothing', async () => {
  await append(journals[1]!, 4);
  const marks = await markJournals(redis, journals);
  expect(marks).toEqual([0, 4]);
  await append(journals[0]!, 2);
  await redis.del(journals[1]!);
  expect(await appendedSinceMarks(redis, journals, marks)).toBe(2);
});

it('a group a crashed rebuild left is moved to the new mark', async () => {
  await append(journals[0]!, 2);
  await redis.sendCommand(['XGROUP', 'CREATE', journals[0]!, meanwhile_group, '0']);
  await append(journals[0]!, 1);
  const marks = await markJournals(redis, journals);
  await append(journals[0]!, 1);
  expect(await appendedSinceMarks(redis, journals, marks)).toBe(1);
  expect(await groups(journals[0]!)).toBe(0);
});

it('a rebuild that stops before counting takes its groups away', async () => {
  await append(journals[0]!, 1);
  await markJournals(redis, journals);
  expect(await groups(journals[0]!)).toBe(1);
  await dropMarks(redis, journals);
  expect(await groups(journals[0]!)).toBe(0);
});
