// Journal entries and replies as the shard scripts write them (the templates of purchase.ts,
// redeem.ts, wallet.ts, refund.ts and expiry.ts, holes filled; a redemption's lots since the hot
// window), for a business with a few
// merchants and many contacts: what the ledger bench feeds the writer. Deterministic from a seed,
// so two implementations measured side by side get the same sequence (only the ids they make differ).

import { newId, shardOf } from '../core/ids.ts';
import type { JournalRecord } from '../processor/ledger/writer.ts';
import type { Sql } from '../processor/stores.ts';
import { prng } from './prng.ts';

export interface LedgerMerchant {
  readonly id: string;
  readonly settle_on: 'award' | 'spend';
  readonly fee_bp: number;
  readonly terminals: readonly string[];
}

export interface LedgerWorld {
  readonly business_id: string;
  readonly currency: string;
  readonly merchants: readonly LedgerMerchant[];
  /** Terminals at the business's own venues (no merchant, no fee). */
  readonly own_terminals: readonly string[];
  readonly contacts: readonly string[];
  readonly shard_count: number;
}

type NewId = (kind: 'txn') => string;

/** A business with four merchants (three settle on awards, one on spends) of four terminals each, four of its own, and its contacts. */
export function ledgerWorld(contacts_n: number, shard_count: number): LedgerWorld {
  const merchant = (settle_on: 'award' | 'spend', fee_bp: number) => ({ id: newId('mer'), settle_on, fee_bp, terminals: Array.from({ length: 4 }, () => newId('ter')) });
  return {
    business_id: newId('bus'),
    currency: 'EUR',
    merchants: [merchant('award', 1_000), merchant('award', 500), merchant('award', 250), merchant('spend', 200)],
    own_terminals: Array.from({ length: 4 }, () => newId('ter')),
    contacts: Array.from({ length: contacts_n }, () => newId('con')),
    shard_count,
  };
}

/** The world's business, merchants, venues, terminals and contacts as rows: what statements and settlements read. */
export async function seedLedgerWorld(sql: Sql, w: LedgerWorld): Promise<void> {
  const b = w.business_id;
  await sql`insert into businesses (id, name, currency, reward_resolution) values (${b}, 'Ledger', ${w.currency}, 'all')`;
  for (const [i, m] of w.merchants.entries()) {
    const venue = newId('ven');
    await sql`insert into merchants (id, business_id, name, code, contribution_fee_bp, settle_on) values (${m.id}, ${b}, ${`M${i}`}, ${`M${i}`}, ${m.fee_bp}, ${m.settle_on})`;
    await sql`insert into venues (id, business_id, merchant_id, name, timezone) values (${venue}, ${b}, ${m.id}, ${`V${i}`}, 'UTC')`;
    for (const [j, t] of m.terminals.entries()) {
      await sql`insert into terminals (id, business_id, venue_id, merchant_id, code) values (${t}, ${b}, ${venue}, ${m.id}, ${`T${i}${j}`})`;
    }
  }
  const own = newId('ven');
  await sql`insert into venues (id, business_id, name, timezone) values (${own}, ${b}, 'Own', 'UTC')`;
  for (const [j, t] of w.own_terminals.entries()) await sql`insert into terminals (id, business_id, venue_id, code) values (${t}, ${b}, ${own}, ${`O${j}`})`;
  await sql`
    insert into contacts (id, business_id, code, referral_code, wallet_code)
    select id, ${b}, 'C' || n, 'R' || n, lpad(n::text, 16, '0') from unnest(${w.contacts as string[]}::text[]) with ordinality c(id, n)`;
}

const iso_ms = (ms: number) => new Date(ms).toISOString();
const rfc3339 = (ms: number) => iso_ms(ms).replace(/\.\d{3}Z$/, 'Z');
/** Entry, reply, and the contact (whose shard journals it). */
type Made = [string, string, string];

const posting = (debit: string, credit: string, amount: number) => `["${debit}","${credit}",${amount}]`;

interface Terminal {
  readonly id: string;
  readonly merchant: LedgerMerchant | undefined;
}

/**
 * The mix of a POS day: 85% purchases (a 5% cashback award each, a second award on one in five,
 * an instant discount on one in twenty, paid partly from the wallet on one in twenty), 6%
 * redemptions, 5% wallet spends, 2% partial refunds, 1% reversals, 1% expiries.
 */
export class LedgerEntries {
  private readonly random: () => number;
  private readonly terminals: Terminal[];
  private readonly journal_ms: number[];
  private readonly journal_seq: number[];
  /** Recent purchases, for refunds and reversals to name. */
  private readonly recent: { id: string; contact: string; terminal: Terminal; amount: number; award: number }[] = [];
  private n = 0;

