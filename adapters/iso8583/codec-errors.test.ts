// One test per refusal: the reason, the field and the byte position are part of the contract
// (the server logs them, and answers DE39 = 30 with them).

import { describe, expect, it } from 'vitest';
import { IsoFormatError, createMessage, decode, encode, type CodecOptions, type IsoMessage } from './codec.ts';
import { spec87, withFields } from './spec87.ts';

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

function refusal(fn: () => unknown): Pick<IsoFormatError, 'field' | 'position' | 'reason'> {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(IsoFormatError);
    const { field, position, reason, message } = e as IsoFormatError;
    expect(message).toContain(`at byte ${position}`);
    return { field, position, reason };
  }
  throw new Error('expected an IsoFormatError');
}

const dec = (s: string | Buffer, o?: CodecOptions) => refusal(() => decode(typeof s === 'string' ? ascii(s) : s, o));
const enc = (m: IsoMessage, o?: CodecOptions) => refusal(() => encode(m, o));

const NETWORK = '0800823A0000000000000400000000000000042009061390000109061304200420001'; // has DE70

describe('decode refusals', () => {
  it('truncated: MTI, primary and secondary bitmap, length prefix, data', () => {
    expect(dec('02')).toEqual({ field: 'mti', position: 0, reason: 'truncated' });
    expect(dec('0200600000')).toEqual({ field: 'bitmap', position: 4, reason: 'truncated' });
    expect(dec('0200C0000000000000000000')).toEqual({ field: 'bitmap', position: 20, reason: 'truncated' });
    expect(dec('02004000000000000000' + '1')).toEqual({ field: 2, position: 20, reason: 'truncated' });
    expect(dec('02004000000000000000' + '16' + '4111')).toEqual({ field: 2, position: 22, reason: 'truncated' });
    expect(dec(Buffer.from([0x30, 0x32, 0x30, 0x30, 0x40, 0, 0]), { bitmap: 'binary' })).toEqual({ field: 'bitmap', position: 4, reason: 'truncated' });
    expect(dec(ascii(NETWORK).subarray(0, 60))).toEqual({ field: 13, position: 58, reason: 'truncated' });
  });

  it('bad_length: a non-digit in an LL or LLL prefix, at that byte', () => {
    expect(dec('02004000000000000000' + '1A' + '4111')).toEqual({ field: 2, position: 21, reason: 'bad_length' });
    // DE48 (LLL): bit 48 is in the second word of the primary bitmap
    expect(dec('02000000000000010000' + '0x1' + 'A')).toEqual({ field: 48, position: 21, reason: 'bad_length' });
  });

  it('too_long: a prefix above the field maximum, at the prefix', () => {
    expect(dec('02004000000000000000' + '20' + '4'.repeat(20))).toEqual({ field: 2, position: 20, reason: 'too_long' });
    expect(dec('02000000000000000400' + '121' + '0'.repeat(121))).toEqual({ field: 54, position: 20, reason: 'too_long' });
  });

  it('not_numeric: in the MTI and in an n field, at the offending byte', () => {
    expect(dec('02X0')).toEqual({ field: 'mti', position: 2, reason: 'not_numeric' });
    expect(dec('02002000000000000000' + '12A456')).toEqual({ field: 3, position: 22, reason: 'not_numeric' });
    expect(dec('02004000000000000000' + '04' + '41 1')).toEqual({ field: 2, position: 24, reason: 'not_numeric' });
  });

  it('bad_charset: bitmap, an, ans, x+n sign, z', () => {
    expect(dec('02006000000G00000000')).toEqual({ field: 'bitmap', position: 11, reason: 'bad_charset' });
    expect(dec('02000000000002000000' + '0#')).toEqual({ field: 39, position: 21, reason: 'bad_charset' });
    expect(dec(Buffer.concat([ascii('02000000000000800000' + 'TERM'), Buffer.from([0x09]), ascii('001')]))).toEqual({ field: 41, position: 24, reason: 'bad_charset' });
    expect(dec('02000000001000000000' + 'X00000000')).toEqual({ field: 28, position: 20, reason: 'bad_charset' });
    expect(dec('02000000000020000000' + '03' + 'D=X')).toEqual({ field: 35, position: 24, reason: 'bad_charset' });
  });

  it('unknown_field: the bitmap names a field the spec lacks, at the bitmap character', () => {
    const noDe70 = withFields(spec87, [70]);
    expect(dec(NETWORK, { spec: noDe70 })).toEqual({ field: 70, position: 21, reason: 'unknown_field' });
    // binary bitmaps: bit 70 lives in byte 4 + 8 + 0
    const bin = encode(decode(ascii(NETWORK)), { bitmap: 'binary' });
    expect(dec(bin, { spec: noDe70, bitmap: 'binary' })).toEqual({ field: 70, position: 12, reason: 'unknown_field' });
  });

  it('trailing_bytes: anything after the last field, at its first byte', () => {
    expect(dec(NETWORK + 'X')).toEqual({ field: 'bitmap', position: NETWORK.length, reason: 'trailing_bytes' });
    expect(dec('0800' + '0000000000000000' + '00')).toEqual({ field: 'bitmap', position: 20, reason: 'trailing_bytes' });
  });
});

