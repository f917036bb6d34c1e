import { describe, expect, it } from 'vitest';
import { currencies, currencyByCode, currencyByNumeric } from './currency.ts';

describe('currency table', () => {
  it('has the well-known entries with the right numeric code and minor units', () => {
    expect(currencyByCode('EUR')).toEqual({ code: 'EUR', numeric: '978', minor_units: 2 });
    expect(currencyByCode('USD')).toEqual({ code: 'USD', numeric: '840', minor_units: 2 });
    expect(currencyByCode('GBP')).toEqual({ code: 'GBP', numeric: '826', minor_units: 2 });
    expect(currencyByCode('JPY')).toEqual({ code: 'JPY', numeric: '392', minor_units: 0 });
    expect(currencyByCode('KWD')).toEqual({ code: 'KWD', numeric: '414', minor_units: 3 });
    expect(currencyByCode('BHD')).toEqual({ code: 'BHD', numeric: '048', minor_units: 3 });
    expect(currencyByCode('CLF')).toEqual({ code: 'CLF', numeric: '990', minor_units: 4 });
    expect(currencyByCode('UYW')).toEqual({ code: 'UYW', numeric: '927', minor_units: 4 });
    expect(currencyByCode('XAF')?.minor_units).toBe(0);
    expect(currencyByCode('XCG')).toEqual({ code: 'XCG', numeric: '532', minor_units: 2 });
    expect(currencyByCode('ZWG')).toEqual({ code: 'ZWG', numeric: '924', minor_units: 2 });
  });

  it('looks up by numeric code, including zero-padded ones', () => {
    expect(currencyByNumeric('978')?.code).toBe('EUR');
    expect(currencyByNumeric('840')?.code).toBe('USD');
    expect(currencyByNumeric('048')?.code).toBe('BHD');
    expect(currencyByNumeric('008')?.code).toBe('ALL');
    expect(currencyByNumeric('532')?.code).toBe('XCG');
    expect(currencyByNumeric('48')).toBeUndefined();
    expect(currencyByNumeric('000')).toBeUndefined();
  });

  it('code and numeric lookups agree with the map', () => {
    for (const [code, c] of currencies) {
      expect(c.code).toBe(code);
      expect(currencyByCode(code)).toBe(c);
      expect(currencyByNumeric(c.numeric)).toBe(c);
    }
  });

  it('returns undefined for unknown, withdrawn and non-monetary codes', () => {
    for (const code of ['', 'ZZZ', 'EURO', 'HRK', 'ANG', 'BGN', 'CUC', 'SLL', 'ZWL', 'VEF', 'XAU', 'XTS', 'XXX', 'XDR']) {
      expect(currencyByCode(code)).toBeUndefined();
    }
  });

  it('does not accept lower- or mixed-case codes', () => {
    expect(currencyByCode('eur')).toBeUndefined();
    expect(currencyByCode('Eur')).toBeUndefined();
    expect(currencyByCode(' EUR')).toBeUndefined();
  });

  it('has every code as 3 upper-case letters and every numeric as 3 digits, both unique', () => {
    const codes = [...currencies.values()].map((c) => c.code);
    const numerics = [...currencies.values()].map((c) => c.numeric);
    for (const code of codes) expect(code).toMatch(/^[A-Z]{3}$/);
    for (const numeric of numerics) expect(numeric).toMatch(/^[0-9]{3}$/);
    expect(new Set(codes).size).toBe(codes.length);
    expect(new Set(numerics).size).toBe(numerics.length);
    for (const c of currencies.values()) expect([0, 2, 3, 4]).toContain(c.minor_units);
    expect(currencies.size).toBeGreaterThan(150);
  });
});
