// A reversal racing its original: the original's reference claimed, its record not yet written
// when the reversal looked, written by the time the reversal's script ran. The reversal committed
// an empty reply and an empty journal entry; the ledger writer could not read that entry, left it
// pending for ever, stopped trimming, and the shard's journal filled up: every later transaction
// on the shard answered 503. And the writer itself: an entry it cannot read goes to the
// dead-letter stream like any entry PostgreSQL refuses, and the ledger goes on.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWith, spendSchema } from '../core/schemas.ts';
import { configFromEnv } from '../gateway/config.ts';
import { claimReference } from '../processor/claim.ts';
import { referenceSlot } from '../processor/hot/references.ts';
import { deadLetterKey, journalKey } from '../processor/hot/keys.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import type { Business, Terminal } from '../processor/network.ts';
import { shardReply, type Reply } from '../processor/shard.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';
import { requestHash } from '../processor/wallet.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { connectTestRedis, connectTestSql, journalEntries, pendingTotal, redis_dbs, redisUrl, shard_count } from './ledger-helpers.ts';

const redis_db = redis_dbs.reversal_race;
/** Small, so that a shard whose journal stops being trimmed refuses within a few purchases. */
const journal_length_max = 6;
let gw: TestGateway;
let redis: RedisClient;
let sql: Sql;
let biz: BusinessFixture;
let business: Business;
let terminal: Terminal;
let writer: LedgerWriter;
let seq = 0;

beforeAll(async () => {
  gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_db), processor: { ...configFromEnv().processor, journal_length_max } });
  redis = await connectTestRedis(redis_db);
  sql = connectTestSql();
  biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10% back', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
  const principal = await gw.processor.network.authenticate(biz.terminal_key, undefined);
  if (principal?.kind !== 'terminal') throw new Error('the fixture terminal key does not authenticate');
  ({ business, terminal } = principal);
  writer = new LedgerWriter(redis, sql, { shard_count, trim_interval_ms: 0 });
});
afterAll(async () => {
  await gw.close();
  await redis.close();
  await sql.end();
});

/** Drain every shard into the ledger (and trim) until a round finds nothing. */
async function drain(): Promise<void> {
  for (let round = 0; round < 20 && (await writer.drainOnce()) > 0; round++);
}

const ref = () => `race-${process.pid}-${++seq}`;

async function funded(open: number): Promise<{ id: string; card: string; wallet_code: string }> {
  const card = testCard(66_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status).toBe(201);
  expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: card }, amount: open * 10, currency: 'EUR' })).status).toBe(201);
  const r = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: card } });
  expect(r.body.wallet).toEqual({ open, commerce: 0 });
  return { id: c.body.id, card, wallet_code: c.body.wallet_code };
}

/** Purchases on the contact's shard, each drained after: all approved while the journal is trimmed. */
async function keepsApproving(card: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: card }, amount: 100, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    await drain();
  }
}

async function deadLetters(): Promise<number> {
  let n = 0;
  for (let s = 0; s < shard_count; s++) n += Number(await redis.sendCommand(['XLEN', deadLetterKey(s)]));
  return n;
}

describe('a reversal racing its spend', () => {
  it('whose record is written between the reversal’s look and its script: reversed for real, the journal clean', async () => {
    const c = await funded(1000);
    // Load the scripts' library, so that the original below is one command.
    expect((await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 1, currency: 'EUR', wallet_code: c.wallet_code })).status).toBe(201);
    await drain();
    const dead_before = await deadLetters();

    // The original spend, in flight: its reference claimed, its shard script not yet run.
    const body = parseWith(spendSchema, { reference: ref(), amount: 300, currency: 'EUR', wallet_code: c.wallet_code });
    const hash = requestHash(gw.processor.stores.config.cim_hmac_key, 'spend', body);
    const payer = await gw.processor.spends.payer(business, terminal, 'unknown', body, Date.now());
    const stores = gw.processor.stores;
    const slot = referenceSlot(stores.config, terminal.id, body.reference, stores.clock.now());
    await claimReference(stores, { business_id: business.id, slot, hash }, payer.contact_id);
    const original_call = gw.processor.spends.spendCall(business, terminal, body, payer, slot, hash, Date.now());

    // The reversal reads the processor's clock after it has looked for the original and before
    // its own script: the original's script is sent right then, on the same connection, so Redis
    // runs it just before the reversal's script. Deterministic: one connection, commands in order.
    const clock = gw.processor.stores.clock;
    const real = clock.now;
    let original: Promise<Reply> | undefined;
    clock.now = () => {
      original ??= shardReply(gw.processor.stores, original_call, gw.processor.stores.redis.spendScript(original_call));
      return real();
    };
    let reversal;
    try {
      reversal = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: ref(), original_reference: body.reference });
    } finally {
      clock.now = real;
    }
    expect(original).toBeDefined();
    const spent = await original!;
    expect(spent.status).toBe(201);
    expect(reversal.status, reversal.text).toBe(201);
    expect(reversal.body).toMatchObject({ status: 'approved', original_id: JSON.parse(spent.body).id, original_kind: 'spend', wallet: { open: 999, commerce: 0 } });
    // Twice is already_reversed, as for any reversal.
    const again = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: ref(), original_reference: body.reference });
    expect(again.status, again.text).toBe(409);

    // Every journal entry is a whole one; the ledger records both and nothing is left pending.
    for (const item of await journalEntries(redis)) expect(item.entry.id).toMatch(/^txn_/);
    await drain();
    expect(await pendingTotal(redis)).toBe(0);
    expect(await deadLetters()).toBe(dead_before);
    const rows = await sql<{ kind: string; reply: unknown }[]>`select kind, reply from ledger_transactions where id in (${JSON.parse(spent.body).id}, ${reversal.body.id}) order by kind`;
    expect(rows.map((r) => r.kind)).toEqual(['reversal', 'spend']);
    for (const r of rows) expect(r.reply).not.toBeNull();
    await keepsApproving(c.card, journal_length_max + 2);
    expect((await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body).toMatchObject({ open: 999 });
  });
});

describe('the ledger writer', () => {
  it('sets aside entries it cannot read, acknowledges them, and the shard keeps approving', async () => {
    const c = await funded(100);
    await drain();
    const dead_before = await deadLetters();
    // What the race above committed (an empty entry and reply), and an entry without its field.
    const shard = gw.processor.contacts.shardOf(c.id);
    await redis.sendCommand(['XADD', journalKey(shard), '*', 'e', '', 'r', '']);
    await redis.sendCommand(['XADD', journalKey(shard), '*', 'x', 'no entry field']);
    await redis.sendCommand(['XADD', journalKey(shard), '*', 'e', '{"id":"txn_unterminated', 'r', '{}']);
    const set_aside: string[] = [];
    const reader = new LedgerWriter(redis, sql, { shard_count, trim_interval_ms: 0, onDeadLetter: (id) => set_aside.push(id) });
    for (let round = 0; round < 5 && (await reader.drainOnce()) > 0; round++);
    await reader.drainOnce();
    expect(set_aside).toHaveLength(3);
    expect(await deadLetters()).toBe(dead_before + 3);
    expect(await pendingTotal(redis)).toBe(0);
    expect(Number(await redis.sendCommand(['XLEN', journalKey(shard)]))).toBe(0);
    await keepsApproving(c.card, journal_length_max + 2);
  });
});