describe('encode refusals (position = output offset)', () => {
  const ok = (): IsoMessage => createMessage('0200', { 3: '000000', 4: '000000001000', 11: '000001', 41: 'TERM0001' });

  it('MTI: type, length, digits', () => {
    expect(enc({ ...ok(), mti: 200 as unknown as string })).toEqual({ field: 'mti', position: 0, reason: 'bad_type' });
    expect(enc({ ...ok(), mti: '020' })).toEqual({ field: 'mti', position: 0, reason: 'bad_length' });
    expect(enc({ ...ok(), mti: '02a0' })).toEqual({ field: 'mti', position: 2, reason: 'not_numeric' });
  });

  it('bad_length / too_long against the table', () => {
    const m = ok();
    m.fields[3] = '123';
    expect(enc(m)).toEqual({ field: 3, position: 20, reason: 'bad_length' });
    const v = ok();
    v.fields[2] = '4'.repeat(20);
    expect(enc(v)).toEqual({ field: 2, position: 20, reason: 'too_long' });
  });

  it('not_numeric and bad_charset at the offending output byte', () => {
    const m = ok();
    m.fields[4] = '00000000000A';
    expect(enc(m)).toEqual({ field: 4, position: 20 + 6 + 11, reason: 'not_numeric' });
    const t = ok();
    t.fields[41] = 'TERMé001';
    expect(enc(t)).toEqual({ field: 41, position: 20 + 6 + 12 + 6 + 4, reason: 'bad_charset' });
    t.fields[41] = 'TERM€001'; // beyond latin1 must not be truncated into some other byte
    expect(enc(t)).toEqual({ field: 41, position: 20 + 6 + 12 + 6 + 4, reason: 'bad_charset' });
    const x = ok();
    x.fields[28] = '+00000100';
    expect(enc(x)).toEqual({ field: 28, position: 20 + 6 + 12 + 6, reason: 'bad_charset' });
    const l = ok();
    l.fields[2] = '41111111111111x1';
    expect(enc(l)).toEqual({ field: 2, position: 20 + 2 + 14, reason: 'not_numeric' });
  });

  it('positions count the secondary bitmap when a field above 64 is present', () => {
    const m = ok();
    m.fields[70] = '001';
    m.fields[11] = '00000X';
    expect(enc(m)).toEqual({ field: 11, position: 36 + 6 + 12 + 5, reason: 'not_numeric' });
  });

  it('bad_type for things that are not messages at all', () => {
    expect(enc(null as unknown as IsoMessage)).toEqual({ field: 'mti', position: 0, reason: 'bad_type' });
    expect(enc({ mti: '0200' } as unknown as IsoMessage)).toEqual({ field: 'bitmap', position: 4, reason: 'bad_type' });
  });

  it('bad_type, unknown_field, not_settable', () => {
    const m = ok();
    m.fields[11] = 123 as unknown as string;
    expect(enc(m)).toEqual({ field: 11, position: 20 + 6 + 12, reason: 'bad_type' });
    const u = ok();
    u.fields[70] = '001';
    expect(enc(u, { spec: withFields(spec87, [70]) })).toEqual({ field: 70, position: 36 + 6 + 12 + 6 + 8, reason: 'unknown_field' });
    const big = ok();
    big.fields[130] = 'x';
    expect(enc(big)).toMatchObject({ field: 130, reason: 'unknown_field' });
    const b = ok();
    b.fields[1] = '0000000000000000';
    expect(enc(b)).toMatchObject({ field: 1, reason: 'not_settable' });
  });
});
