// Webhooks out, the admin side (spec/EVENTS.md): a business's endpoints, their deliveries, and a
// delivery's retry. Events and deliveries are made by the ledger writer (processor/ledger/
// writer.ts, recordEntries) and sent by the delivery worker (adapters/webhooks/worker.ts).

import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { encryptSecret, secretBoxKey } from '../core/secret-box.ts';
import { newSigningSecret, secret_rotation_grace_ms } from '../core/signature.ts';
import type { DeliveryStatus, WebhookCreateInput, WebhookPatchInput } from '../core/webhooks.ts';
import { iso, type Business } from './network.ts';
import { retired_secrets_max, rotationsSpent } from './processors.ts';
import type { Stores } from './stores.ts';

/** Endpoints a business may have (deleted ones not counted): each one multiplies its deliveries. */
export const endpoints_per_business_max = 16;

/** The channel the ledger writer and a retry notify, and every gateway's delivery worker listens on. */
export const webhooks_channel = 'pocketgate_webhooks';

/** The key signing secrets are encrypted under (core/secret-box.ts). */
export function webhookSecretKey(cim_hmac_key: string): Buffer {
  return secretBoxKey(cim_hmac_key, 'webhook signing secrets');
}

export interface WebhookView {
  readonly id: string;
  readonly url: string;
  readonly events: readonly string[];
  readonly status: 'enabled' | 'disabled';
  readonly description: string | null;
  readonly created_at: string;
}

export interface DeliveryView {
  readonly event_id: string;
  readonly type: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly last_status_code: number | null;
  readonly last_error: string | null;
  readonly next_attempt_at: string | null;
  readonly created_at: string;
}

export interface DeliveryPage {
  readonly object: 'list';
  readonly data: DeliveryView[];
  readonly has_more: boolean;
}

interface EndpointRow {
  id: string;
  url: string;
  events: string[];
  status: 'enabled' | 'disabled';
  description: string | null;
  created_at: Date;
}

function endpointView(r: EndpointRow): WebhookView {
  return { id: r.id, url: r.url, events: r.events, status: r.status, description: r.description, created_at: iso(r.created_at) };
}

interface DeliveryRow extends Omit<DeliveryView, 'next_attempt_at' | 'created_at'> {
  readonly next_attempt_at: Date | null;
  readonly created_at: Date;
}

function deliveryView(r: DeliveryRow): DeliveryView {
  return {
    event_id: r.event_id,
    type: r.type,
    status: r.status,
    attempts: r.attempts,
    last_status_code: r.last_status_code,
    last_error: r.last_error,
    next_attempt_at: r.next_attempt_at === null ? null : iso(r.next_attempt_at),
    created_at: iso(r.created_at),
  };
}

function notFound(id: string): PocketgateError {
  return new PocketgateError('not_found', `webhook ${id} not found`);
}

export class Webhooks {
  private readonly key: Buffer;

  constructor(private readonly stores: Stores) {
    this.key = webhookSecretKey(stores.config.cim_hmac_key);
  }

  /** `input.url` is already checked (adapters/webhooks/address.ts): this stores it. */
  async create(business: Business, input: WebhookCreateInput): Promise<WebhookView & { signing_secret: string }> {
    const id = newId('whk');
    const signing_secret = newSigningSecret();
    const row = await this.stores.sql.begin(async (tx) => {
      // One create at a time per business, so that the count below cannot be outrun.
      await tx`select id from businesses where id = ${business.id} for update`;
      const [{ n } = { n: 0 }] = await tx<{ n: number }[]>`select count(*)::int4 as n from webhook_endpoints where business_id = ${business.id} and status <> 'deleted'`;
      if (n >= endpoints_per_business_max) {
        throw new PocketgateError('validation_failed', `a business has at most ${endpoints_per_business_max} webhooks`, [{ path: '', message: `at most ${endpoints_per_business_max} webhooks; delete one first` }]);
      }
      const [r] = await tx<EndpointRow[]>`
        insert into webhook_endpoints (id, business_id, url, events, description, status, secret)
        values (${id}, ${business.id}, ${input.url}, ${input.events}, ${input.description ?? null}, 'enabled', ${encryptSecret(this.key, signing_secret)})
        returning id, url, events, status, description, created_at`;
      return r!;
    });
    return { ...endpointView(row), signing_secret };
  }

  async list(business: Business): Promise<WebhookView[]> {
    const rows = await this.stores.sql<EndpointRow[]>`
      select id, url, events, status, description, created_at from webhook_endpoints
      where business_id = ${business.id} and status <> 'deleted' order by created_at, id`;
    return rows.map(endpointView);
  }

  async get(business: Business, id: string): Promise<WebhookView> {
    const [row] = await this.stores.sql<EndpointRow[]>`
      select id, url, events, status, description, created_at from webhook_endpoints
      where id = ${id} and business_id = ${business.id} and status <> 'deleted'`;
    if (row === undefined) throw notFound(id);
    return endpointView(row);
  }

