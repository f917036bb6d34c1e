// The webhook delivery worker: a loop of its own in each gateway process (never on the POS path,
// never in the ledger writer) that claims due deliveries from PostgreSQL, sends each with the
// endpoint's own concurrency (a p-queue per endpoint), and records how each attempt went.
//
// Bounds: at most `per_endpoint` attempts of one endpoint in flight in this process, as many again
// claimed and waiting for a slot where its attempts are answered within a second (so that a claim
// round feeds a busy endpoint for a while; a hanging one gets its slots alone), and
// `in_flight_max` claimed in all. A claimed delivery waits at most one attempt's deadline (10 s)
// for its slot, well within its lease (30 s); a receiver that hangs holds its own endpoint's
// slots only. An endpoint that fails fast (refused, a 500 at once) would instead take an equal
// share of every claim round, and of PostgreSQL's and this process's work, from the endpoints
// that answer: once its last `failures_before_probing` attempts have all failed, and while another
// endpoint has a backlog (took its whole share in the last round), it gets one delivery claimed
// at a time (a probe), its other due deliveries left due and uncounted, until one succeeds. With
// no backlog elsewhere its deliveries go out on their schedule, the failing endpoints together at
// most failing_attempts_per_second_max attempts a second (what a process's CPU spends on them is
// bounded: the POS path shares it).
// Nothing else waits in memory: the backlog stays in PostgreSQL. Several gateways share the work: claims skip rows another
// holds (FOR UPDATE SKIP LOCKED) and each attempt is leased; a gateway that dies mid-attempt
// leaves its deliveries due again when their lease ends, that attempt counted as failed (the 8th:
// the delivery is failed). The ledger writer's NOTIFY wakes the
// loop as soon as deliveries are committed; a poll covers retries falling due and lost notices.

import { setMaxListeners } from 'node:events';
import PQueue from 'p-queue';
import { signatureHeader } from '../../core/signature.ts';
import type { Sql } from '../../processor/stores.ts';
import { claimDeliveries, endpointEnabled, outcomeOf, recordAttempts, releaseAttempts, type AttemptOutcome, type AttemptResult, type ClaimedDelivery } from '../../processor/webhook-outbox.ts';
import { webhooks_channel } from '../../processor/webhooks.ts';
import { sendWebhook } from './sender.ts';

export interface WorkerOptions {
  /** WEBHOOK_RETRY_BASE_MS: attempt k (2..8) waits base × 4^(k−2), ±20%. */
  readonly retry_base_ms: number;
  /** WEBHOOKS_ALLOW_PRIVATE=1: loopback and private addresses may be sent to (tests, a private network). */
  readonly allow_private: boolean;
  readonly per_endpoint?: number;
  readonly in_flight_max?: number;
  /** Longest sleep between claims when nothing wakes the loop. */
  readonly poll_ms?: number;
  readonly lease_ms?: number;
  /** A 2xx within this is a success (spec: 10 s). */
  readonly timeout_ms?: number;
  /** Draws each retry's jitter, in [0, 1) (tests draw the bounds). */
  readonly random?: () => number;
  readonly onError?: (err: unknown, message: string) => void;
  readonly onOutcome?: (outcome: AttemptOutcome) => void;
}

/** Results recorded per statement. */
const results_per_statement_max = 500;
/**
 * Due times of this process's retries kept to wake the loop at (the earliest ones): a retry not
 * kept, or scheduled by another gateway, is claimed at the next poll instead.
 */
const due_times_max = 1_024;
/**
 * Attempts in a row, all failed, after which an endpoint is probed while others have a backlog:
 * one delivery claimed at a time until one succeeds (EVENTS.md: "a slow or dead endpoint never
 * slows ... other endpoints' deliveries"). As many as an endpoint has in flight, so that a few
 * failures among successes never cut its concurrency.
 */
