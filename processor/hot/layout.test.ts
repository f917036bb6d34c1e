// Layouts: what Node pushes for a typed call, and that the generated Lua header reads back the
// same values by name (against the test Redis, database 15), every kind of argument.

import { describe, expect, it } from 'vitest';
import type { RedisClient } from '../stores.ts';
import { arg, layout, luaHeader, type Args, type ArgsParser, type Keys, type KeyValues, type Layout, type ValuesOf } from './layout.ts';
import { specRedisForFile } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(15, (r) => (redis = r));

/** What a layout pushes: the keys, then the arguments (a parser as node-redis's collects them). */
function pushed<K extends Keys, A extends Args>(l: Layout<K, A>, keys: KeyValues<K>, args: ValuesOf<A>): { keys: string[]; args: (string | Buffer)[] } {
  const out = { keys: [] as string[], args: [] as (string | Buffer)[] };
  const parser = {
    pushKey: (k: string) => out.keys.push(k),
    push: (...a: (string | Buffer)[]) => out.args.push(...a),
  } as unknown as ArgsParser;
  l.pushKeys(parser, keys);
  l.pushArgs(parser, args);
  return out;
}

const sample = layout(
  { one: 1, run: 3 },
  {
    name: arg.str<'a' | 'b'>(),
    raw: arg.bytes(),
    n: arg.int(),
    maybe: arg.optInt(),
    doc: arg.json<{ x: number[] }>(),
    pair: arg.struct({ left: arg.str(), right: arg.int() }),
    items: arg.list({ k: arg.str(), v: arg.int() }, 3),
    more: arg.list({ w: arg.str() }, 2),
  },
);

const values: ValuesOf<typeof sample.args> = {
  name: 'a',
  raw: Buffer.from([0, 255, 10]),
  n: 42,
  maybe: null,
  doc: { x: [1, 2] },
  pair: { left: 'l', right: -7 },
  items: [{ k: 'p', v: 1 }, { k: 'q', v: 2 }],
  more: [{ w: 'z' }],
};

describe('layout', () => {
  it('pushes keys in order, then the fixed arguments, then each list’s items', () => {
    const out = pushed(sample, { one: 'k1', run: ['r1', 'r2', 'r3'] }, values);
    expect(out.keys).toEqual(['k1', 'r1', 'r2', 'r3']);
    expect(out.args).toEqual(['a', Buffer.from([0, 255, 10]), '42', '', '{"x":[1,2]}', 'l', '-7', '2', '1', 'p', '1', 'q', '2', 'z']);
    expect(sample.number_of_keys).toBe(4);
  });

  it('refuses what the declaration does not allow, before anything is sent', () => {
    const keys = { one: 'k1', run: ['r1', 'r2', 'r3'] };
    expect(() => pushed(sample, { one: 'k1', run: ['r1'] }, values)).toThrow(/run: 3 key/);
    expect(() => pushed(sample, keys, { ...values, n: 1.5 })).toThrow(/n: a safe integer/);
    expect(() => pushed(sample, keys, { ...values, n: null as unknown as number })).toThrow(/n: a safe integer/);
    expect(() => pushed(sample, keys, { ...values, name: 1 as unknown as 'a' })).toThrow(/name: a string/);
    expect(() => pushed(sample, keys, { ...values, more: [{ w: 'a' }, { w: 'b' }, { w: 'c' }] })).toThrow(/more: at most 2 items/);
    expect(() => layout({}, { end: arg.int() })).toThrow(/not a Lua field name/);
    expect(() => layout({ 'a-b': 1 }, {})).toThrow(/not a Lua field name/);
    expect(() => luaHeader(layout({}, { l: arg.list({ a: arg.int() }, 1) }), layout({}, {}))).toThrow(/only the last part/);
  });

  it('names in Lua what Node pushed, each kind decoded', async () => {
    const head = layout({ first: 1 }, { lead: arg.str() });
    const header = luaHeader(head, sample);
    // Everything read back through the names, as JSON (cjson writes an empty table as {}).
    const body = `
      return cjson.encode({KEY.first, KEY.one, KEY.run[1], KEY.run[3], ARG.name, string.byte(ARG.raw, 1), string.byte(ARG.raw, 2), string.byte(ARG.raw, 3), ARG.n, ARG.maybe == nil,
        ARG.doc.x[2], ARG.pair.left, ARG.pair.right, #ARG.items, ARG.items[2].k, ARG.items[2].v, ARG.more[1].w, ARG.lead})`;
    const a = pushed(head, { first: 'k0' }, { lead: 'lead' });
    const b = pushed(sample, { one: 'k1', run: ['r1', 'r2', 'r3'] }, values);
    // Every part's keys, then every part's arguments: what shardScript's parseCommand pushes.
    // The library declares KEY and ARG for every function (library.ts); a script of its own here.
    const reply = await redis.sendCommand(['EVAL', `local KEY, ARG\n${header}${body}`, String(a.keys.length + b.keys.length), ...a.keys, ...b.keys, ...a.args, ...b.args]);
    expect(JSON.parse(String(reply))).toEqual(['k0', 'k1', 'r1', 'r3', 'a', 0, 255, 10, 42, true, 2, 'l', -7, 2, 'q', 2, 'z', 'lead']);
  });

  it('refuses a call whose arguments are not the layout’s, before the script runs', async () => {
    const l = layout({}, { a: arg.int(), items: arg.list({ b: arg.str() }, 5) });
    const run = (args: string[]) => redis.sendCommand(['EVAL', `local KEY, ARG\n${luaHeader(l)} return 'ran'`, '0', ...args]);
    expect(await run(['1', '1', 'x'])).toBe('ran');
    await expect(run(['1', '2', 'x'])).rejects.toThrow(/script arguments: 3, layout: 4/);
    await expect(run(['1', '0', 'x'])).rejects.toThrow(/script arguments: 3, layout: 2/);
  });
});
