// Webhooks out, the store side of the delivery worker: claiming due deliveries (safe with any
// number of gateways: FOR UPDATE SKIP LOCKED, and a lease), building each event's payload from
// what the ledger recorded, and recording how each attempt went.

import { decryptSecret } from '../core/secret-box.ts';
import { delivery_attempts_max, retryDelayMs } from '../core/webhooks.ts';
import { iso } from './network.ts';
import type { Sql } from './stores.ts';
import { recordedViews, type TransactionView } from './transactions.ts';

/** A delivery claimed for one attempt. */
export interface ClaimedDelivery {
  readonly seq: string;
  readonly endpoint_id: string;
  readonly url: string;
  /** The signing secret, or undefined when it cannot be decrypted (CIM_HMAC_KEY changed). */
  readonly secret: string | undefined;
  /** The secrets rotations replaced that still sign beside `secret` (webhooks.ts rotate), newest first; those that cannot be decrypted left out. */
  readonly previous_secrets: readonly string[];
  readonly event_id: string;
  /** This attempt's number (1 is the first). */
  readonly attempt: number;
  /** The one more attempt a retry of a succeeded or failed delivery asked for: failed, it is the last. */
  readonly manual: boolean;
  /** The event as sent: JSON text, or undefined when its transaction cannot be read (never expected). */
  readonly body: string | undefined;
  /** When it fell due (ms since the epoch): claimed up to ClaimOptions.lead_ms before, it is sent then, not before. */
  readonly due_ms: number;
}

export interface ClaimOptions {
  /** Deliveries per endpoint this claim may take, by endpoint; endpoints not named take `per_endpoint`. */
  readonly free: Readonly<Record<string, number>>;
  readonly per_endpoint: number;
  readonly total: number;
  /** How long a claimed attempt is this worker's: past it, another worker may take it again. */
  readonly lease_ms: number;
  /**
   * Deliveries falling due within this many ms are claimed too (the worker holds each until it is
   * due); not one whose last attempt's lease ends within it: it is failed only once that has.
   */
  readonly lead_ms?: number;
}

/** What a claim round took: deliveries to attempt now, and those it gave up instead. */
export interface Claim {
  readonly deliveries: ClaimedDelivery[];
  /** Deliveries failed by this claim: their last allowed attempt's lease ran out, unrecorded. */
  readonly given_up: number;
}

interface ClaimedRow {
  seq: string;
  given_up: boolean;
  endpoint_id: string;
  url: string;
  secret: string;
  previous_secrets: string[];
  event_id: string;
  attempts: number;
  manual_retry: boolean;
  type: string;
  business_id: string;
  transaction_id: string;
  n: number | null;
  event_created_at: Date;
  due_at: Date;
}

/** last_error of a delivery given up when its last attempt's lease ran out (after "attempt <n>"). */
const lease_ran_out = ' did not finish: no outcome was recorded before its lease ran out (its gateway stopped, crashed or hung mid-attempt)';

/**
 * Claim due deliveries of enabled endpoints, at most `free[endpoint]` of each (so that no claimed
 * delivery waits in memory behind a slow endpoint's attempts past its lease) and `total` in all.
 * Every endpoint gets its share of a round: a backlog on one does not hold the others back. The
 * claim counts the attempt at once: an attempt whose worker dies or hangs past the lease is a
 * failed attempt. A delivery due again with its last allowed attempt so counted (attempts =
 * attempts_max, migration 014) is therefore not attempted again but failed, in the same statement.
 */
