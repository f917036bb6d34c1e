// DE90 original data elements (n42): original MTI (4), STAN (6), transmission date-time DE7
// (10), acquiring institution DE32 left-padded with zeros to 11, forwarding institution DE33
// (11, zeros when absent). The padding loses DE32's own leading zeros, so compare a live
// DE32 against `acquirerId` through padInstitutionId.

import { IsoFormatError } from './format-error.ts';

export interface OriginalData {
  mti: string;
  stan: string;
  /** MMDDhhmmss */
  transmissionDateTime: string;
  /** 11 digits, zero-padded as on the wire */
  acquirerId: string;
  /** 11 digits, zero-padded as on the wire */
  forwarderId: string;
}

export type OriginalDataInput = Omit<OriginalData, 'forwarderId'> & { forwarderId?: string };

function checkDigits(value: unknown, at: number, exact: number | undefined, max: number, what: string): string {
  if (typeof value !== 'string') throw new IsoFormatError(90, at, 'bad_type', `${what} must be a string`);
  if (exact !== undefined ? value.length !== exact : value.length > max) {
    throw new IsoFormatError(90, at, value.length > max ? 'too_long' : 'bad_length', `${what} must be ${exact ?? `at most ${max}`} digits`);
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) throw new IsoFormatError(90, at + i, 'not_numeric', `${what} must be digits`);
  }
  return value;
}

/** A DE32/DE33 value (up to 11 digits) as it appears inside DE90. */
export function padInstitutionId(id: string): string {
  return checkDigits(id, 20, undefined, 11, 'institution id').padStart(11, '0');
}

export function formatOriginalData(d: OriginalDataInput): string {
  const mti = checkDigits(d.mti, 0, 4, 4, 'original MTI');
  const stan = checkDigits(d.stan, 4, 6, 6, 'original STAN');
  const dt = checkDigits(d.transmissionDateTime, 10, 10, 10, 'original DE7');
  const acq = checkDigits(d.acquirerId, 20, undefined, 11, 'original DE32').padStart(11, '0');
  const fwd = checkDigits(d.forwarderId ?? '', 31, undefined, 11, 'original DE33').padStart(11, '0');
  return mti + stan + dt + acq + fwd;
}

export function parseOriginalData(value: string): OriginalData {
  checkDigits(value, 0, 42, 42, 'DE90');
  return {
    mti: value.slice(0, 4),
    stan: value.slice(4, 10),
    transmissionDateTime: value.slice(10, 20),
    acquirerId: value.slice(20, 31),
    forwarderId: value.slice(31, 42),
  };
}
