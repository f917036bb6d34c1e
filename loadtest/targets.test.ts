import { describe, expect, it } from 'vitest';
import { formatTargets, judgeTargets, limits, tally, type Figures } from './targets.ts';

const all: Figures = {
  empty_rps: 20_000,
  purchase_rps: 6_000,
  spend_rps: 5_999,
  redemption_rps: 7_000,
  iso_rps: 1_000,
  ledger_behind: { max_s: 2, samples: 240, interval_ms: 250, run: 'purchase long, 60 s' },
  ledger_catchup: { seconds: 0.4, entries_at_stop: 70, lost: 0, doubled: 0, iso_missing: 0, after: 'the 60 s run' },
  cpu_per_purchase_us: { gateway: 120, redis: 80, postgres: 60, runs: 2 },
  half_own_max: { rate: 3_000, achieved_rps: 3_000, p99_ms: 9.5, empty_p99_ms: 3 },
  sync: { async_rps: 6_000, sync_rps: 2_000, async_p99_ms: 20, sync_p99_ms: 20 },
  redis_bytes_per_contact: { bytes: 290, contacts: 100_000 },
  redis_bytes_per_transaction: { bytes: 121, purchases: 1_000_000, delta_bytes: 121_000_000, rps: 1_200, elapsed_s: 833 },
};

const byId = (f: Figures, not_measured?: string) => Object.fromEntries(judgeTargets(f, not_measured).map((r) => [r.id, r]));

