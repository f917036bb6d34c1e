// `npm run reconcile` (spec/OPERATIONS.md) as a child process over a Redis and a database of this
// file's own: clean after traffic of every kind; a balance changed in Redis behind the ledger's
// back is reported (exit 1, its line); --business limits it; a ledger that cannot catch up within
// --wait-seconds is exit 2, and so is a store it cannot reach.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../core/ids.ts';
import { contactKey, lotsKey } from '../processor/hot/keys.ts';
import { reconcile as reconcileContacts } from '../processor/ledger/reconcile.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { npmRun, runCommand, startOwnStores, type OwnStores } from './own-stores.ts';

const shard_count = 16;
let stores: OwnStores;
let gw: TestGateway;
let a: BusinessFixture;
let b: BusinessFixture;
let seq = 0;
const ref = () => `rc-${++seq}`;

function reconcile(...args: string[]) {
  return runCommand('reconcile-main.ts', args, { REDIS_URL: stores.redis.url, DATABASE_URL: stores.database_url, SHARDS: String(shard_count) });
}

async function contact(biz: BusinessFixture, card: string): Promise<{ id: string; wallet_code: string }> {
  const r = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(r.status, r.text).toBe(201);
  return r.body;
}

const pos = (biz: BusinessFixture, path: string, body: unknown) => call(gw, 'POST', path, biz.terminal_key, body);

