// Log hygiene for the ISO 8583 link: no PAN and no other card data in a log line.

import { maskPan as maskCardNumber } from '../../core/cim.ts';
import { IsoFormatError, type IsoMessage } from './codec.ts';
import { FramingError } from './framing.ts';

/** A PAN as the rest of Pocketgate shows one (core's maskPan); values too short to be one, all stars. */
export function maskPan(pan: string | undefined): string | undefined {
  if (pan === undefined) return undefined;
  if (pan.length < 11) return '*'.repeat(pan.length);
  return maskCardNumber(pan);
}

/** Hides anything in free text that looks like a PAN (13 to 19 digits in a row). */
export function scrubPans(text: string): string {
  return text.replace(/(?<!\d)(\d{6})\d{3,9}(\d{4})(?!\d)/g, (_m, a: string, b: string) => `${a}${'*'.repeat(_m.length - 10)}${b}`);
}

/** A loggable summary of a message: DE2 masked, no other card data (DE35, DE45, DE52 left out). */
export function summarize(msg: IsoMessage): Record<string, string | undefined> {
  const f = msg.fields;
  return { mti: msg.mti, de2: maskPan(f[2]), de3: f[3], de4: f[4], de11: f[11], de32: f[32], de39: f[39], de41: f[41], de42: f[42] };
}

/** An error as logged: codec and framing errors by field, reason and position only (never the
 *  bytes), anything else with its PANs scrubbed. */
export function errorForLog(err: unknown): Record<string, unknown> {
  if (err instanceof IsoFormatError) return { type: err.name, field: err.field, reason: err.reason, position: err.position };
  if (err instanceof FramingError) return { type: err.name, reason: err.reason, length: err.length };
  if (err instanceof Error) return { type: err.name, message: scrubPans(err.message), stack: err.stack === undefined ? undefined : scrubPans(err.stack) };
  return { type: typeof err, message: scrubPans(String(err)) };
}
