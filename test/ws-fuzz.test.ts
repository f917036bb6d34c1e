// TERMINAL.md's frames as properties over one real gateway: "A frame that is not JSON, or lacks
// `id` or a known `op`: a reply with "id": null (or its id when readable) and status 400
// validation_failed; the connection stays open. A binary frame closes the connection with 1003,
// a frame over 64 KiB with 1009." and "Nothing a client sends may crash the gateway ... or change
// state wrongly." Frames of every op with their bodies spoilt, ids of every odd shape, unknown
// ops, frames that are no JSON: each gets one reply, its id the frame's when it is one (1-64
// characters), never a 5xx, a 4xx with the pages' code; the wallets and the ledger move only
// by what was answered 2xx. Fixed seed (WS_FUZZ_SEED, WS_FUZZ_RUNS).

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, patient_probes, type TestGateway } from './helpers.ts';
import { TerminalClient } from './ws-client.ts';

const seed = Number(process.env.WS_FUZZ_SEED ?? 20261201);
const runs = Number(process.env.WS_FUZZ_RUNS ?? 600);

const codes_of: Record<number, readonly string[]> = {
  400: ['validation_failed'],
  401: ['unauthorized'],
  404: ['not_found', 'contact_not_found', 'original_not_found'],
  409: ['idempotency_conflict', 'already_reversed'],
  422: ['insufficient_funds', 'spend_blocked', 'otp_invalid', 'otp_expired', 'wallet_code_invalid', 'amount_exceeds_original'],
  429: ['rate_limited'],
};

let gw: TestGateway;
let biz: BusinessFixture;
const contacts: string[] = [];
const cards: string[] = [];
const wallet_codes: string[] = [];

beforeAll(async () => {
  gw = await startTestGateway(patient_probes, true);
  biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5%', goal: 'spend', award: { percent: 5 } })).status).toBe(201);
  for (let i = 0; i < 2; i++) {
    const card = testCard(78_100_000 + (Date.now() % 10_000) * 10 + i);
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    contacts.push(c.body.id);
    cards.push(card);
    wallet_codes.push(c.body.wallet_code);
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `wf-seed-${i}`, cim: { type: 'card', value: card }, amount: 100_000, currency: 'EUR' })).status).toBe(201);
    expect((await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: `wf-seed-r${i}`, cim: { type: 'card', value: card }, amount: 1_000 })).status).toBe(201);
  }
  await eventually('the seed in the ledger', async () => ((await ledgerCount()) === 4 ? true : undefined));
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