beforeAll(async () => {
  stores = await startOwnStores('reconcile');
  gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  a = await createBusiness(gw);
  b = await createBusiness(gw);
  for (const biz of [a, b]) expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5%', goal: 'spend', award: { percent: 5 } })).status).toBe(201);
  // Traffic of every kind in business a: purchases, a redemption, a spend, a refund (a claw-back), a reversal.
  for (let i = 0; i < 6; i++) {
    const card = testCard(31_000_000 + i);
    const c = await contact(a, card);
    const p = await pos(a, '/v1/purchases', { reference: ref(), cim: { type: 'card', value: card }, amount: 10_000 + i * 100, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    if (i % 3 === 0) expect((await pos(a, '/v1/redemptions', { reference: ref(), cim: { type: 'card', value: card } })).status).toBe(201);
    if (i === 0) expect((await pos(a, '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code })).status).toBe(201);
    if (i === 1) expect((await pos(a, '/v1/refunds', { reference: ref(), original_reference: p.body.reference, amount: 5_000 })).status).toBe(201);
    if (i === 2) expect((await pos(a, '/v1/reversals', { reference: ref(), original_reference: p.body.reference })).status).toBe(201);
  }
  for (let i = 0; i < 3; i++) {
    const card = testCard(32_000_000 + i);
    await contact(b, card);
    expect((await pos(b, '/v1/purchases', { reference: ref(), cim: { type: 'card', value: card }, amount: 2_000, currency: 'EUR' })).status).toBe(201);
  }
});

afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

describe('npm run reconcile', () => {
  it('finds every balance as the ledger has it after traffic', async () => {
    const r = await reconcile();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('contacts checked: 9, mismatches: 0');
  });

  it('reports a balance Redis changed behind the ledger, with its values, and exits 1', async () => {
    const [victim] = await stores.sql<{ id: string }[]>`select id from contacts where business_id = ${b.business_id} order by id limit 1`;
    const key = contactKey(shardOf(victim!.id, shard_count), victim!.id);
    const [open, commerce] = await stores.redis.client.hmGet(key, ['o', 'm']);
    await stores.redis.client.hIncrBy(key, 'o', 7);
    try {
      const r = await reconcile();
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout.trim().split('\n')).toEqual(['contacts checked: 9, mismatches: 1', `${victim!.id} open ${Number(open ?? 0) + 7} ${Number(open ?? 0)}`]);
      // --business: only that business's contacts are checked.
      const only_a = await reconcile('--business', a.business_id);
      expect(only_a.code, only_a.stderr).toBe(0);
      expect(only_a.stdout.trim()).toBe('contacts checked: 6, mismatches: 0');
      const only_b = await reconcile('--business', b.business_id);
      expect(only_b.code).toBe(1);
      expect(only_b.stdout).toContain('contacts checked: 3, mismatches: 1');
    } finally {
      await stores.redis.client.hIncrBy(key, 'o', -7);
    }
    // The commerce balance is its lots less the debt: a lot changed alone is a mismatch too.
    const lots = lotsKey(shardOf(victim!.id, shard_count), victim!.id);
    const [field] = await stores.redis.client.hKeys(lots);
    await stores.redis.client.hIncrBy(lots, field!, -1);
    try {
      const r = await reconcile('--business', b.business_id);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`${victim!.id} commerce ${Number(commerce) - 1} ${Number(commerce)}`);
    } finally {
      await stores.redis.client.hIncrBy(lots, field!, 1);
    }
    expect((await reconcile()).code).toBe(0);
  });

  it('through npm run, with its options written without `--` too (npm takes --business for itself, leaving the id alone)', async () => {
    const env = { REDIS_URL: stores.redis.url, DATABASE_URL: stores.database_url, SHARDS: String(shard_count) };
    for (const args of [['--', '--business', a.business_id], ['--business', a.business_id], [`--business=${a.business_id}`, '--wait-seconds', '5']]) {
      const r = await npmRun(['run', '--silent', 'reconcile', ...args], env);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout.trim()).toBe('contacts checked: 6, mismatches: 0');
    }
    const unclear = await npmRun(['run', '--silent', 'reconcile', '--business', a.business_id, '--wait-seconds', '5'], env);
    expect(unclear.code).toBe(2);
    expect(unclear.stderr).toContain('write `npm run reconcile -- --wait-seconds <value> --business <value>`');
  });

  it('npm run reconcile -- --help and npm run rebuild -- --help print their usage and exit 0, starting no store (a README probe: "Unknown option")', async () => {
    for (const command of ['reconcile', 'rebuild']) {
      // Stores that do not answer: a usage that reached for them would fail.
      const r = await npmRun(['run', '--silent', command, '--', '--help'], { REDIS_URL: 'redis://127.0.0.1:1', DATABASE_URL: 'postgres://x@127.0.0.1:1/x' });
      expect([r.code, r.stderr], command).toEqual([0, '']);
      expect(r.stdout, command).toContain(`npm run ${command} -- [`);
      expect(r.stdout, command).toMatch(/Exit 0: /);
    }
  });

  it('exits 2 for a business that does not exist, and when a store cannot be reached', async () => {
    const r = await reconcile('--business', 'bus_nosuchbusiness');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no business');
    const down = await runCommand('reconcile-main.ts', [], { REDIS_URL: 'redis://127.0.0.1:1', DATABASE_URL: stores.database_url });
    expect(down.code).toBe(2);
    expect(down.stdout).toBe('');
  });

  it('exits 2 when the ledger does not catch up within --wait-seconds, and compares once it has', async () => {
    // A gateway with no writer on the same stores: its purchase stays in the journal.
    const writerless = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url, ledger_writer: false });
    try {
      await gw.writer!.stop();
      const card = testCard(31_000_000);
      const p = await call(writerless, 'POST', '/v1/purchases', a.terminal_key, { reference: ref(), cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
      const started = Date.now();
      const r = await reconcile('--wait-seconds', '1');
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('has not caught up');
      expect(Date.now() - started).toBeLessThan(15_000);
      // The writer back while reconcile waits: it finishes, clean.
      const waiting = reconcile('--wait-seconds', '30');
      await new Promise((resolve) => setTimeout(resolve, 500));
      gw.writer!.start();
      const done = await waiting;
      expect(done.code, done.stderr).toBe(0);
      expect(done.stdout.trim()).toBe('contacts checked: 9, mismatches: 0');
    } finally {
      await writerless.close();
      gw.writer!.start();
    }
    await eventually('nothing pending', async () => (await reconcile('--wait-seconds', '0')).code === 0);
  });

  it('a contact whose balances move during every second look is not a mismatch: told apart; once still, its difference is', async () => {
    const card = testCard(32_000_000);
    const first = await pos(b, '/v1/purchases', { reference: ref(), cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' });
    expect(first.status, first.text).toBe(201);
    const victim = { id: first.body.contact_id as string };
    await eventually('the ledger caught up', async () => (await reconcile('--wait-seconds', '0')).code === 0);
    const key = contactKey(shardOf(victim!.id, shard_count), victim!.id);
    await stores.redis.client.hIncrBy(key, 'o', 7);
    try {
      const moved: string[] = [];
      const mismatches: string[] = [];
      const options = { shard_count, business_id: b.business_id, wait_ms: 10_000, onMismatch: (m: { contact_id: string }) => mismatches.push(m.contact_id), onUnsettled: (id: string) => moved.push(id) };
      // A purchase of the contact's between the two reads of each second look: it never holds still.
      const busy = await reconcileIn({
        ...options,
        betweenReads: async (id) => {
          expect((await pos(b, '/v1/purchases', { reference: ref(), cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' })).status).toBe(201);
          expect(id).toBe(victim!.id);
        },
      });
      expect(busy).toEqual({ outcome: 'compared', checked: 3, mismatches: 0, unsettled: 1 });
      expect(moved).toEqual([victim!.id]);
      expect(mismatches).toEqual([]);
      const still = await reconcileIn(options);
      expect(still).toEqual({ outcome: 'compared', checked: 3, mismatches: 1, unsettled: 0 });
      expect(mismatches).toEqual([victim!.id]);
    } finally {
      await stores.redis.client.hIncrBy(key, 'o', -7);
    }
  });
});

function reconcileIn(options: Parameters<typeof reconcileContacts>[2]) {
  return reconcileContacts(stores.redis.client, stores.sql, options);
}

