// library.ts against the test Redis: a library of probe scripts of its own (the processor's is
// scripts.test.ts's), loaded by the first call that finds it missing, again after Redis lost it,
// once for calls that find it missing together; each call's keys, arguments and time its own.

import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { RedisClient } from '../stores.ts';
import type { HotFunction } from './define.ts';
import { arg, layout, luaHeader } from './layout.ts';
import { checkSharedNames, hotCalls, hotLibrary, isFunctionNotFound, loadLibrary, type CommandSender } from './library.ts';
import { specRedisForFile } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(15, (r) => (redis = r));

const probe_layout = layout({ key: 1 }, { now_ms: arg.int(), text: arg.str() });

/** A probe: the call's key, time and text, read by a function of the shared Lua, as `tag` says. */
function probe(tag: string): HotFunction<{ key: string; now_ms: number; text: string }, string> {
  return {
    shared: [],
    header: luaHeader(probe_layout),
    body: `return echo('${tag}')`,
    NUMBER_OF_KEYS: 1,
    parseCommand(parser, call) {
      probe_layout.pushKeys(parser, { key: call.key });
      probe_layout.pushArgs(parser, { now_ms: call.now_ms, text: call.text });
    },
    transformReply: (raw) => String(raw),
    reply_bytes: false,
    read_only: false,
  };
}

/** A library of its own (its own Lua, so its own name): the shared Lua is a function on KEY, ARG and NOW. */
function probeLibrary(tag = randomUUID().replaceAll('-', '')) {
  const library = hotLibrary({ probeScript: probe(tag), otherScript: probe(`${tag}-other`) }, 'pgspec');
  // The shared Lua (lib.lua's place) at the library's top: the upvalues every function sets.
  const shared = "local function echo(tag) return tag .. ' ' .. KEY.key .. ' ' .. string.format('%d', NOW) .. ' ' .. ARG.text end";
  return { ...library, code: library.code.replace('local KEY, ARG, NOW', `local KEY, ARG, NOW\n${shared}`) };
}

/** The client's calls, counting the FUNCTION LOADs they send. */
function counted(client: RedisClient): CommandSender & { loads: number } {
  const sender = {
    loads: 0,
    sendCommand(args: (string | Buffer)[], options?: { readonly typeMapping?: Record<number, unknown> }) {
      if (args[0] === 'FUNCTION' && args[1] === 'LOAD') sender.loads += 1;
      return client.sendCommand(args, options);
    },
  };
  return sender;
}

const made: string[] = [];
afterAll(async () => {
  for (const name of made) await redis.sendCommand(['FUNCTION', 'DELETE', name]).catch(() => {});
});

describe('the hot library', () => {
  it('is loaded by the first call that finds Redis without it, and again after Redis lost it', async () => {
    const library = probeLibrary();
    made.push(library.name);
    const sender = counted(redis);
    const calls = hotCalls(sender, library);
    await expect(redis.sendCommand(['FCALL', library.functions.probeScript, '1', 'k', '1', 'x'])).rejects.toSatisfy(isFunctionNotFound);
    expect(await calls.probeScript({ key: 'k1', now_ms: 1_700_000_000_000, text: 'one' })).toMatch(/ k1 1700000000000 one$/);
    expect(sender.loads).toBe(1);
    expect(await calls.otherScript({ key: 'k2', now_ms: 2, text: 'two' })).toMatch(/-other k2 2 two$/);
    expect(sender.loads).toBe(1);
    // Restarted empty, say.
    await redis.sendCommand(['FUNCTION', 'DELETE', library.name]);
    expect(await calls.probeScript({ key: 'k3', now_ms: 3, text: 'three' })).toMatch(/ k3 3 three$/);
    expect(sender.loads).toBe(2);
  });

  it('is loaded once for calls that find it missing together; a library loaded by another is as good', async () => {
    const library = probeLibrary();
    made.push(library.name);
    const sender = counted(redis);
    const calls = hotCalls(sender, library);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => calls.probeScript({ key: `k${i}`, now_ms: i, text: `t${i}` })));
    answers.forEach((a, i) => expect(a).toMatch(new RegExp(` k${i} ${i} t${i}$`)));
    expect(sender.loads).toBe(1);
    // Another process loaded it first: this one's load finds it there and goes on.
    await expect(loadLibrary(redis, library)).resolves.toBeUndefined();
  });

  it('names itself and its functions by its code: two releases side by side each call their own', async () => {
    const a = probeLibrary('release_a');
    const b = probeLibrary('release_b');
    made.push(a.name, b.name);
    expect(a.name).not.toBe(b.name);
    expect(a.functions.probeScript).not.toBe(b.functions.probeScript);
    expect(probeLibrary('release_a').name).toBe(a.name);
    const [from_a, from_b] = await Promise.all([hotCalls(redis, a).probeScript({ key: 'k', now_ms: 1, text: 'x' }), hotCalls(redis, b).probeScript({ key: 'k', now_ms: 1, text: 'x' })]);
    expect(from_a).toBe('release_a k 1 x');
    expect(from_b).toBe('release_b k 1 x');
  });

  it('sends a failing call once: only a missing library is loaded and the call sent again', async () => {
    const library = probeLibrary();
    made.push(library.name);
    const sender = counted(redis);
    // A call whose arguments are not its layout's: the header refuses it, before anything runs.
    const broken = hotLibrary({ probeScript: { ...probe('x'), parseCommand: (parser) => parser.pushKey('k') } }, 'pgspec');
    made.push(broken.name);
    const calls = hotCalls(sender, broken);
    await expect(calls.probeScript({ key: 'k', now_ms: 1, text: 'x' })).rejects.toThrow(/script arguments: 0, layout: 2/);
    await expect(calls.probeScript({ key: 'k', now_ms: 1, text: 'x' })).rejects.toThrow(/script arguments: 0, layout: 2/);
    expect(sender.loads).toBe(1);
  });

  it('answers bytes as Buffers for a script that asks it', async () => {
    const library = probeLibrary();
    made.push(library.name);
    const bytes = hotLibrary({ probeScript: { ...probe('raw'), body: "return '\\255\\0' .. ARG.text", transformReply: (raw: unknown) => raw as never, reply_bytes: true } }, 'pgspec');
    made.push(bytes.name);
    const answer = (await hotCalls(redis, bytes).probeScript({ key: 'k', now_ms: 1, text: 'x' })) as unknown;
    expect(Buffer.isBuffer(answer)).toBe(true);
    expect([...(answer as Buffer)]).toEqual([255, 0, 120]);
  });

  it('refuses shared Lua files that define one name twice at their top level (one scope in the library)', () => {
    const lib = { file: 'lib.lua', lua: 'local NOW\nlocal function int(n) return n end\nlocal LIMIT = 64\n' };
    expect(() => checkSharedNames([lib, { file: 'other.lua', lua: 'local function other() end\n  local int = 1\n' }])).not.toThrow();
    expect(() => checkSharedNames([lib, { file: 'other.lua', lua: 'local function int(n) return n + 1 end\n' }])).toThrow('hot library: int is defined by lib.lua and other.lua');
    expect(() => checkSharedNames([lib, { file: 'other.lua', lua: 'local LIMIT = 128\n' }])).toThrow(/LIMIT is defined by lib.lua and other.lua/);
  });
});
