import { describe, expect, it } from 'vitest';
import { createMessage, decode, encode, peekHeader } from './codec.ts';
import { answerable } from './peek-header.ts';

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const base = { 2: '4761739001010119', 3: '000000', 4: '000000005000', 7: '0911131411', 11: '000123', 32: '423935', 41: 'TERM0001', 48: 'OTP=1;' };
const wire = (): string => encode(createMessage('0200', base)).toString('latin1');

describe('peekHeader', () => {
  it('reads MTI, DE11 and DE41 from a good message', () => {
    expect(peekHeader(ascii(wire()))).toEqual({ mti: '0200', de11: '000123', de41: 'TERM0001' });
  });

  it('still reads them when an earlier field has bad content but a sound length', () => {
    const bad = wire().replace('000000005000', '0000000050X0');
    expect(() => decode(ascii(bad))).toThrow();
    expect(peekHeader(ascii(bad))).toEqual({ mti: '0200', de11: '000123', de41: 'TERM0001' });
  });

  it('still reads them past a variable field longer than its maximum (its prefix says where it ends)', () => {
    const long = wire().replace('164761739001010119', '25' + '4'.repeat(25)); // DE2: at most 19
    expect(() => decode(ascii(long))).toThrow();
    expect(peekHeader(ascii(long))).toEqual({ mti: '0200', de11: '000123', de41: 'TERM0001' });
  });

  it('still reads them when the message breaks after DE41', () => {
    const bad = wire().replace('006OTP=1;', '0x6OTP=1;');
    expect(() => decode(ascii(bad))).toThrow();
    expect(peekHeader(ascii(bad))).toEqual({ mti: '0200', de11: '000123', de41: 'TERM0001' });
    expect(peekHeader(ascii(wire() + 'garbage'))).toEqual({ mti: '0200', de11: '000123', de41: 'TERM0001' });
  });

  it('gives up where the walk cannot continue', () => {
    const lenBroken = wire().replace('06423935', '0X423935'); // DE32 prefix, before DE41
    expect(peekHeader(ascii(lenBroken))).toEqual({ mti: '0200', de11: '000123', de41: undefined });
    const panBroken = wire().replace('164761', '1A4761'); // DE2 prefix, before DE11
    expect(peekHeader(ascii(panBroken))).toEqual({ mti: '0200', de11: undefined, de41: undefined });
    expect(peekHeader(ascii(wire().slice(0, 80)))).toEqual({ mti: '0200', de11: '000123', de41: undefined });
    expect(peekHeader(ascii('0200ZZ'))).toEqual({ mti: '0200', de11: undefined, de41: undefined });
    expect(peekHeader(ascii('02'))).toEqual({ mti: undefined, de11: undefined, de41: undefined });
    expect(peekHeader(Buffer.alloc(0))).toEqual({ mti: undefined, de11: undefined, de41: undefined });
  });

  it('skips a secondary bitmap and works with binary bitmaps', () => {
    const m = createMessage('0420', { ...base, 90: '0'.repeat(42) });
    expect(peekHeader(encode(m))).toEqual({ mti: '0420', de11: '000123', de41: 'TERM0001' });
    expect(peekHeader(encode(m, { bitmap: 'binary' }), { bitmap: 'binary' })).toEqual({ mti: '0420', de11: '000123', de41: 'TERM0001' });
  });

  it('reads DE41 as absent (\'\') when the bitmap has none: a network management message, matched by DE11', () => {
    const echo = encode(createMessage('0800', { 7: '0911131411', 11: '000321', 70: '301' })).toString('latin1');
    expect(peekHeader(ascii(echo))).toEqual({ mti: '0800', de11: '000321', de41: '' });
  });

  it('reports a non-digit MTI as unknown but keeps going', () => {
    const bad = 'X200' + wire().slice(4);
    expect(peekHeader(ascii(bad))).toEqual({ mti: undefined, de11: '000123', de41: 'TERM0001' });
  });
});

describe('answerable', () => {
  it('needs MTI and DE11, and DE41 but on the network classes (x8xx, x9xx), whose replies are matched by DE11 alone', () => {
    for (const mti of ['0800', '0820', '0801', '0810', '1804', '0900']) expect(answerable({ mti, de11: '000001', de41: '' }), mti).toBe(true);
    for (const mti of ['0100', '0200', '0400', '0420', '0300']) expect(answerable({ mti, de11: '000001', de41: '' }), mti).toBe(false);
    expect(answerable({ mti: '0200', de11: '000001', de41: 'TERM0001' })).toBe(true);
    expect(answerable({ mti: '0800', de11: undefined, de41: '' })).toBe(false);
    expect(answerable({ mti: undefined, de11: '000001', de41: 'TERM0001' })).toBe(false);
  });
});
