// fast-check generators for messages that are valid under a field table. They draw characters
// from the codec's own class tables; compile-spec.test.ts pins those tables by hand, so the
// generator and the codec cannot drift together unnoticed.

import fc from 'fast-check';
import { ALLOWED, compileSpec } from '../compile-spec.ts';
import type { IsoMessage } from '../codec.ts';
import type { FieldTable } from '../spec87.ts';

function charsOfRow(row: number): string[] {
  const out: string[] = [];
  for (let c = 0; c < 256; c++) if (ALLOWED[row + c] === 1) out.push(String.fromCharCode(c));
  return out;
}

const rowChars = new Map<number, fc.Arbitrary<string>>();
function charArb(row: number): fc.Arbitrary<string> {
  let a = rowChars.get(row);
  if (!a) {
    a = fc.constantFrom(...charsOfRow(row));
    rowChars.set(row, a);
  }
  return a;
}

/** Variable fields mostly stay short so thousands of runs stay fast; 1 in 8 may reach max. */
export function valueArb(table: FieldTable, f: number): fc.Arbitrary<string> {
  const spec = compileSpec(table);
  const wire = spec.wireLength[f]!;
  const unit = charArb(spec.classRow[f]!);
  if (spec.signed[f] === 1) {
    return fc.tuple(fc.constantFrom('C', 'D'), fc.string({ unit, minLength: wire - 1, maxLength: wire - 1 })).map(([s, d]) => s + d);
  }
  if (spec.kind[f] === 1) return fc.string({ unit, minLength: wire, maxLength: wire });
  return fc.oneof(
    { weight: 7, arbitrary: fc.string({ unit, minLength: 0, maxLength: Math.min(wire, 24) }) },
    // size 'max': fast-check otherwise keeps lengths near 10 whatever maxLength says
    { weight: 1, arbitrary: fc.string({ unit, minLength: 0, maxLength: wire, size: 'max' }) },
  );
}

export function fieldNumbers(table: FieldTable): number[] {
  const out: number[] = [];
  for (let f = 2; f < table.length; f++) if (table[f] !== undefined) out.push(f);
  return out;
}

export function messageArb(table: FieldTable, maxFields = 24): fc.Arbitrary<IsoMessage> {
  const numbers = fieldNumbers(table);
  const mti = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 4, maxLength: 4 });
  return fc
    .tuple(mti, fc.uniqueArray(fc.constantFrom(...numbers), { minLength: 0, maxLength: maxFields }))
    .chain(([m, chosen]) =>
      fc.tuple(...chosen.map((f) => valueArb(table, f))).map((values) => {
        const fields = new Array<string | undefined>(129);
        chosen.forEach((f, i) => {
          fields[f] = values[i];
        });
        return { mti: m, fields };
      }),
    );
}
