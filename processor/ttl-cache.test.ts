import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CachedLookup, TtlCache } from './ttl-cache.ts';

describe('TtlCache', () => {
  it('never holds more than its bound, and keeps the newest write of each key until it expires', () => {
    const op = fc.record({ key: fc.integer({ min: 0, max: 40 }).map(String), value: fc.integer(), advance_ms: fc.integer({ min: 0, max: 30 }) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.array(op, { maxLength: 200 }), (max, ops) => {
        const ttl = 50;
        const cache = new TtlCache<number>(max, ttl);
        let now = 0;
        for (const { key, value, advance_ms } of ops) {
          now += advance_ms;
          cache.set(key, value, now);
          expect(cache.size).toBeLessThanOrEqual(max);
          expect(cache.get(key, now)).toBe(value);
          expect(cache.get(key, now + ttl)).toBeUndefined();
        }
      }),
    );
  });

  it('evicts the oldest written first', () => {
    const cache = new TtlCache<string>(2, 1_000);
    cache.set('a', 'A', 0);
    cache.set('b', 'B', 0);
    cache.set('a', 'A2', 1); // rewritten: now the newest
    cache.set('c', 'C', 2);
    expect(cache.get('b', 3)).toBeUndefined();
    expect(cache.get('a', 3)).toBe('A2');
    expect(cache.get('c', 3)).toBe('C');
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new TtlCache(0, 1)).toThrow(RangeError);
  });
});

describe('CachedLookup', () => {
  it('shares one read among concurrent gets, and remembers what was found and what was not', async () => {
    const reads: string[] = [];
    const lookup = new CachedLookup<string>(
      async (key) => {
        reads.push(key);
        await new Promise((resolve) => setTimeout(resolve, 5));
        return key.startsWith('known') ? key.toUpperCase() : undefined;
      },
      { ttl_ms: 60_000, found_max: 10, missing_max: 2 },
    );
    expect(await Promise.all([lookup.get('known1'), lookup.get('known1'), lookup.get('nope1')])).toEqual(['KNOWN1', 'KNOWN1', undefined]);
    expect(await lookup.get('known1')).toBe('KNOWN1');
    expect(await lookup.get('nope1')).toBeUndefined();
    expect(reads).toEqual(['known1', 'nope1']);
    // A flood of misses evicts misses only.
    for (let i = 0; i < 20; i++) await lookup.get(`nope-flood-${i}`);
    expect(await lookup.get('known1')).toBe('KNOWN1');
    expect(reads.filter((k) => k === 'known1')).toHaveLength(1);
    lookup.delete('known1');
    expect(await lookup.get('known1')).toBe('KNOWN1');
    expect(reads.filter((k) => k === 'known1')).toHaveLength(2);
  });

  it('keeps nothing of a read that failed: the next get reads again', async () => {
    let calls = 0;
    const lookup = new CachedLookup<string>(
      async () => {
        calls++;
        if (calls === 1) throw new Error('store down');
        return 'up';
      },
      { ttl_ms: 60_000, found_max: 10, missing_max: 10 },
    );
    await expect(lookup.get('k')).rejects.toThrow('store down');
    expect(await lookup.get('k')).toBe('up');
  });

  it('a read in flight when its key is forgotten is neither shared afterwards nor kept', async () => {
    let stored = 'old';
    let release: (() => void) | undefined;
    const lookup = new CachedLookup<string>(
      async () => {
        const seen = stored;
        if (seen === 'old') await new Promise<void>((resolve) => (release = resolve));
        return seen;
      },
      { ttl_ms: 60_000, found_max: 10, missing_max: 10 },
    );
    const before = lookup.get('t'); // reads 'old' and waits
    await Promise.resolve();
    stored = 'new'; // the write…
    lookup.delete('t'); // …then the writer forgets
    // Not joined to the read begun before the write (which waits until released below).
    const joined = new Promise((resolve) => setTimeout(() => resolve('joined the read begun before the write'), 1_000));
    expect(await Promise.race([lookup.get('t'), joined])).toBe('new');
    release!();
    expect(await before).toBe('old');
    expect(await lookup.get('t')).toBe('new'); // the old read's answer was not kept
  });

  it('with keep_missing false reads a miss again every time, and keeps what it then finds', async () => {
    let reads = 0;
    let stored: string | undefined;
    const lookup = new CachedLookup<string>(async () => (reads++, stored), { ttl_ms: 60_000, found_max: 10, missing_max: 10, keep_missing: false });
    expect(await lookup.get('m')).toBeUndefined();
    expect(await lookup.get('m')).toBeUndefined();
    expect(reads).toBe(2);
    stored = 'made';
    expect(await lookup.get('m')).toBe('made');
    expect(await lookup.get('m')).toBe('made');
    expect(reads).toBe(3);
  });
});
