// Where one hot script's time in Redis goes, section by section (`npm run script-bench --
// --sections`): a copy of the hot library, under a name of its own, in which the script reads
// Redis's clock (TIME) after its globals are set, before each section's first line and before its
// last return, and pushes the call's durations onto a list. INFO commandstats gives only a
// script's whole time per call; the sections say which part of it a change should go after.
//
// A benchmark's tool only: the list is a key the call does not declare, which a standalone Redis
// allows and a Redis Cluster would refuse. Each TIME is a command of its own (its cost is measured
// and printed as the first section), and a call that returns early (a refusal, a replay) records
// nothing.

import { hotLibrary, type HotFunctions, type HotLibrary } from '../processor/hot/library.ts';
import { hot_scripts } from '../processor/hot/scripts.ts';
import type { RedisClient } from '../processor/stores.ts';

/** A section of a script: it starts before the first line of the script's own Lua that starts with `before`. */
export interface Section {
  readonly label: string;
  readonly before: string;
}

/** The durations kept at most: the list is trimmed to the latest calls. */
const calls_kept_max = 100_000;

/** The sections of purchase.lua, in their order. */
export const purchase_sections: readonly Section[] = [
  { label: 'idempotency, business, journal room (prologue)', before: 'local refused = prologue()' },
  { label: 'wallet payment (pay)', before: 'local A = ARG.accounts' },
  { label: 'awards: guards, caps, lots (applyAwards)', before: 'local awards, cashback, discount' },
  { label: 'discount and payment postings', before: 'local first = purchases <= 0' },
  { label: 'fee', before: 'local fee_whole, fee_rem' },
  { label: 'purchase count and tier units', before: "redis.call('HSET', KEY.contact, 'fp'" },
  { label: 'birthday purchase times', before: "local birth = redis.call('HGET'" },
  { label: 'referral intent', before: "if first and ARG.referral ~= ''" },
  { label: 'record, reply and journal entry (commit)', before: 'local record = recordOf' },
];

/** Labels of what `readSections` reports, in order: the stamp's own cost, the header, each section. */
export function sectionLabels(sections: readonly Section[]): string[] {
  return ['one TIME stamp (this tool’s cost)', 'keys and arguments named (header)', ...sections.map((s) => s.label)];
}

const stamp = "__sections[#__sections + 1] = redis.call('TIME')";

/**
 * `library`'s scripts with `script` stamped at `sections`, as a library of its own (its name and
 * functions carry its own hash: it never replaces the processor's). Throws if a section's line is
 * not in the script, or its sections are out of order: a script changed, its sections must too.
 */
export function sectionedLibrary<S extends HotFunctions>(scripts: S, script: keyof S & string, sections: readonly Section[], times_key: string): HotLibrary<S> {
  const fn = scripts[script];
  if (fn === undefined) throw new Error(`no script ${script}`);
  let body = fn.body;
  let from = 0;
  for (const s of sections) {
    const at = lineStart(body, s.before, from);
    body = `${body.slice(0, at)}${stamp}\n${body.slice(at)}`;
    from = at + stamp.length + 1 + s.before.length;
  }
  const last = body.lastIndexOf('\nreturn ');
  if (last < 0) throw new Error(`${script}: no return at the start of a line`);
  const record = `${stamp}\nlocal __durations = {}\nfor i = 2, #__sections do __durations[i - 1] = (__sections[i][1] - __sections[i - 1][1]) * 1000000 + __sections[i][2] - __sections[i - 1][2] end\nredis.call('RPUSH', '${times_key}', table.concat(__durations, ','))\nredis.call('LTRIM', '${times_key}', -${calls_kept_max}, -1)`;
  body = `${body.slice(0, last + 1)}${record}${body.slice(last)}`;
  // Twice at the start: the first duration is what one stamp costs; the next runs to the first
  // section, so it is the header's (and NOW's).
  const header = `local __sections = {redis.call('TIME')}\n${stamp}\n${fn.header}`;
  return hotLibrary({ ...scripts, [script]: { ...fn, header, body } }, 'pocketgate_sections');
}

function lineStart(body: string, before: string, from: number): number {
  const at = body.indexOf(`\n${before}`, Math.max(0, from - 1));
  if (at < 0) throw new Error(`no line starting with ${JSON.stringify(before)} after the sections before it`);
  return at + 1;
}

export interface SectionTime {
  readonly label: string;
  readonly mean_us: number;
  readonly median_us: number;
}

/** Each section's mean and median over the calls recorded in `times_key` (then emptied). */
export async function readSections(redis: RedisClient, times_key: string, labels: readonly string[]): Promise<{ calls: number; sections: SectionTime[] }> {
  const rows = (await redis.lRange(times_key, 0, -1)).map((r) => r.split(',').map(Number));
  await redis.del(times_key);
  if (rows.some((r) => r.length !== labels.length)) throw new Error(`a call recorded another number of sections than ${labels.length}`);
  const sections = labels.map((label, i) => {
    const d = rows.map((r) => r[i]!).sort((a, b) => a - b);
    return { label, mean_us: d.length === 0 ? NaN : d.reduce((a, b) => a + b, 0) / d.length, median_us: d.length === 0 ? NaN : d[d.length >> 1]! };
  });
  return { calls: rows.length, sections };
}

/**
 * The sections, their sum, and what the call cost Redis outside them (`fcall_us`, INFO
 * commandstats' time a call: the function found, KEYS and ARGV made into Lua tables, the reply
 * turned into RESP).
 */
export function formatSections(times: readonly SectionTime[], fcall_us: number): string {
  const outside = 'outside them: the call itself, and this tool’s record of it';
  const width = Math.max(outside.length, ...times.map((t) => t.label.length));
  const total = times.slice(1).reduce((a, t) => a + t.mean_us, 0);
  const line = (label: string, mean_us: number, median_us?: number) => `  ${label.padEnd(width)}  mean ${mean_us.toFixed(1).padStart(6)} µs${median_us === undefined ? '' : `  median ${String(median_us).padStart(4)} µs`}`;
  return [...times.map((t) => line(t.label, t.mean_us, t.median_us)), line('the sections in all (stamps after the first included)', total), line(outside, fcall_us - total - (times[0]?.mean_us ?? 0))].join('\n');
}

/** The purchase script stamped at purchase_sections. */
export function sectionedPurchaseLibrary(times_key: string) {
  return sectionedLibrary(hot_scripts, 'purchaseScript', purchase_sections, times_key);
}
