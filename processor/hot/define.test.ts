// define.ts: what a script's Lua may name, and how answers are checked.

import { describe, expect, it } from 'vitest';
import { answerOf, checkNames, intsAt, textAt } from './define.ts';
import { arg, layout } from './layout.ts';

describe('script definitions', () => {
  const l = layout({ contact: 1 }, { amount: arg.int(), accounts: arg.struct({ open: arg.str() }) });

  it('refuse Lua that reads a key or argument its layout does not declare', () => {
    expect(() => checkNames(['ok.lua'], 'return ARG.amount + #KEY.contact .. ARG.accounts.open', [l])).not.toThrow();
    expect(() => checkNames(['typo.lua'], 'return ARG.ammount', [l])).toThrow(/typo.lua: ARG.ammount is not in the script's layout/);
    expect(() => checkNames(['typo.lua'], "redis.call('GET', KEY.contacts)", [l])).toThrow(/KEY.contacts/);
  });

  it('check answers: an outcome first, strings and integer arrays where they are named', () => {
    const answer = answerOf(['ok', 'reply', [0, 2]]);
    expect(textAt(answer, 1)).toBe('reply');
    expect(intsAt(answer, 2)).toEqual([0, 2]);
    expect(() => answerOf('ok')).toThrow(/unexpected script answer/);
    expect(() => textAt(answer, 2)).toThrow(/unexpected script answer/);
    expect(() => intsAt(['ok', ['0']], 1)).toThrow(/unexpected script answer/);
  });
});