  /** `input.url`, when given, is already checked. */
  async patch(business: Business, id: string, input: WebhookPatchInput): Promise<WebhookView> {
    const { sql } = this.stores;
    const [row] = await sql<EndpointRow[]>`
      update webhook_endpoints set
        url = coalesce(${input.url ?? null}, url),
        events = coalesce(${input.events ?? null}::text[], events),
        status = coalesce(${input.status ?? null}, status),
        description = ${input.description === undefined ? sql`description` : input.description},
        updated_at = now()
      where id = ${id} and business_id = ${business.id} and status <> 'deleted'
      returning id, url, events, status, description, created_at`;
    if (row === undefined) throw notFound(id);
    // Re-enabled: its deliveries still pending are due again (the worker claims enabled ones only).
    if (input.status === 'enabled') await sql`select pg_notify(${webhooks_channel}, '')`;
    return endpointView(row);
  }

  /**
   * A new signing secret, returned once. The one it replaces goes on signing beside it (one more
   * v1, EVENTS.md) for 24 hours, as a processor's replaced secret goes on verifying: a receiver
   * that has not yet moved to the new one keeps accepting deliveries, and one whose rotation's
   * answer was lost (its retry rotated again) still has the secret it holds. At most
   * retired_secrets_max at once (429 beyond), as a processor's: each costs every delivery an HMAC.
   */
  async rotate(business: Business, id: string): Promise<{ signing_secret: string }> {
    const signing_secret = newSigningSecret();
    await this.stores.sql.begin(async (tx) => {
      // The endpoint's row locked: two rotations at once retire one secret each, in turn.
      const [row] = await tx`select id from webhook_endpoints where id = ${id} and business_id = ${business.id} and status <> 'deleted' for update`;
      if (row === undefined) throw notFound(id);
      await tx`delete from webhook_secrets where endpoint_id = ${id} and expires_at <= now()`;
      const [counted] = await tx<{ retired: number; free_s: number | null }[]>`
        select count(*)::int as retired, ceil(extract(epoch from min(expires_at) - now()))::int as free_s from webhook_secrets where endpoint_id = ${id}`;
      if (counted!.retired >= retired_secrets_max) throw rotationsSpent(counted!.free_s);
      await tx`insert into webhook_secrets (endpoint_id, secret, expires_at)
        select id, secret, now() + ${secret_rotation_grace_ms} * interval '1 millisecond' from webhook_endpoints where id = ${id}`;
      await tx`update webhook_endpoints set secret = ${encryptSecret(this.key, signing_secret)}, updated_at = now() where id = ${id}`;
    });
    return { signing_secret };
  }

  /** Kept as 'deleted' (its deliveries' history stays); its pending deliveries are never sent. */
  async remove(business: Business, id: string): Promise<void> {
    const rows = await this.stores.sql`
      update webhook_endpoints set status = 'deleted', updated_at = now()
      where id = ${id} and business_id = ${business.id} and status <> 'deleted' returning id`;
    if (rows.length === 0) throw notFound(id);
  }

  /** Newest first; `starting_after` is the last event id of the page before. */
  async deliveries(business: Business, id: string, q: { status?: DeliveryStatus | undefined; limit: number; starting_after?: string | undefined }): Promise<DeliveryPage> {
    const { sql } = this.stores;
    await this.get(business, id);
    let after: bigint | undefined;
    if (q.starting_after !== undefined) {
      const [cursor] = await sql<{ seq: string }[]>`select seq::text from webhook_deliveries where endpoint_id = ${id} and event_id = ${q.starting_after}`;
      if (cursor === undefined) {
        throw new PocketgateError('validation_failed', `starting_after: no delivery of event ${q.starting_after} to this webhook`, [{ path: 'starting_after', message: 'must be an event_id of this webhook\'s deliveries' }]);
      }
      after = BigInt(cursor.seq);
    }
    const rows = await sql<DeliveryRow[]>`
      select d.event_id, e.type, d.status, d.attempts, d.last_status_code, d.last_error, d.next_attempt_at, d.created_at
      from webhook_deliveries d join webhook_events e on e.id = d.event_id
      where d.endpoint_id = ${id}
        ${q.status === undefined ? sql`` : sql`and d.status = ${q.status}`}
        ${after === undefined ? sql`` : sql`and d.seq < ${after.toString()}::int8`}
      order by d.seq desc
      limit ${q.limit + 1}`;
    return { object: 'list', data: rows.slice(0, q.limit).map(deliveryView), has_more: rows.length > q.limit };
  }

  /**
   * One more attempt now, whatever the delivery's status: its attempts go on counting, and its
   * limit rises to let that one be made, past 8 if need be (a claim fails a delivery due again at
   * its limit, taking it for an attempt that never finished: processor/webhook-outbox.ts). Of a
   * succeeded or failed delivery that one attempt is all (manual_retry, migration 022): failed,
   * the delivery is failed; a pending one keeps its schedule, its next attempt brought forward.
   */
  async retry(business: Business, id: string, event_id: string): Promise<DeliveryView> {
    const { sql } = this.stores;
    await this.get(business, id);
    const [row] = await sql<DeliveryRow[]>`
      with d as (
        update webhook_deliveries set status = 'pending', next_attempt_at = now(), attempts_max = greatest(attempts_max, attempts + 1), manual_retry = status <> 'pending'
        where endpoint_id = ${id} and event_id = ${event_id}
        returning event_id, status, attempts, last_status_code, last_error, next_attempt_at, created_at
      )
      select d.*, e.type from d join webhook_events e on e.id = d.event_id`;
    if (row === undefined) throw new PocketgateError('not_found', `no delivery of event ${event_id} to webhook ${id}`);
    await sql`select pg_notify(${webhooks_channel}, '')`;
    return deliveryView(row);
  }
}
