// Reads of the PostgreSQL ledger on the POS path: a refund's or reversal's original older than
// the hot window, what a reversed purchase counted once the ledger recorded it, a repeat's reply
// the ledger holds. A terminal waits for each, so each is answered in time whatever PostgreSQL
// does: refused at once while the gateway's probe finds PostgreSQL down, given up on past
// `ledger_read_timeout_ms` (PostgreSQL slow but up, a lock held: postgres.js has no query timeout),
// and refused at once past `ledger_reads_in_flight_max` reads still waiting (one given up on
// waits in postgres.js until it ends, and counts so long). One bound per process, over all of them.

import { PocketgateError } from '../core/errors.ts';
import { InFlight, within } from './in-flight.ts';
import type { Stores } from './stores.ts';
import type { LedgerRead } from './transactions.ts';

/**
 * How long a POS request waits for a read of the ledger before it is refused: under 2 s, so that
 * a POS call is answered within 2 s whichever store fails, as OPERATIONS.md asks of Redis (at 2 s
 * a refund whose original only the ledger holds took 2.01–2.06 s to its 503 with PostgreSQL
 * frozen: an operations audit, 2026-12-04).
 */
export const ledger_read_timeout_ms = 1_500;

/** Ledger reads of the POS path waiting at once; one more is refused at once. */
export const ledger_reads_in_flight_max = 64;

/**
 * Look-ups of a contact by the email or phone on file (Contacts.resolve) waiting at once: apart
 * from the ledger's reads, so that a burst of CIMs no contact has (each one such read) neither
 * takes their places nor is refused at 64 (a race test: 100 purchases by emails an import was
 * still writing got 503).
 */
export const detail_reads_in_flight_max = 512;

const per_stores = new WeakMap<Pick<Stores, 'postgres_health'>, LedgerRead>();
const detail_per_stores = new WeakMap<Pick<Stores, 'postgres_health'>, LedgerRead>();

/** The POS path's ledger read for these stores: one per stores, so one bound per process. */
export function posLedgerRead(stores: Pick<Stores, 'postgres_health'>): LedgerRead {
  return boundedRead(per_stores, stores, ledger_reads_in_flight_max, 'too many reads of the ledger waiting');
}

/** The POS path's read of a contact's details on file, bounded as posLedgerRead but apart from it. */
export function posDetailRead(stores: Pick<Stores, 'postgres_health'>): LedgerRead {
  return boundedRead(detail_per_stores, stores, detail_reads_in_flight_max, 'too many look-ups of contacts by their details waiting');
}

function boundedRead(reads: WeakMap<Pick<Stores, 'postgres_health'>, LedgerRead>, stores: Pick<Stores, 'postgres_health'>, in_flight_max: number, refusal: string): LedgerRead {
  let read = reads.get(stores);
  if (read === undefined) {
    const in_flight = new InFlight(in_flight_max, () => new PocketgateError('unavailable', refusal));
    read = (work) => {
      if (stores.postgres_health?.up === false) return Promise.reject(new PocketgateError('unavailable', 'the ledger (PostgreSQL) does not answer now'));
      return within(in_flight.run(work), ledger_read_timeout_ms);
    };
    reads.set(stores, read);
  }
  return read;
}
