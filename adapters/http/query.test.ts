import { describe, expect, it } from 'vitest';
import { literalQueryParam } from './query.ts';

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
