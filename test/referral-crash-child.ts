// Child process of referral-crash.test.ts (not a test file itself): a gateway (no ledger writer,
// no sweeper, no server) that makes one purchase and is killed with SIGKILL at a step of its
// referral award (Awards.onReferralStep): 'committed' (the purchase committed, the award not
// made) or 'awarded' (made, its intent still in the outbox). Env: CRASH_AT, TERMINAL_KEY, CARD,
// REFERENCE, besides the gateway's own. With ORIGINAL_REFERENCE it reverses that purchase
// instead, killed at a step of its referral's undo (ReferralUndos.onUndoStep): 'kept' (the
// reversal committed, the award not reversed) or 'reversed' (reversed, its intent still in the
// outbox). Says {"step": "not killed", ...} if it got through.

import { configFromEnv } from '../gateway/config.ts';
import { startGateway } from '../gateway/gateway.ts';
import pino from 'pino';

const crash_at = process.env.CRASH_AT;
const gw = await startGateway({ ...configFromEnv(), ledger_writer: false, port: 0, iso8583_port: 0 }, { listen: false, iso8583: false, logger: pino({ level: 'warn' }), collect_default_metrics: false });
const crash = (step: string) => {
  if (step === crash_at) process.kill(process.pid, 'SIGKILL');
};
gw.processor.awards.onReferralStep = crash;
gw.processor.referral_undos.onUndoStep = crash;
const original_reference = process.env.ORIGINAL_REFERENCE;
const res = await gw.app.request(original_reference === undefined ? '/v1/purchases' : '/v1/reversals', {
  method: 'POST',
  headers: { authorization: `Bearer ${process.env.TERMINAL_KEY}`, 'content-type': 'application/json' },
  body: JSON.stringify(
    original_reference === undefined
      ? { reference: process.env.REFERENCE, cim: { type: 'card', value: process.env.CARD }, amount: 1_000, currency: 'EUR' }
      : { reference: process.env.REFERENCE, original_reference },
  ),
});
process.stdout.write(`${JSON.stringify({ step: 'not killed', status: res.status, body: await res.text() })}\n`);
await gw.close();
