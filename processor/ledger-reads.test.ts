import { describe, expect, it } from 'vitest';
import { PocketgateError } from '../core/errors.ts';
import { ledger_reads_in_flight_max, posLedgerRead } from './ledger-reads.ts';

const never = () => new Promise<never>(() => {});

describe('posLedgerRead', () => {
  it('refuses at once, unavailable, while the probe finds PostgreSQL down, without reading', async () => {
    const health = { up: false };
    const read = posLedgerRead({ postgres_health: health });
    let reads = 0;
    const work = () => (reads++, Promise.resolve('row'));
    await expect(read(work)).rejects.toMatchObject({ code: 'unavailable' });
    expect(reads).toBe(0);
    health.up = true;
    await expect(read(work)).resolves.toBe('row');
    expect(reads).toBe(1);
  });

  it('is one bound per stores: past the reads in flight, the next is refused at once', async () => {
    const stores = {};
    for (let i = 0; i < ledger_reads_in_flight_max; i++) void posLedgerRead(stores)(never).catch(() => {});
    const refused = await posLedgerRead(stores)(() => Promise.resolve('row')).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(PocketgateError);
    expect(refused).toMatchObject({ code: 'unavailable' });
    // Other stores (another process's, a test's) have a bound of their own.
    await expect(posLedgerRead({})(() => Promise.resolve('row'))).resolves.toBe('row');
  });
});
