import { describe, expect, it } from 'vitest';
import { summariseFsyncs } from './fsync-probe.ts';

describe('summariseFsyncs', () => {
  it('reads percentiles and counts stalls of 5 ms or more, whatever the order', () => {
    const latencies = Array.from({ length: 1000 }, (_, i) => (i + 1) / 100).reverse();
    const s = summariseFsyncs(latencies);
    expect(s).toEqual({ fsyncs: 1000, p50_ms: 5.01, p99_ms: 9.91, p999_ms: 10, max_ms: 10, stalls: 501 });
  });

  it('refuses an empty run instead of reporting zeros', () => {
    expect(() => summariseFsyncs([])).toThrow('no fsync measured');
  });
});