async function ledgerCount(): Promise<number> {
  const [r] = await gw.processor.stores.sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where business_id = ${biz.business_id}`;
  return r!.n;
}
async function wallets(): Promise<string> {
  return (await Promise.all(contacts.map(async (id) => (await call(gw, 'GET', `/v1/contacts/${id}/wallet`, biz.admin_key)).text))).join('\n');
}

const ops = ['purchase', 'purchase.quote', 'redemption', 'spend', 'refund', 'reversal', 'wallet'] as const;
function bodyOf(op: string, n: number): unknown {
  const cim = { type: 'card', value: cards[n % 2] };
  switch (op) {
    case 'purchase':
    case 'purchase.quote':
      return { reference: `wf-${n}`, cim, amount: 500, currency: 'EUR' };
    case 'redemption':
      return { reference: `wf-${n}`, cim, amount: 10 };
    case 'spend':
      return { reference: `wf-${n}`, amount: 5, currency: 'EUR', wallet_code: wallet_codes[n % 2] };
    case 'refund':
      return { reference: `wf-${n}`, original_reference: `wf-seed-${n % 2}`, amount: 1 };
    case 'reversal':
      return { reference: `wf-${n}`, original_reference: `wf-${n - 1}` };
    default:
      return { cim };
  }
}

const odd_ids: readonly unknown[] = ['', 'x'.repeat(65), 'x'.repeat(64), 'é'.repeat(64), 5, 0, -1, 1.5, null, true, [], ['a'], {}, { id: 'a' }, '\u0000', 'a\u0000b', ' ', '\ud83d\ude00'.repeat(32), '__proto__', 'constructor'];
const odd_ops: readonly unknown[] = ['', 'nope', 'auth', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'PURCHASE', 'purchase ', ['purchase'], 5, null, { op: 'purchase' }];
const bad_values: readonly unknown[] = [null, true, -1, -0, 0.5, 1e21, 1e308, 2 ** 53 + 2, '', '\u0000', '\ud800', 'x'.repeat(30_000), [], {}, [[[[[[[[[[1]]]]]]]]]]];

type Shape =
  | { kind: 'valid' }
  | { kind: 'odd_id'; id: number }
  | { kind: 'no_id' }
  | { kind: 'odd_op'; op: number }
  | { kind: 'no_op' }
  | { kind: 'field'; pick: number; value: number; drop: boolean }
  | { kind: 'body'; value: number }
  | { kind: 'text'; what: 'not_json' | 'empty' | 'array' | 'null' | 'number' | 'truncated' | 'deep' | 'proto' | 'duplicate_id' | 'bom' };

interface Case {
  readonly op: number;
  readonly shape: Shape;
}

const case_arb: fc.Arbitrary<Case> = fc.record({
  op: fc.nat({ max: ops.length - 1 }),
  shape: fc.oneof(
    { arbitrary: fc.constant({ kind: 'valid' as const }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('odd_id' as const), id: fc.nat({ max: odd_ids.length - 1 }) }), weight: 3 },
    { arbitrary: fc.constant({ kind: 'no_id' as const }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('odd_op' as const), op: fc.nat({ max: odd_ops.length - 1 }) }), weight: 2 },
    { arbitrary: fc.constant({ kind: 'no_op' as const }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('field' as const), pick: fc.nat(), value: fc.nat({ max: bad_values.length - 1 }), drop: fc.boolean() }), weight: 6 },
    { arbitrary: fc.record({ kind: fc.constant('body' as const), value: fc.nat({ max: bad_values.length - 1 }) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('text' as const), what: fc.constantFrom('not_json' as const, 'empty' as const, 'array' as const, 'null' as const, 'number' as const, 'truncated' as const, 'deep' as const, 'proto' as const, 'duplicate_id' as const, 'bom' as const) }), weight: 2 },
  ),
});

/** The frame's text and the id its reply must carry (null when the frame names none readable). */
function frameOf(c: Case, n: number): { text: string; id: string | null } {
  const op = ops[c.op]!;
  const id = `w${n}`;
  const body = bodyOf(op, n) as Record<string, unknown>;
  const s = c.shape;
  switch (s.kind) {
    case 'valid':
      return { text: JSON.stringify({ id, op, body }), id };
    case 'odd_id': {
      const odd = odd_ids[s.id];
      const readable = typeof odd === 'string' && odd.length >= 1 && odd.length <= 64;
      return { text: JSON.stringify({ id: odd, op, body }), id: readable ? odd : null };
    }
    case 'no_id':
      return { text: JSON.stringify({ op, body }), id: null };
    case 'odd_op':
      return { text: JSON.stringify({ id, op: odd_ops[s.op], body }), id };
    case 'no_op':
      return { text: JSON.stringify({ id, body }), id };
    case 'field': {
      const keys = Object.keys(body);
      const key = keys[s.pick % keys.length]!;
      const spoilt = { ...body };
      if (s.drop) delete spoilt[key];
      else spoilt[key] = bad_values[s.value];
      return { text: JSON.stringify({ id, op, body: spoilt }), id };
    }
    case 'body':
      return { text: JSON.stringify({ id, op, body: bad_values[s.value] }), id };
    case 'text': {
      const whole = JSON.stringify({ id, op, body });
      const text = {
        not_json: `{id: ${id}}`,
        empty: '',
        array: `[${whole}]`,
        null: 'null',
        number: '1e309',
        truncated: whole.slice(0, whole.length - 2),
        deep: `{"id":"${id}","op":"${op}","body":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
        proto: `{"__proto__":{"id":"polluted"},"constructor":{"prototype":{"op":"wallet"}},"id":"${id}","op":"${op}","body":${JSON.stringify(body)}}`,
        duplicate_id: `{"id":{},"op":"${op}","body":${JSON.stringify(body)},"id":"${id}"}`,
        bom: `\ufeff${whole}`,
      }[s.what];
      // A byte order mark before the frame is dropped, as HTTP drops it: the frame is read whole.
      const answered_as = s.what === 'deep' || s.what === 'proto' || s.what === 'duplicate_id' || s.what === 'bom' ? id : null;
      return { text, id: answered_as };
    }
  }
}

