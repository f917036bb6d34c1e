// How every process reads a variable and the processor's settings (processor/config.ts): the
// defaults, and a bad value refused with its name.

import { describe, expect, it } from 'vitest';
import { envForEachTest } from '../test/with-env.ts';
import { int, processorConfigFromEnv, redis_url_schemes, database_url_schemes, required, storeUrl } from './config.ts';
import { default_config } from './stores.ts';

const withEnv = envForEachTest();

describe('processorConfigFromEnv', () => {
  it('has the processor’s defaults, and refuses a bad value, naming it', () => {
    const names = ['SHARDS', 'CIM_INDEX_BUCKETS', 'REPLY_TTL_SECONDS', 'REFERENCE_BUCKETS', 'JOURNAL_LENGTH_MAX', 'DURABILITY'] as const;
    withEnv(Object.fromEntries(names.map((n) => [n, undefined])));
    expect(processorConfigFromEnv('k')).toEqual({ ...default_config, cim_hmac_key: 'k' });
    withEnv({ SHARDS: '4', DURABILITY: 'sync', JOURNAL_LENGTH_MAX: '' });
    expect(processorConfigFromEnv('k')).toMatchObject({ shard_count: 4, durability: 'sync', journal_length_max: default_config.journal_length_max });
    // OPERATIONS.md sets no floor: a small bound (a test reaching its 503 quickly) is taken as given.
    withEnv({ JOURNAL_LENGTH_MAX: '10' });
    expect(processorConfigFromEnv('k')).toMatchObject({ journal_length_max: 10 });
    for (const [name, value] of [['SHARDS', '0'], ['CIM_INDEX_BUCKETS', '1.5'], ['REPLY_TTL_SECONDS', '59'], ['REFERENCE_BUCKETS', 'many'], ['JOURNAL_LENGTH_MAX', '0'], ['DURABILITY', 'later']] as const) {
      withEnv({ [name]: value });
      expect(() => processorConfigFromEnv('k'), name).toThrow(new RegExp(name));
    }
  });
});

describe('int and required', () => {
  it('read a variable, bounded, or say which is missing', () => {
    withEnv({ POCKETGATE_TEST_N: '7', POCKETGATE_TEST_S: '' });
    expect(int('POCKETGATE_TEST_N', 1, 0, 10)).toBe(7);
    expect(int('POCKETGATE_TEST_UNSET', 3, 0, 10)).toBe(3);
    expect(() => int('POCKETGATE_TEST_N', 1, 0, 6)).toThrow('POCKETGATE_TEST_N must be an integer from 0 to 6, not 7');
    expect(() => required('POCKETGATE_TEST_S')).toThrow('POCKETGATE_TEST_S is not set');
    withEnv({ POCKETGATE_TEST_S: 'x' });
    expect(required('POCKETGATE_TEST_S')).toBe('x');
  });
});

describe('storeUrl', () => {
  it('takes the schemes its client reads, a local Redis’s socket and several PostgreSQL hosts among them, and names a bad one without echoing it', () => {
    for (const url of ['redis://127.0.0.1:6379', 'rediss://u:p@h:6380/1', 'unix:///var/run/redis/redis.sock']) {
      withEnv({ POCKETGATE_TEST_URL: url });
      expect(storeUrl('POCKETGATE_TEST_URL', redis_url_schemes)).toBe(url);
    }
    withEnv({ POCKETGATE_TEST_URL: 'postgres://u:p@h1:5432,h2:5433/db' });
    expect(storeUrl('POCKETGATE_TEST_URL', database_url_schemes)).toBe('postgres://u:p@h1:5432,h2:5433/db');
    withEnv({ POCKETGATE_TEST_URL: 'http://u:secret@h' });
    expect(() => storeUrl('POCKETGATE_TEST_URL', redis_url_schemes)).toThrow(/^POCKETGATE_TEST_URL must start with redis:\/\/ or rediss:\/\/ or unix:\/\/, not http:\/\/$/);
    withEnv({ POCKETGATE_TEST_URL: 'not a url secret' });
    expect(() => storeUrl('POCKETGATE_TEST_URL', redis_url_schemes)).toThrow(/^POCKETGATE_TEST_URL is not a URL$/);
  });
});
