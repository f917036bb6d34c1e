import { describe, expect, it } from 'vitest';
import { literalQueryParam, walletCimValue } from './query.ts';

describe('literalQueryParam', () => {
  it('keeps "+" as written, decodes %2B and %20, and takes the first of a repeated name', () => {
    const url = 'http://h/v1/wallets?cim_type=phone&cim_value=+44%2020+7946&x=1&cim_value=second#frag';
    expect(literalQueryParam(url, 'cim_value')).toBe('+44 20+7946');
    expect(literalQueryParam('http://h/p?cim_value=%2Bplain@x.com', 'cim_value')).toBe('+plain@x.com');
    expect(literalQueryParam('http://h/p?cim_value=a+b@x.com', 'cim_value')).toBe('a+b@x.com');
    expect(literalQueryParam('http://h/p?cim%5Fvalue=(+44)%2020', 'cim_value')).toBe('(+44) 20');
  });

  it('answers undefined when the name is absent or its value cannot be decoded, and "" for a bare name', () => {
    expect(literalQueryParam('http://h/p', 'cim_value')).toBeUndefined();
    expect(literalQueryParam('http://h/p?cim_type=x', 'cim_value')).toBeUndefined();
    expect(literalQueryParam('http://h/p?cim_value=%E0%A4%A', 'cim_value')).toBeUndefined();
    expect(literalQueryParam('http://h/p?cim_value', 'cim_value')).toBe('');
  });
});

describe('walletCimValue', () => {
  const url = (value: string) => `http://h/v1/wallets?cim_type=x&cim_value=${value}`;
  const form = (value: string) => new URLSearchParams(url(value).split('?')[1]).get('cim_value')!;
  const read = (type: string, value: string) => walletCimValue(url(value), type, form(value));

  it("reads an email's '+' as a '+', written or encoded", () => {
    expect(read('email', '+plain@x.com')).toBe('+plain@x.com');
    expect(read('email', 'a+b@x.com')).toBe('a+b@x.com');
    expect(read('email', '%2Bplain@x.com')).toBe('+plain@x.com');
  });

  it("reads a phone's '+' before its country code as one, and a form encoder's '+' between digits as a space", () => {
    expect(read('phone', '+442079460958')).toBe('+442079460958');
    expect(read('phone', '(+44)%2020')).toBe('(+44) 20');
    expect(read('phone', '%2B44+20+7946+0958')).toBe('+44 20 7946 0958');
    expect(read('phone', new URLSearchParams({ v: '+44 20 7946 0958' }).toString().slice(2))).toBe('+44 20 7946 0958');
  });

  it("reads any other type's '+' as form decoding does: a space", () => {
    expect(read('card', '4111+1111+1111+1111')).toBe('4111 1111 1111 1111');
    expect(read('loyalty_id', 'GOLD+123')).toBe('GOLD 123');
  });
});
