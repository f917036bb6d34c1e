// How the DE48/DE54/DE90 helpers' specs read a refusal: the error must be the codec's one class,
// and only its field, position and reason are compared (its message is prose).

import { expect } from 'vitest';
import { IsoFormatError } from '../format-error.ts';

export function refusal(fn: () => unknown): Pick<IsoFormatError, 'field' | 'position' | 'reason'> {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(IsoFormatError);
    const { field, position, reason } = e as IsoFormatError;
    return { field, position, reason };
  }
  throw new Error('expected an IsoFormatError');
}
