import { describe, expect, it } from 'vitest';
import { formatGc, parsePauses, pausesBetween } from './gateway-pauses.ts';

const metrics = (minor_count: number, minor_sum: number, p99: number) => `# HELP nodejs_eventloop_lag_p99_seconds The 99th percentile of the recorded event loop delays.
# TYPE nodejs_eventloop_lag_p99_seconds gauge
nodejs_eventloop_lag_p99_seconds ${p99}
nodejs_eventloop_lag_max_seconds 0.0286
nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} 0
nodejs_gc_duration_seconds_sum{kind="minor"} ${minor_sum}
nodejs_gc_duration_seconds_count{kind="minor"} ${minor_count}
nodejs_gc_duration_seconds_sum{kind="major"} 0.014
nodejs_gc_duration_seconds_count{kind="major"} 1
`;

describe('gateway pauses', () => {
  it('reads the event loop beyond its monitor’s 10 ms interval, and the GC pauses of the run by kind', () => {
    const before = parsePauses(metrics(14, 0.16, 0.0101));
    const after = parsePauses(metrics(54, 0.49, 0.0163));
    const p = pausesBetween(before, after);
    expect(p.loop_delay_p99_ms).toBeCloseTo(6.3, 5);
    expect(p.loop_delay_max_ms).toBeCloseTo(18.6, 5);
    expect(p.gc).toEqual({ minor: { count: 40, total_ms: 330 } }); // major: none during the run
    expect(formatGc(p.gc)).toBe('minor 40 × 8.3 ms');
    expect(formatGc({})).toBe('none');
  });
});
