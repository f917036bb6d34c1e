// A script's keys and arguments by name, declared once. From the declaration, Node turns a typed
// object into KEYS and ARGV (pushKeys, pushArgs), and the script reads them by name through a
// Lua header generated from the same declaration (luaHeader): KEY.contact, ARG.amount,
// ARG.awards[1].kind. No position is written by hand on either side, so the two cannot drift.
//
// Each kind of argument has its one encoding here and its one decoding in the header:
//   str      a string, as is                            Lua: the string
//   bytes    a Buffer, as is (raw bytes: a hash field)   Lua: the string
//   int      a safe integer, in decimal                 Lua: a number
//   optInt   a safe integer, or null as ''              Lua: a number or nil
//   json     a value as JSON, or null as ''             Lua: a cjson-decoded table or nil. cjson
//            costs Redis several µs per KB, so only for what is rare (an original the ledger has)
//   struct   named fields of the kinds above, in consecutive positions      Lua: a table
//   list     its count in place, the items' fields after every fixed argument   Lua: an array
// Positions are cheap for Redis (ARGV is an array of strings already); what JSON would decode,
// the header builds from positions instead.

/** Where a call's keys and arguments go: node-redis's CommandParser has these two, and so does hot/library.ts's. */
export interface ArgsParser {
  pushKey(key: string): void;
  push(...args: (string | Buffer)[]): void;
}

type ScalarKind = 'str' | 'bytes' | 'int' | 'json';

/** One argument: how it travels, and (to TypeScript only) the type of its value. */
export interface Scalar<T> {
  readonly kind: ScalarKind;
  readonly nullable: boolean;
  readonly type?: T;
}
export type Fields = Readonly<Record<string, Scalar<unknown>>>;
export interface Struct<F extends Fields> {
  readonly kind: 'struct';
  readonly fields: F;
}
export interface List<F extends Fields> {
  readonly kind: 'list';
  readonly fields: F;
  /** Items at most: a bound on what one call may ask of the script. */
  readonly max: number;
}
export type Arg = Scalar<unknown> | Struct<Fields> | List<Fields>;
export type Args = Readonly<Record<string, Arg>>;
/** Keys by name, each the number of keys it names (more than one: a run, e.g. three periods). */
export type Keys = Readonly<Record<string, number>>;

export const arg = {
  str: <T extends string = string>(): Scalar<T> => ({ kind: 'str', nullable: false }),
  bytes: (): Scalar<Buffer> => ({ kind: 'bytes', nullable: false }),
  int: (): Scalar<number> => ({ kind: 'int', nullable: false }),
  optInt: (): Scalar<number | null> => ({ kind: 'int', nullable: true }),
  json: <T>(): Scalar<T | null> => ({ kind: 'json', nullable: true }),
  struct: <F extends Fields>(fields: F): Struct<F> => ({ kind: 'struct', fields }),
  list: <F extends Fields>(fields: F, max: number): List<F> => ({ kind: 'list', fields, max }),
};

export type ValueOf<A> = A extends Scalar<infer T> ? T : A extends Struct<infer F> ? ValuesOf<F> : A extends List<infer F> ? readonly ValuesOf<F>[] : never;
export type ValuesOf<A extends Readonly<Record<string, Arg>>> = { readonly [P in keyof A]: ValueOf<A[P]> };
export type KeyValues<K extends Keys> = { readonly [P in keyof K]: K[P] extends 1 ? string : readonly string[] };

/** A fixed position: an argument, a field of a struct argument (`within`), or a list's count. */
interface Slot {
  readonly name: string;
  readonly within: string | undefined;
  readonly scalar: Scalar<unknown>;
  readonly count: boolean;
}

export interface Layout<K extends Keys, A extends Args> {
  readonly keys: K;
  readonly args: A;
  readonly number_of_keys: number;
  pushKeys(parser: ArgsParser, values: KeyValues<K>): void;
  /** The fixed arguments, then every list's items. */
  pushArgs(parser: ArgsParser, values: ValuesOf<A>): void;
}

const lua_name = /^[a-z_][a-z0-9_]*$/;
const lua_reserved = new Set(['and', 'break', 'do', 'else', 'elseif', 'end', 'false', 'for', 'function', 'if', 'in', 'local', 'nil', 'not', 'or', 'repeat', 'return', 'then', 'true', 'until', 'while']);

function checkName(name: string): void {
  if (!lua_name.test(name) || lua_reserved.has(name)) throw new Error(`script layout: ${JSON.stringify(name)} is not a Lua field name`);
}

function slotsOf(args: Args): Slot[] {
  const slots: Slot[] = [];
  for (const [name, a] of Object.entries(args)) {
    checkName(name);
    if (a.kind === 'struct') {
      for (const [field, scalar] of Object.entries(a.fields)) (checkName(field), slots.push({ name: field, within: name, scalar, count: false }));
    } else if (a.kind === 'list') {
      slots.push({ name, within: undefined, scalar: arg.int(), count: true });
      for (const field of Object.keys(a.fields)) checkName(field);
    } else {
      slots.push({ name, within: undefined, scalar: a, count: false });
    }
  }
  return slots;
}

function listsOf(args: Args): [string, List<Fields>][] {
  return Object.entries(args).filter((e): e is [string, List<Fields>] => e[1].kind === 'list');
}

