// ISO 8583:1987 field table, as jPOS's ISO87APackager and moov-io's spec87ascii lay it out
// (moov's table stops at DE64 plus DE90; the rest follows the 1987 standard and pyiso8583's
// default_ascii, which decoded the conformance vectors). Index = field number; index 0 (the MTI)
// is absent because the codec handles it. Classes are those of the standard except where real
// traffic carries characters the nominal class forbids — noted inline.

export type LengthType = 'fixed' | 'llvar' | 'lllvar';

/** n digits · a letters+space · an letters, digits, space · ans printable ASCII · ns digits,
 *  specials, space · z track 2/3 characters · b binary, carried as hex text · x+n C/D then digits */
export type ContentClass = 'n' | 'a' | 'an' | 'ans' | 'ns' | 'z' | 'b' | 'x+n';

export interface FieldDef {
  readonly number: number;
  readonly description: string;
  readonly content: ContentClass;
  readonly lengthType: LengthType;
  /** Fixed length, or the maximum for LLVAR/LLLVAR, in ISO notation: b counts bytes (two hex
   *  characters each on the wire), x+n counts digits (the C/D sign adds one character). */
  readonly length: number;
  /** Data bytes in EBCDIC (code page 500) instead of ASCII; length prefixes stay ASCII. */
  readonly dataEncoding?: 'ascii' | 'ebcdic';
}

/** Index = field number, 0..128; undefined = the spec lacks that field. */
export type FieldTable = readonly (FieldDef | undefined)[];

function fixed(number: number, content: ContentClass, length: number, description: string): FieldDef {
  return { number, description, content, lengthType: 'fixed', length };
}
function ll(number: number, content: ContentClass, length: number, description: string): FieldDef {
  return { number, description, content, lengthType: 'llvar', length };
}
function lll(number: number, content: ContentClass, length: number, description: string): FieldDef {
  return { number, description, content, lengthType: 'lllvar', length };
}

