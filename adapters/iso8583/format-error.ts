// The one error the ISO 8583 codec throws. Callers (the TCP server) turn any of these into
// DE39 = 30 or a closed connection, so everything malformed must surface as this class and
// nothing else: no RangeError from a Buffer read, no TypeError from a missing value.

export type IsoErrorField = number | 'mti' | 'bitmap';

export type IsoErrorReason =
  | 'truncated' // the message ends before the element is complete
  | 'bad_length' // LL/LLL prefix not digits; fixed field or helper value of the wrong length
  | 'too_long' // LL/LLL prefix or value longer than the field's maximum
  | 'not_numeric' // a non-digit in an n field (or the MTI)
  | 'bad_charset' // a character outside the field's content class (a, an, ans, z, b, x+n)
  | 'unknown_field' // the bitmap or the message names a field the spec does not define
  | 'trailing_bytes' // bytes left over after the last field the bitmap names
  | 'bad_type' // encode was handed something that is not a string
  | 'not_settable' // encode was handed a value for a bitmap field, which the codec derives
  | 'bad_format' // a structured sub-field (DE48, DE54, DE90) does not follow its layout
  | 'absent'; // the server: DE11, or DE41 outside the network classes, without which no reply can be matched

export class IsoFormatError extends Error {
  override readonly name = 'IsoFormatError';
  readonly field: IsoErrorField;
  /** Byte offset in the message (decode) or in the output (encode) of the offending element;
   *  for the DE48/DE54/DE90 helpers, the character offset inside the field value. */
  readonly position: number;
  readonly reason: IsoErrorReason;

  constructor(field: IsoErrorField, position: number, reason: IsoErrorReason, detail?: string) {
    const where = typeof field === 'number' ? `field ${field}` : field === 'mti' ? 'MTI' : 'bitmap';
    super(`ISO 8583 ${reason} in ${where} at byte ${position}${detail ? `: ${detail}` : ''}`);
    this.field = field;
    this.position = position;
    this.reason = reason;
  }
}