function encode(s: Scalar<unknown>, v: unknown, name: string): string | Buffer {
  if (v === null && s.nullable) return '';
  if (v === undefined) throw new TypeError(`script argument ${name}: missing`);
  switch (s.kind) {
    case 'str':
      if (typeof v !== 'string') throw new TypeError(`script argument ${name}: a string, not ${typeof v}`);
      return v;
    case 'bytes':
      if (!Buffer.isBuffer(v)) throw new TypeError(`script argument ${name}: a Buffer`);
      return v;
    case 'int':
      if (!Number.isSafeInteger(v)) throw new RangeError(`script argument ${name}: a safe integer, not ${String(v)}`);
      return String(v);
    case 'json':
      return JSON.stringify(v);
  }
}

/** A script's keys and arguments, in the order they are declared. */
export function layout<const K extends Keys, const A extends Args>(keys: K, args: A): Layout<K, A> {
  const key_runs = Object.entries(keys);
  for (const [name, n] of key_runs) {
    checkName(name);
    if (!Number.isInteger(n) || n < 1) throw new Error(`script layout: key ${name} names ${n} keys`);
  }
  const slots = slotsOf(args);
  const lists: ListSlots[] = listsOf(args).map(([name, l]) => ({ name, max: l.max, fields: Object.entries(l.fields) }));
  return {
    keys,
    args,
    number_of_keys: key_runs.reduce((sum, [, n]) => sum + n, 0),
    pushKeys(parser, values) {
      const v = values as Readonly<Record<string, string | readonly string[]>>;
      for (const [name, n] of key_runs) {
        const key = v[name];
        if (n === 1 && typeof key === 'string') parser.pushKey(key);
        else if (Array.isArray(key) && key.length === n) for (const k of key as string[]) parser.pushKey(k);
        else throw new Error(`script key ${name}: ${n} key(s)`);
      }
    },
    pushArgs(parser, values) {
      const v = values as Readonly<Record<string, unknown>>;
      // Pushed at once: one call into the parser instead of one per argument.
      const out: (string | Buffer)[] = [];
      for (const s of slots) {
        if (s.within !== undefined) out.push(encode(s.scalar, (v[s.within] as Record<string, unknown>)[s.name], s.name));
        else if (s.count) out.push(String((v[s.name] as readonly unknown[]).length));
        else out.push(encode(s.scalar, v[s.name], s.name));
      }
      for (const l of lists) encodeItems(out, l, v[l.name] as readonly Readonly<Record<string, unknown>>[]);
      parser.push(...out);
    },
  };
}

interface ListSlots {
  readonly name: string;
  readonly max: number;
  readonly fields: readonly (readonly [string, Scalar<unknown>])[];
}

function encodeItems(out: (string | Buffer)[], list: ListSlots, items: readonly Readonly<Record<string, unknown>>[]): void {
  if (items.length > list.max) throw new RangeError(`script argument ${list.name}: at most ${list.max} items, not ${items.length}`);
  for (const item of items) for (const [field, scalar] of list.fields) out.push(encode(scalar, item[field], field));
}

/** Lua reading an argument at ARGV[i], decoded as its kind says. */
function luaValue(s: Scalar<unknown>, at: string): string {
  switch (s.kind) {
    case 'str':
    case 'bytes':
      return `ARGV[${at}]`;
    case 'int':
      // tonumber('') is nil: optInt's null.
      return `tonumber(ARGV[${at}])`;
    case 'json':
      return `(ARGV[${at}] ~= '' and cjson.decode(ARGV[${at}]) or nil)`;
  }
}

/**
 * The Lua that names the keys and arguments of `parts` (their keys and fixed arguments in turn,
 * then the lists of the last part), as KEY and ARG: assignments at the start of a function of
 * the library (hot/library.ts), which declares KEY and ARG once for every function and the
 * shared Lua beside them. It ends with a check that the call brought exactly as many arguments
 * as declared: before the script writes anything, so a mismatch is an error with nothing half done.
 */
export function luaHeader(...parts: readonly Layout<Keys, Args>[]): string {
  parts.slice(0, -1).forEach((p) => {
    if (listsOf(p.args).length > 0) throw new Error('script layout: only the last part may have lists');
  });
  const keys: string[] = [];
  let k = 0;
  for (const p of parts) {
    for (const [name, n] of Object.entries(p.keys)) {
      const run = Array.from({ length: n }, () => `KEYS[${++k}]`);
      keys.push(`${name} = ${n === 1 ? run[0] : `{${run.join(', ')}}`}`);
    }
  }
  const fields: string[] = [];
  let i = 0;
  for (const p of parts) {
    for (const [name, a] of Object.entries(p.args)) {
      if (a.kind === 'struct') fields.push(`${name} = {${Object.entries(a.fields).map(([field, s]) => `${field} = ${luaValue(s, String(++i))}`).join(', ')}}`);
      else fields.push(`${name} = ${luaValue(a.kind === 'list' ? arg.int() : a, String(++i))}`);
    }
  }
  const lines = [
    '-- Generated from the layout in processor/hot/<script>.ts: the keys and arguments by name.',
    `KEY = {${keys.join(', ')}}`,
    `ARG = {${fields.join(', ')}}`,
    'do',
    `  local at = ${i + 1}`,
  ];
  const last = parts.at(-1);
  for (const [name, list] of last === undefined ? [] : listsOf(last.args)) {
    const entries = Object.entries(list.fields);
    const item = entries.map(([field, s], j) => `${field} = ${luaValue(s, `at + ${j}`)}`).join(', ');
    lines.push('  do', '    local items = {}', `    for n = 1, ARG.${name} do`, `      items[n] = {${item}}`, `      at = at + ${entries.length}`, '    end', `    ARG.${name} = items`, '  end');
  }
  lines.push("  if at ~= #ARGV + 1 then return redis.error_reply('script arguments: ' .. #ARGV .. ', layout: ' .. (at - 1)) end", 'end', '');
  return lines.join('\n');
}