const defs: FieldDef[] = [
  fixed(1, 'b', 8, 'Bitmap, secondary'),
  ll(2, 'n', 19, 'Primary account number (PAN)'),
  fixed(3, 'n', 6, 'Processing code'),
  fixed(4, 'n', 12, 'Amount, transaction'),
  fixed(5, 'n', 12, 'Amount, settlement'),
  fixed(6, 'n', 12, 'Amount, cardholder billing'),
  fixed(7, 'n', 10, 'Transmission date and time (MMDDhhmmss)'),
  fixed(8, 'n', 8, 'Amount, cardholder billing fee'),
  fixed(9, 'n', 8, 'Conversion rate, settlement'),
  fixed(10, 'n', 8, 'Conversion rate, cardholder billing'),
  fixed(11, 'n', 6, 'System trace audit number (STAN)'),
  fixed(12, 'n', 6, 'Time, local transaction (hhmmss)'),
  fixed(13, 'n', 4, 'Date, local transaction (MMDD)'),
  fixed(14, 'n', 4, 'Date, expiration (YYMM)'),
  fixed(15, 'n', 4, 'Date, settlement (MMDD)'),
  fixed(16, 'n', 4, 'Date, conversion (MMDD)'),
  fixed(17, 'n', 4, 'Date, capture (MMDD)'),
  fixed(18, 'n', 4, 'Merchant type'),
  fixed(19, 'n', 3, 'Acquiring institution country code'),
  fixed(20, 'n', 3, 'PAN extended, country code'),
  fixed(21, 'n', 3, 'Forwarding institution country code'),
  fixed(22, 'n', 3, 'Point of service entry mode'),
  fixed(23, 'n', 3, 'Application PAN sequence number'),
  fixed(24, 'n', 3, 'Network international identifier (NII)'),
  fixed(25, 'n', 2, 'Point of service condition code'),
  fixed(26, 'n', 2, 'Point of service capture code'),
  fixed(27, 'n', 1, 'Authorizing identification response length'),
  fixed(28, 'x+n', 8, 'Amount, transaction fee'),
  fixed(29, 'x+n', 8, 'Amount, settlement fee'),
  fixed(30, 'x+n', 8, 'Amount, transaction processing fee'),
  fixed(31, 'x+n', 8, 'Amount, settlement processing fee'),
  ll(32, 'n', 11, 'Acquiring institution identification code'),
  ll(33, 'n', 11, 'Forwarding institution identification code'),
  ll(34, 'ns', 28, 'Primary account number, extended'),
  ll(35, 'z', 37, 'Track 2 data'),
  lll(36, 'z', 104, 'Track 3 data'), // standard says n, but track 3 carries '=' separators
  fixed(37, 'an', 12, 'Retrieval reference number'),
  fixed(38, 'an', 6, 'Authorization identification response'),
  fixed(39, 'an', 2, 'Response code'),
  fixed(40, 'an', 3, 'Service restriction code'),
  fixed(41, 'ans', 8, 'Card acceptor terminal identification'),
  fixed(42, 'ans', 15, 'Card acceptor identification code'),
  fixed(43, 'ans', 40, 'Card acceptor name/location'),
  ll(44, 'an', 25, 'Additional response data'),
  ll(45, 'ans', 76, 'Track 1 data'), // standard says an, but track 1 carries '^' separators
  // 46-48 are "an" in some tables; real DE48 carries '=' and ';' (Pocketgate's TAG=value;)
  lll(46, 'ans', 999, 'Additional data (ISO)'),
  lll(47, 'ans', 999, 'Additional data (national)'),
  lll(48, 'ans', 999, 'Additional data (private)'),
  fixed(49, 'n', 3, 'Currency code, transaction'),
  fixed(50, 'n', 3, 'Currency code, settlement'),
  fixed(51, 'n', 3, 'Currency code, cardholder billing'),
  fixed(52, 'b', 8, 'Personal identification number data'),
  fixed(53, 'n', 16, 'Security related control information'),
  lll(54, 'an', 120, 'Additional amounts'),
  lll(55, 'ans', 999, 'ICC data (EMV), as text in spec87ascii'),
  lll(56, 'ans', 999, 'Reserved (ISO)'),
  lll(57, 'ans', 999, 'Reserved (national)'),
  lll(58, 'ans', 999, 'Reserved (national)'),
  lll(59, 'ans', 999, 'Reserved (national)'),
  lll(60, 'ans', 999, 'Reserved (national)'),
  lll(61, 'ans', 999, 'Reserved (private)'),
  lll(62, 'ans', 999, 'Reserved (private)'),
  lll(63, 'ans', 999, 'Reserved (private)'),
  fixed(64, 'b', 8, 'Message authentication code (MAC)'),
  // a plain 8-byte field here, as pyiso8583 does; tertiary bitmaps are not supported
  fixed(65, 'b', 8, 'Bitmap, tertiary (extended)'),
  fixed(66, 'n', 1, 'Settlement code'),
  fixed(67, 'n', 2, 'Extended payment code'),
  fixed(68, 'n', 3, 'Receiving institution country code'),
  fixed(69, 'n', 3, 'Settlement institution country code'),
  fixed(70, 'n', 3, 'Network management information code'),
  fixed(71, 'n', 4, 'Message number'),
  fixed(72, 'n', 4, 'Message number, last'),
  fixed(73, 'n', 6, 'Date, action (YYMMDD)'),
  fixed(74, 'n', 10, 'Credits, number'),
  fixed(75, 'n', 10, 'Credits, reversal number'),
  fixed(76, 'n', 10, 'Debits, number'),
  fixed(77, 'n', 10, 'Debits, reversal number'),
  fixed(78, 'n', 10, 'Transfer, number'),
  fixed(79, 'n', 10, 'Transfer, reversal number'),
  fixed(80, 'n', 10, 'Inquiries, number'),
  fixed(81, 'n', 10, 'Authorizations, number'),
  fixed(82, 'n', 12, 'Credits, processing fee amount'),
  fixed(83, 'n', 12, 'Credits, transaction fee amount'),
  fixed(84, 'n', 12, 'Debits, processing fee amount'),
  fixed(85, 'n', 12, 'Debits, transaction fee amount'),
  fixed(86, 'n', 16, 'Credits, amount'),
  fixed(87, 'n', 16, 'Credits, reversal amount'),
  fixed(88, 'n', 16, 'Debits, amount'),
  fixed(89, 'n', 16, 'Debits, reversal amount'),
  fixed(90, 'n', 42, 'Original data elements'),
  fixed(91, 'an', 1, 'File update code'),
  fixed(92, 'an', 2, 'File security code'),
  fixed(93, 'an', 5, 'Response indicator'),
  fixed(94, 'an', 7, 'Service indicator'),
  fixed(95, 'an', 42, 'Replacement amounts'),
  fixed(96, 'b', 8, 'Message security code'),
  fixed(97, 'x+n', 16, 'Amount, net settlement'),
  fixed(98, 'ans', 25, 'Payee'),
  ll(99, 'n', 11, 'Settlement institution identification code'),
  ll(100, 'n', 11, 'Receiving institution identification code'),
  ll(101, 'ans', 17, 'File name'),
  ll(102, 'ans', 28, 'Account identification 1'),
  ll(103, 'ans', 28, 'Account identification 2'),
  lll(104, 'ans', 100, 'Transaction description'),
];
for (let n = 105; n <= 111; n++) defs.push(lll(n, 'ans', 999, 'Reserved (ISO)'));
for (let n = 112; n <= 119; n++) defs.push(lll(n, 'ans', 999, 'Reserved (national)'));
for (let n = 120; n <= 127; n++) defs.push(lll(n, 'ans', 999, 'Reserved (private)'));
defs.push(fixed(128, 'b', 8, 'Message authentication code (MAC)'));

/** Builds a table from definitions, each at the index of its number. */
export function fieldTable(list: readonly FieldDef[]): FieldTable {
  const table: (FieldDef | undefined)[] = new Array<FieldDef | undefined>(129).fill(undefined);
  for (const def of list) {
    if (!Number.isInteger(def.number) || def.number < 1 || def.number > 128) {
      throw new RangeError(`field number ${def.number} is outside 1..128`);
    }
    table[def.number] = def;
  }
  return Object.freeze(table);
}

/** A copy of `table` with some fields replaced, added (a definition) or removed (a number). */
export function withFields(table: FieldTable, changes: readonly (FieldDef | number)[]): FieldTable {
  const list = table.filter((d): d is FieldDef => d !== undefined);
  const byNumber = new Map(list.map((d) => [d.number, d]));
  for (const change of changes) {
    if (typeof change === 'number') byNumber.delete(change);
    else byNumber.set(change.number, change);
  }
  return fieldTable([...byNumber.values()]);
}

export const spec87: FieldTable = fieldTable(defs);

/**
 * `table` with DE35 (track 2) in EBCDIC; undefined when it has no DE35 or carries it so already.
 * The server reads a message with it when its DE35 is EBCDIC (connection.ts decodeRequest).
 */
export function withTrack2Ebcdic(table: FieldTable): FieldTable | undefined {
  const de35 = table[35];
  return de35 === undefined || de35.dataEncoding === 'ebcdic' ? undefined : withFields(table, [{ ...de35, dataEncoding: 'ebcdic' }]);
}

/** spec87 with DE35 (track 2) in EBCDIC, as moov's v0 default and its *_track vectors have it. */
export const spec87Track2Ebcdic: FieldTable = withTrack2Ebcdic(spec87)!;