describe('judgeTargets', () => {
  it('has every target of the issue, in order', () => {
    expect(judgeTargets(all).map((r) => r.id)).toEqual([
      '1 purchase', '1 ledger behind', '1 ledger catch-up', '1 spend', '1 redemption', '1 ISO 0200', '2 CPU', '3 p99', '4 sync', '5 per contact', '5 per transaction',
    ]);
  });

  it('judges each figure against its limit, the limit itself included', () => {
    const r = byId(all);
    expect(r['1 purchase']).toMatchObject({ met: true, result: 'met', figure: '0.30 (6,000 / 20,000 req/s)', limit: '≥ 0.30' });
    expect(r['1 spend']).toMatchObject({ met: false, result: 'not met' }); // 0.29995
    expect(r['1 redemption']!.met).toBe(true);
    expect(r['1 ISO 0200']).toMatchObject({ met: false, figure: '0.05 (1,000 / 20,000 req/s)' });
    expect(r['1 ledger behind']).toMatchObject({ met: true, limit: '≤ 2 s' }); // exactly 2 s
    expect(r['1 ledger catch-up']!.met).toBe(true);
    expect(r['2 CPU']).toMatchObject({ met: false, figure: expect.stringContaining('260 µs (gateway 120 + Redis 80 + PostgreSQL 60') });
    expect(r['3 p99']).toMatchObject({ met: true, figure: expect.stringContaining('empty route at that rate: 3 ms') });
    const with_floor = byId({ ...all, floor: { rps: 6_200, cpu_us: 480, p99_ms_at_half_own_max: 23 } });
    expect(with_floor['1 purchase']!.figure).toBe('0.30 (6,000 / 20,000 req/s); the floor of the shape in this run: 0.31');
    expect(with_floor['1 ISO 0200']!.figure).toBe('0.05 (1,000 / 20,000 req/s); the floor of the shape in this run: 0.31');
    expect(with_floor['2 CPU']!.figure).toContain("; the floor of the shape in this run, paced at the purchase's max rate: 480 µs");
    expect(with_floor['3 p99']!.figure).toBe('9.5 ms (achieved 3,000 req/s); empty route at that rate: 3 ms; the floor of the shape: 23 ms');
    expect(byId({ ...all, floor: { rps: 6_200, cpu_us: null, p99_ms_at_half_own_max: null } })['3 p99']!.figure).not.toContain('floor');
    const with_tail = byId({ ...all, half_own_max: { ...all.half_own_max!, p99_ms: 104, tail: 'Redis fsync ≥ 5 ms in 9 of 10 s (longest 96 ms)' } });
    expect(with_tail['3 p99']).toMatchObject({ met: false, figure: '104 ms (achieved 3,000 req/s); empty route at that rate: 3 ms; in that run: Redis fsync ≥ 5 ms in 9 of 10 s (longest 96 ms)' });
    // Equal p99s: async's is not lower.
    expect(r['4 sync']).toMatchObject({ met: false, figure: expect.stringMatching(/^×3\.00 /) });
    expect(r['5 per contact']!.met).toBe(true);
    expect(r['5 per transaction']).toMatchObject({ met: false, limit: `≤ ${limits.redis_bytes_per_transaction} bytes` });
  });

  it('says what the warm-up before the memory purchases left per contact', () => {
    const warm = { ...all, redis_bytes_per_transaction: { ...all.redis_bytes_per_transaction!, bytes: 104, warmup: { contacts: 100_000, bytes_per_contact: 231 } } };
    expect(byId(warm)['5 per transaction']).toMatchObject({ met: true, figure: expect.stringContaining('after a purchase by each of the 100,000 contacts, which left 231 bytes per contact') });
    expect(byId(all)['5 per transaction']!.figure).not.toContain('after a purchase');
  });

  it('fails the catch-up on anything lost or doubled, however fast', () => {
    expect(byId({ ...all, ledger_catchup: { ...all.ledger_catchup!, lost: 1 } })['1 ledger catch-up']!.met).toBe(false);
    expect(byId({ ...all, ledger_catchup: { ...all.ledger_catchup!, doubled: 1 } })['1 ledger catch-up']!.met).toBe(false);
    expect(byId({ ...all, ledger_catchup: { ...all.ledger_catchup!, iso_missing: 2 } })['1 ledger catch-up']!.met).toBe(false);
    expect(byId({ ...all, ledger_catchup: { ...all.ledger_catchup!, seconds: 1.01 } })['1 ledger catch-up']!.met).toBe(false);
  });

  it('says "not measured" for what the run left out, never met', () => {
    const r = byId({ empty_rps: 20_000, purchase_rps: 7_000 }, 'not measured (npm run loadtest)');
    expect(r['1 purchase']!.met).toBe(true);
    for (const id of ['1 redemption', '2 CPU', '3 p99', '4 sync', '5 per transaction']) expect(r[id]).toMatchObject({ met: null, result: 'not measured', figure: 'not measured (npm run loadtest)' });
    // A ratio needs the empty route beside it.
    expect(byId({ purchase_rps: 7_000 })['1 purchase']!.result).toBe('not measured');
    // PostgreSQL elsewhere: its CPU cannot be read, so the sum is not judged.
    expect(byId({ cpu_per_purchase_us: { gateway: 100, redis: 50, postgres: null, runs: 1 } })['2 CPU']).toMatchObject({ met: null, figure: expect.stringContaining('gateway 100 + Redis 50') });
  });
});

describe('formatTargets', () => {
  it('is a Markdown table: a row per target with figure, limit and result', () => {
    const rows = judgeTargets({ ...all, iso_rps: undefined });
    const lines = formatTargets(rows).split('\n');
    expect(lines).toHaveLength(rows.length + 2);
    expect(lines[0]).toMatch(/^\| # +\| target +\| figure +\| limit +\| result +\|$/);
    expect(lines[1]).toMatch(/^\|-+\|-+\|-+\|-+\|-+\|$/);
    expect(lines.find((l) => l.startsWith('| 1 purchase '))).toMatch(/\| ≥ 0\.30 +\| met +\|$/);
    expect(lines.find((l) => l.startsWith('| 1 ISO 0200 '))).toMatch(/\| not measured +\|$/);
    // Columns line up.
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(tally(rows)).toEqual({ met: 6, 'not met': 4, 'not measured': 1 });
  });
});
