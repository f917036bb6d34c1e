// otp.lua against the test Redis (database 15), called through its definition (otp.ts).

import { describe, expect, it } from 'vitest';
import { guess_limits, otp_tries_max } from '../../core/guesses.ts';
import { newId } from '../../core/ids.ts';
import type { RedisClient } from '../stores.ts';
import { guessCountersOf, type Presenter } from './guess.ts';
import { otpIndexKey, otpTriesKey } from './keys.ts';
import type { OtpCall, OtpMode } from './otp.ts';
import { specRedisForFile } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(15, (r) => (redis = r));

const now_ms = Date.UTC(2026, 10, 24, 10, 15);
const limits = guess_limits.otp;

function caller(business_id: string, presenter: Presenter) {
  return (code: string, mode: OtpMode = 'alone', contact_id = ''): OtpCall => ({
    business_id,
    code,
    mode,
    contact_id,
    tries_max: otp_tries_max,
    tries_ttl_s: 900,
    counters: guessCountersOf(business_id, 'otp', presenter, now_ms),
  });
}

async function counts(business_id: string, presenter: Presenter): Promise<number[]> {
  const keys = guessCountersOf(business_id, 'otp', presenter, now_ms).keys;
  return (await redis.mGet([...keys])).map((v) => Number(v ?? 0));
}

describe('otp.lua', () => {
  it('alone: answers the contact of a live code; counts wrong codes only, in every counter', async () => {
    const business_id = newId('bus');
    const contact_id = newId('con');
    const presenter = { terminal_id: newId('ter'), source: '203.0.113.7' };
    const call = caller(business_id, presenter);
    await redis.set(otpIndexKey(business_id, '123456'), contact_id);
    expect(await redis.otpScript(call('123456'))).toEqual({ outcome: 'ok', contact_id });
    expect(await counts(business_id, presenter)).toEqual([0, 0, 0, 0]);
    expect(await redis.otpScript(call('000000'))).toEqual({ outcome: 'otp_invalid', void: false });
    expect(await counts(business_id, presenter)).toEqual([1, 1, 1, 1]);
    const keys = guessCountersOf(business_id, 'otp', presenter, now_ms).keys;
    expect(await redis.ttl(keys[0]!)).toBeGreaterThan(60);
    expect(await redis.ttl(keys[1]!)).toBeGreaterThan(86_400);
  });

  it('alone: past the soft limit a wrong code is rate_limited and a right one passes; past a hard limit every code is refused, counting nothing', async () => {
    const business_id = newId('bus');
    const contact_id = newId('con');
    const presenter = { terminal_id: newId('ter'), source: '203.0.113.8' };
    const call = caller(business_id, presenter);
    await redis.set(otpIndexKey(business_id, '123456'), contact_id);
    for (let i = 0; i < limits.soft_per_minute; i++) expect((await redis.otpScript(call(String(200000 + i)))).outcome).toBe('otp_invalid');
    expect(await redis.otpScript(call('999999'))).toEqual({ outcome: 'rate_limited', counted: true });
    expect(await redis.otpScript(call('123456'))).toEqual({ outcome: 'ok', contact_id });
    // The pair's day limit reached: the right code too is refused, and nothing more is counted.
    const keys = guessCountersOf(business_id, 'otp', presenter, now_ms).keys;
    await redis.set(keys[1]!, String(limits.pair_per_day));
    const before = await counts(business_id, presenter);
    expect(await redis.otpScript(call('123456'))).toEqual({ outcome: 'rate_limited', counted: false });
    expect(await redis.otpScript(call('999998'))).toEqual({ outcome: 'rate_limited', counted: false });
    expect(await counts(business_id, presenter)).toEqual(before);
  });

  it('for: a right code of the contact named passes whatever the terminal guessed; wrong tries kill the contact’s OTPs', async () => {
    const business_id = newId('bus');
    const contact_id = newId('con');
    const other_id = newId('con');
    const presenter = { terminal_id: newId('ter'), source: '203.0.113.9' };
    const call = caller(business_id, presenter);
    await redis.set(otpIndexKey(business_id, '123456'), contact_id);
    await redis.set(otpIndexKey(business_id, '654321'), other_id);
    const keys = guessCountersOf(business_id, 'otp', presenter, now_ms).keys;
    for (const k of keys) await redis.set(k, '100000'); // every limit of the terminal and source reached
    expect(await redis.otpScript(call('123456', 'for', contact_id))).toEqual({ outcome: 'ok', contact_id });
    // Another contact's live code is a wrong try against this one's.
    expect(await redis.otpScript(call('654321', 'for', contact_id))).toEqual({ outcome: 'otp_invalid', void: false });
    for (let i = 2; i < otp_tries_max; i++) expect(await redis.otpScript(call(String(300000 + i), 'for', contact_id))).toEqual({ outcome: 'otp_invalid', void: false });
    expect(await redis.otpScript(call('300000', 'for', contact_id))).toEqual({ outcome: 'otp_invalid', void: true });
    expect(await redis.otpScript(call('123456', 'for', contact_id))).toEqual({ outcome: 'otp_invalid', void: false });
    expect(await redis.get(otpTriesKey(business_id, contact_id))).toBe(String(otp_tries_max));
    expect(await redis.ttl(otpTriesKey(business_id, contact_id))).toBeGreaterThan(800);
    expect(await redis.exists(otpTriesKey(business_id, other_id))).toBe(0);
  });
});