export async function claimDeliveries(sql: Sql, key: Buffer, o: ClaimOptions): Promise<Claim> {
  if (o.total <= 0) return { deliveries: [], given_up: 0 };
  // The updates find their rows by primary key (= any(array(...))): a join against the claimed set
  // is planned, once generic, as a scan of the whole table, history included.
  const rows = await sql<ClaimedRow[]>`
    with due as (
      select c.seq, c.spent, c.due_at from webhook_endpoints e
      cross join lateral (
        select seq, attempts >= attempts_max as spent, next_attempt_at as due_at from webhook_deliveries due
        where due.endpoint_id = e.id and due.status = 'pending' and due.next_attempt_at <= now() + ${o.lead_ms ?? 0} * interval '1 millisecond'
          and (due.attempts < due.attempts_max or due.next_attempt_at <= now())
        order by due.next_attempt_at
        limit coalesce((${JSON.stringify(o.free)}::text::jsonb ->> e.id)::int4, ${o.per_endpoint})
        for update skip locked
      ) c
      where e.status = 'enabled'
      limit ${o.total}
    ),
    claimed as (
      update webhook_deliveries d set attempts = d.attempts + 1, next_attempt_at = now() + ${o.lease_ms} * interval '1 millisecond'
      where d.seq = any(array(select seq from due where not spent))
      returning d.seq, d.endpoint_id, d.event_id, d.attempts, d.manual_retry, false as given_up
    ),
    given_up as (
      update webhook_deliveries d set status = 'failed', next_attempt_at = null, manual_retry = false, last_status_code = null, last_error = 'attempt ' || d.attempts || ${lease_ran_out}
      where d.seq = any(array(select seq from due where spent))
      returning d.seq, d.endpoint_id, d.event_id, d.attempts, d.manual_retry, true as given_up
    )
    select c.seq::text, c.given_up, c.endpoint_id, e.url, e.secret,
      array(select ws.secret from webhook_secrets ws where ws.endpoint_id = e.id and ws.expires_at > now() order by ws.expires_at desc) as previous_secrets, c.event_id, c.attempts, c.manual_retry, ev.type, ev.business_id, ev.transaction_id, ev.n,
      ev.created_at as event_created_at, due.due_at
    from (select * from claimed union all select * from given_up) c
    join due on due.seq = c.seq join webhook_endpoints e on e.id = c.endpoint_id join webhook_events ev on ev.id = c.event_id`;
  const claimed = rows.filter((r) => !r.given_up);
  return { deliveries: await claimedDeliveries(sql, key, claimed), given_up: rows.length - claimed.length };
}

/** The claimed rows as attempts to make: each event's payload read from the ledger, the secret decrypted. */
async function claimedDeliveries(sql: Sql, key: Buffer, rows: readonly ClaimedRow[]): Promise<ClaimedDelivery[]> {
  if (rows.length === 0) return [];
  let views: Map<string, TransactionView>;
  try {
    views = await recordedViews(sql, [...new Set(rows.map((r) => r.transaction_id))]);
  } catch (err) {
    // Claimed but not to be attempted: due again at once rather than when the lease ends.
    await releaseAttempts(sql, rows.map((r) => ({ seq: r.seq, attempt: r.attempts, ok: false, status_code: null, error: null }))).catch(() => {});
    throw err;
  }
  return rows.map((r) => {
    const view = views.get(r.transaction_id);
    return {
      seq: r.seq,
      endpoint_id: r.endpoint_id,
      url: r.url,
      secret: decryptSecret(key, r.secret),
      previous_secrets: r.previous_secrets.map((s) => decryptSecret(key, s)).filter((s) => s !== undefined),
      event_id: r.event_id,
      attempt: r.attempts,
      manual: r.manual_retry,
      body: view === undefined ? undefined : JSON.stringify(eventPayload(r, view)),
      due_ms: r.due_at.getTime(),
    };
  });
}

/** The event as spec/EVENTS.md shows it: `data` read from the ledger, so the same on every attempt. */
function eventPayload(r: ClaimedRow, view: TransactionView): object {
  let data: object;
  if (r.type === 'award.created') {
    const award = (view.awards[r.n ?? 0] ?? {}) as object;
    data = { ...award, contact_id: view.contact_id, transaction_id: view.id };
  } else if (r.type === 'award.expired') {
    data = { contact_id: view.contact_id, transaction_id: view.id, amount: view.amount, currency: view.currency };
  } else {
    data = view;
  }
  return { id: r.event_id, type: r.type, created_at: iso(r.event_created_at), business_id: r.business_id, data };
}

