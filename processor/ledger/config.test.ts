// What the standalone writer and the operations commands read of the environment, checked at
// start: a bad value stops the process with the variable's name, never later.

import { describe, expect, it } from 'vitest';
import { envForEachTest, store_env } from '../../test/with-env.ts';
import { operationsConfigFromEnv, writerConfigFromEnv } from './config.ts';

const withEnv = envForEachTest(store_env);

describe('writerConfigFromEnv', () => {
  it('needs both stores; expires and makes referral awards only with the gateways’ CIM_HMAC_KEY; 0 never trims', () => {
    withEnv({ REDIS_URL: undefined });
    expect(() => writerConfigFromEnv()).toThrow(/REDIS_URL/);
    withEnv({ CIM_HMAC_KEY: undefined, LEDGER_TRIM_INTERVAL_MS: '0' });
    expect(writerConfigFromEnv()).toMatchObject({ processor: undefined, trim_interval_ms: Number.POSITIVE_INFINITY, commit_delay_ms: undefined });
    withEnv({ LEDGER_COMMIT_DELAY_MS: '250', SHARDS: '4' });
    expect(writerConfigFromEnv()).toMatchObject({ commit_delay_ms: 250, shard_count: 4, trim_interval_ms: 1_000, processor: { cim_hmac_key: 'k', shard_count: 4 } });
    withEnv({ LEDGER_LEASE_MS: 'Infinity' });
    expect(() => writerConfigFromEnv()).toThrow(/LEDGER_LEASE_MS/);
  });

  it('has the documented defaults, and refuses a bad value, naming it', () => {
    const unset = { LEDGER_READ_COUNT: undefined, LEDGER_CLAIM_IDLE_MS: undefined, LEDGER_LEASE_MS: undefined, LEDGER_TRIM_INTERVAL_MS: undefined, LEDGER_ACK_DELAY_MS: undefined };
    withEnv({ ...unset, EXPIRY_SWEEP_MS: undefined, REFERRAL_SWEEP_MS: undefined, CALLBACK_EVENTS_RETENTION_DAYS: undefined, SHARDS: undefined });
    expect(writerConfigFromEnv()).toMatchObject({
      shard_count: 16, read_count_max: 256, claim_idle_ms: 30_000, lease_ms: 3_000, trim_interval_ms: 1_000, ack_delay_ms: undefined,
      expiry_sweep_ms: 1_000, referral_sweep_ms: 5_000, callback_events_retention_days: 540,
    });
    for (const [name, value] of [['LEDGER_READ_COUNT', '0'], ['LEDGER_CLAIM_IDLE_MS', '99'], ['LEDGER_ACK_DELAY_MS', '-1'], ['SHARDS', '16385'], ['DURABILITY', 'never']] as const) {
      withEnv({ [name]: value });
      expect(() => writerConfigFromEnv(), name).toThrow(new RegExp(name));
    }
  });
});

describe('operationsConfigFromEnv', () => {
  it('rebuild needs CIM_HMAC_KEY, reconcile does not; both read the processor’s settings as the gateways do', () => {
    withEnv({ CIM_HMAC_KEY: undefined, SHARDS: '8', REPLY_TTL_SECONDS: '3600' });
    expect(() => operationsConfigFromEnv(true)).toThrow(/CIM_HMAC_KEY/);
    expect(operationsConfigFromEnv(false)).toMatchObject({ redis_url: 'redis://127.0.0.1:1', processor: { cim_hmac_key: '', shard_count: 8, reply_ttl_seconds: 3_600 } });
    withEnv({});
    expect(operationsConfigFromEnv(true).processor.cim_hmac_key).toBe('k');
    withEnv({ DATABASE_URL: '' });
    expect(() => operationsConfigFromEnv(false)).toThrow(/DATABASE_URL/);
  });
});
