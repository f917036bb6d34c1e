import { describe, expect, it } from 'vitest';
import { createMessage, decode, encode, fieldsRecord, type IsoMessage } from './codec.ts';
import { spec87, spec87Track2Ebcdic } from './spec87.ts';
import { purchase_fields } from './testdata/purchase.ts';

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

const purchase = (): IsoMessage => createMessage('0200', purchase_fields);

const PURCHASE_WIRE =
  '0200' +
  '7238000108C18000' + // bits 2,3,4,7,11,12,13,32 | 37,41,42,48,49
  '16' + '4761739001010119' +
  '000000' + '000000005000' + '0911131411' + '000123' + '131411' + '0911' +
  '06' + '423935' +
  '123456789012' + 'TERM0001' + 'MERCHANT0000001' +
  '011' + 'OTP=123456;' +
  '978';

describe('encode / decode', () => {
  it('packs a 0200 purchase exactly as spec87ascii lays it out', () => {
    expect(encode(purchase()).toString('latin1')).toBe(PURCHASE_WIRE);
  });

  it('unpacks it to the same values, leading zeros and all', () => {
    const m = decode(ascii(PURCHASE_WIRE));
    expect(m.mti).toBe('0200');
    expect(fieldsRecord(m)).toEqual(fieldsRecord(purchase()));
    expect(m.fields[4]).toBe('000000005000');
    expect(m.fields).toHaveLength(129);
  });

  it('binary bitmaps carry the same bits in 8 raw bytes', () => {
    const wire = encode(purchase(), { bitmap: 'binary' });
    expect([...wire.subarray(4, 12)]).toEqual([0x72, 0x38, 0x00, 0x01, 0x08, 0xc1, 0x80, 0x00]);
    expect(wire.subarray(12).toString('latin1')).toBe(PURCHASE_WIRE.slice(20));
    expect(fieldsRecord(decode(wire, { bitmap: 'binary' }))).toEqual(fieldsRecord(purchase()));
  });

  it('adds the secondary bitmap only when a field above 64 is present', () => {
    const m = createMessage('0800', { 7: '0420090613', 11: '900001', 70: '301' });
    const wire = encode(m).toString('latin1');
    expect(wire).toBe('0800' + '8220000000000000' + '0400000000000000' + '0420090613' + '900001' + '301');
    const bin = encode(m, { bitmap: 'binary' });
    expect([...bin.subarray(4, 20)]).toEqual([0x82, 0x20, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('handles every field, 2..128, at its maximum length', () => {
    const m = createMessage('0200');
    for (let f = 2; f <= 128; f++) {
      const def = spec87[f]!;
      const len = def.content === 'b' ? def.length * 2 : def.content === 'x+n' ? def.length + 1 : def.length;
      const filler = def.content === 'x+n' ? 'C' + '9'.repeat(len - 1) : def.content === 'b' ? 'F'.repeat(len) : '9'.repeat(len);
      m.fields[f] = def.content === 'a' ? 'Z'.repeat(len) : filler;
    }
    const wire = encode(m);
    expect(fieldsRecord(decode(wire))).toEqual(fieldsRecord(m));
    expect(wire.toString('latin1', 4, 36)).toBe('F'.repeat(32));
  });

  it('keeps empty LLVAR/LLLVAR fields (as moov vectors have for DE2, DE32, DE63)', () => {
    const m = createMessage('0420', { 2: '', 32: '', 63: '' });
    const wire = encode(m).toString('latin1');
    expect(wire.slice(20)).toBe('00' + '00' + '000');
    expect(fieldsRecord(decode(ascii(wire)))).toEqual({ 2: '', 32: '', 63: '' });
  });

  it('carries b fields as the hex text on the wire, case preserved', () => {
    const m = createMessage('0200', { 52: '0123456789abcdef', 64: 'FFEEDDCCBBAA9988' });
    const wire = encode(m);
    expect(wire.toString('latin1', 20)).toBe('0123456789abcdefFFEEDDCCBBAA9988');
    expect(decode(wire).fields[52]).toBe('0123456789abcdef');
  });

  it('reads lower-case hex bitmaps and writes them upper-case', () => {
    const lower = PURCHASE_WIRE.replace('7238000108C18000', '7238000108c18000');
    const m = decode(ascii(lower));
    expect(encode(m).toString('latin1')).toBe(PURCHASE_WIRE);
  });

  it('accepts an all-zero secondary bitmap and drops it on re-encode', () => {
    const wire = '0800' + '8020000000000000' + '0000000000000000' + '900001';
    const m = decode(ascii(wire));
    expect(fieldsRecord(m)).toEqual({ 11: '900001' });
    expect(encode(m).toString('latin1')).toBe('0800' + '0020000000000000' + '900001');
  });

  it('x+n amounts keep their sign', () => {
    const m = createMessage('0200', { 28: 'D00000150', 97: 'C0000000000012345' });
    expect(fieldsRecord(decode(encode(m)))).toEqual({ 28: 'D00000150', 97: 'C0000000000012345' });
  });

  it('EBCDIC track 2 when the spec says so', () => {
    const m = createMessage('0800', { 35: '4761739001010119D2212' });
    const wire = encode(m, { spec: spec87Track2Ebcdic });
    expect(wire.toString('latin1', 20, 22)).toBe('21');
    expect(wire[22]).toBe(0xf4); // '4'
    expect(wire[22 + 16]).toBe(0xc4); // 'D'
    expect(decode(wire, { spec: spec87Track2Ebcdic }).fields[35]).toBe('4761739001010119D2212');
  });

  it('decoded values do not alias the input buffer', () => {
    const buf = ascii(PURCHASE_WIRE);
    const m = decode(buf);
    buf.fill(0x30);
    expect(m.fields[41]).toBe('TERM0001');
  });

  it('createMessage and fieldsRecord convert between records and messages', () => {
    const m = createMessage('0100', { 3: '310000', 11: '000001' });
    expect(m.fields[3]).toBe('310000');
    expect(fieldsRecord(m)).toEqual({ 3: '310000', 11: '000001' });
    expect(() => createMessage('0100', { 1: '0000000000000000' })).toThrow(/not_settable/);
    expect(() => createMessage('0100', { 129: 'x' })).toThrow(/unknown_field/);
  });
});
