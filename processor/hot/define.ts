// A Redis script defined the way node-redis defines its own commands: its Lua behind the header
// its layout generates, its keys and arguments pushed from one typed object, its answer parsed
// into a typed result. Every script is one function of the processor's Redis Functions library
// (hot/library.ts), called as `redis.<name>Script(call)` (hot/scripts.ts, stores.ts).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { luaHeader, type Args, type ArgsParser, type Keys, type Layout } from './layout.ts';

export interface HotScript<Call, Result> {
  /**
   * The script's files in processor/hot: the last is its body, those before it Lua it shares with
   * other scripts (lib.lua: every shard script), loaded once into the library beside them.
   */
  readonly files: readonly string[];
  /** Its keys and arguments, in turn (a shard script: what every one takes, then its own). */
  readonly layouts: readonly Layout<Keys, Args>[];
  /** The call as KEYS and ARGV: every layout's keys, then every layout's arguments. */
  readonly parseCommand: (parser: ArgsParser, call: Call) => void;
  /** The script's answer, checked and named. */
  readonly transformReply: (raw: unknown) => Result;
  /** Its answer's strings arrive as Buffers (bytes that are not text: a claim's hash). */
  readonly reply_bytes?: true;
  /**
   * It writes nothing: registered `no-writes`, so that Redis runs it where it refuses writes
   * (out of memory, a read-only replica), as it would the commands it makes.
   */
  readonly read_only?: true;
}

/** A script as the library holds it: its shared files by name, its function's Lua. */
export interface HotFunction<Call, Result> {
  readonly shared: readonly string[];
  /** Lua naming the call's keys and arguments (layout.ts luaHeader), then the script's own. */
  readonly header: string;
  readonly body: string;
  readonly NUMBER_OF_KEYS: number;
  readonly parseCommand: (parser: ArgsParser, call: Call) => void;
  readonly transformReply: (raw: unknown) => Result;
  readonly reply_bytes: boolean;
  readonly read_only: boolean;
}

const lua_files = new Map<string, string>();

/** A Lua file of processor/hot, read once (lib.lua is every shard script's, and the library's). */
export function luaFile(file: string): string {
  let lua = lua_files.get(file);
  if (lua === undefined) lua_files.set(file, (lua = readFileSync(join(import.meta.dirname, file), 'utf8')));
  return lua;
}

export function hotScript<Call, Result>(s: HotScript<Call, Result>): HotFunction<Call, Result> {
  if (s.files.length === 0) throw new Error('a hot script has at least its body');
  const shared = s.files.slice(0, -1);
  const own = luaFile(s.files.at(-1)!);
  checkNames(s.files, [...shared.map(luaFile), own].join('\n'), s.layouts);
  return {
    shared,
    header: luaHeader(...s.layouts),
    body: own,
    NUMBER_OF_KEYS: s.layouts.reduce((n, l) => n + l.number_of_keys, 0),
    parseCommand: s.parseCommand,
    transformReply: s.transformReply,
    reply_bytes: s.reply_bytes === true,
    read_only: s.read_only === true,
  };
}

/**
 * Every KEY.<name> and ARG.<name> the Lua reads is declared by its layouts: a misspelt name
 * would read nil when the script runs, so it is refused when the script is defined (at start-up).
 */
export function checkNames(files: readonly string[], lua: string, layouts: readonly Layout<Keys, Args>[]): void {
  const declared = { KEY: new Set(layouts.flatMap((l) => Object.keys(l.keys))), ARG: new Set(layouts.flatMap((l) => Object.keys(l.args))) };
  for (const [, table, name] of lua.matchAll(/\b(KEY|ARG)\.([A-Za-z_][A-Za-z0-9_]*)/g)) {
    if (!declared[table as 'KEY' | 'ARG'].has(name!)) throw new Error(`${files.join(' + ')}: ${table}.${name} is not in the script's layout`);
  }
}

/** A script's answer is not what it may answer: a bug on one side or the other, never a refusal. */
export function unexpected(raw: unknown): Error {
  return new Error(`unexpected script answer ${JSON.stringify(raw)}`);
}

/** A script's answer as an array whose first element is a string (the outcome). */
export function answerOf(raw: unknown): readonly unknown[] & { readonly 0: string } {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') throw unexpected(raw);
  return raw as unknown[] & { 0: string };
}

export function textAt(answer: readonly unknown[], i: number): string {
  const v = answer[i];
  if (typeof v !== 'string') throw unexpected(answer);
  return v;
}

/** A Lua array of integers. */
export function intsAt(answer: readonly unknown[], i: number): number[] {
  const v = answer[i];
  if (!Array.isArray(v)) throw unexpected(answer);
  for (const x of v) if (!Number.isSafeInteger(x)) throw unexpected(answer);
  return v as number[];
}
