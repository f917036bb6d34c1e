import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fieldTable, spec87, spec87Track2Ebcdic, withFields, type FieldDef } from './spec87.ts';
import { vectorRoot } from './testdata/vectors.ts';

describe('spec87', () => {
  it('defines fields 1..128, each at its own index', () => {
    expect(spec87).toHaveLength(129);
    expect(spec87[0]).toBeUndefined();
    for (let f = 1; f <= 128; f++) expect(spec87[f]?.number).toBe(f);
  });

  it('agrees with moov-io spec87ascii on length type and length for every field moov defines', () => {
    type MoovField = { length: number; enc: string; prefix: string };
    const moov = JSON.parse(readFileSync(path.join(vectorRoot, 'examples/specs/spec87ascii.json'), 'utf8')) as {
      fields: Record<string, MoovField>;
    };
    // moov's DE44 allows 99; ISO 8583:1987 (and jPOS, pyiso8583) say an..25
    const deliberate = new Set([44]);
    const prefixOf = { fixed: 'Fixed', llvar: 'LL', lllvar: 'LLL' } as const;
    let compared = 0;
    for (const [key, m] of Object.entries(moov.fields)) {
      const f = Number(key);
      // 0 is the MTI and 1 the bitmap, which moov models as fields and the codec derives
      if (f < 2 || deliberate.has(f)) continue;
      const def = spec87[f]!;
      expect(m.prefix.split('.')[1], `field ${f} length type`).toBe(prefixOf[def.lengthType]);
      // moov counts hex-encoded fields in bytes, everything else in characters on the wire
      const wire = def.content === 'x+n' ? def.length + 1 : def.length;
      expect(m.length, `field ${f} length`).toBe(wire);
      if (m.enc === 'HexToASCII' || m.enc === 'Hex') expect(def.content, `field ${f}`).toBe('b');
      compared++;
    }
    expect(compared).toBe(63);
  });

  it('carries the Pocketgate contract fields as /work/shared/spec/ISO8583.md lists them', () => {
    const contract: Record<number, [FieldDef['content'], FieldDef['lengthType'], number]> = {
      2: ['n', 'llvar', 19],
      3: ['n', 'fixed', 6],
      4: ['n', 'fixed', 12],
      7: ['n', 'fixed', 10],
      11: ['n', 'fixed', 6],
      12: ['n', 'fixed', 6],
      13: ['n', 'fixed', 4],
      32: ['n', 'llvar', 11],
      37: ['an', 'fixed', 12],
      38: ['an', 'fixed', 6],
      39: ['an', 'fixed', 2],
      41: ['ans', 'fixed', 8],
      42: ['ans', 'fixed', 15],
      48: ['ans', 'lllvar', 999],
      49: ['n', 'fixed', 3],
      54: ['an', 'lllvar', 120],
      70: ['n', 'fixed', 3],
      90: ['n', 'fixed', 42],
    };
    for (const [f, [content, lengthType, length]] of Object.entries(contract)) {
      expect(spec87[Number(f)], `field ${f}`).toMatchObject({ content, lengthType, length });
    }
  });

  it('has the 1987 amounts with sign (x+n) and binary fields where the standard puts them', () => {
    expect([28, 29, 30, 31, 97].map((f) => spec87[f]!.content)).toEqual(Array(5).fill('x+n'));
    expect([1, 52, 64, 65, 96, 128].map((f) => [spec87[f]!.content, spec87[f]!.length])).toEqual(Array(6).fill(['b', 8]));
  });

  it('spec87Track2Ebcdic differs from spec87 only in DE35 data encoding', () => {
    for (let f = 1; f <= 128; f++) {
      if (f === 35) expect(spec87Track2Ebcdic[f]).toEqual({ ...spec87[f], dataEncoding: 'ebcdic' });
      else expect(spec87Track2Ebcdic[f]).toBe(spec87[f]);
    }
  });

  it('withFields removes and replaces; fieldTable rejects numbers outside 1..128', () => {
    const t = withFields(spec87, [70, { ...spec87[48]!, length: 50 }]);
    expect(t[70]).toBeUndefined();
    expect(t[48]!.length).toBe(50);
    expect(spec87[48]!.length).toBe(999);
    expect(() => fieldTable([{ ...spec87[2]!, number: 129 }])).toThrow(RangeError);
    expect(() => fieldTable([{ ...spec87[2]!, number: 0 }])).toThrow(RangeError);
  });
});
