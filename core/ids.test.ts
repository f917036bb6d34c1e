import { describe, expect, it } from 'vitest';
import { luhnValid } from './luhn.ts';
import { newApiKey, newContactCode, newId, newWalletCode, shardOf } from './ids.ts';

describe('ids', () => {
  it('ids carry their kind and are unique', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newId('con')));
    expect(ids.size).toBe(10_000);
    for (const id of ids) expect(id).toMatch(/^con_[0-9a-z]{20}$/);
  });

  it('wallet codes are 16 digits, Luhn-valid, never starting with 0', () => {
    for (let i = 0; i < 2_000; i++) {
      const code = newWalletCode();
      expect(code).toMatch(/^[1-9][0-9]{15}$/);
      expect(luhnValid(code)).toBe(true);
    }
  });

  it('keys and codes have their shapes', () => {
    expect(newApiKey('admin')).toMatch(/^sk_[0-9a-z]{39}$/);
    expect(newApiKey('terminal')).toMatch(/^tk_[0-9a-z]{39}$/);
    expect(newContactCode()).toMatch(/^[0-9A-Z]{10}$/);
  });

  it('shards spread contacts evenly enough and are stable', () => {
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[shardOf(newId('con'), 16)]++;
    for (const n of counts) {
      expect(n).toBeGreaterThan(700);
      expect(n).toBeLessThan(1300);
    }
    expect(shardOf('con_abc', 16)).toBe(shardOf('con_abc', 16));
  });
});
