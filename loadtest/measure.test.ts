import { expect, it } from 'vitest';
import { median } from './measure.ts';

it('median: the middle one, or the mean of the two in the middle rounded to 1/1000 (it printed 108.21000000000001)', () => {
  expect(median([])).toBe(0);
  expect(median([3, 1, 2])).toBe(2);
  expect(median([110.63, 105.79, 200, 1])).toBe(108.21);
  expect(median([686, 687])).toBe(686.5);
});
