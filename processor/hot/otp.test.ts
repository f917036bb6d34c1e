// otp.lua against the test Redis (database 15), called through its definition (otp.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import type { RedisClient } from '../stores.ts';
import { otpFailuresKey, otpIndexKey } from './keys.ts';
import type { OtpCall } from './otp.ts';
import { specRedis } from './script-spec.ts';

let redis: RedisClient;

beforeAll(async () => {
  redis = await specRedis(15);
});
afterAll(async () => {
  await redis.quit();
});

describe('otp.lua', () => {
  it('answers the contact of a live code; counts wrong codes against the terminal, and refuses every code past the limit', async () => {
    const business_id = newId('bus');
    const contact_id = newId('con');
    await redis.set(otpIndexKey(business_id, '123456'), contact_id);
    const call = (code: string): OtpCall => ({ business_id, terminal_id: 'ter_otp_spec', code, minute: 42, failures_max: 2, failures_ttl_s: 120 });
    expect(await redis.otpScript(call('123456'))).toEqual({ outcome: 'ok', contact_id });
    expect(await redis.otpScript(call('000000'))).toEqual({ outcome: 'otp_invalid' });
    expect(await redis.otpScript(call('000001'))).toEqual({ outcome: 'otp_invalid' });
    expect(await redis.otpScript(call('123456'))).toEqual({ outcome: 'rate_limited' });
    const failures = otpFailuresKey(business_id, 'ter_otp_spec', 42);
    expect(await redis.get(failures)).toBe('2');
    expect(await redis.ttl(failures)).toBeGreaterThan(100);
  });
});