const failures_before_probing = 8;
/** Endpoints whose failures in a row are counted; past this, others keep their full share. */
const failing_endpoints_max = 10_000;
/**
 * Attempts a second, per process, to all failing endpoints together (a token bucket holding as
 * many): each costs this process (the POS path's) some 0.2 ms of CPU, and a dead endpoint's
 * backlog, its retries falling due by the thousand, took 25% of a core from purchases (a
 * black-box audit, 2026-12-03: POS p99 ×2). Enough for a failing endpoint's retries to go out on
 * their schedule but for such a flood; what is left waits due, not counted as an attempt.
 */
const failing_attempts_per_second_max = 256;

/**
 * Retries falling due within this are claimed ahead and each held until it is due: claimed when
 * due, a retry went out a claim's statements later (5–20 ms on this machine, more with a distant
 * PostgreSQL), past its ±20% band at a small WEBHOOK_RETRY_BASE_MS (a black-box audit, 2026-12-07:
 * attempt 2 63–69 ms after attempt 1 at a 50 ms base, at most 60 allowed). An endpoint disabled
 * while one is held does not stop it (as for one claimed at the moment of the PATCH): the check
 * that `attempt` makes after a wait for a slot is a statement, and would make it late again.
 */
const claim_lead_ms = 500;

/**
 * The loop wakes this long before the earliest retry it knows of is due: time for a claim (up to
 * 165 ms with PostgreSQL 30 ms away), which takes with it every retry due within claim_lead_ms.
 * Woken and claiming with one lead, a burst of retries whose answers came a few ms apart was
 * split: the claim took those due by then, the rest came a second claim later, 40 ms past due.
 */
const wake_lead_ms = 250;

/** An attempt answered within this: its endpoint is claimed deliveries to wait for its slots too. */
const quick_attempt_ms = 1_000;

/** How long stop() lets attempts in flight be answered before it cuts them short: within the gateway's shutdown. */
export const stop_grace_ms = 2_000;

