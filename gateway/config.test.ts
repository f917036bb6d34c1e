// The environment is read here only, and checked: a bad value stops the process at start with
// the variable's name, never later.

import { describe, expect, it } from 'vitest';
import { envForEachTest, store_env } from '../test/with-env.ts';
import { writerConfigFromEnv } from '../processor/ledger/config.ts';
import { configFromEnv, processesConfigFromEnv } from './config.ts';

const withEnv = envForEachTest(store_env);

describe('configFromEnv', () => {
  it('reads EVENTS.md\'s webhook settings: WEBHOOK_RETRY_BASE_MS (default 30000) and WEBHOOKS_ALLOW_PRIVATE=1', () => {
    withEnv({ WEBHOOK_RETRY_BASE_MS: undefined, WEBHOOKS_ALLOW_PRIVATE: undefined });
    expect(configFromEnv().webhooks).toMatchObject({ retry_base_ms: 30_000, allow_private: false });
    withEnv({ WEBHOOK_RETRY_BASE_MS: '200', WEBHOOKS_ALLOW_PRIVATE: '1' });
    expect(configFromEnv().webhooks).toMatchObject({ retry_base_ms: 200, allow_private: true });
    withEnv({ WEBHOOKS_ALLOW_PRIVATE: '0' });
    expect(configFromEnv().webhooks.allow_private).toBe(false);
    withEnv({ WEBHOOK_RETRY_BASE_MS: 'soon' });
    expect(() => configFromEnv()).toThrow(/WEBHOOK_RETRY_BASE_MS/);
  });

  it('reads ISO 8583 framing, bitmap and idle timeout, with their defaults', () => {
    withEnv({ ISO8583_FRAMING: undefined, ISO8583_BITMAP: undefined, ISO8583_IDLE_SECONDS: undefined, HOST: undefined, EXPIRY_SWEEP_MS: undefined });
    expect(configFromEnv()).toMatchObject({ host: '0.0.0.0', expiry_sweep_ms: 1_000, iso8583: { framing: 'binary2', bitmap: 'hex', idle_seconds: 300 } });
    withEnv({ ISO8583_FRAMING: 'ascii4', ISO8583_BITMAP: 'binary', ISO8583_IDLE_SECONDS: '0', HOST: '127.0.0.1', EXPIRY_SWEEP_MS: '500' });
    expect(configFromEnv()).toMatchObject({ host: '127.0.0.1', expiry_sweep_ms: 500, iso8583: { framing: 'ascii4', bitmap: 'binary', idle_seconds: 0 } });
    withEnv({ CALLBACK_EVENTS_RETENTION_DAYS: undefined, HTTP_CONNECTIONS_MAX: undefined, POSTGRES_CALLS_IN_FLIGHT_MAX: undefined, POSTGRES_PROBE_TIMEOUT_MS: undefined });
    expect(configFromEnv().postgres_probe_timeout_ms).toBe(1_000);
    withEnv({ POSTGRES_PROBE_TIMEOUT_MS: '5000' });
    expect(configFromEnv().postgres_probe_timeout_ms).toBe(5_000);
    withEnv({ POSTGRES_PROBE_TIMEOUT_MS: undefined, REDIS_PROBE_TIMEOUT_MS: undefined });
    expect(configFromEnv().redis_probe_timeout_ms).toBe(1_000);
    withEnv({ REDIS_PROBE_TIMEOUT_MS: '8000' });
    expect(configFromEnv().redis_probe_timeout_ms).toBe(8_000);
    withEnv({ REDIS_PROBE_TIMEOUT_MS: undefined });
    expect(configFromEnv().callback_events_retention_days).toBe(540);
    expect(configFromEnv().http_connections_max).toBe(20_000);
    expect(configFromEnv().postgres_calls_in_flight_max).toBe(4_096);
    withEnv({ CALLBACK_EVENTS_RETENTION_DAYS: '0' });
    expect(configFromEnv().callback_events_retention_days).toBe(0);
    // The standalone writer reads it as the gateways do (processor/ledger/config.ts).
    expect(writerConfigFromEnv().callback_events_retention_days).toBe(0);
    withEnv({ WEBHOOK_EVENTS_RETENTION_DAYS: undefined });
    expect(configFromEnv().webhook_events_retention_days).toBe(90);
    expect(writerConfigFromEnv().webhook_events_retention_days).toBe(90);
    withEnv({ WEBHOOK_EVENTS_RETENTION_DAYS: '0' });
    expect(configFromEnv().webhook_events_retention_days).toBe(0);
    expect(writerConfigFromEnv().webhook_events_retention_days).toBe(0);
  });

  it('refuses a bad value, naming it', () => {
    for (const [name, value] of [['ISO8583_FRAMING', 'nac'], ['ISO8583_BITMAP', 'ebcdic'], ['ISO8583_IDLE_SECONDS', 'soon'], ['EXPIRY_SWEEP_MS', '-1'], ['PORT', '70000'], ['CALLBACK_EVENTS_RETENTION_DAYS', '-1'], ['WEBHOOK_EVENTS_RETENTION_DAYS', '3651'], ['WEBHOOK_EVENTS_RETENTION_DAYS', '7.5'], ['HTTP_CONNECTIONS_MAX', '0'], ['POSTGRES_CALLS_IN_FLIGHT_MAX', '0'], ['POSTGRES_PROBE_TIMEOUT_MS', '99'], ['REDIS_PROBE_TIMEOUT_MS', '60001'], ['PORT', ' '], ['PORT', '0x1F90'], ['ISO8583_PORT', '1e3'], ['SHARDS', '16.0']] as const) {
      withEnv({ [name]: value });
      expect(() => configFromEnv(), name).toThrow(new RegExp(name));
    }
  });
});

describe('processesConfigFromEnv', () => {
  it('the first process writes the ledger and seeds the demo; GATEWAY_PROCESSES is bounded', () => {
    withEnv({ GATEWAY_PROCESSES: undefined, GATEWAY_WORKER: undefined, POCKETGATE_SEED_DEMO: '1' });
    expect(processesConfigFromEnv()).toMatchObject({ processes: 1, first: true, seed_demo: true });
    withEnv({ GATEWAY_PROCESSES: '4', GATEWAY_WORKER: '2', POCKETGATE_SEED_DEMO: undefined });
    expect(processesConfigFromEnv()).toMatchObject({ processes: 4, first: false, seed_demo: false });
    withEnv({ GATEWAY_PROCESSES: '65' });
    expect(() => processesConfigFromEnv()).toThrow(/GATEWAY_PROCESSES/);
  });
});