/** How one attempt went. */
export interface AttemptResult {
  readonly seq: string;
  /** The attempt's number, as claimed: a result for an attempt since superseded is not recorded. */
  readonly attempt: number;
  readonly ok: boolean;
  readonly status_code: number | null;
  readonly error: string | null;
  /** ClaimedDelivery.manual: failed, this attempt is the last. */
  readonly manual?: boolean;
  /** When it was answered (ms since the epoch): the next attempt waits its backoff from then. */
  readonly ended_ms?: number;
}

export type AttemptOutcome = 'succeeded' | 'retrying' | 'failed';

/** What becomes of a delivery after an attempt: done, due again after the backoff, or given up. */
export function outcomeOf(r: AttemptResult): AttemptOutcome {
  if (r.ok) return 'succeeded';
  return r.attempt >= delivery_attempts_max || r.manual === true ? 'failed' : 'retrying';
}

/**
 * Record a batch of attempts' results in one statement; `random` draws the jitter. Returns when
 * the retries it scheduled fall due (ms): the worker claims each then, not at its next poll.
 */
export async function recordAttempts(sql: Sql, results: readonly AttemptResult[], retry_base_ms: number, random: () => number = Math.random): Promise<number[]> {
  if (results.length === 0) return [];
  const now = Date.now();
  const rows = results.map((r) => {
    const outcome = outcomeOf(r);
    return {
      seq: r.seq,
      attempt: r.attempt,
      status: outcome === 'retrying' ? 'pending' : outcome,
      // Attempt k+1 waits base × 4^(k−1) after attempt k failed: from its answer, not from this
      // statement, which may come a batch later (with a 200 ms base, attempt 2 came some 50 ms
      // late beside other retries: a webhooks probe, 2026-12-06).
      next: outcome === 'retrying' ? new Date(Math.min(now, r.ended_ms ?? now) + retryDelayMs(retry_base_ms, r.attempt + 1, random())).toISOString() : null,
      code: r.status_code,
      error: r.error,
    };
  });
  // Guarded by the attempt number: if the lease ran out and another worker claimed the delivery
  // again, its attempt is the one that counts.
  await sql`
    update webhook_deliveries d set status = r.status, next_attempt_at = r.next, last_status_code = r.code, last_error = r.error, manual_retry = false
    from json_to_recordset(${JSON.stringify(rows)}::text::json) as r(seq int8, attempt int4, status text, next timestamptz, code int4, error text)
    where d.seq = r.seq and d.attempts = r.attempt and d.status = 'pending'`;
  return rows.flatMap((r) => (r.next === null ? [] : [Date.parse(r.next)]));
}

/**
 * Attempts cut short by the worker's own stop: not counted (the receiver's answer was not waited
 * for), and due again at once, for whichever gateway is still running.
 */
export async function releaseAttempts(sql: Sql, released: readonly AttemptResult[]): Promise<void> {
  if (released.length === 0) return;
  const rows = released.map((r) => ({ seq: r.seq, attempt: r.attempt }));
  await sql`
    update webhook_deliveries d set attempts = d.attempts - 1, next_attempt_at = now()
    from json_to_recordset(${JSON.stringify(rows)}::text::json) as r(seq int8, attempt int4)
    where d.seq = r.seq and d.attempts = r.attempt and d.status = 'pending'`;
}

/** Whether the endpoint is enabled now (not disabled, not deleted): its deliveries may be sent. */
export async function endpointEnabled(sql: Sql, endpoint_id: string): Promise<boolean> {
  const rows = await sql`select 1 from webhook_endpoints where id = ${endpoint_id} and status = 'enabled'`;
  return rows.length > 0;
}

/** Deliveries not yet succeeded or given up, of endpoints not deleted, counted up to `max`. */
export async function deliveryBacklog(sql: Sql, max = 100_000): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int4 as n from (
      select 1 from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id
      where d.status = 'pending' and e.status <> 'deleted' limit ${max}
    ) x`;
  return row?.n ?? 0;
}