export class WebhookWorker {
  private readonly per_endpoint: number;
  private readonly in_flight_max: number;
  private readonly poll_ms: number;
  private readonly lease_ms: number;
  private readonly timeout_ms: number;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly queues = new Map<string, PQueue>();
  /** Endpoints with a queue here whose last attempt was answered within quick_attempt_ms. */
  private readonly quick = new Set<string>();
  /** Failed attempts in a row, by endpoint (none since its last success). */
  private readonly failures_in_a_row = new Map<string, number>();
  /** The last claim round took an endpoint's whole share (not a failing one's), or all it could. */
  private backlog_elsewhere = false;
  /** Attempts failing endpoints may still be given now (failing_attempts_per_second_max), and when counted. */
  private failing_tokens = failing_attempts_per_second_max;
  private failing_tokens_at_ms = Date.now();
  /** Where the next round's share of failing tokens starts (shareFailingTokens). */
  private failing_turn = 0;
  private readonly tasks = new Set<Promise<void>>();
  private in_flight = 0;
  /** Set by wake(): the next sleep returns at once (a notice came while a claim was running). */
  private woken = false;
  private wake_up: (() => void) | undefined;
  private readonly abort = new AbortController();
  /**
   * When retries this process scheduled fall due (ms), earliest first: the loop sleeps until the
   * first, so that attempt k waits its backoff (EVENTS.md), not the backoff and part of a poll.
   */
  private due: number[] = [];
  private results: AttemptResult[] = [];
  private released: AttemptResult[] = [];
  private flushing: Promise<void> | undefined;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly key: Buffer,
    private readonly options: WorkerOptions,
  ) {
    this.per_endpoint = options.per_endpoint ?? 8;
    this.in_flight_max = options.in_flight_max ?? 512;
    this.poll_ms = options.poll_ms ?? 250;
    this.lease_ms = options.lease_ms ?? 30_000;
    this.timeout_ms = options.timeout_ms ?? 10_000;
    // Every attempt in flight listens on the one signal: that many listeners is expected.
    setMaxListeners(this.in_flight_max + 16, this.abort.signal);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.sql
      .listen(webhooks_channel, () => this.wake())
      .then(async (l) => {
        if (this.running) this.unlisten = l.unlisten;
        else await l.unlisten();
      })
      .catch((err: unknown) => this.report(err, 'webhooks: LISTEN failed; deliveries go out on the poll only'));
    this.loop = this.run();
  }

  /**
   * Stop claiming; attempts waiting for their endpoint's turn are not made, those in flight get
   * `stop_grace_ms` to be answered, then are cut short; what was not made or answered is left due
   * at once. Cut short at once (until 2026-12-05), a delivery its receiver had already taken and
   * answered was sent again after a restart: 39 after one SIGTERM (a black-box probe).
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    await this.loop;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.tasks]), new Promise<void>((resolve) => (timer = setTimeout(resolve, stop_grace_ms)))]);
    clearTimeout(timer);
    this.abort.abort();
    await Promise.allSettled([...this.tasks]);
    while (this.flushing !== undefined) await this.flushing;
    await this.unlisten?.().catch(() => {});
  }

  /** Claim now (deliveries were committed, a slot freed). */
  wake(): void {
    this.woken = true;
    this.wake_up?.();
  }

  /** Deliveries claimed by this process and not yet done: in flight or waiting for a slot. */
  get inFlight(): number {
    return this.in_flight;
  }

  private report(err: unknown, message: string): void {
    this.options.onError?.(err, message);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      let claimed = 0;
      const claim_started_ms = Date.now();
      try {
        claimed = await this.claim();
        failures = 0;
        // Due when this claim began, or within its lead: claimed by it (or by another gateway).
        this.forgetDue(claim_started_ms + claim_lead_ms);
      } catch (err) {
        this.report(err, 'webhooks: claiming deliveries failed, retrying');
        // Back off while PostgreSQL is down, bounded so that its return is noticed within 5 s.
        failures++;
        await this.sleep(Math.min(100 * 2 ** failures, 5_000), false);
        continue;
      }
      if (claimed === 0 || this.in_flight >= this.in_flight_max) await this.sleep(Math.min(this.poll_ms, Math.max(0, this.untilDue() - wake_lead_ms)), true);
    }
  }

  /** Retries due at `at_ms` (just scheduled): the loop claims again when the first is due. */
  private noteDue(at_ms: readonly number[]): void {
    if (at_ms.length === 0) return;
    this.due = [...this.due, ...at_ms].sort((a, b) => a - b).slice(0, due_times_max);
    // The loop may be asleep for a whole poll: it works out its sleep again.
    this.wake();
  }

  private forgetDue(until_ms: number): void {
    const first_later = this.due.findIndex((at) => at > until_ms);
    this.due = first_later < 0 ? [] : this.due.slice(first_later);
  }

  /** How long until the earliest retry kept falls due (0 if it is due; Infinity if none). */
  private untilDue(): number {
    const first = this.due[0];
    return first === undefined ? Infinity : Math.max(0, first - Date.now());
  }

  /** Sleep `ms`; a wake() ends it early when `wakeable` (a back-off after a failure is not). */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (wakeable && this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake_up = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake_up = () => {
        if (wakeable || !this.running) {
          this.woken = false;
          done();
        }
      };
    });
  }

  private async claim(): Promise<number> {
    this.woken = false;
    const claimable = 2 * this.per_endpoint;
    const free: Record<string, number> = {};
    // Claimed to wait for a slot too only where attempts answer fast (quick): a receiver that hangs
    // held twice its slots for 10 s each, and 36 of them filled in_flight_max, every other
    // endpoint's deliveries late by up to 9 s (a black-box probe, 2026-12-06). An endpoint idle
    // here is claimed as many as its slots.
    for (const [id, q] of this.queues) free[id] = Math.max(0, (this.quick.has(id) ? claimable : this.per_endpoint) - q.pending - q.size);
    const shares = { ...free };
    // While others have a backlog, a failing endpoint is probed: one delivery claimed at a time
    // (in flight or waiting for its slot), the rest left due and not counted as attempts.
    const failing = [...this.probed()];
    if (this.backlog_elsewhere) {
      for (const id of failing) {
        const q = this.queues.get(id);
        free[id] = q === undefined ? 1 : Math.max(0, 1 - q.pending - q.size);
      }
    }
    this.shareFailingTokens(failing, free, this.per_endpoint);
    const total = this.in_flight_max - this.in_flight;
    const claim = await claimDeliveries(this.sql, this.key, { free, per_endpoint: this.per_endpoint, total, lease_ms: this.lease_ms, lead_ms: claim_lead_ms });
    const failing_set = new Set(failing);
    this.failing_tokens -= claim.deliveries.filter((d) => failing_set.has(d.endpoint_id)).length;
    this.backlog_elsewhere = claim.deliveries.length >= total || this.anyFullShare(claim.deliveries, shares, this.per_endpoint);
    // Given up: their last attempt (some gateway's) never finished. Counted as that attempt's outcome.
    for (let i = 0; i < claim.given_up; i++) this.options.onOutcome?.('failed');
    for (const d of claim.deliveries) this.dispatch(d);
    return claim.deliveries.length + claim.given_up;
  }

  /**
   * The failing endpoints' claims bounded by the attempts they may still be given this second
   * (failing_attempts_per_second_max): `free` lowered to an equal share each, whether it has
   * anything due or not (not known before the claim); where there are fewer tokens than such
   * endpoints, one each to as many, in turns from round to round. Shared in the order they first
   * failed, each its whole claim, sixteen endpoints dead since (deleted, disabled, idle) took every
   * token of every round, and an endpoint failing after them was never attempted again, nor
   * retried by hand, until a restart (a black-box probe, 2026-12-06).
   */
  private shareFailingTokens(failing: readonly string[], free: Record<string, number>, claimable: number): void {
    if (failing.length === 0) return;
    const now_ms = Date.now();
    const refill = ((now_ms - this.failing_tokens_at_ms) / 1_000) * failing_attempts_per_second_max;
    this.failing_tokens = Math.min(failing_attempts_per_second_max, this.failing_tokens + refill);
    this.failing_tokens_at_ms = now_ms;
    const left = Math.max(0, Math.floor(this.failing_tokens));
    const share = Math.floor(left / failing.length);
    const extra = left - share * failing.length;
    const first = this.failing_turn % failing.length;
    for (let i = 0; i < failing.length; i++) {
      const id = failing[(first + i) % failing.length]!;
      free[id] = Math.min(free[id] ?? claimable, share + (i < extra ? 1 : 0));
    }
    this.failing_turn = first + extra;
  }

  /** Endpoints whose last `failures_before_probing` attempts all failed. */
  private *probed(): Iterable<string> {
    for (const [id, failures] of this.failures_in_a_row) if (failures >= failures_before_probing) yield id;
  }

  /**
   * Whether an endpoint not failing took its whole share (`shares`, else `claimable`) this round:
   * it may have more due, a backlog that a failing endpoint's attempts would slow.
   */
  private anyFullShare(claimed: readonly ClaimedDelivery[], shares: Readonly<Record<string, number>>, claimable: number): boolean {
    const taken = new Map<string, number>(Object.keys(shares).map((id) => [id, 0]));
    for (const d of claimed) taken.set(d.endpoint_id, (taken.get(d.endpoint_id) ?? 0) + 1);
    for (const [id, n] of taken) {
      if ((this.failures_in_a_row.get(id) ?? 0) >= failures_before_probing) continue;
      if (n >= (shares[id] ?? claimable)) return true;
    }
    return false;
  }

  private dispatch(d: ClaimedDelivery): void {
    let q = this.queues.get(d.endpoint_id);
    if (q === undefined) {
      q = new PQueue({ concurrency: this.per_endpoint });
      this.queues.set(d.endpoint_id, q);
    }
    const queue = q;
    this.in_flight++;
    // Waiting for a slot (its endpoint busy): the endpoint may be disabled or deleted meanwhile.
    const waits = queue.pending + queue.size >= this.per_endpoint;
    const task: Promise<void> = queue
      .add(() => this.attempt(d, waits))
      .catch((err: unknown) => this.report(err, 'webhooks: an attempt failed unexpectedly; the delivery is attempted again when its lease ends'))
      .finally(() => {
        this.in_flight--;
        this.tasks.delete(task);
        if (queue.size === 0 && queue.pending === 0) {
          this.queues.delete(d.endpoint_id);
          this.quick.delete(d.endpoint_id);
        }
        this.wake();
      });
    this.tasks.add(task);
  }

  private async attempt(d: ClaimedDelivery, waited: boolean): Promise<void> {
    let result: AttemptResult;
    await untilMs(d.due_ms);
    // Its endpoint's turn came after stop(), or after the endpoint was disabled or deleted while
    // it waited (a black-box probe, 2026-12-05: a dead endpoint disabled got the 8 deliveries
    // claimed for it, up to 8.5 s after the PATCH or DELETE had answered): not made, left due.
    if (!this.running || (waited && !(await endpointEnabled(this.sql, d.endpoint_id)))) {
      this.released.push({ seq: d.seq, attempt: d.attempt, ok: false, status_code: null, error: this.running ? 'the webhook was disabled' : 'the gateway stopped', manual: d.manual });
      this.flush();
      return;
    }
    if (d.body === undefined || d.secret === undefined) {
      const error = d.body === undefined ? "the event's transaction cannot be read from the ledger" : 'the signing secret cannot be decrypted (was CIM_HMAC_KEY changed?)';
      result = { seq: d.seq, attempt: d.attempt, ok: false, status_code: null, error, manual: d.manual };
    } else {
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'Pocketgate-Webhooks/1',
        'Pocketgate-Event-Id': d.event_id,
        'Pocketgate-Signature': signatureHeader([d.secret, ...d.previous_secrets], Math.floor(Date.now() / 1_000), d.body),
      };
      const started_ms = performance.now();
      const sent = await sendWebhook(d.url, d.body, headers, { timeout_ms: this.timeout_ms, allow_private: this.options.allow_private, signal: this.abort.signal });
      if (performance.now() - started_ms < quick_attempt_ms) this.quick.add(d.endpoint_id);
      else this.quick.delete(d.endpoint_id);
      result = { seq: d.seq, attempt: d.attempt, ok: sent.ok, status_code: sent.status_code, error: sent.error, manual: d.manual, ended_ms: Date.now() };
      // Cut short by our own stop: not the receiver's failure, so not counted against it.
      if (sent.aborted) {
        this.released.push(result);
        this.flush();
        return;
      }
    }
    this.options.onOutcome?.(outcomeOf(result));
    this.noteOutcome(d.endpoint_id, result.ok);
    this.results.push(result);
    this.flush();
  }

  /** Count the endpoint's failures in a row: enough of them and it is probed (claim()). */
  private noteOutcome(endpoint_id: string, ok: boolean): void {
    const failures = this.failures_in_a_row.get(endpoint_id);
    if (ok) this.failures_in_a_row.delete(endpoint_id);
    else if (failures !== undefined) this.failures_in_a_row.set(endpoint_id, failures + 1);
    else if (this.failures_in_a_row.size < failing_endpoints_max) this.failures_in_a_row.set(endpoint_id, 1);
  }

  /**
   * Results are written in batches, one statement at a time: those that arrive while one is
   * written go in the next. A statement that fails is not retried: its deliveries are attempted
   * again when their lease ends (at least once, never lost).
   */
  private flush(): void {
    if (this.flushing !== undefined) return;
    this.flushing = (async () => {
      while (this.results.length > 0 || this.released.length > 0) {
        const results = this.results.splice(0, results_per_statement_max);
        const released = this.released.splice(0, results_per_statement_max);
        try {
          this.noteDue(await recordAttempts(this.sql, results, this.options.retry_base_ms, this.options.random));
          await releaseAttempts(this.sql, released);
        } catch (err) {
          this.report(err, 'webhooks: recording attempts failed; those deliveries are attempted again when their lease ends');
        }
      }
    })().finally(() => {
      this.flushing = undefined;
      // Results that came between the last batch and now.
      if (this.results.length > 0 || this.released.length > 0) this.flush();
    });
  }
}

/** Resolves once the clock reaches `at_ms` (at once if it has): a timer may fire a millisecond early. */
async function untilMs(at_ms: number): Promise<void> {
  for (let left_ms = at_ms - Date.now(); left_ms > 0; left_ms = at_ms - Date.now()) await new Promise((resolve) => setTimeout(resolve, left_ms));
}