  constructor(
    private readonly world: LedgerWorld,
    private readonly newId: NewId,
    private readonly start_ms: number,
    /** Simulated time between two transactions. */
    private readonly step_ms: number,
    seed = 1,
  ) {
    this.random = prng(seed);
    this.terminals = [
      ...world.own_terminals.map((id) => ({ id, merchant: undefined })),
      ...world.merchants.flatMap((m) => m.terminals.map((id) => ({ id, merchant: m }))),
    ];
    this.journal_ms = new Array<number>(world.shard_count).fill(0);
    this.journal_seq = new Array<number>(world.shard_count).fill(0);
  }

  /** The next `n` records. */
  take(n: number): JournalRecord[] {
    return Array.from({ length: n }, () => this.next());
  }

  next(): JournalRecord {
    const now = this.start_ms + this.n++ * this.step_ms;
    const contact = this.world.contacts[(this.random() * this.world.contacts.length) | 0]!;
    const terminal = this.terminals[(this.random() * this.terminals.length) | 0]!;
    const r = this.random();
    const [entry, reply, owner] =
      r < 0.85 || this.recent.length === 0
        ? this.purchase(now, contact, terminal)
        : r < 0.91
          ? this.redemption(now, contact, terminal)
          : r < 0.96
            ? this.spend(now, contact, terminal)
            : r < 0.98
              ? this.refund(now, false)
              : r < 0.99
                ? this.refund(now, true)
                : this.expiry(now, contact);
    const shard = shardOf(owner, this.world.shard_count);
    if (this.journal_ms[shard] === now) this.journal_seq[shard]!++;
    else (this.journal_ms[shard] = now), (this.journal_seq[shard] = 0);
    return { shard, stream_id: `${now}-${this.journal_seq[shard]}`, entry, reply };
  }

  private account(owner: string, kind: string): string {
    return `${owner}:${kind}:${this.world.currency}`;
  }

  private wallet(): string {
    return `"wallet":{"open":${(this.random() * 5_000) | 0},"commerce":${(this.random() * 3_000) | 0}}}`;
  }

  private spendAccount(terminal: Terminal): string {
    return this.account(terminal.merchant?.id ?? this.world.business_id, 'spends');
  }

  private head(id: string, kind: string, terminal: string | null, reference: string, contact: string, amount: number): string {
    const { business_id, currency } = this.world;
    return (
      `{"id":"${id}","kind":"${kind}","business_id":"${business_id}","terminal_id":${terminal === null ? 'null' : `"${terminal}"`},` +
      `"reference":"${reference}","contact_id":"${contact}","amount":${amount},"currency":"${currency}"`
    );
  }

  private purchase(now: number, contact: string, terminal: Terminal): Made {
    const { business_id, currency } = this.world;
    const id = this.newId('txn');
    const reference = `P${this.n}`;
    const amount = 100 + ((this.random() * 20_000) | 0);
    const awards = [Math.floor(amount / 20)];
    if (this.random() < 0.2) awards.push(100);
    const discount = this.random() < 0.05 ? Math.floor(amount / 10) : 0;
    const pay = this.random() < 0.05 ? Math.min(500, amount - discount) : 0;
    const award_json = awards
      .map((a, i) => `{"offer_id":"off_${i === 0 ? 'cashback00000000000' : 'bonus0000000000000'}","scheme_id":null,"kind":"cashback","amount":${a},"pool":null,"expires_at":null}`)
      .join(',');
    const rewards = this.account(business_id, 'rewards');
    const postings = awards.map((a) => posting(rewards, this.account(contact, 'commerce'), a));
    if (discount > 0) postings.unshift(posting(rewards, this.account(business_id, 'discounts'), discount));
    if (pay > 0) postings.push(posting(this.account(contact, 'open'), this.spendAccount(terminal), pay));
    const m = terminal.merchant;
    const award_total = awards.reduce((s, a) => s + a, 0);
    const fee = m === undefined ? 0 : Math.floor(((m.settle_on === 'award' ? award_total : pay) * m.fee_bp) / 10_000);
    if (fee > 0) postings.push(posting(this.account(m!.id, 'fees'), this.account(business_id, 'fee_income'), fee));
    this.recent.push({ id, contact, terminal, amount, award: award_total });
    if (this.recent.length > 1_000) this.recent.shift();
    const entry =
      this.head(id, 'purchase', terminal.id, reference, contact, amount) +
      `,"created_at":"${iso_ms(now)}","awards":[${award_json}],"discount":${discount},"paid_from_wallet":${pay},"postings":[${postings.join(',')}]}`;
    const reply =
      `{"id":"${id}","status":"approved","reference":"${reference}","contact_id":"${contact}","amount":${amount},"currency":"${currency}",` +
      `"awards":[${award_json}],"discount":${discount},"amount_due":${amount - discount - pay},"paid_from_wallet":${pay},"created_at":"${rfc3339(now)}",` +
      this.wallet();
    return [entry, reply, contact];
  }

