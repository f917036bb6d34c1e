// The guessing policy, without I/O: windows, limits, the odds, the source's address.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  clientAddress,
  contact_code_space,
  guess_limits,
  guessCounters,
  guessSubject,
  hitOdds,
  otp_space,
  peerAddress,
  sourceAddress,
  unknown_source,
  wallet_code_space,
  type GuessKind,
} from './guesses.ts';

const kinds: GuessKind[] = ['otp', 'code', 'card_or_code'];
const instant = fc.integer({ min: 0, max: 4_102_444_800_000 }); // up to 2100

describe('guess counters', () => {
  it('each counter’s window holds the instant, and its key outlives the rest of the window', () => {
    fc.assert(
      fc.property(fc.constantFrom(...kinds), instant, (kind, now) => {
        for (const c of guessCounters(kind, now)) {
          expect(c.window * c.window_ms).toBeLessThanOrEqual(now);
          expect(now).toBeLessThan((c.window + 1) * c.window_ms);
          expect(c.ttl_s * 1000).toBeGreaterThan((c.window + 1) * c.window_ms - now);
        }
      }),
    );
  });

  it('a count carries on within its window and starts afresh in the next', () => {
    fc.assert(
      fc.property(fc.constantFrom(...kinds), instant, fc.integer({ min: 0, max: 3 * 86_400_000 }), (kind, t, later) => {
        const a = guessCounters(kind, t);
        const b = guessCounters(kind, t + later);
        a.forEach((c, i) => {
          const same = Math.floor(t / c.window_ms) === Math.floor((t + later) / c.window_ms);
          expect(b[i]!.window === c.window).toBe(same);
          if (later >= c.window_ms) expect(b[i]!.window).toBeGreaterThan(c.window);
        });
      }),
    );
  });

  it('soft first, then hard limits; the pair’s is the lowest of the hard ones, so one source locks out only itself first', () => {
    for (const kind of kinds) {
      const l = guess_limits[kind];
      const [soft, ...hard] = guessCounters(kind, 0);
      expect(soft!.hard).toBe(false);
      expect(hard.every((c) => c.hard && c.max > 0)).toBe(true);
      expect(l.pair_per_day).toBeLessThanOrEqual(Math.min(l.terminal_per_day, l.source_per_day));
      expect(l.soft_per_minute).toBeLessThanOrEqual(l.pair_per_day);
    }
  });

  it('counts a pair for the terminal and source together, the others for one of them', () => {
    expect(guessSubject('pair_day', 'ter_1', '1.2.3.4')).toBe('ter_1|1.2.3.4');
    expect(guessSubject('terminal_day', 'ter_1', '1.2.3.4')).toBe('ter_1');
    expect(guessSubject('terminal_minute', 'ter_1', '1.2.3.4')).toBe('ter_1');
    expect(guessSubject('source_day', 'ter_1', '1.2.3.4')).toBe('1.2.3.4');
  });
});

describe('hitOdds', () => {
  it('is 0 without guesses or live codes, grows with both, never above 1 nor above the union bound', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e7 }), fc.integer({ min: 0, max: 1e6 }), (n, live) => {
        const p = hitOdds(n, live, otp_space);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThanOrEqual(1);
        expect(p).toBeLessThanOrEqual((n * live) / otp_space + 1e-12);
        expect(hitOdds(n + 1, live, otp_space)).toBeGreaterThanOrEqual(p);
        expect(hitOdds(n, live + 1, otp_space)).toBeGreaterThanOrEqual(p);
      }),
    );
    expect(hitOdds(0, 10, otp_space)).toBe(0);
    expect(hitOdds(10, 0, otp_space)).toBe(0);
  });

  it('gives the README’s numbers', () => {
    // One terminal and source at its daily OTP limit, 100 live OTPs in the business.
    expect(hitOdds(guess_limits.otp.pair_per_day, 100, otp_space)).toBeCloseTo(2e-3, 4);
    // One terminal and source at its daily code limit, a million contacts.
    expect(hitOdds(guess_limits.code.pair_per_day, 1e6, wallet_code_space)).toBeCloseTo(1.1e-7, 8);
    expect(hitOdds(guess_limits.code.pair_per_day, 1e6, contact_code_space)).toBeLessThan(1e-7);
  });
});

describe('the source’s address', () => {
  it('is the socket’s peer without trusted proxies, whatever X-Forwarded-For says', () => {
    expect(clientAddress('10.0.0.5', '6.6.6.6', 0)).toBe('10.0.0.5');
    expect(clientAddress('::ffff:10.0.0.5', undefined, 0)).toBe('10.0.0.5');
    expect(clientAddress(undefined, undefined, 0)).toBe(unknown_source);
  });

  it('behind proxies, the entry the outermost one wrote; never further left', () => {
    expect(clientAddress('10.0.0.1', '203.0.113.9', 1)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', '6.6.6.6, 203.0.113.9', 1)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', '6.6.6.6, 203.0.113.9, 10.0.0.2', 2)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', 'not an address', 1)).toBe(unknown_source);
  });

  it('is always short text of an address or unknown (it is part of a Redis key)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const a = sourceAddress(s);
        expect(a === unknown_source || /^[0-9a-f:.]{2,45}$/.test(a)).toBe(true);
      }),
    );
  });

  it('an ISO 8583 peer is its address without the port', () => {
    expect(peerAddress('192.0.2.4:50312')).toBe('192.0.2.4');
    expect(peerAddress('::ffff:192.0.2.4:50312')).toBe('192.0.2.4');
    expect(peerAddress('2001:db8::7:50312')).toBe('2001:db8::7');
    expect(peerAddress('?:?')).toBe(unknown_source);
  });
});
