// The business network read back as lists (GET /v1/merchants, /v1/venues, /v1/terminals), and
// each by its id (GET /v1/merchants/{id}, …, as Stripe reads back every object it made): from
// PostgreSQL, a page at a time, oldest first as every other list of ours but the deliveries (ids
// are random: id order, as these lists had until 2026-12-06, read as no order at all to a
// black-box probe; starting_after never skips or repeats one), never a key. A starting_after that names none of the
// business's is 400, as Stripe answers one naming no object (and as a webhook's deliveries do): a
// page after a typo would be a page of something else, and another business's id answers as any
// unknown one.

import { PocketgateError } from '../core/errors.ts';
import type { ListQuery, Page } from '../core/schemas.ts';
import type { Business } from './network.ts';
import { iso } from './network.ts';
import type { Sql } from './stores.ts';

type Row = Record<string, unknown> & { id: string; created_at: Date };

const columns = {
  merchants: 'id, name, code, contribution_fee_bp, settle_on, created_at',
  venues: 'id, name, merchant_id, timezone, created_at',
  terminals: 'id, code, venue_id, merchant_id, created_at',
} as const;

export type NetworkList = keyof typeof columns;

/** A row as the API shows it: the fee as a percent, times in RFC 3339. */
function shown(row: Row): Record<string, unknown> {
  const { contribution_fee_bp, created_at, ...rest } = row;
  return {
    ...rest,
    ...(contribution_fee_bp === undefined ? {} : { contribution_fee_percent: Number(contribution_fee_bp) / 100 }),
    created_at: iso(created_at),
  };
}

/** One of the business's merchants, venues or terminals, as its list shows it; another business's: 404, as one that does not exist. */
export async function readNetwork(sql: Sql, business: Business, list: NetworkList, id: string): Promise<Record<string, unknown>> {
  const [row] = await sql<Row[]>`select ${sql.unsafe(columns[list])} from ${sql(list)} where id = ${id} and business_id = ${business.id}`;
  if (row === undefined) throw new PocketgateError('not_found', `${list.slice(0, -1)} ${id} not found`);
  return shown(row);
}

export async function listNetwork(sql: Sql, business: Business, list: NetworkList, page: ListQuery): Promise<Page<Record<string, unknown>>> {
  if (page.starting_after !== undefined) {
    const [found] = await sql`select 1 from ${sql(list)} where id = ${page.starting_after} and business_id = ${business.id}`;
    if (found === undefined) throw new PocketgateError('validation_failed', `starting_after: no ${list.slice(0, -1)} ${page.starting_after} in this business`, [{ path: 'starting_after', message: `must be the id of one of the business's ${list}` }]);
  }
  // The table and columns are ours (the keys of `columns`), never the caller's. The cursor's time
  // compared in PostgreSQL: microseconds, which a JavaScript Date would cut to milliseconds.
  const after = page.starting_after === undefined ? sql`` : sql`and (created_at, id) > (select created_at, id from ${sql(list)} where id = ${page.starting_after})`;
  const rows = await sql<Row[]>`
    select ${sql.unsafe(columns[list])} from ${sql(list)}
    where business_id = ${business.id} ${after}
    order by created_at, id limit ${page.limit + 1}`;
  return { object: 'list', data: rows.slice(0, page.limit).map(shown), has_more: rows.length > page.limit };
}