  private redemption(now: number, contact: string, terminal: Terminal): Made {
    const id = this.newId('txn');
    const reference = `R${this.n}`;
    const amount = 1 + ((this.random() * 2_000) | 0);
    // The lots it took (lot field: expiry ms | pool), for its reversal.
    const lots = `[["${now + 90 * 86_400_000}|",${amount}]]`;
    const entry =
      this.head(id, 'redemption', terminal.id, reference, contact, amount) +
      `,"created_at":"${iso_ms(now)}","lots":${lots},"postings":[${posting(this.account(contact, 'commerce'), this.account(contact, 'open'), amount)}]}`;
    const reply =
      `{"id":"${id}","status":"approved","reference":"${reference}","contact_id":"${contact}","redeemed":${amount},` +
      `"currency":"${this.world.currency}","created_at":"${rfc3339(now)}",` +
      this.wallet();
    return [entry, reply, contact];
  }

  private spend(now: number, contact: string, terminal: Terminal): Made {
    const id = this.newId('txn');
    const reference = `S${this.n}`;
    const amount = 1 + ((this.random() * 3_000) | 0);
    const postings = [posting(this.account(contact, 'open'), this.spendAccount(terminal), amount)];
    const m = terminal.merchant;
    const fee = m !== undefined && m.settle_on === 'spend' ? Math.floor((amount * m.fee_bp) / 10_000) : 0;
    if (fee > 0) postings.push(posting(this.account(m!.id, 'fees'), this.account(this.world.business_id, 'fee_income'), fee));
    // wallet.ts writes this entry with JSON.stringify: the same keys, created_at before postings.
    const entry = this.head(id, 'spend', terminal.id, reference, contact, amount) + `,"created_at":"${iso_ms(now)}","postings":[${postings.join(',')}]}`;
    const reply =
      `{"id":"${id}","status":"approved","reference":"${reference}","contact_id":"${contact}","spent":${amount},` +
      `"currency":"${this.world.currency}","created_at":"${rfc3339(now)}",` +
      this.wallet();
    return [entry, reply, contact];
  }

  /** A refund of half a recent purchase, or its reversal. */
  private refund(now: number, reversal: boolean): Made {
    const { business_id, currency } = this.world;
    const o = this.recent.splice((this.random() * this.recent.length) | 0, 1)[0]!;
    const id = this.newId('txn');
    const reference = `${reversal ? 'V' : 'F'}${this.n}`;
    const claw = reversal ? o.award : Math.floor(o.award / 2);
    const postings = claw > 0 ? [posting(this.account(o.contact, 'commerce'), this.account(business_id, 'rewards'), claw)] : [];
    const m = o.terminal.merchant;
    const fee_back = m !== undefined && m.settle_on === 'award' ? Math.floor((claw * m.fee_bp) / 10_000) : 0;
    if (fee_back > 0) postings.unshift(posting(this.account(business_id, 'fee_income'), this.account(m!.id, 'fees'), fee_back));
    const amount = reversal ? o.amount : Math.floor(o.amount / 2);
    const entry =
      this.head(id, reversal ? 'reversal' : 'refund', o.terminal.id, reference, o.contact, amount) +
      `,"original_id":"${o.id}","created_at":"${iso_ms(now)}","postings":[${postings.join(',')}]}`;
    const reply = reversal
      ? `{"id":"${id}","status":"approved","reference":"${reference}","original_id":"${o.id}","original_kind":"purchase","contact_id":"${o.contact}",` +
        `"currency":"${currency}","created_at":"${rfc3339(now)}",` +
        this.wallet()
      : `{"id":"${id}","status":"approved","reference":"${reference}","original_id":"${o.id}","contact_id":"${o.contact}","amount":${amount},` +
        `"currency":"${currency}","clawed_back":${claw},"returned_to_wallet":0,"created_at":"${rfc3339(now)}",` +
        this.wallet();
    return [entry, reply, o.contact];
  }

  private expiry(now: number, contact: string): Made {
    const id = this.newId('txn');
    const amount = 1 + ((this.random() * 500) | 0);
    const entry =
      this.head(id, 'expiry', null, `expiry:${contact}:${now}`, contact, amount) +
      `,"created_at":"${iso_ms(now)}","postings":[${posting(this.account(contact, 'commerce'), this.account(this.world.business_id, 'rewards'), amount)}]}`;
    const reply = `{"id":"${id}","kind":"expiry","contact_id":"${contact}","expired":${amount},` + this.wallet();
    return [entry, reply, contact];
  }
}
