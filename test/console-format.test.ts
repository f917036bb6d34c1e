// The console's amounts: minor units to the business's currency exactly (never through a float),
// and amounts typed in major units back to minor units.

import { describe, expect, it } from 'vitest';
// @ts-expect-error: the console's own browser module, plain JavaScript served as written
import { amountPlaceholder, formatAmount, parseAmount, poolRows } from '../console/format.js';

const sep = (1.5).toLocaleString().charAt(1);

describe('console amounts', () => {
  it('shows minor units with the currency’s own number of decimals', () => {
    expect(formatAmount(1312, 'EUR', 2)).toBe(`13${sep}12 EUR`);
    expect(formatAmount(5, 'EUR', 2)).toBe(`0${sep}05 EUR`);
    expect(formatAmount(-250, 'EUR', 2)).toBe(`−2${sep}50 EUR`);
    expect(formatAmount(1312, 'JPY', 0)).toBe(`${(1312).toLocaleString()} JPY`);
    expect(formatAmount(1312, 'BHD', 3)).toBe(`1${sep}312 BHD`);
    expect(formatAmount(999_999_999_999, 'EUR', 2)).toBe(`${(9_999_999_999).toLocaleString()}${sep}99 EUR`);
  });

  it('reads typed amounts into minor units, refusing more decimals than the currency has', () => {
    expect([parseAmount('13.12', 2), parseAmount('13,1', 2), parseAmount('13', 2), parseAmount(' 0.05 ', 2)]).toEqual([1312, 1310, 1300, 5]);
    expect([parseAmount('1312', 0), parseAmount('1.312', 3)]).toEqual([1312, 1312]);
    expect([parseAmount('13.123', 2), parseAmount('1.5', 0), parseAmount('-1', 2), parseAmount('abc', 2), parseAmount('', 2)]).toEqual([null, null, null, null, null]);
  });

  it('hints an amount with the currency’s own number of decimals', () => {
    expect([amountPlaceholder(2), amountPlaceholder(0), amountPlaceholder(3)]).toEqual([`0${sep}00`, '0', `0${sep}000`]);
  });

  it('lists the commerce balance by pool adding up to it, what is in no pool included (a probe: the default pool was left out)', () => {
    expect(poolRows({ commerce: 750, pools: [] })).toEqual([['(no pool)', 750]]);
    expect(poolRows({ commerce: 750, pools: [{ pool: 'SHOP1', amount: 500 }] })).toEqual([['SHOP1', 500], ['(no pool)', 250]]);
    expect(poolRows({ commerce: 500, pools: [{ pool: 'SHOP1', amount: 500 }] })).toEqual([['SHOP1', 500]]);
  });
});
