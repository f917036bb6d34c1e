// The fault suite's load: terminals over `connections` workers at a moderate, fixed rate, mixing
// purchases (some paid in part by wallet code), wallet-code spends, redemptions and refunds. A
// request that gets no answer (network error, timeout) or a 503 is sent again, byte for byte
// under the same reference, until it gets one or the load's retry deadline passes: what a POS
// does, and what lets the checks hold the gateway to "told once, recorded once".

import { sleep } from './exec.ts';
import type { Seeded, SeededContact } from './seed.ts';

export type Kind = 'purchase' | 'purchase_pay' | 'spend' | 'redemption' | 'refund';

/** One HTTP attempt: its start (ms since epoch), how long it took, and what came of it. */
export interface Attempt {
  readonly at: number;
  readonly ms: number;
  /** The HTTP status, or no answer at all. */
  readonly outcome: number | 'network' | 'timeout';
  /** The problem's `code` of an answer other than a 2xx. */
  readonly code?: string;
}

export interface RequestRecord {
  readonly kind: Kind;
  readonly terminal_id: string;
  readonly reference: string;
  readonly path: string;
  readonly key: string;
  readonly body: string;
  attempts: number;
  /** The answer the client settled on: a 2xx or 4xx, or a 5xx other than 503. Undefined: never answered. */
  status?: number;
  /** The transaction id of a 2xx answer. */
  id?: string;
  /** A refunder's purchase: a refund may name it later. */
  readonly refundable: boolean;
}

export interface LoadOptions {
  readonly base_url: string;
  readonly seeded: Seeded;
  /** Reference prefix: unique per scenario and run. */
  readonly prefix: string;
  readonly connections: number;
  /** Requests per second over all workers (first attempts; retries come on top). */
  readonly rate: number;
  /** An attempt without an answer after this is abandoned and retried. */
  readonly timeout_ms: number;
}

const attempts_kept_max = 500_000;
/** Requests issued at most per scenario (hours at the default rate): the checks read them all. */
const requests_max = 500_000;
const retry_pause_ms = 200;

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

function between(low: number, high: number): number {
  return low + Math.floor(Math.random() * (high - low + 1));
}

/** A purchase of a refunder that a refund may name: its terminal's, once. */
interface Refundable {
  readonly reference: string;
  readonly amount: number;
}

export class Load {
  readonly requests: RequestRecord[] = [];
  readonly attempts: Attempt[] = [];
  private issuing = true;
  private retry_deadline = Number.POSITIVE_INFINITY;
  private workers: Promise<void>[] = [];
  private seq = 0;

  constructor(private readonly options: LoadOptions) {}

  start(): void {
    for (let w = 0; w < this.options.connections; w++) this.workers.push(this.worker(w));
  }

  /**
   * No new requests; those without an answer go on being retried until `retry_ms` from now.
   * Resolves once every worker is done (unanswered requests stay without a status).
   */
  async stop(retry_ms: number): Promise<void> {
    this.issuing = false;
    this.retry_deadline = Date.now() + retry_ms;
    await Promise.all(this.workers);
  }

  private async worker(w: number): Promise<void> {
    const { seeded, connections, rate } = this.options;
    const terminal = seeded.terminals[w % seeded.terminals.length]!;
    const refundable: Refundable[] = [];
    const interval_ms = (1_000 * connections) / rate;
    // Workers start spread over one interval, so the rate is even from the first second.
    await sleep(Math.random() * interval_ms);
    while (this.issuing && this.requests.length < requests_max) {
      const started = Date.now();
      const request = this.next(terminal, refundable);
      await this.send(request);
      if (request.refundable && request.status === 201) {
        refundable.push({ reference: request.reference, amount: (JSON.parse(request.body) as { amount: number }).amount });
      }
      await sleep(Math.max(0, interval_ms * (0.5 + Math.random()) - (Date.now() - started)));
    }
  }

  /** The next request of a worker on `terminal`: its kind by the mix, its contact at random. */
  private next(terminal: { id: string; key: string }, refundable: Refundable[]): RequestRecord {
    const { seeded, prefix } = this.options;
    const reference = `${prefix}-${(this.seq++).toString(36)}`;
    const make = (kind: Kind, path: string, body: Record<string, unknown>, refundable = false): RequestRecord => {
      const record: RequestRecord = { kind, terminal_id: terminal.id, reference, path, key: terminal.key, body: JSON.stringify({ reference, ...body }), attempts: 0, refundable };
      this.requests.push(record);
      return record;
    };
    const roll = Math.random();
    const spender: SeededContact = pick(seeded.spenders);
    if (roll < 0.25) {
      const refunder = pick(seeded.refunders);
      return make('purchase', '/v1/purchases', { cim: { type: 'card', value: refunder.card }, amount: between(500, 5_000), currency: 'EUR' }, true);
    }
    if (roll < 0.45) return make('purchase', '/v1/purchases', { cim: { type: 'card', value: spender.card }, amount: between(500, 5_000), currency: 'EUR' });
    if (roll < 0.55) {
      return make('purchase_pay', '/v1/purchases', { cim: { type: 'card', value: spender.card }, amount: between(1_000, 5_000), currency: 'EUR', pay: { amount: between(50, 300), wallet_code: spender.wallet_code } });
    }
    if (roll < 0.7) return make('spend', '/v1/spends', { amount: between(20, 300), currency: 'EUR', wallet_code: spender.wallet_code });
    if (roll < 0.82) return make('redemption', '/v1/redemptions', { cim: { type: 'card', value: spender.card } });
    const original = refundable.shift();
    if (original === undefined) return make('redemption', '/v1/redemptions', { cim: { type: 'card', value: spender.card } });
    return make('refund', '/v1/refunds', { original_reference: original.reference, amount: Math.max(1, Math.floor(original.amount / 4)) });
  }

  /** Attempts until an answer the client keeps, or the retry deadline. */
  private async send(request: RequestRecord): Promise<void> {
    for (;;) {
      const attempt = await this.attempt(request);
      const retry = attempt.outcome === 'network' || attempt.outcome === 'timeout' || attempt.outcome === 503;
      if (!retry) return;
      if (Date.now() >= this.retry_deadline) return;
      await sleep(retry_pause_ms);
    }
  }

  private async attempt(request: RequestRecord): Promise<Attempt> {
    request.attempts++;
    const at = Date.now();
    let attempt: Attempt;
    try {
      const res = await fetch(this.options.base_url + request.path, {
        method: 'POST',
        headers: { authorization: `Bearer ${request.key}`, 'content-type': 'application/json' },
        body: request.body,
        signal: AbortSignal.timeout(this.options.timeout_ms),
      });
      const text = await res.text();
      const ms = Date.now() - at;
      const parsed = parseJson(text);
      attempt = res.status >= 300 ? { at, ms, outcome: res.status, code: String(parsed?.code ?? '') } : { at, ms, outcome: res.status };
      if (res.status !== 503) {
        request.status = res.status;
        if (res.status >= 200 && res.status < 300) request.id = String(parsed?.id ?? '');
      }
    } catch (err) {
      const name = (err as { name?: string }).name;
      attempt = { at, ms: Date.now() - at, outcome: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network' };
    }
    if (this.attempts.length < attempts_kept_max) this.attempts.push(attempt);
    return attempt;
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