/** A frame without a readable id or a known op: TERMINAL.md's 400, whatever its body. */
function unreadable(c: Case): boolean {
  const s = c.shape;
  if (s.kind === 'odd_id') return frameOf(c, 0).id === null;
  if (s.kind === 'text') return !['deep', 'proto', 'duplicate_id', 'bom'].includes(s.what);
  return s.kind === 'no_id' || s.kind === 'odd_op' || s.kind === 'no_op';
}

describe(`the terminal channel, frames spoilt (seed ${seed}, ${runs} frames)`, () => {
  it('each frame one reply, with its id when readable; never a 5xx; the pages\' code; the connection open; nothing moved by a refusal', async () => {
    const client = await TerminalClient.open(gw.port, biz.terminal_key);
    const cases = fc.sample(case_arb, { seed, numRuns: runs });
    const findings: string[] = [];
    const approved = new Set<string>();
    const ledger_before = await ledgerCount();
    for (const [n, c] of cases.entries()) {
      const f = frameOf(c, n);
      const before = await wallets();
      const at = client.replies.length;
      client.ws.send(f.text);
      let reply;
      try {
        reply = (await client.until(at + 1, 5_000))[at]!;
      } catch {
        findings.push(`no reply to ${f.text.slice(0, 200)}`);
        break;
      }
      const text = client.texts[at]!.slice(0, 300);
      const where = `${f.text.length > 300 ? `${f.text.slice(0, 200)}…(${f.text.length})` : f.text}\n    → ${text}`;
      if (reply.id !== f.id) findings.push(`reply id ${JSON.stringify(reply.id)}, expected ${JSON.stringify(f.id)}: ${where}`);
      if (typeof reply.status !== 'number' || reply.status >= 500) findings.push(`status ${reply.status}: ${where}`);
      else if (reply.status >= 400) {
        const allowed = codes_of[reply.status];
        if (allowed === undefined || !allowed.includes(reply.body?.code) || reply.body?.status !== reply.status) findings.push(`${reply.status} ${reply.body?.code}: ${where}`);
        if (unreadable(c) && reply.status !== 400) findings.push(`a frame without a readable id or known op answered ${reply.status}: ${where}`);
        if ((await wallets()) !== before) findings.push(`refused ${reply.status} but a wallet moved: ${where}`);
      } else if (reply.replayed !== true && typeof reply.body?.id === 'string' && reply.body.id.startsWith('txn_')) approved.add(reply.body.id);
    }
    await eventually('the ledger to hold what was approved', async () => ((await ledgerCount()) >= ledger_before + approved.size ? true : undefined), 10_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const ledger_after = await ledgerCount();
    if (ledger_after !== ledger_before + approved.size) findings.push(`ledger ${ledger_before} → ${ledger_after}, frames approved ${approved.size}`);
    expect(client.ws.readyState, 'the connection stays open').toBe(client.ws.OPEN);
    await client.close();
    expect(findings).toEqual([]);
  }, 120_000);

  it('a binary frame closes with 1003, a frame over 64 KiB with 1009; the gateway serves on', async () => {
    const binary = await TerminalClient.open(gw.port, biz.terminal_key);
    binary.ws.send(Buffer.from(JSON.stringify({ id: 'b', op: 'wallet', body: {} })), { binary: true });
    expect((await binary.closed).code).toBe(1003);
    const huge = await TerminalClient.open(gw.port, biz.terminal_key);
    huge.ws.send(JSON.stringify({ id: 'h', op: 'wallet', body: { pad: 'z'.repeat(64 * 1024) } }));
    expect((await huge.closed).code).toBe(1009);
    const after = await TerminalClient.open(gw.port, biz.terminal_key);
    const r = await after.request('ok', 'wallet', { cim: { type: 'card', value: cards[0] } });
    expect(r.status).toBe(200);
    await after.close();
    expect((await gw.app.request('/readyz')).status).toBe(200);
  });
});
